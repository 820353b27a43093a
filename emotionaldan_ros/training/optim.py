"""Model construction for a run, weight initialisation, DAN phases, optimiser and LR schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


def build_model(cfg: Mapping[str, Any], mean_shape: np.ndarray | None) -> nn.Module:
    """Create the configured model (H1's registry) with the training mean shape."""
    from emotionaldan_ros.core.model import create_model

    mc = dict(cfg["model"])
    name = mc.pop("name")
    kwargs = {**mc, "num_classes": cfg["num_classes"]}
    if name == "dan":
        kwargs["num_classes"] = 0
    if name in ("cnn2", "cnn5"):
        kwargs.pop("num_stages", None)
        kwargs.pop("width", None)
    elif mean_shape is not None:
        kwargs["mean_shape"] = mean_shape
    return create_model(name, **kwargs)


def init_weights(model: nn.Module, path: Path) -> int:
    """Copy every tensor of a checkpoint whose name and shape match into `model`.

    Typical uses: start EmotionalDAN from a DAN trained on 300-W landmarks, or fine-tune a
    trained model on new data. The mean shape buffer is kept from the current run.

    Returns:
        The number of tensors copied.

    Raises:
        ValueError: no tensor matches (wrong file for this model).
    """
    from emotionaldan_ros.core.checkpoint import load_checkpoint

    source, _ = load_checkpoint(path)
    own = model.state_dict()
    matched = {
        k: v
        for k, v in source.state_dict().items()
        if k in own and own[k].shape == v.shape and k != "mean_shape"
    }
    if not matched:
        raise ValueError(f"init_from {path}: no tensor matches the model's names and shapes")
    model.load_state_dict(matched, strict=False)
    return len(matched)


def num_model_stages(model: nn.Module) -> int:
    """DAN stages of a model (0 for the CNN baselines)."""
    return int(getattr(model, "num_stages", 0)) if hasattr(model, "stages") else 0


def check_phases(cfg: Mapping[str, Any], model: nn.Module) -> list[dict[str, Any]]:
    """Resolve the phase list against the model (defaults, consistency).

    Raises:
        ValueError: a phase asks for stages the model lacks, an emotion loss before the last
            stage, or landmarks from a baseline without landmark output.
    """
    n = num_model_stages(model)
    out = []
    for i, ph in enumerate(cfg["phases"]):
        ph = dict(ph)
        if n == 0:  # baselines: emotion only, no stages
            if ph["loss"] != "emotion":
                raise ValueError(f"phases[{i}]: {cfg['model']['name']} only trains loss=emotion")
            ph["stages"], ph["freeze"] = None, 0
        else:
            ph.setdefault("stages", n)
            ph.setdefault("freeze", 0)
            if not 1 <= ph["stages"] <= n:
                raise ValueError(f"phases[{i}].stages must be in 1..{n}, got {ph['stages']}")
            if not 0 <= ph["freeze"] < ph["stages"]:
                raise ValueError(f"phases[{i}].freeze must be in 0..{ph['stages'] - 1}")
            if ph["loss"] != "landmarks" and ph["stages"] != n:
                raise ValueError(
                    f"phases[{i}]: loss {ph['loss']!r} needs the emotion head, which sits on "
                    f"the last stage: use stages={n}"
                )
            if ph["loss"] != "landmarks" and getattr(model, "head", None) is None:
                raise ValueError(f"phases[{i}]: model has no emotion head (num_classes=0)")
        out.append(ph)
    return out


def build_optimizer(
    cfg: Mapping[str, Any], params: Iterable[nn.Parameter], lr: float | None = None
) -> torch.optim.Optimizer:
    """Adam (DAN's choice), AdamW or SGD over the trainable parameters."""
    oc = cfg["optim"]
    params = [p for p in params if p.requires_grad]
    lr = float(oc["lr"] if lr is None else lr)
    wd = float(oc["weight_decay"])
    if oc["name"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if oc["name"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=float(oc["momentum"]), weight_decay=wd)


def build_scheduler(
    cfg: Mapping[str, Any], optimizer: torch.optim.Optimizer, epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch LR schedule: none, step (×gamma every step_epochs) or cosine, after warmup."""
    oc = cfg["optim"]
    warm = int(oc["warmup_epochs"])

    def factor(epoch: int) -> float:
        if epoch < warm:
            return (epoch + 1) / (warm + 1)
        if oc["schedule"] == "step":
            return float(oc["gamma"]) ** ((epoch - warm) // max(1, int(oc["step_epochs"])))
        if oc["schedule"] == "cosine":
            span = max(1, epochs - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(epoch - warm, span) / span))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
