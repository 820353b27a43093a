"""Face-detection quality: match detections to ground-truth boxes; recall, precision, F1, IoU.

Matching is greedy by score (COCO style): detections are visited best score first, and each
takes the still-unmatched ground-truth box that it overlaps most, if that IoU reaches the
threshold. A matched detection is a true positive. An unmatched detection is a false positive.
An unmatched ground-truth box is a miss (false negative).

Totals are micro-averaged: true positives, false positives and misses are summed over the
images before the ratios are taken. So an image with five faces weighs five times as much as an
image with one face.

Ignore regions (optional, per image) mark faces too cut off or too small to ask a detector for:
an unmatched detection with at least half of its area inside one is dropped, neither a hit nor a
false positive (as WIDER FACE's "ignore" faces).

Boxes are [x1, y1, x2, y2] in pixels, as in `Detections`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionaldan_ros.core.detection.base import Detections

__all__ = [
    "DetectionReport",
    "Match",
    "Metrics",
    "as_boxes",
    "box_iou",
    "detection_metrics",
    "load_boxes",
    "match_detections",
]

BoxesLike = np.ndarray | Sequence[Sequence[float]]


def as_boxes(boxes: BoxesLike, what: str = "boxes") -> np.ndarray:
    """Validate boxes as an (N, 4) float64 array of finite x1 <= x2, y1 <= y2.

    Raises:
        ValueError: wrong shape, non-finite values or inverted corners; `what` names the input.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{what} must be (N, 4) [x1, y1, x2, y2], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        raise ValueError(f"{what} need x2 >= x1 and y2 >= y1; box {arr[bad][0].tolist()} is not")
    return arr


def box_iou(a: BoxesLike, b: BoxesLike) -> np.ndarray:
    """Intersection over union of every box in `a` with every box in `b`, shape (N, M).

    Two empty (zero-area) boxes have IoU 0.
    """
    a, b = as_boxes(a, "boxes a"), as_boxes(b, "boxes b")
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class Match:
    """How the detections of one image matched its ground truth.

    Attributes:
        pairs: (K, 2) int: detection index, ground-truth index of each true positive, in the
            order they were matched (best detection score first).
        ious: (K,) IoU of each pair.
        false_positives: indices of the detections that matched nothing, ascending.
        misses: indices of the ground-truth boxes that no detection matched, ascending.
    """

    pairs: np.ndarray
    ious: np.ndarray
    false_positives: np.ndarray
    misses: np.ndarray


def match_detections(
    pred_boxes: BoxesLike,
    gt_boxes: BoxesLike,
    iou: float = 0.5,
    scores: Sequence[float] | np.ndarray | None = None,
) -> Match:
    """Match detections to ground-truth boxes, greedily by score.

    Args:
        pred_boxes: (N, 4) detected boxes.
        gt_boxes: (M, 4) ground-truth boxes.
        iou: the least IoU for a match, in (0, 1].
        scores: (N,) detection scores; None means the boxes are already sorted best first
            (as `Detections` are). Ties keep the given order.

    Returns:
        The matched pairs, their IoUs, the unmatched detections and the missed faces.

    Raises:
        ValueError: malformed boxes or scores, or `iou` outside (0, 1].
    """
    if isinstance(iou, bool) or not isinstance(iou, (int, float)) or not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be in (0, 1], got {iou!r}")
    pred = as_boxes(pred_boxes, "pred_boxes")
    gt = as_boxes(gt_boxes, "gt_boxes")
    if scores is None:
        order = np.arange(len(pred))
    else:
        s = np.asarray(scores, np.float64).reshape(-1)
        if s.shape[0] != pred.shape[0]:
            raise ValueError(f"got {s.shape[0]} scores for {pred.shape[0]} boxes")
        if not np.isfinite(s).all():
            raise ValueError("scores contain NaN or infinite values")
        order = np.argsort(-s, kind="stable")
    overlaps = box_iou(pred, gt)
    taken = np.zeros(len(gt), bool)
    pairs: list[tuple[int, int]] = []
    ious: list[float] = []
    for p in order:
        if not len(gt):
            break
        candidates = np.where(taken, -1.0, overlaps[p])
        g = int(np.argmax(candidates))
        if candidates[g] >= iou:
            taken[g] = True
            pairs.append((int(p), g))
            ious.append(float(candidates[g]))
    matched_pred = {p for p, _ in pairs}
    return Match(
        pairs=np.asarray(pairs, np.int64).reshape(-1, 2),
        ious=np.asarray(ious, np.float64),
        false_positives=np.asarray(
            [i for i in range(len(pred)) if i not in matched_pred], np.int64
        ),
        misses=np.flatnonzero(~taken).astype(np.int64),
    )


