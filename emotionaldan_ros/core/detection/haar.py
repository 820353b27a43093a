"""OpenCV Haar-cascade face detector (registered as "haar").

The cascades ship with `opencv-python-headless<5` (`cv2.data.haarcascades`), so this detector
works offline on any install. Pipeline: grayscale → histogram equalisation → `detectMultiScale3`
(grouped with `min_neighbors`) → score → threshold → overlap suppression → top `max_faces`.

Scores: with `outputRejectLevels=True` OpenCV returns, per grouped detection, the sum of the
cascade's last stage (its "level weight"). A window is accepted only when that sum reaches the
stage threshold `t`, so `margin = weight - t ≥ 0` says how clearly the last stage voted "face".
The score is a logistic squash of that margin,

    score = 1 / (1 + exp(-(margin - center) / width)),

with (center, width) set per cascade so that typical frontal faces score above ~0.6 and weak
texture hits below ~0.4: default cascade (4.0, 2.0), alt2 (1.5, 0.7) — chosen by inspecting the
face-api demo photos and the astronaut image (frontal faces had margins 5.5–11.5 / 1.2–3.5,
false hits 2.2–7.7 / 2.1–2.5). It ranks detections; it is not a calibrated probability.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.core.detection.base import Detections, register_detector

__all__ = ["CASCADES", "HaarDetector"]

# name → (file in cv2.data.haarcascades, logistic center, logistic width) of the margin.
CASCADES: dict[str, tuple[str, float, float]] = {
    "default": ("haarcascade_frontalface_default.xml", 4.0, 2.0),
    "alt2": ("haarcascade_frontalface_alt2.xml", 1.5, 0.7),
}
_GENERIC_SQUASH = (0.0, 1.0)  # for a user-supplied cascade file: margin 0 → 0.5


def _last_stage_threshold(path: Path) -> float:
    """The last `<stageThreshold>` in a cascade XML (the bar the level weight must reach)."""
    found = re.findall(r"<stageThreshold>\s*([-+0-9.eE]+)\s*</stageThreshold>", path.read_text())
    if not found:
        raise ValueError(f"{path} has no <stageThreshold>: not an OpenCV cascade file?")
    return float(found[-1])


@register_detector("haar")
class HaarDetector:
    """Haar cascade face detector.

    Args:
        cascade: "default" (haarcascade_frontalface_default), "alt2", or a path to a cascade XML.
        min_face_size: smallest face side searched, in pixels (≥ 1).
        max_face_size: largest face side searched, in pixels; 0 means no limit.
        max_faces: at most this many faces, highest scores first (≥ 1).
        score_threshold: drop faces scoring below this, in [0, 1].
        scale_factor: image pyramid step (> 1; smaller is slower and finds more).
        min_neighbors: overlapping raw hits needed to keep a face (≥ 0; more = fewer false hits).
        overlap_threshold: drop a face whose intersection with a higher-scoring one covers more
            than this fraction of the smaller box, in (0, 1] (removes nested duplicates).
        equalize: equalise the gray histogram first (helps in dim cabins).
        max_side: if > 0, shrink images whose longer side exceeds this before detection (boxes
            are mapped back): ~(side / max_side)² faster, but faces smaller than about
            24 · side / max_side pixels (the cascade window) are no longer found.
        input_size: the name the other detectors use for the size they work at; here it is
            `max_side` (used when `max_side` is 0).
    """

    name = "haar"

    def __init__(
        self,
        cascade: str = "default",
        min_face_size: int = 40,
        max_face_size: int = 0,
        max_faces: int = 10,
        score_threshold: float = 0.5,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        overlap_threshold: float = 0.5,
        equalize: bool = True,
        max_side: int = 0,
        input_size: int = 0,
    ) -> None:
        max_side = max_side or input_size
        _check_int("min_face_size", min_face_size, 1)
        _check_int("max_face_size", max_face_size, 0)
        if max_face_size and max_face_size < min_face_size:
            raise ValueError(
                f"max_face_size ({max_face_size}) must be 0 or >= min_face_size ({min_face_size})"
            )
        _check_int("max_faces", max_faces, 1)
        _check_int("min_neighbors", min_neighbors, 0)
        _check_int("max_side", max_side, 0)
        if 0 < max_side < 32:
            raise ValueError(f"max_side must be 0 (off) or >= 32, got {max_side}")
        if not _is_real(score_threshold) or not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
        if not _is_real(scale_factor) or not 1.0 < scale_factor <= 2.0:
            raise ValueError(f"scale_factor must be in (1, 2], got {scale_factor!r}")
        if not _is_real(overlap_threshold) or not 0.0 < overlap_threshold <= 1.0:
            raise ValueError(f"overlap_threshold must be in (0, 1], got {overlap_threshold!r}")
        self.cascade_path, (self._center, self._width) = self._resolve(cascade)
        try:
            self._classifier = cv2.CascadeClassifier(str(self.cascade_path))
            loaded = not self._classifier.empty()
        except (cv2.error, SystemError):  # OpenCV raises on malformed XML
            loaded = False
        if not loaded:
            raise ValueError(f"OpenCV could not load the cascade {self.cascade_path}")
        self._stage_threshold = _last_stage_threshold(self.cascade_path)
        self.min_face_size = int(min_face_size)
        self.max_face_size = int(max_face_size)
        self.max_faces = int(max_faces)
        self.score_threshold = float(score_threshold)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.overlap_threshold = float(overlap_threshold)
        self.equalize = bool(equalize)
        self.max_side = int(max_side)

    @staticmethod
    def _resolve(cascade: str) -> tuple[Path, tuple[float, float]]:
        if cascade in CASCADES:
            file, center, width = CASCADES[cascade]
            return Path(cv2.data.haarcascades) / file, (center, width)
        path = Path(cascade)
        if path.suffix.lower() == ".xml" and path.is_file():
            return path, _GENERIC_SQUASH
        raise ValueError(
            f"cascade must be one of {', '.join(CASCADES)} or an existing .xml file, "
            f"got {cascade!r}"
        )

    def score(self, level_weights: np.ndarray) -> np.ndarray:
        """Map OpenCV level weights onto [0, 1] scores (see the module docstring)."""
        margin = np.asarray(level_weights, np.float64) - self._stage_threshold
        return 1.0 / (1.0 + np.exp(-(margin - self._center) / self._width))

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR or (H, W) gray uint8 image.

        Raises:
            ValueError: not a non-empty uint8 BGR/gray image.
        """
        gray = _to_gray(image)
        height, width = gray.shape
        scale = 1.0
        if self.max_side and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        min_size = max(1, round(self.min_face_size * scale))
        max_size = round(self.max_face_size * scale) if self.max_face_size else 0
        rects, _, weights = self._classifier.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size),
            maxSize=(max_size, max_size),
            outputRejectLevels=True,
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4) / np.float32(scale)
        scores = self.score(np.asarray(weights).reshape(-1)).astype(np.float32)
        boxes = np.empty_like(rects)
        boxes[:, 0] = np.clip(rects[:, 0], 0, width)
        boxes[:, 1] = np.clip(rects[:, 1], 0, height)
        boxes[:, 2] = np.clip(rects[:, 0] + rects[:, 2], 0, width)
        boxes[:, 3] = np.clip(rects[:, 1] + rects[:, 3], 0, height)
        keep = scores >= self.score_threshold
        boxes, scores = boxes[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")
        boxes, scores = boxes[order], scores[order]
        keep_idx = _suppress_overlaps(boxes, self.overlap_threshold)[: self.max_faces]
        return Detections(boxes[keep_idx], scores[keep_idx])


def _to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"haar detector needs a uint8 image, got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 2:
        gray = np.ascontiguousarray(image)
    else:
        raise ValueError(f"haar detector needs (H, W, 3) BGR or (H, W) gray, got {image.shape}")
    return gray


def _suppress_overlaps(boxes: np.ndarray, threshold: float) -> list[int]:
    """Greedy suppression on score-sorted boxes by intersection over the smaller area."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    for i in range(boxes.shape[0]):
        ok = True
        for j in kept:
            iw = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            ih = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            smaller = min(areas[i], areas[j])
            if iw > 0 and ih > 0 and smaller > 0 and iw * ih / smaller > threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
