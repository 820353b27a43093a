"""EmotionalDAN training: config, data, DAN stage-wise schedule, validation, checkpoints, DDP.

The loop is split into small functions so that each can be tested and reused; `train(config)` is
what `emotionaldan-train` runs. A run is a list of *phases* (DAN's stage-wise schedule): each phase
runs the first `stages` stages, freezes the first `freeze` of them and optimises `loss`
("landmarks", "joint" or "emotion") for `epochs` epochs with its own optimiser and LR schedule.

Outputs in `out_dir`: `config.yaml` (the resolved config), `last.pt` / `best.pt` (model
checkpoints via `core.checkpoint`: weights + config + mean shape + label map + metrics),
`last_state.pt` (optimiser / scheduler / progress for `--resume`) and `history.jsonl` (one line of
metrics per epoch).

Reproducibility: every epoch reseeds torch with (seed, epoch) and the data order / augmentation
depend only on (seed, epoch, index), so a resumed run continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from emotionaldan_ros.core import metrics as M
from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.data.augment import AugmentConfig
from emotionaldan_ros.core.data.dataset import FaceDataset
from emotionaldan_ros.core.data.sample import FaceSample
from emotionaldan_ros.core.labels import emotion_names, valence_mapping_text

log = logging.getLogger(__name__)

LOSSES = ("landmarks", "joint", "emotion")

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
    "model": {"name": "emotionaldan", "num_stages": 2, "width": 1.0, "dropout": 0.5},
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
    },
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


# --- config -------------------------------------------------------------------------------------


_OPEN_SECTIONS = ("model", "augment")  # free keys: model kwargs / checked by AugmentConfig


def merge_config(base: Mapping[str, Any], update: Mapping[str, Any], path: str = "") -> dict:
    """Deep-merge `update` into a copy of `base`.

    Mappings merge key by key; lists and scalars replace. Keys unknown to `base` raise
    ValueError, except inside the free-form sections `model` and `augment`.
    """
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        where = f"{path}{key}"
        if key not in out and path.split(".")[0] not in _OPEN_SECTIONS:
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
            if part not in node and not (last and parts[0] in (*_OPEN_SECTIONS, "phases")):
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


def validate_config(cfg: Mapping[str, Any]) -> None:
    """Check values that would otherwise fail late (in the middle of a run)."""
    if cfg["num_classes"] not in (7, 8):
        raise ValueError(f"num_classes must be 7 or 8, got {cfg['num_classes']}")
    if not cfg["data"]["train"]:
        raise ValueError("data.train is empty: give at least one dataset (name:root)")
    if not cfg["phases"]:
        raise ValueError("phases is empty")
    for i, ph in enumerate(cfg["phases"]):
        unknown = set(ph) - {"stages", "freeze", "loss", "epochs", "lr"}
        if unknown:
            raise ValueError(f"phases[{i}]: unknown key(s) {sorted(unknown)}")
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


# --- runtime: devices, seeds, distributed -------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: device, DDP rank / world size, AMP dtype."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp_dtype: torch.dtype | None = None

    @property
    def distributed(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and shows progress."""
        return self.rank == 0


def setup_runtime(cfg: Mapping[str, Any]) -> Runtime:
    """Pick the device, join the torchrun process group (gloo on CPU, nccl on GPU), pick AMP."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    want = str(cfg["device"])
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {cfg['device']!r} requested but CUDA is not available")
        device = torch.device("cuda", local_rank if world > 1 else torch.device(want).index or 0)
        torch.cuda.set_device(device)
    else:
        device = torch.device(want)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    amp = None
    if cfg["amp"] and device.type == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Runtime(device, rank, world, local_rank, amp)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


# --- data ---------------------------------------------------------------------------------------


def load_samples(specs: Iterable[Any], num_classes: int) -> tuple[list[FaceSample], list[str]]:
    """Load and concatenate datasets; returns samples and one summary line per dataset."""
    samples: list[FaceSample] = []
    summaries = []
    for spec in specs:
        ds = load_dataset(spec, num_classes=num_classes)
        samples.extend(ds.samples)
        summaries.append(ds.summary())
    return samples, summaries


def split_validation(
    samples: list[FaceSample], fraction: float, seed: int
) -> tuple[list[FaceSample], list[FaceSample]]:
    """Random hold-out split (reproducible with `seed`)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    n_val = round(len(samples) * fraction)
    if n_val == 0:
        return samples, []
    order = np.random.default_rng(seed).permutation(len(samples))
    val_idx = set(order[:n_val].tolist())
    return (
        [s for i, s in enumerate(samples) if i not in val_idx],
        [s for i, s in enumerate(samples) if i in val_idx],
    )