@dataclass(frozen=True)
class Metrics:
    """Detection quality over one image or a set of images.

    Attributes:
        true_positives: detections matched to a face.
        false_positives: detections that matched no face.
        misses: faces that no detection matched (false negatives).
        recall: true_positives / faces; 1.0 when there is no face (nothing was missed).
        precision: true_positives / detections; 1.0 when there is no detection (no false alarm).
        f1: harmonic mean of recall and precision (0.0 when both are 0).
        mean_iou: mean IoU of the matched pairs; NaN when nothing matched.
    """

    true_positives: int
    false_positives: int
    misses: int
    recall: float
    precision: float
    f1: float
    mean_iou: float

    @property
    def faces(self) -> int:
        """Number of ground-truth faces."""
        return self.true_positives + self.misses

    @property
    def detections(self) -> int:
        """Number of detections."""
        return self.true_positives + self.false_positives

    @staticmethod
    def from_counts(tp: int, fp: int, fn: int, ious: Sequence[float]) -> Metrics:
        """Ratios from the counts and the IoUs of the matches."""
        recall = tp / (tp + fn) if tp + fn else 1.0
        precision = tp / (tp + fp) if tp + fp else 1.0
        f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
        mean_iou = float(np.mean(ious)) if len(ious) else math.nan
        return Metrics(tp, fp, fn, recall, precision, f1, mean_iou)


@dataclass(frozen=True)
class DetectionReport:
    """Per-image and total detection metrics.

    Attributes:
        per_image: image name → its metrics, in the ground truth's order.
        total: micro-averaged over all images (counts summed first).
        matches: image name → its `Match`, to see which faces were missed.
    """

    per_image: dict[str, Metrics]
    total: Metrics
    matches: dict[str, Match]


def _inside_fraction(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(N,) the largest fraction of each box's area inside one of the regions."""
    if not len(boxes) or not len(regions):
        return np.zeros(len(boxes))
    iw = np.minimum(boxes[:, None, 2], regions[None, :, 2]) - np.maximum(
        boxes[:, None, 0], regions[None, :, 0]
    )
    ih = np.minimum(boxes[:, None, 3], regions[None, :, 3]) - np.maximum(
        boxes[:, None, 1], regions[None, :, 1]
    )
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None]
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0).max(axis=1)


def detection_metrics(
    predictions: Mapping[str, Detections | BoxesLike],
    ground_truth: Mapping[str, BoxesLike],
    iou: float = 0.5,
    ignore: Mapping[str, BoxesLike] | None = None,
) -> DetectionReport:
    """Recall, precision, F1 and mean IoU per image and in total.

    Args:
        predictions: image name → `Detections` (matched best score first), or an (N, 4) array
            of boxes sorted best first.
        ground_truth: image name → (M, 4) face boxes; an empty list for an image without faces.
        iou: the least IoU for a match, in (0, 1].
        ignore: image name → (K, 4) ignore regions; images not named have none. An unmatched
            detection with at least half of its area inside one is not counted.

    Raises:
        ValueError: the two mappings name different images, or malformed boxes (the message
            names the image).
    """
    missing = [name for name in ground_truth if name not in predictions]
    extra = [name for name in predictions if name not in ground_truth]
    if missing or extra:
        raise ValueError(
            f"predictions and ground truth must cover the same images; "
            f"no predictions for {missing}, no ground truth for {extra}"
        )
    per_image: dict[str, Metrics] = {}
    matches: dict[str, Match] = {}
    tp = fp = fn = 0
    all_ious: list[float] = []
    for name, gt in ground_truth.items():
        pred = predictions[name]
        if isinstance(pred, Detections):
            boxes, scores = pred.boxes, pred.scores
        else:
            boxes, scores = pred, None
        try:
            match = match_detections(boxes, gt, iou, scores)
            regions = as_boxes((ignore or {}).get(name, []), "ignore regions")
            if len(regions) and len(match.false_positives):
                fp_boxes = as_boxes(boxes, "pred_boxes")[match.false_positives]
                counted = _inside_fraction(fp_boxes, regions) < 0.5
                match = Match(
                    match.pairs, match.ious, match.false_positives[counted], match.misses
                )
        except ValueError as exc:
            raise ValueError(f"image {name!r}: {exc}") from exc
        counts = (len(match.pairs), len(match.false_positives), len(match.misses))
        per_image[name] = Metrics.from_counts(*counts, match.ious.tolist())
        matches[name] = match
        tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
        all_ious.extend(match.ious.tolist())
    return DetectionReport(per_image, Metrics.from_counts(tp, fp, fn, all_ious), matches)


def load_boxes(path: str | Path) -> dict[str, np.ndarray]:
    """Read ground-truth boxes from a JSON file such as `test/data/detection/boxes.json`.

    The file holds `{"images": {"name.jpg": [[x1, y1, x2, y2], ...], ...}}`; other top-level
    keys (format notes) are ignored.

    Raises:
        ValueError: the file is not such JSON, or a box is malformed (names the image).
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise ValueError(f"{path} needs an 'images' object mapping image names to box lists")
    return {name: as_boxes(boxes, f"{path}: boxes of {name!r}") for name, boxes in images.items()}
