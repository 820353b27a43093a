"""Training data: datasets from specs, validation splits, class-balanced sampling, loaders."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.data.augment import AugmentConfig
from emotionaldan_ros.core.data.dataset import FaceDataset
from emotionaldan_ros.core.data.sample import FaceSample
from emotionaldan_ros.core.data.split import split_by_identity
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.training.runtime import Runtime

log = logging.getLogger(__name__)


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
) -> tuple[Dataset, Dataset | None, list[str]]:
    """Training and validation datasets plus summary lines of what was loaded.

    From images (`FaceDataset` over `data.train` / `data.val` specs) or, when `data.cache` is
    set, from a face cache (`CachedFaceDataset`, see `build_cached_datasets`).
    """
    data = cfg["data"]
    if data["cache"]:
        return build_cached_datasets(cfg)
    train, summaries = load_samples(data["train"], cfg["num_classes"])
    if data["val"]:
        val, val_summaries = load_samples(data["val"], cfg["num_classes"])
        summaries += [f"val {s}" for s in val_summaries]
    else:
        split = split_by_identity if data["split"] == "identity" else split_validation
        train, val = split(train, float(data["val_fraction"]), cfg["seed"])
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


def build_cached_datasets(cfg: Mapping[str, Any]) -> tuple[Dataset, Dataset | None, list[str]]:
    """Training / validation `CachedFaceDataset`s from `data.cache`.

    Rows are filtered by `data.include` / `data.exclude` (regexes on the image path), then
    `data.val_fraction` of them is held out (`data.split`: whole identities or at random).
    """
    from emotionaldan_ros.training.cache import load_cache
    from emotionaldan_ros.training.cached import CachedFaceDataset, teacher_targets

    data, n_cls = cfg["data"], cfg["num_classes"]
    cache = load_cache(data["cache"])
    train_rows, val_rows = split_rows(cfg, cache)
    targets = teacher_targets(cache, cfg["teacher"]["weights"], n_cls)
    mix = float(cfg["teacher"]["soft_mix"])
    aug = None if cfg["augment"] is None else AugmentConfig.from_dict(cfg["augment"])
    common = {"size": data["size"], "targets": targets, "num_classes": n_cls, "seed": cfg["seed"]}
    train_ds = CachedFaceDataset(cache, train_rows, augment=aug, soft_mix=mix, **common)
    val_ds = (
        CachedFaceDataset(cache, val_rows, augment=None, soft_mix=0.0, **common)
        if val_rows.size
        else None
    )
    names = emotion_names(n_cls)

    def counts(r: np.ndarray) -> str:
        c = np.bincount(cache["label"][r], minlength=n_cls)
        return ", ".join(f"{names[i]} {int(c[i])}" for i in range(n_cls))

    summaries = [
        f"cache {data['cache']}: train {train_rows.size} faces ({counts(train_rows)})",
        f"val {val_rows.size} faces ({counts(val_rows)}), split {data['split']}",
    ]
    if mix:
        summaries.append(f"soft targets: mix {mix}, teachers {dict(cfg['teacher']['weights'])}")
    return train_ds, val_ds, summaries


def split_rows(
    cfg: Mapping[str, Any], cache: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, val rows) of a cache under `data.include` / `exclude` / `test` / `split`.

    Rows of the `data.test` sets are never training or validation rows, whatever `include`
    says. The same config always gives the same rows (evaluation re-derives them).

    Raises:
        ValueError: no row left.
    """
    from emotionaldan_ros.training.cached import select_rows

    data = cfg["data"]
    rows = select_rows(cache, data["include"], data["exclude"])
    for pattern in (data.get("test") or {}).values():
        rows = np.setdiff1d(rows, select_rows(cache, pattern))
    if rows.size == 0:
        raise ValueError(f"{data['cache']}: no cache row matches include/exclude")
    fraction = float(data["val_fraction"])
    if data["split"] == "identity":
        return _identity_split_rows(cache, rows, fraction, cfg["seed"])
    order = np.random.default_rng(cfg["seed"]).permutation(rows)
    n_val = round(rows.size * fraction)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _identity_split_rows(
    cache: Mapping[str, np.ndarray], rows: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    samples = [
        FaceSample(Path(str(cache["image"][r])), None, None, int(cache["label"][r]), "", str(i))
        for r, i in zip(rows, cache["identity"][rows], strict=True)
    ]
    keyed = {id(s): r for s, r in zip(samples, rows, strict=True)}
    train, val = split_by_identity(samples, fraction, seed)
    return (
        np.sort(np.array([keyed[id(s)] for s in train], np.int64)),
        np.sort(np.array([keyed[id(s)] for s in val], np.int64)),
    )


def training_mean_shape(cfg: Mapping[str, Any], dataset: Any) -> np.ndarray | None:
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

    Weights are 1 / class frequency (or frequency^-power: 0.5 gives a square-root balance that
    draws a class with a dozen images less often than a large one, so its few images are not
    repeated hundreds of times per epoch); unlabelled samples (landmark-only data) form one more
    group of their own. Under DDP
    each rank draws its own `len(dataset) // world_size` indices from a (seed, epoch, rank)
    generator, so ranks see different samples and every epoch is reproducible.
    """

    def __init__(
        self,
        labels: np.ndarray,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        power: float = 1.0,
    ):
        labels = np.asarray(labels)
        if not (labels >= 0).any():
            raise ValueError("data.class_balanced needs labelled training samples")
        _, inverse, counts = np.unique(
            np.maximum(labels, -1), return_inverse=True, return_counts=True
        )
        self.weights = torch.tensor(counts[inverse] ** -float(power), dtype=torch.float64)
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


def make_loader(dataset: Dataset, cfg: Mapping[str, Any], rt: Runtime, train: bool) -> DataLoader:
    """DataLoader with a DistributedSampler under DDP (each rank sees 1/world of the data)."""
    data = cfg["data"]
    if train and data["class_balanced"]:
        sampler = BalancedSampler(
            dataset.labels,
            cfg["seed"],
            rt.rank,
            rt.world_size,
            float(data["class_balance_power"]),
        )
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
    set_epoch = getattr(loader.dataset, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch)
