"""Face detector interface and registry.

A detector turns one BGR image into face boxes with scores. Backends register themselves with
`@register_detector("name")`; nodes and tools build them with `create_detector(name, **params)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Faces found in one image.

    Attributes:
        boxes: (N, 4) float32 x1, y1, x2, y2 in image pixels, clipped to the image.
        scores: (N,) float32 confidences in [0, 1], sorted descending.
        keypoints: (N, 6, 2) float32 x, y in image pixels (not clipped), in `KEYPOINT_NAMES`
            order; NaN for a point the detector does not give; None for detectors without
            keypoints (Haar, face-api).
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @staticmethod
    def empty(with_keypoints: bool = False) -> Detections:
        """No face (with an empty (0, 6, 2) keypoint array when the detector gives keypoints)."""
        keypoints = np.zeros((0, len(KEYPOINT_NAMES), 2), np.float32) if with_keypoints else None
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), keypoints)


# Order of `Detections.keypoints`. Left/right are the subject's own: for a face looking at the
# camera, "right_eye" is on the image's left (MediaPipe's convention).
KEYPOINT_NAMES = (
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
)


@runtime_checkable
class Detector(Protocol):
    """Anything that finds faces in a BGR uint8 image."""

    name: str

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR uint8 image."""
        ...


# Best quality/speed trade-off measured by benchmarks/detectors.py (see docs/detectors.md).
DEFAULT_DETECTOR = "blazeface"

_REGISTRY: dict[str, Callable[..., Detector]] = {}


def register_detector(name: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Class/factory decorator adding a detector under `name`."""

    def deco(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        if name in _REGISTRY:
            raise ValueError(f"detector {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def list_detectors() -> list[str]:
    """Names of the registered detectors."""
    _load_builtin()
    return sorted(_REGISTRY)


def create_detector(name: str, **params: object) -> Detector:
    """Build a registered detector; unknown names raise ValueError listing the known ones."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**params)


def _load_builtin() -> None:
    """Import the built-in backends so that they register (lazy: heavy imports stay optional)."""
    import importlib

    for module in ("haar", "faceapi", "blazeface", "yunet"):
        try:
            importlib.import_module(f"emotionaldan_ros.core.detection.{module}")
        except ModuleNotFoundError as exc:  # a backend not written yet / optional dependency
            if exc.name != f"emotionaldan_ros.core.detection.{module}":
                raise
