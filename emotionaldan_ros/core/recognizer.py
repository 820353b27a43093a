"""The recogniser interface the ROS node and the CLI tools talk to.

A recogniser takes one image (any size, BGR uint8 or grayscale) and N face boxes and returns, per
face, 68 landmarks in image pixels, class probabilities and 3-class valence probabilities, all in
one batched call. Backends: EmotionalDAN checkpoints (`core.model`), converted face-api nets
(`core.faceapi`), or anything implementing `Recognizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """Batched result for the N faces of one image.

    Attributes:
        boxes: (N, 4) float32 face boxes x1, y1, x2, y2 in image pixels (as given).
        landmarks: (N, 68, 2) float32 landmarks in image pixels, iBUG order (N, 0, 2) if the
            backend gives none.
        probs: (N, C) float32 class probabilities in `classes` order (rows sum to 1).
        valence: (N, 3) float32 valence probabilities [neutral, positive, negative].
        classes: class names, DESIGN §2 order.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    probs: np.ndarray
    valence: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """(N,) most probable class index per face."""
        return self.probs.argmax(axis=1) if len(self) else np.zeros((0,), np.int64)


@runtime_checkable
class Recognizer(Protocol):
    """Anything that turns (image, boxes) into a `Prediction`."""

    name: str
    classes: tuple[str, ...]

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        """Run on all faces of one image.

        Args:
            image: (H, W, 3) BGR uint8 or (H, W) grayscale uint8.
            boxes: (N, 4) x1, y1, x2, y2 in image pixels; N may be 0.
        """
        ...
