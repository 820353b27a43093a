"""The ONNX Runtime engine of the face-api nets against their PyTorch ports (the reference path).

The PyTorch ports match the original TF.js runtime to ~1e-4 px (test_faceapi_reference.py). The
ONNX Runtime engine differs from them only by its OpenCV crops: a 1/32-pixel sampling grid and
uint8 rounding (measured on these fixtures: boxes ≤ 0.4 px, landmarks mean ≤ 0.06 px and
max ≤ 0.5 px; the networks themselves agree to ~1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotionaldan_ros.core.detection import create_detector
from emotionaldan_ros.core.faceapi.image import crop_square_resize, image_view, warp_regions
from emotionaldan_ros.core.faceapi.ort import OrtNet, check_engine
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.faceapi.recognizer import FaceApiRecognizer

DATA = Path(__file__).parent / "data" / "faceapi"
REF = json.loads((DATA / "reference.json").read_text())
IMAGES = {im["name"]: im for im in REF["images"]}


def _image(name: str) -> np.ndarray:
    return cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_COLOR)


def _xyxy(xywh) -> np.ndarray:
    b = np.asarray(xywh, np.float64).reshape(-1, 4).copy()
    b[:, 2:] += b[:, :2]
    return b


REGIONS = [
    # (regions x, y, w, h, out size, centred): down- and upscaling, tall / wide / square faces,
    # regions touching the borders, the whole frame as detector input.
    (np.array([[0, 0, 320, 240]]), 416, False),
    (np.array([[40, 0, 240, 240]]), 416, False),
    (np.array([[0, 0, 320, 240]]), 160, False),
    (np.array([[10, 20, 90, 70], [150, 100, 150, 130], [250, 190, 70, 50]]), 112, True),
    (np.array([[0, 0, 100, 100], [5, 5, 40, 61], [200, 0, 120, 240]]), 112, True),
]


@pytest.mark.parametrize(("regions", "size", "centered"), REGIONS)
def test_warp_regions_samples_like_the_tfjs_gather(regions, size, centered):
    rng = np.random.default_rng(0)
    # A smooth image with texture: what a camera sees (pure noise would measure only aliasing).
    base = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (320, 240))
    image = cv2.add(base, rng.integers(0, 20, base.shape, dtype=np.uint8))
    ref = crop_square_resize(image_view(image), torch.from_numpy(regions), size, centered)
    out = warp_regions(image, regions, size, centered)
    assert out.dtype == np.uint8 and out.shape == (len(regions), size, size, 3)
    diff = np.abs(out.astype(np.float32) - ref.numpy())
    # Rounding to uint8 (≤ 0.5) plus OpenCV's 1/32 px grid; largest where padding (0) meets
    # the face, so a few grey levels on that one line.
    assert diff.mean() < 0.35
    assert np.percentile(diff, 99) < 1.5
    assert diff.max() <= 8


def test_warp_regions_is_exact_at_scale_one_and_writes_into_a_batch_buffer():
    image = np.random.default_rng(1).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    buf = np.full((2, 40, 40, 3), 7, np.uint8)
    regions = np.array([[5, 3, 40, 40], [20, 10, 30, 40]])
    out = warp_regions(image, regions, 40, centered=True, out=buf)
    assert out is buf
    np.testing.assert_array_equal(out[0], image[3:43, 5:45])
    # 30 wide in a 40 square: 5 black columns each side, the face in between.
    np.testing.assert_array_equal(out[1][:, 5:35], image[10:50, 20:50])
    assert not out[1][:, :5].any() and not out[1][:, 35:].any()


def test_engine_is_validated_and_ort_input_checked():
    assert check_engine("torch") == "torch"
    with pytest.raises(ValueError, match="engine must be one of"):
        check_engine("tensorrt")
    with pytest.raises(ValueError, match="engine must be one of"):
        create_detector("faceapi_tiny", engine="tflite")
    net = OrtNet("face_expression", 112)
    with pytest.raises(ValueError, match="uint8"):
        net(np.zeros((1, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="112"):
        net(np.zeros((1, 100, 112, 3), np.uint8))


@pytest.mark.parametrize("name", ["face_landmark_68", "face_expression", "tiny_face_detector"])
def test_exported_nets_equal_the_pytorch_ports_on_the_same_input(name):
    """The ONNX graph (normalisation inside) computes what the port does, any batch size."""
    size = 224 if name == "tiny_face_detector" else 112
    batch = np.random.default_rng(2).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    from emotionaldan_ros.core.faceapi.ort import _NORMALISATION

    mean, scale = _NORMALISATION[name]
    x = (torch.from_numpy(batch).flip(-1).float() - torch.tensor(mean)) / scale
    with torch.inference_mode():
        ref = load_net(name)(x.permute(0, 3, 1, 2)).numpy()
    net = OrtNet(name, size)
    for n in (1, 3):
        np.testing.assert_allclose(net(batch[:n])[0], ref[:n], atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize(("detector", "kwargs"), [("faceapi_tiny", {}), ("faceapi_ssd", {})])
def test_ort_detectors_match_the_pytorch_ports(detector, kwargs):
    common = {"score_threshold": 0.3, "min_face_size": 0, **kwargs}
    ort_det = create_detector(detector, **common)
    torch_det = create_detector(detector, engine="torch", **common)
    assert ort_det.engine == "onnxruntime"
    for name in sorted(IMAGES):
        a, b = ort_det.detect(_image(name)), torch_det.detect(_image(name))
        assert len(a) == len(b) > 0
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)
        np.testing.assert_allclose(a.scores, b.scores, atol=0.02)


@pytest.mark.parametrize("landmark_model", ["face_landmark_68", "face_landmark_68_tiny"])
def test_ort_recognizer_matches_the_pytorch_ports(landmark_model):
    ort_rec = FaceApiRecognizer(landmark_model=landmark_model, expression_crop="box")
    torch_rec = FaceApiRecognizer(
        landmark_model=landmark_model, expression_crop="box", engine="torch"
    )
    for name in sorted(IMAGES):
        boxes = _xyxy([f["box"] for f in IMAGES[name]["faces"]])  # incl. border-crossing boxes
        a, b = ort_rec.predict(_image(name), boxes), torch_rec.predict(_image(name), boxes)
        diff = np.abs(a.landmarks - b.landmarks)
        assert diff.mean() < 0.1 and diff.max() < 0.6
        # Same crops up to grey-level rounding: the expression net moves a few percent at most.
        np.testing.assert_allclose(a.probs, b.probs, atol=0.05)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_ort_recognizer_default_chain_labels_match():
    """Default chained crop (landmark box floored to whole pixels, as face-api): same labels."""
    ort_rec, torch_rec = FaceApiRecognizer(), FaceApiRecognizer(engine="torch")
    for name in sorted(IMAGES):
        boxes = _xyxy([r["box"] for r in IMAGES[name]["pipeline"]])  # SSD detections
        a, b = ort_rec.predict(_image(name), boxes), torch_rec.predict(_image(name), boxes)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.2)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_gray_and_rgb_inputs_work_on_ort():
    image = _image("sample1_crop")
    boxes = _xyxy([f["box"] for f in IMAGES["sample1_crop"]["faces"]])
    rec = FaceApiRecognizer()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    pred = rec.predict(gray, boxes)
    assert pred.landmarks.shape == (len(boxes), 68, 2) and np.isfinite(pred.probs).all()
    det = create_detector("faceapi_tiny", min_face_size=0)
    assert len(det.detect(gray)) >= 1
