"""Backend specs resolve to recognisers, and bad specs fail with a clear message."""

import numpy as np
import pytest
import torch

from emotionaldan_ros.core.backends import create_recognizer
from emotionaldan_ros.core.checkpoint import save_checkpoint
from emotionaldan_ros.core.model import create_model
from emotionaldan_ros.core.recognizer import Recognizer
from emotionaldan_ros.core.weights import WeightsError


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_checkpoint_paths_with_and_without_prefix(tmp_path, suffix):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / f"tiny{suffix}", create_model("emotionaldan_lite"))
    for spec in (str(path), f"checkpoint:{path}"):
        rec = create_recognizer(spec)
        assert isinstance(rec, Recognizer)
        pred = rec.predict(np.zeros((120, 160, 3), np.uint8), np.array([[40, 20, 100, 90.0]]))
        assert pred.probs.shape == (1, 7) and pred.landmarks.shape == (1, 68, 2)
        np.testing.assert_allclose(pred.probs.sum(1), 1, atol=1e-5)


def test_python_factory_spec():
    rec = create_recognizer("python:stubs:stub")
    assert rec.name == "stub"


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("", ValueError, "empty backend"),
        ("resnet", ValueError, "unknown backend 'resnet'"),
        ("python:nomodule", ValueError, "python:MODULE:FACTORY"),
        ("python:stubs:no_such_factory", AttributeError, "no_such_factory"),
        ("checkpoint:/nonexistent/model.pt", WeightsError, "/nonexistent/model.pt"),
    ],
)
def test_bad_specs(spec, error, match):
    with pytest.raises(error, match=match):
        create_recognizer(spec)


def test_factory_returning_something_else_is_rejected():
    with pytest.raises(TypeError, match="did not return a Recognizer"):
        create_recognizer("python:builtins:dict")


def test_shipped_emotionaldan_backend():
    """`emotionaldan` is the shipped checkpoint: verified, calibrated for blazeface boxes, and
    it reads a real face (landmarks on the face, probabilities over the 7 classes)."""
    import cv2

    from emotionaldan_ros.core.backends import EMOTIONALDAN_WEIGHTS
    from emotionaldan_ros.core.checkpoint import read_header
    from emotionaldan_ros.core.detection import create_detector

    header = read_header(EMOTIONALDAN_WEIGHTS)
    assert header["model"]["name"] == "emotionaldan_lite"
    assert header["crop"]["calibration"]["detector"] == "blazeface"
    assert header["meta"]["metrics"]["val"]["accuracy"] > 0.8
    from pathlib import Path

    image = cv2.imread(str(Path(__file__).parent / "data" / "detection" / "astronaut.jpg"))
    box = create_detector("blazeface").detect(image).boxes[:1]
    pred = create_recognizer("emotionaldan").predict(image, box)
    assert pred.classes == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
    np.testing.assert_allclose(pred.probs.sum(1), 1, atol=1e-5)
    x1, y1, x2, _ = box[0]
    inside = (pred.landmarks[0, :, 0] > x1) & (pred.landmarks[0, :, 0] < x2)
    assert inside.mean() > 0.9 and (pred.landmarks[0, :, 1] > y1).all()
    assert pred.classes[int(pred.probs[0].argmax())] == "happy"  # the smiling astronaut
