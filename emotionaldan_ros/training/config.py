"""Training configuration: defaults, YAML file + `--set key=value` overrides, validation."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from emotionaldan_ros.core.data.augment import AugmentConfig

LOSSES = ("landmarks", "joint", "emotion")
SELECTIONS = ("accuracy", "macro_recall", "macro_f1")

# Defaults of every option; a YAML file and `--set key=value` overrides are merged on top.
DEFAULT_CONFIG: dict[str, Any] = {
    "seed": 0,
    "out_dir": "runs/emotionaldan",
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "amp": True,  # mixed precision on CUDA (bf16 where supported, else fp16 + grad scaling)
    "deterministic": False,  # torch.use_deterministic_algorithms (slower on CUDA)
    "num_classes": 7,
    "surprise_valence": "positive",
    "progress": True,  # tqdm bars (rank 0 only)
    # None = the registered variant's own default (`create_model` drops None), so naming
    # `emotionaldan_lite` alone gives its 1/8 width rather than an inherited 1.0.
    "model": {"name": "emotionaldan", "num_stages": None, "width": None, "dropout": None},
    "data": {
        "train": [],  # dataset specs: "name:root[?k=v]" or {name, root, ...}
        "val": [],
        "val_fraction": 0.0,  # hold out this fraction of train when no val set is given
        "box_source": "auto",
        "detector": "haar",
        "size": 112,
        "batch_size": 64,
        "num_workers": 4,
        "mean_shape": "recompute",  # recompute (from training landmarks) | default
        "class_balanced": False,  # sample classes equally often (AffectNet is ~50% happy)
        "class_balance_power": 1.0,  # sampling weight = class count^-power (0.5: sqrt balance)
        "split": "random",  # how val_fraction is held out: random | identity (whole persons)
        "cache": None,  # a face cache (emotionaldan-cache) instead of data.train images
        "include": None,  # cache rows whose image path matches this regex (None = all)
        "exclude": None,  # ... and not this one (e.g. a cross-database test part)
        "test": {},  # name: regex of cache rows never trained on (emotionaldan-eval --protocol)
    },
    # Soft targets: CE against (1 - soft_mix) * one-hot + soft_mix * (weighted teacher average).
    "teacher": {"weights": {"faceapi": 0.0, "fer": 0.0}, "soft_mix": 0.0},
    "selection": "accuracy",  # best.pt by val accuracy | macro_recall | macro_f1
    "augment": {},  # AugmentConfig fields; {} = defaults, null = off
    "loss": {"alpha": 0.4, "beta": 0.6},  # paper; the public code uses 0.5 / 0.5
    "optim": {
        "name": "adam",  # adam (as in DAN) | adamw | sgd
        "lr": 1e-3,
        "weight_decay": 0.0,
        "momentum": 0.9,  # sgd only
        "schedule": "none",  # none | step | cosine
        "step_epochs": 10,
        "gamma": 0.1,
        "warmup_epochs": 0,
        "grad_clip": 0.0,  # max gradient norm, 0 = off
    },
    "phases": [
        {"stages": 1, "freeze": 0, "loss": "landmarks", "epochs": 10},
        {"stages": 2, "freeze": 1, "loss": "joint", "epochs": 10},
    ],
    "val_every": 1,  # epochs
    "max_steps_per_epoch": 0,  # 0 = whole epoch (small values for smoke runs)
    "checkpoint_every": 1,  # epochs between last.pt writes
    "stop_after_epochs": 0,  # end this invocation after N epochs (resume later); 0 = run all
    "init_from": None,  # checkpoint whose matching weights initialise the model (e.g. a DAN)
}


# Sections with free keys: model kwargs, AugmentConfig fields (checked there), test-set names.
_OPEN_SECTIONS = ("model", "augment", "data.test")


def _is_open(path: str) -> bool:
    """Whether `path` ("a.b." or "a.b") lies inside a section with free keys."""
    path = path.rstrip(".")
    return any(path == s or path.startswith(s + ".") for s in _OPEN_SECTIONS)


def merge_config(base: Mapping[str, Any], update: Mapping[str, Any], path: str = "") -> dict:
    """Deep-merge `update` into a copy of `base`.

    Mappings merge key by key; lists and scalars replace. Keys unknown to `base` raise
    ValueError, except inside the free-form sections `model` and `augment`.
    """
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in out and not _is_open(path):
            raise ValueError(f"unknown config option {where!r}")
        if isinstance(out.get(key), dict) and isinstance(value, Mapping):
            out[key] = merge_config(out[key], value, f"{where}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_option(cfg: dict, assignment: str) -> None:
    """Apply one `dotted.key=value` override in place (value parsed as YAML).

    List items are addressed by index (`phases.1.epochs=5`).

    Raises:
        ValueError: no '=', or an unknown option / a path through a non-container.
    """
    key, eq, text = assignment.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise ValueError(f"override {assignment!r}: expected key=value")
    node: Any = cfg
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not (part.isdigit() and int(part) < len(node)):
                raise ValueError(f"override {assignment!r}: no list item {part!r}")
            if last:
                node[int(part)] = yaml.safe_load(text)
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            parent = ".".join(parts[:depth])
            if part not in node and not (last and (_is_open(parent) or parts[0] == "phases")):
                raise ValueError(f"override {assignment!r}: unknown option {key.strip()!r}")
            if last:
                node[part] = yaml.safe_load(text)
            else:
                node = node[part]
        else:
            raise ValueError(f"override {assignment!r}: {'.'.join(parts[:depth])} is a value")


def load_config(path: Path | str | None = None, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Defaults ← YAML file ← `key=value` overrides, validated.

    Raises:
        FileNotFoundError: config file missing.
        ValueError: unknown option or invalid value (named in the message).
    """
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{path}: top level must be a mapping")
        cfg = merge_config(cfg, loaded)
    for item in overrides:
        set_option(cfg, item)
    validate_config(cfg)
    return cfg


