"""EmotionalDAN's joint loss and the landmark error it is built on.

`L = α · NME + β · CE`, with NME the mean point-to-point distance over the 68 points divided by
the ground truth's inter-pupil distance (paper: α = 0.4, β = 0.6; the public code: 0.5 / 0.5).
Mixed batches work: samples without landmarks (NaN rows or `landmark_mask` False) only enter the
CE term, samples without a label (`-1`) only the NME term.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_LABEL = -1  # label of a sample with no emotion annotation
_MIN_EYE_DISTANCE = 1e-3  # pixels; a ground truth with closer eyes is treated as missing


def interpupil_distance(gt: Tensor) -> Tensor:
    """(B,) distance between the eye centres (mean of points 36–41 and of 42–47)."""
    left = gt[:, 36:42].mean(dim=1)
    right = gt[:, 42:48].mean(dim=1)
    return torch.linalg.vector_norm(left - right, dim=-1)


def interocular_distance(gt: Tensor) -> Tensor:
    """(B,) distance between the outer eye corners (points 36 and 45)."""
    return torch.linalg.vector_norm(gt[:, 36] - gt[:, 45], dim=-1)


def nme(pred: Tensor, gt: Tensor, norm: str = "interpupil", reduction: str = "mean") -> Tensor:
    """Normalised mean error: mean_i ||pred_i - gt_i||₂ / d per sample.

    Args:
        pred: (B, 68, 2) predicted landmarks.
        gt: (B, 68, 2) ground truth (same frame).
        norm: "interpupil" (eye centres, the paper's loss) or "interocular" (outer eye corners,
            300-W's usual metric).
        reduction: "mean" over the batch or "none" for (B,).
    """
    if pred.shape != gt.shape or pred.dim() != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (B, 68, 2), got {pred.shape} and {gt.shape}")
    if norm == "interpupil":
        d = interpupil_distance(gt)
    elif norm == "interocular":
        d = interocular_distance(gt)
    else:
        raise ValueError(f"norm must be 'interpupil' or 'interocular', got {norm!r}")
    err = torch.linalg.vector_norm(pred - gt, dim=-1).mean(dim=-1) / d
    if reduction == "mean":
        return err.mean()
    if reduction == "none":
        return err
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def joint_loss(
    landmarks_pred: Tensor | Sequence[Tensor] | None,
    landmarks_gt: Tensor | None,
    logits: Tensor | None,
    labels: Tensor | None,
    alpha: float = 0.4,
    beta: float = 0.6,
    landmark_mask: Tensor | None = None,
    targets: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """EmotionalDAN's joint loss `alpha · NME_interpupil + beta · CE`.

    Args:
        landmarks_pred: (B, 68, 2), or the per-stage list of a `DANOutput` (the last stage is
            used); None or [] for emotion-only models.
        landmarks_gt: (B, 68, 2) ground truth; rows with any NaN count as "no landmarks".
        logits: (B, C) emotion logits, or None (landmark-only stage).
        labels: (B,) int64 class indices, `IGNORE_LABEL` (-1) where unlabelled.
        alpha: weight of the landmark term.
        beta: weight of the emotion term.
        landmark_mask: optional (B,) bool, False where a sample has no landmarks.
        targets: optional (B, C) target distributions (a hard label mixed with a teacher's
            soft prediction); the CE term is then `-sum(t · log softmax)` over the rows whose
            target is not all zero, and `labels` only count them.

    Returns:
        The scalar loss and detached parts {"loss", "nme", "ce", "n_landmarks", "n_labels"}. A
        term with no valid sample in the batch contributes 0.
    """
    if isinstance(landmarks_pred, Sequence) and not isinstance(landmarks_pred, Tensor):
        landmarks_pred = landmarks_pred[-1] if len(landmarks_pred) else None
    zero = None
    terms: dict[str, Tensor] = {}

    if landmarks_pred is not None and landmarks_gt is not None:
        valid = torch.isfinite(landmarks_gt).all(dim=-1).all(dim=-1)
        if landmark_mask is not None:
            valid = valid & landmark_mask.to(torch.bool)
        safe_gt = torch.where(valid[:, None, None], landmarks_gt, landmarks_pred.detach())
        valid = valid & (interpupil_distance(safe_gt) > _MIN_EYE_DISTANCE)
        n_lm = valid.sum()
        if n_lm > 0:
            nme_term = nme(landmarks_pred[valid], landmarks_gt[valid], "interpupil")
        else:
            nme_term = landmarks_pred.sum() * 0.0
    else:
        n_lm = torch.zeros((), dtype=torch.long)
        nme_term = None

    if logits is not None and targets is not None:
        has = targets.sum(dim=1) > 0
        n_cls = has.sum()
        if n_cls > 0:
            logp = F.log_softmax(logits[has], dim=1)
            ce_term = -(targets[has].to(logp.dtype) * logp).sum(dim=1).mean()
        else:
            ce_term = logits.sum() * 0.0
    elif logits is not None and labels is not None:
        labels = labels.to(torch.long)
        n_cls = (labels != IGNORE_LABEL).sum()
        if n_cls > 0:
            ce_term = F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL)
        else:
            ce_term = logits.sum() * 0.0
    else:
        n_cls = torch.zeros((), dtype=torch.long)
        ce_term = None

    for t in (nme_term, ce_term):
        if t is not None:
            zero = t * 0.0
            break
    if zero is None:
        raise ValueError("joint_loss needs landmarks (pred + gt) or logits + labels")
    nme_term = zero if nme_term is None else nme_term
    ce_term = zero if ce_term is None else ce_term
    loss = alpha * nme_term + beta * ce_term
    terms = {
        "loss": loss.detach(),
        "nme": nme_term.detach(),
        "ce": ce_term.detach(),
        "n_landmarks": n_lm.detach(),
        "n_labels": n_cls.detach(),
    }
    return loss, terms