def build_datasets(
    cfg: Mapping[str, Any],
) -> tuple[FaceDataset, FaceDataset | None, list[str]]:
    """Training and validation `FaceDataset`s plus summary lines of what was loaded."""
    data = cfg["data"]
    train, summaries = load_samples(data["train"], cfg["num_classes"])
    if data["val"]:
        val, val_summaries = load_samples(data["val"], cfg["num_classes"])
        summaries += [f"val {s}" for s in val_summaries]
    else:
        train, val = split_validation(train, float(data["val_fraction"]), cfg["seed"])
        if val:
            summaries.append(f"val: {len(val)} faces held out of the training data")
    aug = None if cfg["augment"] is None else AugmentConfig.from_dict(cfg["augment"])
    common = {
        "size": data["size"],
        "box_source": data["box_source"],
        "detector": data["detector"],
        "seed": cfg["seed"],
    }
    train_ds = FaceDataset(train, augment=aug, **common)
    val_ds = FaceDataset(val, augment=None, **common) if val else None
    return train_ds, val_ds, summaries


def training_mean_shape(cfg: Mapping[str, Any], dataset: FaceDataset) -> np.ndarray | None:
    """S0 recomputed from the training landmarks in the crop frame, or None (model default)."""
    if cfg["data"]["mean_shape"] != "recompute":
        return None
    from emotionaldan_ros.core.mean_shape import compute_mean_shape

    crops = dataset.crop_landmarks()
    if len(crops) == 0:
        log.info("no training landmarks: keeping the default mean shape")
        return None
    return compute_mean_shape(crops)


class BalancedSampler(torch.utils.data.Sampler[int]):
    """Draws samples with replacement so that every class is seen equally often.

    Weights are 1 / class frequency; unlabelled samples (landmark-only data) form one more group
    of their own, drawn as often as one class. Under DDP
    each rank draws its own `len(dataset) // world_size` indices from a (seed, epoch, rank)
    generator, so ranks see different samples and every epoch is reproducible.
    """

    def __init__(self, labels: np.ndarray, seed: int, rank: int = 0, world_size: int = 1):
        labels = np.asarray(labels)
        if not (labels >= 0).any():
            raise ValueError("data.class_balanced needs labelled training samples")
        _, inverse, counts = np.unique(
            np.maximum(labels, -1), return_inverse=True, return_counts=True
        )
        self.weights = torch.tensor(1.0 / counts[inverse], dtype=torch.float64)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.num_samples = max(1, len(labels) // world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw a new, reproducible sample for `epoch`."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        g = torch.Generator().manual_seed(
            (self.seed * 1000 + self.epoch) * self.world_size + self.rank
        )
        idx = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=g)
        return iter(idx.tolist())


def make_loader(
    dataset: FaceDataset, cfg: Mapping[str, Any], rt: Runtime, train: bool
) -> DataLoader:
    """DataLoader with a DistributedSampler under DDP (each rank sees 1/world of the data)."""
    data = cfg["data"]
    if train and data["class_balanced"]:
        sampler = BalancedSampler(dataset.labels, cfg["seed"], rt.rank, rt.world_size)
    elif train and rt.distributed:
        sampler = DistributedSampler(
            dataset, rt.world_size, rt.rank, shuffle=True, seed=cfg["seed"], drop_last=True
        )
    elif train:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(cfg["seed"]))
    else:
        sampler = None
    workers = int(data["num_workers"])
    return DataLoader(
        dataset,
        batch_size=int(data["batch_size"]),
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=rt.device.type == "cuda",
        drop_last=train and len(dataset) > int(data["batch_size"]),
        persistent_workers=False,
    )


def set_loader_epoch(loader: DataLoader, epoch: int, seed: int) -> None:
    """Make the shuffle order and the augmentation of `epoch` reproducible."""
    sampler = loader.sampler
    if isinstance(sampler, DistributedSampler | BalancedSampler):
        sampler.set_epoch(epoch)
    elif isinstance(sampler, RandomSampler) and sampler.generator is not None:
        sampler.generator.manual_seed(seed * 1000 + epoch)
    if isinstance(loader.dataset, FaceDataset):
        loader.dataset.set_epoch(epoch)


