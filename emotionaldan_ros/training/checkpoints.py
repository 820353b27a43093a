"""Model checkpoints, the resumable training state, run progress and model selection."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emotionaldan_ros.core.labels import emotion_names, valence_mapping_text
from emotionaldan_ros.training.runtime import unwrap


def checkpoint_meta(
    cfg: Mapping[str, Any],
    metrics: Mapping[str, Any],
    progress: Mapping[str, Any],
    data: list,
    has_head: bool = True,
) -> dict[str, Any]:
    """What a model checkpoint records besides the weights."""
    names = emotion_names(cfg["num_classes"])
    return {
        "classes": list(names) if has_head else [],
        "label_map": {str(i): n for i, n in enumerate(names)},
        "valence_mapping": valence_mapping_text(names, cfg["surprise_valence"]),
        "metrics": dict(metrics),
        "progress": dict(progress),
        "training_data": list(data),
        "loss_weights": dict(cfg["loss"]),
    }


def save_model(path: Path, model: nn.Module, cfg: Mapping[str, Any], meta: Mapping[str, Any]):
    """Write a model checkpoint with H1's `core.checkpoint.save_checkpoint` (atomic rename)."""
    from emotionaldan_ros.core.checkpoint import save_checkpoint

    tmp = path.with_name(path.name + ".tmp" + path.suffix)  # the suffix picks the format
    meta = dict(meta)
    if not getattr(unwrap(model), "num_classes", 0):
        meta["classes"] = []
    save_checkpoint(tmp, unwrap(model), dict(cfg), meta, crop={"size": cfg["data"]["size"]})
    os.replace(tmp, path)


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write the resumable training state (tensors + plain values; loads with weights_only)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any]:
    """Read a `last_state.pt`.

    Raises:
        FileNotFoundError / ValueError: missing or unreadable state file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated/corrupt file: say which one
        raise ValueError(f"cannot resume: {path} is unreadable ({exc})") from exc


@dataclass
class Progress:
    """Where a run is: phase index, epochs done in it, global epoch, best score."""

    phase: int = 0
    epoch_in_phase: int = 0
    epoch: int = 0
    best: float = -math.inf

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints."""
        return {
            "phase": self.phase,
            "epoch_in_phase": self.epoch_in_phase,
            "epoch": self.epoch,
            "best": self.best,
        }


def score(metrics: Mapping[str, Any], selection: str = "accuracy") -> float:
    """Higher-is-better model selection score: `selection`, else -NME, else -loss.

    `selection` is accuracy, macro_recall or macro_f1 (config key `selection`).
    """
    value = metrics.get(selection)
    if value is not None and value == value:
        return float(value)
    if "nme" in metrics:
        return -float(metrics["nme"])
    return -float(metrics.get("loss", math.inf))
