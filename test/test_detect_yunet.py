"""YuNet backend: a clear error without its (unbundled) model; keypoints when one is given."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core.detection import create_detector

FIXTURES = Path(__file__).parent / "data" / "detection"
MODEL = os.environ.get("EMOTIONALDAN_YUNET_MODEL", "")


@pytest.mark.parametrize("path", ["", "/nonexistent/yunet.onnx"])
def test_missing_model_says_how_to_get_it(path):
    with pytest.raises(FileNotFoundError, match=r"git clone .*opencv_zoo"):
        create_detector("yunet", model_path=path)


def test_a_file_that_is_not_yunet_is_rejected(tmp_path):
    bogus = tmp_path / "yunet.onnx"
    bogus.write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match="cannot load"):
        create_detector("yunet", model_path=str(bogus))


@pytest.mark.skipif(not Path(MODEL).is_file(), reason="set EMOTIONALDAN_YUNET_MODEL")
def test_yunet_keypoints_follow_the_common_order():
    det = create_detector("yunet", model_path=MODEL).detect(
        cv2.imread(str(FIXTURES / "astronaut.jpg"))
    )
    assert len(det) == 1 and det.keypoints.shape == (1, 6, 2)
    right_eye, left_eye, nose, mouth = det.keypoints[0, :4]
    assert right_eye[0] < nose[0] < left_eye[0] and nose[1] < mouth[1]
    assert np.isnan(det.keypoints[0, 4:]).all()  # YuNet gives no ears
