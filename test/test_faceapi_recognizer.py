"""FaceApiRecognizer: the 'faceapi' backend behind the Recognizer interface."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotionaldan_ros.core.backends import create_recognizer
from emotionaldan_ros.core.labels import EMOTIONS_7, HAPPY, VALENCE_POSITIVE, valence_map
from emotionaldan_ros.core.recognizer import Prediction, Recognizer

DATA = Path(__file__).parent / "data" / "faceapi"
REF = {im["name"]: im for im in json.loads((DATA / "reference.json").read_text())["images"]}


@pytest.fixture(scope="module")
def rec():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield create_recognizer("faceapi")
    torch.set_num_threads(threads)


def _image(name: str) -> np.ndarray:
    return cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_COLOR)


def _ssd_boxes(name: str) -> np.ndarray:
    """Face boxes (x1, y1, x2, y2) found by the original SSD on this fixture image."""
    b = np.array([d["box"] for d in REF[name]["ssd_mobilenetv1"]["detections"]], np.float32)
    b[:, 2:] += b[:, :2]
    return b


def test_backend_spec_builds_a_recognizer(rec):
    assert isinstance(rec, Recognizer)
    assert rec.name == "faceapi" and rec.classes == EMOTIONS_7


def test_prediction_shapes_and_sums(rec):
    boxes = _ssd_boxes("sample1_crop")
    pred = rec.predict(_image("sample1_crop"), boxes)
    assert isinstance(pred, Prediction) and len(pred) == 3
    assert pred.landmarks.shape == (3, 68, 2) and pred.landmarks.dtype == np.float32
    assert pred.probs.shape == (3, 7) and pred.probs.dtype == np.float32
    assert pred.valence.shape == (3, 3) and pred.valence.dtype == np.float32
    np.testing.assert_array_equal(pred.boxes, boxes)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pred.valence.sum(axis=1), 1.0, atol=1e-5)
    # Landmarks lie on the face: (nearly) all 68 points inside a box grown by 20 %.
    for box, pts in zip(boxes, pred.landmarks, strict=True):
        grow = 0.2 * (box[2:] - box[:2])
        inside = np.all((pts >= box[:2] - grow) & (pts <= box[2:] + grow), axis=1)
        assert inside.mean() > 0.95


def test_no_faces(rec):
    pred = rec.predict(_image("sample1_crop"), np.zeros((0, 4), np.float32))
    assert len(pred) == 0
    assert pred.landmarks.shape == (0, 68, 2) and pred.probs.shape == (0, 7)
    assert pred.valence.shape == (0, 3) and pred.labels.shape == (0,)


@pytest.mark.parametrize("crop", ["landmarks", "box"])
@pytest.mark.parametrize(("name", "face"), [("sample1_crop", 2), ("sample3_crop", 1)])
def test_smiling_face_reads_as_happy(rec, name, face, crop):
    """The laughing woman (right, sample 1) and the smiling woman (middle, sample 3)."""
    rec.expression_crop = crop
    try:
        pred = rec.predict(_image(name), _ssd_boxes(name)[face : face + 1])
    finally:
        rec.expression_crop = "landmarks"
    assert pred.labels[0] == HAPPY and pred.probs[0, HAPPY] > 0.9
    assert pred.valence[0].argmax() == VALENCE_POSITIVE


def test_aligned_boxes_grow_the_landmark_box_by_20_percent():
    from emotionaldan_ros.core.faceapi.recognizer import aligned_boxes

    pts = np.stack(np.meshgrid(np.linspace(10, 20, 17), np.linspace(30, 50, 4)), -1).reshape(
        1, 68, 2
    )
    np.testing.assert_allclose(aligned_boxes(pts), [[9.0, 28.0, 21.0, 52.0]])


def test_expression_crop_changes_only_expressions(rec):
    image, boxes = _image("sample3_crop"), _ssd_boxes("sample3_crop")
    rec.expression_crop = "box"
    try:
        by_box = rec.predict(image, boxes)
    finally:
        rec.expression_crop = "landmarks"
    by_landmarks = rec.predict(image, boxes)
    np.testing.assert_array_equal(by_box.landmarks, by_landmarks.landmarks)
    assert not np.allclose(by_box.probs, by_landmarks.probs, atol=1e-3)


def test_batched_equals_one_by_one(rec):
    image, boxes = _image("sample3_crop"), _ssd_boxes("sample3_crop")
    batched = rec.predict(image, boxes)
    for i in range(len(boxes)):
        single = rec.predict(image, boxes[i : i + 1])
        np.testing.assert_allclose(single.landmarks[0], batched.landmarks[i], atol=1e-3)
        np.testing.assert_allclose(single.probs[0], batched.probs[i], atol=1e-5)


def test_grayscale_image(rec):
    gray = cv2.cvtColor(_image("sample6_crop"), cv2.COLOR_BGR2GRAY)
    pred = rec.predict(gray, _ssd_boxes("sample6_crop"))
    assert pred.probs.shape == (2, 7) and np.isfinite(pred.landmarks).all()


def test_surprise_valence_is_configurable(rec):
    negative = create_recognizer("faceapi", surprise_valence="negative")
    image, boxes = _image("sample6_crop"), _ssd_boxes("sample6_crop")
    a, b = rec.predict(image, boxes), negative.predict(image, boxes)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)  # same nets
    vmap = valence_map(EMOTIONS_7, "negative")
    expected = np.stack([b.probs[:, vmap == v].sum(axis=1) for v in range(3)], axis=1)
    np.testing.assert_allclose(b.valence, expected, atol=1e-6)
    surprise = EMOTIONS_7.index("surprise")
    np.testing.assert_allclose(b.valence[:, 2] - a.valence[:, 2], b.probs[:, surprise], atol=1e-6)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        (np.array([[10, 10, 50]], np.float32), r"shape \(N, 4\)"),
        (np.array([[10, 10, np.nan, 50]], np.float32), "finite"),
        (np.array([[600, 10, 700, 50]], np.float32), "no area inside"),
        (np.array([[30, 30, 30, 80]], np.float32), "no area inside"),
    ],
)
def test_bad_boxes(rec, boxes, message):
    with pytest.raises(ValueError, match=message):
        rec.predict(_image("sample1_crop"), boxes)


def test_bad_images_and_options(rec):
    box = np.array([[10, 10, 60, 60]], np.float32)
    with pytest.raises(ValueError, match="uint8"):
        rec.predict(np.zeros((80, 80, 3), np.float32), box)
    with pytest.raises(ValueError, match="shape"):
        rec.predict(np.zeros((80, 80, 4), np.uint8), box)
    with pytest.raises(ValueError, match="empty image"):
        rec.predict(np.zeros((0, 80, 3), np.uint8), np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="landmark_model"):
        create_recognizer("faceapi", landmark_model="face_landmark_5")
    with pytest.raises(ValueError, match="expression_crop"):
        create_recognizer("faceapi", expression_crop="aligned")
    with pytest.raises(ValueError, match="surprise valence"):
        create_recognizer("faceapi", surprise_valence="happy")


def test_read_only_and_strided_images(rec):
    image, boxes = _image("sample1_crop"), _ssd_boxes("sample1_crop")
    expected = rec.predict(image, boxes)
    read_only = np.frombuffer(image.tobytes(), np.uint8).reshape(image.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = rec.predict(read_only, boxes)
    np.testing.assert_array_equal(pred.probs, expected.probs)
    wide = np.zeros((image.shape[0], image.shape[1] + 40, 3), np.uint8)
    wide[:, 40:] = image
    strided = wide[:, 40:]  # a non-contiguous view of a bigger frame
    np.testing.assert_array_equal(rec.predict(strided, boxes).probs, expected.probs)
