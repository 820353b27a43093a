"""Evaluation metrics (numpy only).

Accuracy, per-class recall, macro-F1, confusion matrices, 7 → 3-class valence accuracy and
landmark NME.

Conventions: labels are class indices in DESIGN §2 order; -1 marks "no label" and is excluded.
Macro averages run over the classes present in the ground truth (cross-database test sets such as
ISED lack some classes; averaging their empty rows in would only add zeros).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emotionaldan_ros.core.labels import VALENCES, valence_map, valence_mapping_text

RIGHT_EYE = slice(36, 42)  # iBUG 0-based: subject's right eye (image left)
LEFT_EYE = slice(42, 48)
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 36, 45


def _labels(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.size} vs {y_pred.size}")
    keep = y_true >= 0
    return y_true[keep], y_pred[keep]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = ground truth, columns = prediction (y_true -1 skipped).

    Raises:
        ValueError: lengths differ or a label lies outside 0..C-1.
    """
    t, p = _labels(y_true, y_pred)
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} has labels outside 0..{num_classes - 1}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of labelled samples predicted correctly (nan when there are none)."""
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """(C,) recall per class from a confusion matrix; nan for classes without samples."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def per_class_precision(cm: np.ndarray) -> np.ndarray:
    """(C,) precision per class.

    0 for a class that is present but never predicted, nan if it is neither present nor predicted.
    """
    cm = np.asarray(cm, dtype=np.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(predicted > 0, np.diag(cm) / predicted, 0.0)
    return np.where((predicted > 0) | (support > 0), prec, np.nan)


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """(C,) F1 per class (0 where precision + recall = 0, nan for absent classes)."""
    rec = per_class_recall(cm)
    prec = per_class_precision(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    return np.where(np.isnan(rec), np.nan, f1)


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes present in the ground truth (nan when none is)."""
    f1 = per_class_f1(cm)
    return float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan")


def to_valence_labels(
    labels: np.ndarray, classes: Sequence[str], surprise: str = "positive"
) -> np.ndarray:
    """Map class indices to valence indices (0 neutral, 1 positive, 2 negative); -1 stays -1."""
    labels = np.asarray(labels, dtype=np.int64)
    vmap = valence_map(classes, surprise)
    if labels.size and labels.max() >= len(vmap):
        raise ValueError(f"label {labels.max()} outside the {len(vmap)} classes")
    return np.where(labels >= 0, vmap[np.clip(labels, 0, None)], -1)


def valence_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], surprise: str = "positive"
) -> float:
    """3-class accuracy after mapping both the true and the predicted class to its valence."""
    return accuracy(
        to_valence_labels(y_true, classes, surprise), to_valence_labels(y_pred, classes, surprise)
    )


def landmark_norm(gt: np.ndarray, norm: str = "interocular") -> np.ndarray:
    """(N,) normalising distance per face.

    Args:
        gt: (N, 68, 2) ground-truth landmarks.
        norm: "interocular" (outer eye corners 36-45, the 300-W convention) or "interpupil"
            (centres of the eye contours 36-41 and 42-47, the paper's `d`).
    """
    gt = np.asarray(gt, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must be (N, 68, 2), got {gt.shape}")
    if norm == "interocular":
        return np.linalg.norm(gt[:, RIGHT_EYE_OUTER] - gt[:, LEFT_EYE_OUTER], axis=1)
    if norm == "interpupil":
        return np.linalg.norm(gt[:, RIGHT_EYE].mean(1) - gt[:, LEFT_EYE].mean(1), axis=1)
    raise ValueError(f"norm must be 'interocular' or 'interpupil', got {norm!r}")


def nme(pred: np.ndarray, gt: np.ndarray, norm: str = "interocular") -> np.ndarray:
    """(N,) normalised mean error: mean point-to-point distance / `landmark_norm(gt, norm)`.

    Raises:
        ValueError: shapes differ or a ground-truth normalising distance is 0.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {pred.shape} vs {gt.shape}")
    d = landmark_norm(gt, norm)
    if np.any(d <= 0):
        raise ValueError(f"zero {norm} distance in ground truth rows {np.flatnonzero(d <= 0)}")
    return np.linalg.norm(pred - gt, axis=2).mean(axis=1) / d


NO_FACE = -1  # y_pred of a face the pipeline did not find: counted as wrong


def classification_summary(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    surprise: str = "positive",
) -> dict[str, Any]:
    """All classification figures of one (model, test set) pair, JSON-ready.

    A prediction of `NO_FACE` (-1: the detector missed the face) is wrong in accuracy and
    recall; it is in no confusion-matrix column and counted in `missed` instead.

    Returns:
        dict with n, accuracy, macro_f1, per_class_recall (name → value or None), confusion
        (list of lists), missed, and the 3-class counterparts valence_accuracy,
        valence_macro_f1, valence_confusion, valence_mapping (text).
    """
    classes = tuple(classes)
    t, p = _labels(y_true, y_pred)
    found = p != NO_FACE
    cm = confusion_matrix(t[found], p[found], len(classes))
    vt, vp = to_valence_labels(t, classes, surprise), to_valence_labels(p, classes, surprise)
    vcm = confusion_matrix(vt[found], vp[found], len(VALENCES))

    def _nan_to_none(values: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
        return {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, values, strict=True)}

    def _recall(m: np.ndarray, truth: np.ndarray) -> np.ndarray:
        support = np.bincount(truth, minlength=m.shape[0]).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, np.diag(m) / support, np.nan)

    return {
        "n": int(t.size),
        "accuracy": accuracy(t, p),
        "macro_f1": macro_f1(cm),
        "per_class_recall": _nan_to_none(_recall(cm, t), classes),
        "confusion": cm.tolist(),
        "missed": int((~found).sum()),
        "valence_accuracy": accuracy(vt, vp),
        "valence_macro_f1": macro_f1(vcm),
        "valence_per_class_recall": _nan_to_none(_recall(vcm, vt), VALENCES),
        "valence_confusion": vcm.tolist(),
        "valence_mapping": valence_mapping_text(classes, surprise),
    }