def phase_augment(cfg: Mapping[str, Any], phase: Mapping[str, Any]) -> AugmentConfig | None:
    """The augmentation of one phase: `augment` updated by the phase's own `augment` entries.

    None when augmentation is off (`augment: null`).
    """
    if cfg["augment"] is None:
        return None
    return AugmentConfig.from_dict({**cfg["augment"], **(phase.get("augment") or {})})


def validate_config(cfg: Mapping[str, Any]) -> None:
    """Check values that would otherwise fail late (in the middle of a run)."""
    if cfg["num_classes"] not in (7, 8):
        raise ValueError(f"num_classes must be 7 or 8, got {cfg['num_classes']}")
    if not cfg["data"]["train"] and not cfg["data"]["cache"]:
        raise ValueError("data.train is empty: give at least one dataset (name:root)")
    if cfg["data"]["split"] not in ("random", "identity"):
        raise ValueError(f"data.split must be random or identity, got {cfg['data']['split']!r}")
    if cfg["selection"] not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {cfg['selection']!r}")
    mix = float(cfg["teacher"]["soft_mix"])
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"teacher.soft_mix must be in [0, 1], got {mix}")
    if mix > 0 and not any(float(w) > 0 for w in cfg["teacher"]["weights"].values()):
        raise ValueError("teacher.soft_mix > 0 needs a teacher weight > 0")
    if mix > 0 and not cfg["data"]["cache"]:
        raise ValueError("teacher targets come from a face cache: set data.cache")
    if not cfg["phases"]:
        raise ValueError("phases is empty")
    for i, ph in enumerate(cfg["phases"]):
        unknown = set(ph) - {"stages", "freeze", "loss", "epochs", "lr", "augment"}
        if unknown:
            raise ValueError(f"phases[{i}]: unknown key(s) {sorted(unknown)}")
        if ph.get("augment") is not None:
            phase_augment(cfg, ph)  # the merged strengths must be valid
        if ph.get("loss") not in LOSSES:
            raise ValueError(f"phases[{i}].loss must be one of {LOSSES}, got {ph.get('loss')!r}")
        if int(ph.get("epochs", 0)) < 1:
            raise ValueError(f"phases[{i}].epochs must be >= 1")
    if cfg["optim"]["name"] not in ("adam", "adamw", "sgd"):
        raise ValueError(f"optim.name must be adam, adamw or sgd, got {cfg['optim']['name']!r}")
    if cfg["optim"]["schedule"] not in ("none", "step", "cosine"):
        raise ValueError(
            f"optim.schedule must be none, step or cosine: {cfg['optim']['schedule']}"
        )
    if cfg["data"]["mean_shape"] not in ("recompute", "default"):
        raise ValueError("data.mean_shape must be 'recompute' or 'default'")
    if cfg["augment"] is not None:
        AugmentConfig.from_dict(cfg["augment"])
