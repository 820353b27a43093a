import hashlib

import numpy as np
import pytest
import torch

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.backends import create_recognizer
from emotionaldan_ros.core.checkpoint import load_checkpoint, read_header, save_checkpoint
from emotionaldan_ros.core.dan_recognizer import DANRecognizer
from emotionaldan_ros.core.labels import EMOTIONS_7
from emotionaldan_ros.core.mean_shape import load_default_mean_shape
from emotionaldan_ros.core.model import create_model
from emotionaldan_ros.core.recognizer import Recognizer
from emotionaldan_ros.core.weights import GET_WEIGHTS_HINT, WeightsError


def _tiny(seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    model = create_model("emotionaldan", width=0.125, **kwargs)
    # Non-trivial BatchNorm statistics, so eval-mode outputs depend on the saved buffers.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _scene(seed: int = 0) -> np.ndarray:
    """A 240x320 BGR frame with two face-like blobs (ellipse, eyes, mouth)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = (rng.random((240, 320, 3)) * 60).astype(np.uint8)
    for cx, cy in ((90, 110), (230, 120)):
        cv2.ellipse(img, (cx, cy), (40, 52), 0, 0, 360, (150, 170, 200), -1)
        for dx in (-15, 15):
            cv2.circle(img, (cx + dx, cy - 12), 5, (30, 30, 30), -1)
        cv2.ellipse(img, (cx, cy + 22), (16, 6), 0, 0, 180, (40, 40, 120), -1)
    return img


BOXES = np.array([[55.0, 70, 125, 140], [195, 80, 265, 150]], np.float32)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_save_load_round_trip(tmp_path, suffix):
    model = _tiny()
    shape = load_default_mean_shape() + 1.5
    model.set_mean_shape(shape)
    path = save_checkpoint(
        tmp_path / f"m{suffix}",
        model,
        config={"lr": 1e-3, "alpha": 0.4},
        meta={"metrics": {"acc": np.float32(0.5)}, "data": "synthetic"},
        crop={"margin": 0.25},
    )
    loaded, header = load_checkpoint(path)
    assert header["model"] == {"name": "emotionaldan", "kwargs": {"width": 0.125}}
    assert tuple(header["classes"]) == EMOTIONS_7
    assert header["config"]["alpha"] == 0.4 and header["meta"]["metrics"]["acc"] == 0.5
    assert header["crop"]["margin"] == 0.25 and header["crop"]["size"] == 112
    assert read_header(path)["tensors_sha256"] == header["tensors_sha256"]
    np.testing.assert_allclose(loaded.mean_shape.numpy(), shape, rtol=0, atol=1e-6)
    assert not loaded.training
    x = torch.randn(3, 1, 112, 112)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    torch.testing.assert_close(a.logits, b.logits)
    torch.testing.assert_close(a.landmarks[-1], b.landmarks[-1])


def _flip_byte(path, offset_from_end: int = 100):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_tampered_truncated_and_missing_files(tmp_path, suffix):
    path = save_checkpoint(tmp_path / f"m{suffix}", _tiny())
    good = path.read_bytes()
    if suffix == ".safetensors":
        _flip_byte(path)  # inside the last tensor's data
    else:
        data = bytearray(good)
        i = data.find(b"data/")  # first tensor record of the zip archive
        j = data.find(b"PK", i + 100)  # flip bytes inside the next stored tensor payload
        data[j - 40] ^= 0x5A
        path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="digest differs") as exc:
        load_checkpoint(path)
    assert str(path) in str(exc.value) and GET_WEIGHTS_HINT in str(exc.value)

    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match=str(path.name)):
        load_checkpoint(path)

    path.write_bytes(good)
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_checkpoint(path, expected_sha256="0" * 64)
    load_checkpoint(path, expected_sha256=hashlib.sha256(good).hexdigest())

    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / f"missing{suffix}")


def test_sums_file_next_to_checkpoint_is_used(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _tiny())
    (tmp_path / "SHA256SUMS").write_text(f"{'1' * 64}  m.safetensors\n")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_checkpoint(path)
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  m\n")
    load_checkpoint(path)  # the file is not listed: nothing to check against


def test_foreign_and_malicious_pickles_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, plain)
    with pytest.raises(WeightsError, match=r"plain\.pt"):
        load_checkpoint(plain)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"emotionaldan": "{}", "state_dict": {}, "x": Evil()}, evil)
    with pytest.raises(WeightsError, match=r"evil\.pt.*Weights only load failed"):
        load_checkpoint(evil)


def test_recognizer_predicts_landmarks_probs_valence(tmp_path):
    model = _tiny()
    rec = DANRecognizer(model)
    assert isinstance(rec, Recognizer) and rec.classes == EMOTIONS_7
    img = _scene()
    pred = rec.predict(img, BOXES)
    assert pred.landmarks.shape == (2, 68, 2) and pred.probs.shape == (2, 7)
    np.testing.assert_allclose(pred.probs.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(pred.valence.sum(1), 1, atol=1e-5)
    # surprise (3) counts as positive by default
    p = pred.probs
    np.testing.assert_allclose(pred.valence[:, 1], p[:, 1] + p[:, 3], atol=1e-6)
    # An untrained DAN stays near S0, so the landmarks sit where the crop puts the mean shape.
    mats = alignment.crop_transforms(BOXES)
    s0 = alignment.to_image(np.broadcast_to(load_default_mean_shape(), (2, 68, 2)), mats)
    assert np.abs(pred.landmarks - s0).max() < 2.0
    # Faces are independent: one batched call equals per-face calls.
    single = [rec.predict(img, BOXES[i : i + 1]) for i in range(2)]
    np.testing.assert_allclose(pred.probs, np.concatenate([s.probs for s in single]), atol=1e-5)
    np.testing.assert_allclose(
        pred.landmarks, np.concatenate([s.landmarks for s in single]), atol=1e-3
    )
    # Grayscale input works too.
    import cv2

    gray = rec.predict(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), BOXES)
    np.testing.assert_allclose(gray.probs, pred.probs, atol=1e-5)


def test_recognizer_edge_cases():
    rec = DANRecognizer(_tiny(), surprise_valence="negative")
    img = _scene()
    empty = rec.predict(img, np.zeros((0, 4), np.float32))
    assert len(empty) == 0 and empty.probs.shape == (0, 7) and empty.landmarks.shape == (0, 68, 2)
    outside = rec.predict(img, np.array([[-300.0, -300, -200, -200], [300, 200, 400, 300]]))
    assert np.isfinite(outside.probs).all() and np.isfinite(outside.landmarks).all()
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        rec.predict(img, np.array([[10.0, 10, 50, 50], [60, 60, 60, 90]]))
    with pytest.raises(ValueError, match="image"):
        rec.predict(np.zeros((10, 10, 2), np.uint8), BOXES)
    broken = _tiny()
    with torch.no_grad():
        broken.head.bias[0] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite"):
        DANRecognizer(broken).predict(img, BOXES)
    with pytest.raises(ValueError, match="emotion head"):
        DANRecognizer(create_model("dan", width=0.125))


def test_from_checkpoint_and_backend_spec(tmp_path):
    model = _tiny()
    path = save_checkpoint(tmp_path / "m.safetensors", model, crop={"margin": 0.3})
    rec = DANRecognizer.from_checkpoint(path)
    assert rec.margin == 0.3 and "emotionaldan" in rec.name
    ref = DANRecognizer(model, crop={"margin": 0.3}).predict(_scene(), BOXES)
    got = create_recognizer(f"checkpoint:{path}").predict(_scene(), BOXES)
    np.testing.assert_allclose(got.probs, ref.probs, atol=1e-5)
    np.testing.assert_allclose(got.landmarks, ref.landmarks, atol=1e-3)


def test_baseline_recognizer_has_no_landmarks(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "cnn2.pt", create_model("cnn2"))
    pred = DANRecognizer.from_checkpoint(path).predict(_scene(), BOXES)
    assert pred.landmarks.shape == (2, 0, 2) and pred.probs.shape == (2, 7)


@pytest.mark.parametrize("name", ["emotionaldan", "cnn5"])
def test_folded_batchnorm_matches_model(name):
    from emotionaldan_ros.core.dan_recognizer import fold_batchnorm

    torch.manual_seed(0)
    model = create_model(name, **({"width": 0.125} if name == "emotionaldan" else {}))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original intact
    x = torch.randn(3, 1, 112, 112)
    with torch.no_grad():
        a, b = model(x), folded(x)
    torch.testing.assert_close(b.logits, a.logits, rtol=0, atol=1e-4)
    for s, t in zip(a.landmarks, b.landmarks, strict=True):
        torch.testing.assert_close(t, s, rtol=0, atol=1e-3)


def test_real_face_haar_box_crop_and_mean_shape_line_up():
    """On a real annotated photo, S0 placed through a Haar box lands on the face."""
    from pathlib import Path

    import cv2

    from emotionaldan_ros.core.mean_shape import read_pts
    from emotionaldan_ros.core.model import nme

    data = Path(__file__).parent / "data" / "model"
    img = cv2.imread(str(data / "takeo.png"))
    gt = read_pts(data / "takeo.pts")[None].astype(np.float32)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = cascade.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5)
    assert len(found) == 1
    x, y, w, h = found[0]
    box = np.array([[x, y, x + w, y + h]], np.float32)
    s0 = alignment.to_image(load_default_mean_shape()[None], alignment.crop_transforms(box))
    err = nme(torch.from_numpy(s0), torch.from_numpy(gt), "interocular").item()
    assert err < 0.12, err
    # The recogniser maps its (untrained, ≈S0) landmarks back onto the same place.
    pred = DANRecognizer(_tiny()).predict(img, box)
    err_pred = nme(torch.from_numpy(pred.landmarks), torch.from_numpy(gt), "interocular").item()
    assert err_pred < 0.15, err_pred
