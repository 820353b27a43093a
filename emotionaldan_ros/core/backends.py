"""Build a `Recognizer` from one string spec (the `backend` parameter of node and tools).

Specs:
    "emotionaldan"                  the shipped EmotionalDAN (emotionaldan_lite trained by
                                    `emotionaldan-train --config config/train_fe.yaml`, MODELS.md)
    "faceapi"                       converted face-api landmark + expression nets
    "checkpoint:PATH" or a path ending in .pt/.pth/.safetensors/.onnx: an EmotionalDAN or baseline
                                    checkpoint from emotionaldan-train (or its ONNX export)
    "python:MODULE:FACTORY"         any importable factory returning a Recognizer (tests, plugins)

The shipped nets run on ONNX Runtime on a CPU device and on PyTorch otherwise; `engine` forces
one ("onnxruntime" or "torch"; PyTorch stays the fallback and the training engine).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from emotionaldan_ros.core.recognizer import Recognizer

DEFAULT_BACKEND = "faceapi"
# The shipped EmotionalDAN checkpoint (checksum in SHA256SUMS next to it; MODELS.md).
EMOTIONALDAN_WEIGHTS = (
    Path(__file__).resolve().parents[1]
    / "models"
    / "emotionaldan"
    / "emotionaldan_lite_fe.safetensors"
)


def create_recognizer(
    spec: str = DEFAULT_BACKEND,
    device: str = "cpu",
    engine: str | None = None,
    threads: int = 1,
    **kwargs: object,
) -> Recognizer:
    """Resolve a backend spec into a ready recogniser.

    Args:
        spec: backend spec (see the module docstring).
        device: torch device of the PyTorch engine.
        engine: "onnxruntime", "torch", or None (ONNX Runtime on a CPU device, else PyTorch);
            ignored by python: factories.
        threads: ONNX Runtime intra-op threads per session (0 = one per core).
        **kwargs: passed to the backend (e.g. surprise_valence).

    Raises:
        ValueError: the spec is malformed or names an unknown backend.
        FileNotFoundError: a checkpoint path does not exist (the message says how to get weights).
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("empty backend spec")
    if spec.startswith("python:"):
        mod_name, _, fn_name = spec[len("python:") :].rpartition(":")
        if not mod_name or not fn_name:
            raise ValueError(f"backend spec {spec!r}: expected python:MODULE:FACTORY")
        rec = getattr(importlib.import_module(mod_name), fn_name)(**kwargs)
    elif spec == "faceapi":
        from emotionaldan_ros.core.faceapi.ort import DEFAULT_ENGINE
        from emotionaldan_ros.core.faceapi.recognizer import FaceApiRecognizer

        if engine is None:
            engine = DEFAULT_ENGINE if str(device).startswith("cpu") else "torch"
        rec = FaceApiRecognizer(device=device, engine=engine, threads=threads, **kwargs)
    else:
        if spec == "emotionaldan":
            spec = f"checkpoint:{EMOTIONALDAN_WEIGHTS}"
        explicit = spec.startswith("checkpoint:")
        path = spec[len("checkpoint:") :] if explicit else spec
        if not explicit and not path.endswith((".pt", ".pth", ".safetensors", ".onnx")):
            raise ValueError(
                f"unknown backend {spec!r}: use 'emotionaldan', 'faceapi', 'checkpoint:PATH' "
                "or 'python:MODULE:FACTORY'"
            )
        from emotionaldan_ros.core.dan_recognizer import DANRecognizer

        rec = DANRecognizer.from_checkpoint(
            Path(path), device=device, backend=engine, num_threads=threads or None, **kwargs
        )
    if not isinstance(rec, Recognizer):
        raise TypeError(f"backend {spec!r} did not return a Recognizer (got {type(rec).__name__})")
    return rec
