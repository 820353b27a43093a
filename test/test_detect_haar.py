"""Haar-cascade face detector on real photos (emotionaldan_ros.core.detection.haar)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core.detection.base import (
    Detections,
    Detector,
    create_detector,
    list_detectors,
)
from emotionaldan_ros.core.detection.haar import HaarDetector
from emotionaldan_ros.core.detection.tracker import iou_matrix

DATA = Path(__file__).parent / "data" / "perception"
# Upper part of skimage's astronaut photo (public domain, NASA), halved to 256x192.
# Face box annotated by hand (brows to chin, cheek to cheek), not taken from any detector.
FACE_BOX = np.array([86, 34, 141, 91], np.float32)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    image = cv2.imread(str(DATA / "astronaut_256x192.jpg"))
    assert image is not None and image.shape == (192, 256, 3)
    return image


@pytest.fixture(scope="module")
def grass() -> np.ndarray:
    image = cv2.imread(str(DATA / "grass_256.jpg"))  # skimage's grass texture (CC0)
    assert image is not None
    return image


def check_format(dets: Detections, shape: tuple[int, ...]) -> None:
    assert dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32
    assert dets.boxes.shape == (len(dets), 4) and dets.scores.shape == (len(dets),)
    assert (dets.scores >= 0).all() and (dets.scores <= 1).all()
    assert (np.diff(dets.scores) <= 0).all()  # sorted descending
    height, width = shape[:2]
    assert (dets.boxes[:, [0, 2]] >= 0).all() and (dets.boxes[:, [0, 2]] <= width).all()
    assert (dets.boxes[:, [1, 3]] >= 0).all() and (dets.boxes[:, [1, 3]] <= height).all()
    assert (dets.boxes[:, 2] > dets.boxes[:, 0]).all() and (
        dets.boxes[:, 3] > dets.boxes[:, 1]
    ).all()


def test_registered():
    assert "haar" in list_detectors()
    detector = create_detector("haar", min_face_size=24)
    assert isinstance(detector, HaarDetector) and isinstance(detector, Detector)
    assert detector.name == "haar"


@pytest.mark.parametrize("cascade", ["default", "alt2"])
def test_finds_the_astronaut_face(astronaut, cascade):
    dets = create_detector("haar", cascade=cascade, min_face_size=24).detect(astronaut)
    check_format(dets, astronaut.shape)
    assert len(dets) == 1, dets
    assert iou_matrix(dets.boxes[:1], FACE_BOX[None])[0, 0] > 0.5
    assert dets.scores[0] > 0.6


def test_mirrored_and_gray_inputs(astronaut):
    detector = HaarDetector(min_face_size=24)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    dets = detector.detect(mirrored)
    width = astronaut.shape[1]
    expected = np.array([width - FACE_BOX[2], FACE_BOX[1], width - FACE_BOX[0], FACE_BOX[3]])
    assert len(dets) >= 1 and iou_matrix(dets.boxes[:1], expected[None])[0, 0] > 0.5
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    dets = detector.detect(gray)
    assert len(dets) >= 1 and iou_matrix(dets.boxes[:1], FACE_BOX[None])[0, 0] > 0.5


def test_two_faces_side_by_side_and_max_faces(astronaut):
    small = cv2.resize(astronaut, (192, 144), interpolation=cv2.INTER_AREA)  # a smaller face
    canvas = np.full((192, 512, 3), 127, np.uint8)
    canvas[:, :256] = astronaut
    canvas[24:168, 300:492] = small
    dets = HaarDetector(min_face_size=24).detect(canvas)
    check_format(dets, canvas.shape)
    assert len(dets) == 2
    expected_small = FACE_BOX * 0.75 + np.array([300, 24, 300, 24], np.float32)
    iou = iou_matrix(dets.boxes, np.stack([FACE_BOX, expected_small]))
    assert (iou.max(axis=0) > 0.5).all()  # each face found
    one = HaarDetector(min_face_size=24, max_faces=1).detect(canvas)
    assert len(one) == 1 and one.scores[0] == dets.scores[0]


def test_max_side_downscales_and_maps_boxes_back(astronaut):
    big = cv2.resize(astronaut, (768, 576), interpolation=cv2.INTER_CUBIC)  # 3x
    dets = HaarDetector(min_face_size=72, max_side=256).detect(big)
    check_format(dets, big.shape)
    assert len(dets) == 1
    assert iou_matrix(dets.boxes, FACE_BOX[None] * 3)[0, 0] > 0.5
    # Same answer as running at full resolution, in the same coordinates.
    full = HaarDetector(min_face_size=72).detect(big)
    assert iou_matrix(dets.boxes, full.boxes[:1])[0, 0] > 0.7


def test_no_face_in_texture_or_noise(grass):
    detector = HaarDetector(min_face_size=24, score_threshold=0.0)
    assert len(detector.detect(grass)) == 0
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert len(detector.detect(noise)) == 0
    assert len(detector.detect(np.zeros((100, 100, 3), np.uint8))) == 0


def test_size_limits_and_threshold(astronaut):
    assert len(HaarDetector(min_face_size=100).detect(astronaut)) == 0  # the face is ~55 px
    assert len(HaarDetector(min_face_size=24, max_face_size=40).detect(astronaut)) == 0
    assert len(HaarDetector(min_face_size=24, score_threshold=1.0).detect(astronaut)) == 0


def test_score_mapping_is_monotone_logistic():
    detector = HaarDetector()
    threshold = detector._stage_threshold
    weights = threshold + np.array([-5.0, 0.0, 4.0, 8.0, 30.0])
    scores = detector.score(weights)
    assert (np.diff(scores) > 0).all()
    assert scores[2] == pytest.approx(0.5)  # margin == center (4.0 for the default cascade)
    assert 0 < scores[0] < 0.05 and scores[-1] > 0.99


def test_nested_duplicates_are_suppressed():
    from emotionaldan_ros.core.detection.haar import _suppress_overlaps

    boxes = np.array([[10, 10, 60, 60], [0, 0, 100, 100], [200, 0, 240, 40]], np.float32)
    assert _suppress_overlaps(boxes, 0.6) == [0, 2]
    assert _suppress_overlaps(boxes, 1.0) == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_face_size": 0}, "min_face_size"),
        ({"min_face_size": 30.5}, "min_face_size"),
        ({"max_face_size": -1}, "max_face_size"),
        ({"min_face_size": 50, "max_face_size": 40}, "max_face_size"),
        ({"max_faces": 0}, "max_faces"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"scale_factor": 1.0}, "scale_factor"),
        ({"scale_factor": "1.1"}, "scale_factor"),
        ({"min_neighbors": -1}, "min_neighbors"),
        ({"min_neighbors": True}, "min_neighbors"),
        ({"overlap_threshold": 0.0}, "overlap_threshold"),
        ({"max_side": 16}, "max_side"),
        ({"max_side": -1}, "max_side"),
        ({"cascade": "profile"}, "cascade must be one of default, alt2"),
        ({"cascade": "/nonexistent/cascade.xml"}, "cascade must be"),
    ],
)
def test_parameter_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_detector("haar", **kwargs)


def test_bad_cascade_file(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(ValueError, match="cascade"):
        HaarDetector(cascade=str(bad))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10, 4), np.uint8), "BGR"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
    ],
)
def test_bad_images_are_rejected(image, message):
    with pytest.raises(ValueError, match=message):
        HaarDetector().detect(image)


def test_demo_footage_faces_and_empty_frames():
    # The bundled footage promises faces in its photo segments and none in its transitions.
    # Haar is the weakest detector we ship: it may miss a frame of a zoom (it misses one of the
    # 24 fearful close-ups), so face segments need a hit in 90 % of frames, transitions in none.
    from demo_footage import face_counts_per_segment

    for segment, counts in face_counts_per_segment(HaarDetector()):
        hits = sum(count > 0 for count in counts)
        if segment["faces"]:
            assert hits >= 0.9 * len(counts), (segment["source"], counts)
        else:
            assert hits == 0, (segment["source"], counts)
