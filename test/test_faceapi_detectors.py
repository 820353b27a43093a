"""faceapi_tiny / faceapi_ssd behind the Detector interface: parameters, filtering, odd input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core.detection import Detector, create_detector, list_detectors

DATA = Path(__file__).parent / "data" / "faceapi"
NAMES = ("faceapi_tiny", "faceapi_ssd")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return cv2.imread(str(DATA / "sample1_crop.png"), cv2.IMREAD_COLOR)


def test_registered():
    assert set(NAMES) <= set(list_detectors())


@pytest.mark.parametrize("name", NAMES)
def test_faces_found_sorted_and_inside(name, image):
    det = create_detector(name)
    assert isinstance(det, Detector) and det.name == name
    out = det.detect(image)
    assert len(out) == 3  # the three women of the demo photo crop
    h, w = image.shape[:2]
    assert out.boxes.dtype == np.float32 and out.boxes.shape == (3, 4)
    assert np.all(out.boxes[:, [0, 2]] >= 0) and np.all(out.boxes[:, [0, 2]] <= w)
    assert np.all(out.boxes[:, [1, 3]] >= 0) and np.all(out.boxes[:, [1, 3]] <= h)
    assert np.all(out.boxes[:, 2:] > out.boxes[:, :2])
    assert np.all(np.diff(out.scores) <= 0) and np.all((out.scores > 0.5) & (out.scores <= 1))


@pytest.mark.parametrize("name", NAMES)
def test_no_face_and_gray(name, image):
    det = create_detector(name)
    assert len(det.detect(np.full((240, 320, 3), 127, np.uint8))) == 0
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert len(det.detect(gray)) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_max_faces_and_min_face_size(name, image):
    all_faces = create_detector(name).detect(image)
    top1 = create_detector(name, max_faces=1).detect(image)
    np.testing.assert_array_equal(top1.boxes, all_faces.boxes[:1])
    assert len(create_detector(name, min_face_size=200).detect(image)) == 0


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("faceapi_tiny", {"input_size": 100}, "multiple of 32"),
        ("faceapi_tiny", {"score_threshold": 1.0}, "score_threshold"),
        ("faceapi_tiny", {"iou_threshold": -0.1}, "iou_threshold"),
        ("faceapi_tiny", {"max_faces": 0}, "max_faces"),
        ("faceapi_ssd", {"input_size": 416}, "512"),
        ("faceapi_ssd", {"min_face_size": -1}, "min_face_size"),
        ("faceapi_ssd", {"score_threshold": float("nan")}, "score_threshold"),
    ],
)
def test_bad_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        create_detector(name, **params)


@pytest.mark.parametrize("name", NAMES)
def test_bad_images(name):
    det = create_detector(name)
    with pytest.raises(ValueError, match="uint8"):
        det.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="empty image"):
        det.detect(np.zeros((0, 64, 3), np.uint8))
