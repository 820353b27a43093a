"""Training data: datasets from specs, validation splits, class-balanced sampling, loaders."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.data.augment import AugmentConfig
from emotionaldan_ros.core.data.dataset import FaceDataset
from emotionaldan_ros.core.data.sample import FaceSample
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