# --- model, optimiser, schedule -----------------------------------------------------------------


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


# --- one step / epoch / validation --------------------------------------------------------------


def compute_loss(
    out: Any, batch: Mapping[str, torch.Tensor], loss: str, cfg: Mapping[str, Any]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one batch for a phase's loss kind ("landmarks", "joint" or "emotion")."""
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
        """{"loss", "nme", "acc"}; nan where nothing was counted."""
        out = {}
        for key, name in (("loss", "loss"), ("nme", "nme"), ("correct", "acc")):
            out[name] = self.sums[key] / self.counts[key] if self.counts[key] else float("nan")
        return out


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


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
    return result


# --- checkpoints and resume ---------------------------------------------------------------------


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


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


# --- the run ------------------------------------------------------------------------------------


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


def score(metrics: Mapping[str, Any]) -> float:
    """Higher-is-better model selection score: accuracy, else -NME, else -loss."""
    if metrics.get("accuracy") is not None and metrics["accuracy"] == metrics["accuracy"]:
        return float(metrics["accuracy"])
    if "nme" in metrics:
        return -float(metrics["nme"])
    return -float(metrics.get("loss", math.inf))


def _barrier(rt: Runtime) -> None:
    if rt.distributed:
        dist.barrier()


def _prepare_phase(
    model: nn.Module, phase: Mapping[str, Any], cfg: Mapping[str, Any], rt: Runtime
) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    base = unwrap(model)
    if hasattr(base, "freeze_stages"):
        base.freeze_stages(int(phase["freeze"]))
    wrapped: nn.Module = base
    n = num_model_stages(base)
    partial = bool(n) and (phase["stages"] != n or phase["loss"] == "landmarks")
    if rt.distributed:
        wrapped = nn.parallel.DistributedDataParallel(
            base,
            device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
            # later stages and the emotion head sit idle in landmark-only / early phases
            find_unused_parameters=partial,
        )
    optimizer = build_optimizer(cfg, base.parameters(), phase.get("lr"))
    scheduler = build_scheduler(cfg, optimizer, int(phase["epochs"]))
    return wrapped, optimizer, scheduler


def train(
    cfg: Mapping[str, Any], resume: Path | str | None = None, log_fn=print
) -> dict[str, Any]:
    """Run a whole training from a resolved config; returns the final summary.

    Args:
        cfg: config from `load_config`.
        resume: a `last_state.pt` (or the run folder holding it) to continue from.
        log_fn: where rank 0 prints one line per epoch.
    """
    cfg = copy.deepcopy(dict(cfg))
    rt = setup_runtime(cfg)
    seed_everything(cfg["seed"], cfg["deterministic"])
    out_dir = Path(cfg["out_dir"])
    if rt.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # Rank 0 loads first: loaders may write (the synthetic set is generated on first use).
    if rt.distributed and not rt.is_main:
        dist.barrier()
    train_ds, val_ds, summaries = build_datasets(cfg)
    if rt.distributed and rt.is_main:
        dist.barrier()
    mean_shape = training_mean_shape(cfg, train_ds)
    model = build_model(cfg, mean_shape)
    if cfg["init_from"]:
        loaded = init_weights(model, Path(cfg["init_from"]))
        summaries.append(f"initialised {loaded} tensors from {cfg['init_from']}")
    model = model.to(rt.device)
    phases = check_phases(cfg, model)
    if rt.is_main:
        for line in summaries:
            log_fn(line)
        log_fn(f"device {rt.device} x{rt.world_size}, amp {rt.amp_dtype}, model {cfg['model']}")

    progress = Progress()
    state = None
    if resume:
        resume = Path(resume)
        state = load_state(resume / "last_state.pt" if resume.is_dir() else resume)
        unwrap(model).load_state_dict(state["model"])
        progress = Progress(**state["progress"])
        if rt.is_main:
            log_fn(f"resumed at phase {progress.phase + 1}, epoch {progress.epoch}")

    train_loader = make_loader(train_ds, cfg, rt, train=True)
    val_loader = make_loader(val_ds, cfg, rt, train=False) if val_ds is not None else None
    scaler = (
        torch.amp.GradScaler("cuda") if rt.amp_dtype == torch.float16 else None
    )  # bf16 needs none
    history_file = out_dir / "history.jsonl"
    if rt.is_main and not resume:
        history_file.unlink(missing_ok=True)  # a fresh run in an old folder starts a new log
    last_metrics: dict[str, Any] = {}
    started = time.time()
    epochs_run = 0
    stop_after = int(cfg["stop_after_epochs"])
    while progress.phase < len(phases) and not (stop_after and epochs_run >= stop_after):
        phase_idx = progress.phase
        phase = phases[phase_idx]
        wrapped, optimizer, scheduler = _prepare_phase(model, phase, cfg, rt)
        if state is not None and state.get("optimizer_phase") == phase_idx:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
        state = None
        final_phase = progress.phase == len(phases) - 1
        while progress.epoch_in_phase < int(phase["epochs"]):
            torch.manual_seed(cfg["seed"] * 1000 + progress.epoch)  # dropout etc. per epoch
            set_loader_epoch(train_loader, progress.epoch, cfg["seed"])
            desc = (
                f"phase {progress.phase + 1}/{len(phases)} ({phase['loss']}) "
                f"epoch {progress.epoch_in_phase + 1}/{phase['epochs']}"
            )
            t0 = time.time()
            train_metrics = train_one_epoch(
                wrapped, train_loader, optimizer, phase, cfg, rt, scaler, desc
            )
            scheduler.step()
            progress.epoch += 1
            progress.epoch_in_phase += 1
            last_epoch = progress.epoch_in_phase == int(phase["epochs"])
            val_metrics: dict[str, Any] = {}
            do_val = val_loader is not None and (
                progress.epoch % int(cfg["val_every"]) == 0 or last_epoch
            )
            if do_val and rt.is_main:
                val_metrics = validate(unwrap(model), val_loader, phase, cfg, rt)
            record = {
                "epoch": progress.epoch,
                "phase": progress.phase + 1,
                "loss_kind": phase["loss"],
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": round(time.time() - t0, 2),
                "train": train_metrics,
                "val": val_metrics,
            }
            last_metrics = {"train": train_metrics, "val": val_metrics}
            if rt.is_main:
                log_fn(_epoch_line(desc, train_metrics, val_metrics))
                with open(history_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
                improved = final_phase and val_metrics and score(val_metrics) > progress.best
                if improved:
                    progress.best = score(val_metrics)
                if last_epoch:  # phase done: the next resume starts the next phase fresh
                    progress.phase += 1
                    progress.epoch_in_phase = 0
                meta = checkpoint_meta(cfg, last_metrics, progress.as_dict(), summaries)
                if improved:
                    save_model(out_dir / "best.pt", model, cfg, meta)
                if last_epoch or progress.epoch % int(cfg["checkpoint_every"]) == 0:
                    save_model(out_dir / "last.pt", model, cfg, meta)
                    save_state(
                        out_dir / "last_state.pt",
                        {
                            "model": unwrap(model).state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "scaler": scaler.state_dict() if scaler is not None else {},
                            "progress": progress.as_dict(),
                            "optimizer_phase": phase_idx,  # whose optimiser state this is
                        },
                    )
            elif last_epoch:
                progress.phase += 1
                progress.epoch_in_phase = 0
            _barrier(rt)
            epochs_run += 1
            if last_epoch or (stop_after and epochs_run >= stop_after):
                break
    finished = progress.phase >= len(phases)
    if rt.is_main and finished and val_loader is None:  # no validation: the last model is best
        save_model(
            out_dir / "best.pt",
            model,
            cfg,
            checkpoint_meta(cfg, last_metrics, progress.as_dict(), summaries),
        )
    _barrier(rt)
    summary = {
        "out_dir": str(out_dir),
        "epochs": progress.epoch,
        "finished": finished,
        "seconds": round(time.time() - started, 1),
        "metrics": last_metrics,
        "world_size": rt.world_size,
    }
    if rt.distributed:
        dist.destroy_process_group()
    return summary


def _epoch_line(desc: str, tr: Mapping[str, float], va: Mapping[str, Any]) -> str:
    def fmt(d: Mapping[str, Any]) -> str:
        keys = ("loss", "nme", "acc", "accuracy", "macro_f1", "valence_accuracy")
        return " ".join(
            f"{k} {d[k]:.4f}" for k in keys if isinstance(d.get(k), float) and d[k] == d[k]
        )

    line = f"{desc}: train {fmt(tr)}"
    return line + (f" | val {fmt(va)}" if va else "")
