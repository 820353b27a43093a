"""One training epoch and one validation pass (the loss of a DAN phase, running statistics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from emotionaldan_ros.core import metrics as M
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.training.runtime import Runtime


def compute_loss(
    out: Any, batch: Mapping[str, torch.Tensor], loss: str, cfg: Mapping[str, Any]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one batch for a phase's loss kind ("landmarks", "joint" or "emotion").

    Batches from a face cache carry `target` distributions (hard label mixed with the teachers'
    soft predictions); the CE term then uses them instead of the hard labels.
    """
    from emotionaldan_ros.core.model import joint_loss

    alpha, beta = float(cfg["loss"]["alpha"]), float(cfg["loss"]["beta"])
    if loss == "landmarks":
        alpha, beta = 1.0, 0.0
    elif loss == "emotion":
        alpha, beta = 0.0, 1.0
    landmarks = out.landmarks if loss != "emotion" and out.landmarks else None
    logits = out.logits if loss != "landmarks" else None
    return joint_loss(
        [t.float() for t in landmarks] if landmarks else None,
        batch["landmarks"] if landmarks else None,
        logits.float() if logits is not None else None,
        batch["label"] if logits is not None else None,
        alpha=alpha,
        beta=beta,
        landmark_mask=batch["has_landmarks"],
        targets=batch.get("target") if logits is not None else None,
    )


class RunningStats:
    """Sample-weighted running means of loss / NME and running accuracy for progress bars."""

    def __init__(self) -> None:
        self.sums = {"loss": 0.0, "nme": 0.0, "correct": 0.0}
        self.counts = {"loss": 0, "nme": 0, "correct": 0}

    def update(self, parts: Mapping[str, torch.Tensor], logits: torch.Tensor | None, labels):
        """Add one batch."""
        n = int(labels.shape[0])
        self.sums["loss"] += float(parts["loss"]) * n
        self.counts["loss"] += n
        n_lm = int(parts["n_landmarks"])
        if n_lm:
            self.sums["nme"] += float(parts["nme"]) * n_lm
            self.counts["nme"] += n_lm
        if logits is not None:
            valid = labels >= 0
            self.sums["correct"] += float((logits.argmax(1)[valid] == labels[valid]).sum())
            self.counts["correct"] += int(valid.sum())

    def means(self) -> dict[str, float]:
        """{"loss", "nme", "acc", "images"}; nan where nothing was counted."""
        out = {}
        for key, name in (("loss", "loss"), ("nme", "nme"), ("correct", "acc")):
            out[name] = self.sums[key] / self.counts[key] if self.counts[key] else float("nan")
        out["images"] = float(self.counts["loss"])
        return out


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict:
    out = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    if device.type == "cpu":  # NHWC: ~2x faster convs / pooling on CPU (see `train`)
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    return out


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    phase: Mapping[str, Any],
    cfg: Mapping[str, Any],
    rt: Runtime,
    scaler: torch.amp.GradScaler | None = None,
    desc: str = "",
) -> dict[str, float]:
    """One pass over the training data; returns running means {"loss", "nme", "acc"}."""
    model.train()
    stats = RunningStats()
    max_steps = int(cfg["max_steps_per_epoch"]) or len(loader)
    clip = float(cfg["optim"]["grad_clip"])
    bar = _progress(loader, min(max_steps, len(loader)), desc, rt, cfg)
    for step, batch in enumerate(bar):
        batch = _to_device(batch, rt.device)
        with torch.autocast(
            rt.device.type, rt.amp_dtype or torch.float32, rt.amp_dtype is not None
        ):
            out = model(batch["image"], num_stages=phase["stages"])
        loss, parts = compute_loss(out, batch, phase["loss"], cfg)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"]], clip
            )
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {float(loss)} at step {step} ({desc})")
        stats.update(parts, out.logits if phase["loss"] != "landmarks" else None, batch["label"])
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({k: f"{v:.4f}" for k, v in stats.means().items() if v == v})
        if step + 1 >= max_steps:  # stop before the loader reads a batch that would be unused
            break
    return stats.means()


def _progress(loader: DataLoader, total: int, desc: str, rt: Runtime, cfg: Mapping[str, Any]):
    if not (cfg["progress"] and rt.is_main):
        return loader
    from tqdm import tqdm

    return tqdm(loader, total=total, desc=desc, leave=False, dynamic_ncols=True)


@torch.no_grad()
def validate(
    model: nn.Module,
    loader: DataLoader,
    phase: Mapping[str, Any],
    cfg: Mapping[str, Any],
    rt: Runtime,
) -> dict[str, Any]:
    """Loss, landmark NME (inter-pupil, last computed stage) and classification metrics."""
    model.eval()
    stats = RunningStats()
    preds, labels, errs = [], [], []
    for batch in loader:
        batch = _to_device(batch, rt.device)
        with torch.autocast(
            rt.device.type, rt.amp_dtype or torch.float32, rt.amp_dtype is not None
        ):
            out = model(batch["image"], num_stages=phase["stages"])
        _, parts = compute_loss(out, batch, phase["loss"], cfg)
        stats.update(parts, out.logits, batch["label"])
        if out.logits is not None:
            preds.append(out.logits.float().argmax(1).cpu().numpy())
            labels.append(batch["label"].cpu().numpy())
        if out.landmarks:
            has = batch["has_landmarks"].bool()
            if has.any():
                errs.append(
                    M.nme(
                        out.landmarks[-1].float()[has].cpu().numpy(),
                        batch["landmarks"][has].cpu().numpy(),
                        "interpupil",
                    )
                )
    result: dict[str, Any] = {"loss": stats.means()["loss"]}
    if errs:
        result["nme"] = float(np.concatenate(errs).mean())
    if preds:
        y_pred, y_true = np.concatenate(preds), np.concatenate(labels)
        if (y_true >= 0).any():
            names = emotion_names(cfg["num_classes"])
            summary = M.classification_summary(y_true, y_pred, names, cfg["surprise_valence"])
            for key in ("accuracy", "macro_f1", "valence_accuracy", "per_class_recall"):
                result[key] = summary[key]
            recalls = [v for v in summary["per_class_recall"].values() if v is not None]
            result["macro_recall"] = float(np.mean(recalls)) if recalls else float("nan")
    return result
