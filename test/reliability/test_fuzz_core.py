"""The image corpus through the ROS-free core: the codec and every registered detector.

A usable image must decode to BGR uint8 and go through each detector without an exception
(1x10000 used to raise `float division by zero` in face-api's letterbox); a bad one must raise
`ImageDecodeError` (what the nodes count as `dropped_bad_image`), never anything else.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from emotionaldan_ros.core.detection import create_detector, list_detectors
from emotionaldan_ros.core.image_codec import (
    ImageDecodeError,
    decode_compressed,
    image_to_numpy,
    to_bgr8,
)

from .corpus import ImageCase, image_cases

CASES = image_cases()
USABLE = [c for c in CASES if c.usable]


def decode(case: ImageCase) -> np.ndarray:
    """The nodes' decoding path (nodes/common.py image_msg_to_bgr) on plain fields."""
    if case.compressed:
        return decode_compressed(case.encoding, case.data)
    array = image_to_numpy(
        case.encoding, case.height, case.width, case.step, case.is_bigendian, case.data
    )
    return to_bgr8(case.encoding, array)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_image_decodes_or_raises_image_decode_error(case):
    if case.usable:
        bgr = decode(case)
        assert bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3
    else:
        with pytest.raises(ImageDecodeError):
            decode(case)


# YuNet needs a model file the user supplies (docs/detectors.md); skipped without one.
YUNET_MODEL = os.environ.get("EMOTIONALDAN_YUNET_MODEL", "")


@pytest.fixture(scope="module", params=list_detectors())
def detector(request):
    if request.param == "yunet":
        if not Path(YUNET_MODEL).is_file():
            pytest.skip("set EMOTIONALDAN_YUNET_MODEL to a YuNet ONNX file to fuzz yunet")
        return create_detector("yunet", model_path=YUNET_MODEL)
    return create_detector(request.param)


def test_every_detector_survives_every_usable_image(detector):
    for case in USABLE:
        image = decode(case)
        det = detector.detect(image)  # an exception here fails the test, naming the case below
        h, w = image.shape[:2]
        assert det.boxes.shape == (len(det), 4) and det.scores.shape == (len(det),), case.name
        assert np.isfinite(det.boxes).all() and np.isfinite(det.scores).all(), case.name
        assert (det.boxes[:, 0::2] >= 0).all() and (det.boxes[:, 0::2] <= w).all(), case.name
        assert (det.boxes[:, 1::2] >= 0).all() and (det.boxes[:, 1::2] <= h).all(), case.name


@pytest.mark.parametrize("shape", [(1, 10000), (10000, 1), (1, 1), (2, 3), (3, 2), (1, 833)])
def test_every_detector_handles_extreme_aspect_ratios(detector, shape):
    # 1x833 at 416: the short side rounds to 0.5 px, the edge of the old division by zero.
    det = detector.detect(np.full((*shape, 3), 128, np.uint8))
    assert len(det) == 0
