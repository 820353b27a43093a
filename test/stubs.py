"""Deterministic stand-ins for the tests (loaded through `python:stubs:<factory>` specs)."""

from __future__ import annotations

import time

import numpy as np

from emotionaldan_ros.core.labels import EMOTIONS_7, to_valence_probs, valence_map
from emotionaldan_ros.core.recognizer import Prediction


class StubRecognizer:
    """Class probabilities chosen by the face box: label = (x1 // 100) % 7, confidence 0.9.

    So a test knows the exact expected output of every face it draws or places.
    """

    classes = EMOTIONS_7

    def __init__(
        self,
        name: str = "stub",
        nan: bool = False,
        fear: float | None = None,
        delay_s: float = 0.0,
        **_: object,
    ) -> None:
        self.name = name
        self.delay_s = delay_s
        self.nan = nan
        self.fear = fear
        self.calls = 0
        self._vmap = valence_map(self.classes)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        self.calls += 1
        time.sleep(self.delay_s)  # simulates a slow model
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        n = len(boxes)
        probs = np.full((n, 7), 0.1 / 6, np.float32)
        labels = (boxes[:, 0] // 100).astype(int) % 7 if n else np.zeros(0, int)
        probs[np.arange(n), labels] = 0.9
        if self.fear is not None:
            probs[:] = (1 - self.fear) / 6
            probs[:, 4] = self.fear
        if self.nan and n:
            probs[0] = np.nan
        cx = (boxes[:, 0] + boxes[:, 2]) / 2
        cy = (boxes[:, 1] + boxes[:, 3]) / 2
        marks = np.stack([np.stack([cx, cy], axis=1)] * 68, axis=1).astype(np.float32)
        return Prediction(boxes, marks, probs, to_valence_probs(probs, self._vmap), self.classes)


def stub(**kwargs: object) -> StubRecognizer:
    return StubRecognizer(**kwargs)


def nan_stub(**kwargs: object) -> StubRecognizer:
    return StubRecognizer(nan=True, **kwargs)


def fear_stub(**kwargs: object) -> StubRecognizer:
    return StubRecognizer(fear=0.95, **kwargs)


def slow_stub(**kwargs: object) -> StubRecognizer:
    return StubRecognizer(delay_s=0.3, **kwargs)


class RunawayStub(StubRecognizer):
    """Landmarks that run 100 px further right on every call: a track that loses its face."""

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        pred = super().predict(image, boxes)
        ring = np.stack([np.cos(np.arange(68)), np.sin(np.arange(68))], axis=1) * 20
        marks = (pred.landmarks + ring + [100 * self.calls, 0]).astype(np.float32)
        return Prediction(pred.boxes, marks, pred.probs, pred.valence, pred.classes)


def runaway_stub(**kwargs: object) -> StubRecognizer:
    return RunawayStub(**kwargs)
