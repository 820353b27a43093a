"""BlazeFace: anchors, decoding, NMS, the converted nets against PyTorch and the original runtime,
the detector's behaviour, and the converter's reproducibility."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from emotionaldan_ros.core.detection import KEYPOINT_NAMES, create_detector
from emotionaldan_ros.core.detection.blazeface import (
    MODEL_DIR,
    SPECS,
    BlazeFaceNet,
    BoxStyle,
    eye_roll,
)
from emotionaldan_ros.core.detection.blazeface_decode import (
    ModelSpec,
    decode,
    letterbox,
    ssd_anchors,
    weighted_nms,
)
from emotionaldan_ros.core.detection.evaluate import box_iou, load_boxes
from emotionaldan_ros.core.detection.tflite_net import GraphSpec, TfliteNet, read_tflite
from emotionaldan_ros.core.weights import WeightsError

FIXTURES = Path(__file__).parent / "data" / "detection"
REFERENCE = FIXTURES / "blazeface_reference.npz"
PHOTOS = ("sample3.jpg", "breakingbad.jpg", "takeo.jpg")


# --- anchors, decoding, NMS -------------------------------------------------------------------


def test_anchor_layout_matches_mediapipe():
    short = ssd_anchors(SPECS["short_range"])
    # stride 8: 16x16 cells x 2 anchors, then stride 16 (3 layers merged): 8x8 x 6 anchors.
    assert short.shape == (896, 2)
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[1], short[0])  # two anchors per cell, same centre
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])  # x runs fastest
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(short[512:518], np.repeat(short[512:513], 6, axis=0))
    full = ssd_anchors(SPECS["full_range"])
    assert full.shape == (2304, 2)  # 48x48, one anchor per cell
    np.testing.assert_allclose(full[48], [0.5 / 48, 1.5 / 48])
    assert ModelSpec(256, (16, 32, 32, 32)).num_anchors == 896  # MediaPipe's back-camera net


def test_decode_hand_computed():
    anchors = np.array([[0.5, 0.5], [0.25, 0.25]], np.float32)
    reg = np.zeros((2, 16), np.float32)
    reg[0, :4] = [12.8, -12.8, 25.6, 51.2]  # input 128 px: +0.1, -0.1 centre; 0.2 x 0.4 size
    reg[0, 4:6] = [-6.4, 0.0]  # first keypoint 0.05 left of the anchor
    logits = np.array([2.0, -2.0], np.float32)
    boxes, keypoints, scores = decode(reg, logits, anchors, 128, 0.5)
    assert boxes.shape == (1, 4) and keypoints.shape == (1, 12)
    np.testing.assert_allclose(boxes[0], [0.5, 0.2, 0.7, 0.6], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, :2], [0.45, 0.5], atol=1e-6)
    np.testing.assert_allclose(keypoints[0, 2:], np.tile([0.5, 0.5], 5), atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)
    # Huge logits do not overflow (MediaPipe clips them at ±100).
    _, _, s = decode(reg, np.array([1e6, -1e6], np.float32), anchors, 128, 0.5)
    assert s.tolist() == [1.0]


def test_weighted_nms_averages_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    kps = np.array([[0.0] * 12, [3.0] * 12, [9.0] * 12], np.float32)
    scores = np.array([0.6, 0.9, 0.7], np.float32)
    b, k, s = weighted_nms(boxes, kps, scores, 0.3)
    assert s.tolist() == pytest.approx([0.9, 0.7])  # the merged hit keeps the best score
    np.testing.assert_allclose(b[0], [0.6, 0, 10.6, 10], atol=1e-5)  # (0.9·1 + 0.6·0) / 1.5
    np.testing.assert_allclose(k[0], 1.8, atol=1e-5)
    np.testing.assert_allclose(b[1], boxes[2])
    empty = weighted_nms(np.zeros((0, 4)), np.zeros((0, 12)), np.zeros(0), 0.3)
    assert [a.shape for a in empty] == [(0, 4), (0, 12), (0,)]


def test_letterbox_maps_points_back_to_the_image():
    image = np.zeros((300, 600, 3), np.uint8)
    image[100:140, 400:440] = 255  # a white square, BGR
    batch, placement = letterbox(image, 128)
    assert batch.shape == (1, 3, 128, 128) and batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0
    assert batch[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]  # padding: 0 (mid-gray)
    ys, xs = np.nonzero(batch[0, 0] > 0.5)
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]], np.float32) / 128
    np.testing.assert_allclose(
        placement.to_image(corners, 128), [[400, 100], [440, 140]], atol=600 / 128
    )
    gray_batch, _ = letterbox(image[:, :, 0], 128)
    np.testing.assert_allclose(gray_batch, batch)


def test_box_style_turns_with_the_head():
    style = BoxStyle(1.0, 2.0, 0.0, 0.1)
    box = np.array([[0, 0, 10, 10]], np.float32)
    np.testing.assert_allclose(style.apply(box), [[0, -4, 10, 16]])
    # A head rolled by 90 degrees: its tall box lies on its side.
    np.testing.assert_allclose(
        style.apply(box, np.array([np.pi / 2])), [[-5, 1, 15, 11]], atol=1e-5
    )
    kps = np.zeros((1, 6, 2), np.float32)
    kps[0, 1] = [1, 1]  # left eye down-right of the right eye: roll +45 degrees
    assert eye_roll(kps)[0] == pytest.approx(np.pi / 4)


# --- the converted nets -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(SPECS))
def test_onnx_matches_the_original_runtime(variant):
    """ONNX Runtime on the shipped file against the TFLite runtime on the original .tflite
    (fp16 weights, XNNPACK kernels; reference outputs made once, see the fixture README)."""
    net = BlazeFaceNet(variant)
    reference = np.load(REFERENCE)
    for photo in PHOTOS:
        batch, _ = letterbox(cv2.imread(str(FIXTURES / photo)), net.spec.input_size)
        reg, logits = net.raw(batch)
        key = f"{variant}/{photo}"
        np.testing.assert_allclose(logits, reference[f"{key}/logits"], atol=2e-2)
        top = reference[f"{key}/top"]
        np.testing.assert_allclose(reg[top], reference[f"{key}/regressors"], atol=2e-2)
        assert logits[top[0]] > 0, f"{key}: no confident anchor, wrong photo?"


def test_pytorch_graph_matches_onnx_runtime():
    """The PyTorch re-implementation of the .tflite graph gives what the shipped ONNX gives."""
    pytest.importorskip("tflite")
    spec, weights = read_tflite(FIXTURES / "face_detection_short_range.tflite")
    module = TfliteNet(spec, weights).eval()
    net = BlazeFaceNet("short_range")
    for photo in PHOTOS:
        batch, _ = letterbox(cv2.imread(str(FIXTURES / photo)), 128)
        reg, logits = net.raw(batch)
        with torch.no_grad():
            t_reg, t_logits = (t.numpy() for t in module(torch.from_numpy(batch)))
        np.testing.assert_allclose(reg, t_reg.reshape(-1, 16), atol=2e-3)
        np.testing.assert_allclose(logits, t_logits.reshape(-1), atol=2e-3)
    assert GraphSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).ops == spec.ops
    bad = spec.to_dict() | {"ops": [{"op": "SOFTMAX", "inputs": [], "outputs": [], "options": {}}]}
    with pytest.raises(ValueError, match="SOFTMAX"):
        GraphSpec.from_dict(bad)


def test_prelu_has_per_channel_slopes():
    """PRELU (MediaPipe's face mesh uses it): TFLite (1, 1, C) slopes act per NCHW channel."""
    spec = GraphSpec.from_dict(
        {
            "input": 0,
            "outputs": {"y": 2},
            "shapes": {"0": [1, 4, 5, 3], "1": [1, 1, 3], "2": [1, 4, 5, 3]},
            "ops": [{"op": "PRELU", "inputs": [0, 1], "outputs": [2], "options": {}}],
        }
    )
    slopes = np.array([[[0.1, -0.5, 2.0]]], np.float32)
    x = torch.randn(2, 3, 4, 5)
    (y,) = TfliteNet(spec, {1: slopes}).eval()(x)
    expected = torch.nn.functional.prelu(x, torch.from_numpy(slopes.reshape(3)))
    torch.testing.assert_close(y, expected)
    assert (y[:, 2][x[:, 2] < 0] < x[:, 2][x[:, 2] < 0]).all()  # slope 2 doubles negatives


def test_converter_reproduces_the_shipped_model(tmp_path):
    pytest.importorskip("tflite")
    from emotionaldan_ros.core.detection.blazeface_convert import convert_tflite

    shipped = onnx.load(str(MODEL_DIR / "short_range.onnx"))
    note = {p.key: p.value for p in shipped.metadata_props}["source"]
    out = tmp_path / "short_range.onnx"
    diff = convert_tflite(FIXTURES / "face_detection_short_range.tflite", out, note)
    assert diff < 1e-3
    assert out.read_bytes() == (MODEL_DIR / "short_range.onnx").read_bytes()


# --- the detector -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blazeface():
    return create_detector("blazeface", min_face_size=20)


def test_finds_the_astronaut_with_keypoints(blazeface):
    image = cv2.imread(str(FIXTURES / "astronaut.jpg"))
    truth = load_boxes(FIXTURES / "boxes.json")["astronaut.jpg"]
    det = blazeface.detect(image)
    assert len(det) == 1
    assert box_iou(det.boxes, truth)[0, 0] > 0.6
    assert det.keypoints.shape == (1, len(KEYPOINT_NAMES), 2)
    x1, y1, x2, y2 = det.boxes[0]
    right_eye, left_eye, nose, mouth = det.keypoints[0, :4]
    inside = (det.keypoints[0, :4, 0] > x1) & (det.keypoints[0, :4, 0] < x2)
    assert inside.all() and ((det.keypoints[0, :4, 1] > y1) & (det.keypoints[0, :4, 1] < y2)).all()
    assert right_eye[0] < nose[0] < left_eye[0]  # subject's right eye on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    # The same face in a gray (H, W) frame, as a mono8 camera gives.
    gray = blazeface.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert len(gray) == 1 and box_iou(gray.boxes, det.boxes)[0, 0] > 0.8


def test_no_face_in_a_flat_frame(blazeface):
    det = blazeface.detect(np.full((480, 640, 3), 90, np.uint8))
    assert len(det) == 0 and det.keypoints.shape == (0, 6, 2)


def test_default_detector_sees_every_demo_passenger_and_no_ghost():
    # The bundled footage's manifest promises faces in its photo shots (including the fearful
    # close-up the demo's alert depends on) and none in its transitions; the default detector,
    # at the node's default min_face_size, must agree on every frame.
    from demo_footage import face_counts_per_segment

    detector = create_detector("blazeface", min_face_size=24)
    for segment, counts in face_counts_per_segment(detector):
        assert all((count > 0) == segment["faces"] for count in counts), (
            segment["source"],
            counts,
        )


def test_registered_names_and_their_nets():
    assert [n.variant for n in create_detector("blazeface").nets] == ["full_range", "short_range"]
    assert create_detector("blazeface_short").name == "blazeface_short"
    assert [n.variant for n in create_detector("blazeface_full").nets] == ["full_range"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"score_threshold": 1.0}, "score_threshold"),
        ({"max_faces": 0}, "max_faces"),
        ({"input_size": 416}, "input sizes are fixed"),
        ({"short_min_side": 2.0}, "short_min_side"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_bad_parameters_are_rejected(params, message):
    with pytest.raises(ValueError, match=message):
        create_detector("blazeface", **params)


def test_bad_image_is_rejected(blazeface):
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8))):
        with pytest.raises(ValueError, match="uint8 image"):
            blazeface.detect(bad)


def test_missing_or_modified_model_fails_clearly(tmp_path):
    with pytest.raises(WeightsError, match="no checksum file"):
        create_detector("blazeface", model_dir=tmp_path)
    for name in ("full_range.onnx", "short_range.onnx", "SHA256SUMS"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    data = bytearray((tmp_path / "short_range.onnx").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "short_range.onnx").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        create_detector("blazeface", model_dir=tmp_path)
