"""The PyTorch port reproduces the original face-api (TF.js) outputs.

Fixtures: test/data/faceapi/reference.json, produced once by scripts/faceapi_reference.js with
@vladmandic/face-api 1.7.15 on TF.js 4.22.0's pure-JS CPU backend, on the three PNGs next to it
(raw RGB fed to both runtimes). Values there carry 7 significant digits, so pixel coordinates are
compared at 1e-3 px and probabilities at 1e-5 (measured differences: < 1e-4 px, < 3e-6).
These tests pin `engine="torch"`; the default ONNX Runtime engine is checked against the ports in
test_faceapi_ort.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotionaldan_ros.core.detection import create_detector
from emotionaldan_ros.core.faceapi.detect import detect_ssd, detect_tiny, letterbox
from emotionaldan_ros.core.faceapi.image import TINY_MEAN_RGB, as_rgb_tensor, normalize
from emotionaldan_ros.core.faceapi.nets import FACEAPI_EXPRESSIONS
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.faceapi.recognizer import FACEAPI_TO_DESIGN, FaceApiRecognizer
from emotionaldan_ros.core.labels import EMOTIONS_7

DATA = Path(__file__).parent / "data" / "faceapi"
REF = json.loads((DATA / "reference.json").read_text())
IMAGES = {im["name"]: im for im in REF["images"]}
PX_TOL = 1e-3
PROB_TOL = 1e-5


def _image(name: str) -> np.ndarray:
    img = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (IMAGES[name]["height"], IMAGES[name]["width"])
    return img


def _xyxy(xywh) -> np.ndarray:
    b = np.asarray(xywh, np.float64).reshape(-1, 4).copy()
    b[:, 2:] += b[:, :2]
    return b


def _ref_dets(block: dict) -> tuple[np.ndarray, np.ndarray]:
    dets = block["detections"]
    return _xyxy([d["box"] for d in dets]), np.array([d["score"] for d in dets])


def test_fixture_provenance():
    assert REF["face_api_version"] == "1.7.15" and REF["backend"] == "cpu"
    assert tuple(REF["expression_labels"]) == FACEAPI_EXPRESSIONS
    assert sum(len(im["faces"]) for im in REF["images"]) >= 10


@pytest.fixture(scope="module")
def tiny_net():
    return load_net("tiny_face_detector")


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("input_size", [416, 320])
def test_tiny_detector_matches_reference(tiny_net, name, input_size):
    ref = IMAGES[name]["tiny_face_detector"][str(input_size)]
    image = _image(name)
    # Raw grid (pre-processing + network).
    batch, _, _ = letterbox(as_rgb_tensor(image), input_size)
    with torch.inference_mode():
        raw = tiny_net(normalize(batch, TINY_MEAN_RGB, 255.0))[0]
    assert list(raw.shape) == [*ref["raw"]["shape"][1:3], 5, 5]
    np.testing.assert_allclose(raw.numpy().ravel(), ref["raw"]["values"], atol=2e-4)
    # Decoded, thresholded, NMS'd boxes in image pixels.
    boxes, scores = detect_tiny(tiny_net, image, input_size, REF["params"]["tiny_score_threshold"])
    ref_boxes, ref_scores = _ref_dets(ref)
    assert boxes.shape == ref_boxes.shape
    np.testing.assert_allclose(boxes, ref_boxes, atol=PX_TOL)
    np.testing.assert_allclose(scores, ref_scores, atol=PROB_TOL)


@pytest.fixture(scope="module")
def ssd_net():
    return load_net("ssd_mobilenetv1")


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_ssd_detector_matches_reference(ssd_net, name):
    ref = IMAGES[name]["ssd_mobilenetv1"]
    image = _image(name)
    boxes, scores = detect_ssd(
        ssd_net,
        image,
        REF["params"]["ssd_min_confidence"],
        max_results=REF["params"]["ssd_max_results"],
    )
    ref_boxes, ref_scores = _ref_dets(ref)
    assert boxes.shape == ref_boxes.shape
    np.testing.assert_allclose(boxes, ref_boxes, atol=PX_TOL)
    np.testing.assert_allclose(scores, ref_scores, atol=PROB_TOL)


def test_ssd_raw_priors_match_reference(ssd_net):
    """Pre-NMS outputs for the best-scoring priors (decoding against the stored priors)."""
    name = "sample1_crop"
    batch, _, _ = letterbox(as_rgb_tensor(_image(name)), 512)
    with torch.inference_mode():
        boxes, scores = ssd_net((batch / 127.5 - 1.0).permute(0, 3, 1, 2))
    top = IMAGES[name]["ssd_mobilenetv1"]["raw_top"]
    idx = [t["index"] for t in top]
    np.testing.assert_allclose(scores[0, idx].numpy(), [t["score"] for t in top], atol=PROB_TOL)
    np.testing.assert_allclose(boxes[0, idx].numpy(), [t["box"] for t in top], atol=1e-5)


@pytest.mark.parametrize("name", ["faceapi_tiny", "faceapi_ssd"])
def test_registered_detectors_return_clipped_reference_boxes(name):
    key, block = (
        ("tiny_face_detector", "416") if name == "faceapi_tiny" else ("ssd_mobilenetv1", None)
    )
    image_name = "sample3_crop"
    ref = IMAGES[image_name][key]
    ref = ref[block] if block else ref
    ref_boxes, ref_scores = _ref_dets(ref)
    det = create_detector(name, score_threshold=0.3, min_face_size=0, max_faces=10, engine="torch")
    out = det.detect(_image(image_name))
    h, w = _image(image_name).shape[:2]
    expected = ref_boxes.copy()
    expected[:, [0, 2]] = expected[:, [0, 2]].clip(0, w)
    expected[:, [1, 3]] = expected[:, [1, 3]].clip(0, h)
    assert out.boxes.dtype == np.float32 and out.scores.dtype == np.float32
    np.testing.assert_allclose(out.boxes, expected, atol=PX_TOL)
    np.testing.assert_allclose(out.scores, ref_scores, atol=PROB_TOL)
    assert np.all(np.diff(out.scores) <= 0)


@pytest.fixture(scope="module")
def recognizers():
    """Both landmark nets; expressions on the given box (face-api's per-net calls)."""
    return {
        m: FaceApiRecognizer(landmark_model=m, expression_crop="box", engine="torch")
        for m in ("face_landmark_68", "face_landmark_68_tiny")
    }


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_landmarks_and_expressions_match_reference(recognizers, name):
    faces = IMAGES[name]["faces"]
    boxes = _xyxy([f["box"] for f in faces])  # SSD detections + hand-made (border-crossing) boxes
    image = _image(name)
    for model, key in (
        ("face_landmark_68", "landmarks_68"),
        ("face_landmark_68_tiny", "landmarks_68_tiny"),
    ):
        pred = recognizers[model].predict(image, boxes)
        assert pred.landmarks.shape == (len(faces), 68, 2)
        np.testing.assert_allclose(pred.landmarks, [f[key] for f in faces], atol=PX_TOL)
    # Expressions: face-api order → DESIGN §2 order, by name.
    faceapi_probs = np.array([f["expressions"] for f in faces])
    names = {"surprise": "surprised", "fear": "fearful", "disgust": "disgusted", "anger": "angry"}
    for c, cls in enumerate(EMOTIONS_7):
        col = FACEAPI_EXPRESSIONS.index(names.get(cls, cls))
        assert FACEAPI_TO_DESIGN[c] == col
        np.testing.assert_allclose(pred.probs[:, c], faceapi_probs[:, col], atol=PROB_TOL)


def test_crops_follow_faceapi_clip_and_floor(recognizers):
    """Boxes crossing the border are clipped and floored exactly like face-api's crops."""
    from emotionaldan_ros.core.faceapi.recognizer import face_regions

    for im in REF["images"]:
        regions = face_regions(_xyxy([f["box"] for f in im["faces"]]), im["width"], im["height"])
        assert regions.tolist() == [f["crop"] for f in im["faces"]]


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_chained_pipeline_matches_reference(name):
    """detectAllFaces(SSD).withFaceLandmarks().withFaceExpressions(): the expression net sees the
    landmarks' box grown by 20 % (the default `expression_crop="landmarks"`)."""
    from emotionaldan_ros.core.faceapi.recognizer import aligned_boxes

    chained = IMAGES[name]["pipeline"]
    boxes = _xyxy([r["box"] for r in chained])
    rec = FaceApiRecognizer(engine="torch")
    assert rec.expression_crop == "landmarks"
    pred = rec.predict(_image(name), boxes)
    # face-api's chained landmarks sit at the unfloored box origin, ours at the crop's (floored)
    # origin, where the landmark net really looked: they differ by exactly that fraction.
    frac = boxes[:, :2] - np.floor(boxes[:, :2])
    ref_landmarks = np.array([r["landmarks_68"] for r in chained])
    np.testing.assert_allclose(pred.landmarks + frac[:, None, :], ref_landmarks, atol=PX_TOL)
    # alignedRect = landmark bounding box grown by 20 %.
    ref_aligned = _xyxy([r["aligned_box"] for r in chained])
    np.testing.assert_allclose(aligned_boxes(ref_landmarks), ref_aligned, atol=PX_TOL)
    # Expressions on that crop, mapped onto DESIGN §2 order.
    faceapi_probs = np.array([r["expressions"] for r in chained])
    np.testing.assert_allclose(
        pred.probs, faceapi_probs[:, list(FACEAPI_TO_DESIGN)], atol=PROB_TOL
    )
