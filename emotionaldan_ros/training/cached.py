"""Torch `Dataset` over a face cache (`training.cache`): augmentation on context crops.

Each item samples the model's 112-px crop out of the cached 160-px context crop through one
matrix (`cache.model_crop_in_context` perturbed by `augment.random_crop_transform`), so geometry
never resamples twice and the landmarks follow the pixels exactly. Items carry, besides what
`core.data.dataset.FaceDataset` returns, the training target distribution `target` (C,): the
hard label mixed with the teachers' soft predictions (`soft_mix`), the knowledge-distillation
form of the cross-entropy term.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.data.augment import (
    FLIP_PERM_68,
    AugmentConfig,
    photometric,
    random_crop_transform,
)
from emotionaldan_ros.training.cache import model_crop_in_context


def teacher_targets(
    cache: Mapping[str, np.ndarray], weights: Mapping[str, float], num_classes: int = 7
) -> np.ndarray | None:
    """(N, C) weighted average of the cached teachers' probabilities, or None without teachers.

    Raises:
        ValueError: a weighted teacher is not in the cache, or weights are negative / all 0.
    """
    used = {k: float(v) for k, v in weights.items() if float(v) != 0.0}
    if not used:
        return None
    if min(used.values()) < 0:
        raise ValueError(f"teacher weights must be >= 0, got {dict(weights)}")
    missing = [k for k in used if f"teacher_{k}" not in cache]
    if missing:
        have = sorted(k.removeprefix("teacher_") for k in cache if k.startswith("teacher_"))
        raise ValueError(f"teacher(s) {missing} not in the cache (it has {have})")
    total = sum(used.values())
    out = sum(w * cache[f"teacher_{k}"].astype(np.float64) for k, w in used.items()) / total
    out = np.pad(out, ((0, 0), (0, num_classes - out.shape[1])))  # 8-class head: contempt 0
    return out.astype(np.float32)


def select_rows(
    cache: Mapping[str, np.ndarray], include: str | None = None, exclude: str | None = None
) -> np.ndarray:
    """Row indices whose image path matches `include` and not `exclude` (regexes, search)."""
    names = cache["image"]
    keep = np.ones(len(names), bool)
    if include:
        pat = re.compile(include)
        keep &= np.array([bool(pat.search(str(n))) for n in names])
    if exclude:
        pat = re.compile(exclude)
        keep &= np.array([not pat.search(str(n)) for n in names])
    return np.flatnonzero(keep)


class CachedFaceDataset(Dataset):
    """Training / validation items from a loaded face cache.

    Args:
        cache: `cache.load_cache` output.
        rows: which cache rows this dataset serves.
        size: model crop side.
        augment: augmentation strengths, or None (validation: the plain centred crop).
        targets: (N_cache, C) soft targets per cache row (`teacher_targets`), or None.
        soft_mix: weight of the soft targets in `target` (0 = hard labels only).
        num_classes: C.
        seed: base seed; item randomness depends only on (seed, epoch, index).
    """

    def __init__(
        self,
        cache: Mapping[str, np.ndarray],
        rows: Sequence[int] | np.ndarray,
        size: int = alignment.MEAN_SHAPE_FRAME,
        augment: AugmentConfig | None = None,
        targets: np.ndarray | None = None,
        soft_mix: float = 0.0,
        num_classes: int = 7,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= soft_mix <= 1.0:
            raise ValueError(f"soft_mix must be in [0, 1], got {soft_mix}")
        if soft_mix > 0 and targets is None:
            raise ValueError("soft_mix > 0 needs teacher targets (set teacher weights)")
        self.rows = np.asarray(rows, np.int64)
        if self.rows.size == 0:
            raise ValueError("CachedFaceDataset needs at least one row")
        self.cache = cache
        self.size = size
        self.augment = augment
        self.num_classes = num_classes
        self.seed = seed
        self.epoch = 0
        self.base = model_crop_in_context(size)
        labels = cache["label"][self.rows]
        hard = np.eye(num_classes, dtype=np.float32)[np.clip(labels, 0, None)]
        hard[labels < 0] = 0.0
        soft = targets[self.rows] if targets is not None else hard
        self.target = ((1.0 - soft_mix) * hard + soft_mix * soft).astype(np.float32)

    def __len__(self) -> int:
        return int(self.rows.size)

    def set_epoch(self, epoch: int) -> None:
        """Next pass, new augmentation (reproducibly)."""
        self.epoch = int(epoch)

    @property
    def labels(self) -> np.ndarray:
        """(N,) hard labels of the served rows."""
        return self.cache["label"][self.rows]

    @property
    def identities(self) -> np.ndarray:
        """(N,) identities of the served rows."""
        return self.cache["identity"][self.rows]

    def crop_landmarks(self, max_samples: int | None = None) -> np.ndarray:
        """(M, 68, 2) un-augmented model-crop landmarks (to recompute the mean shape)."""
        lm = self.cache["landmarks"][self.rows[:max_samples] if max_samples else self.rows]
        mats = np.repeat(self.base[None], len(lm), axis=0)
        return alignment.to_crop(lm, mats)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = int(self.rows[index])
        mat = self.base.astype(np.float32)
        flipped = False
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            mat, flipped = random_crop_transform(mat, self.size, self.augment, rng)
        crop = cv2.warpAffine(
            self.cache["crops"][row],
            mat.astype(np.float64),
            (self.size, self.size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ).astype(np.float32)
        if rng is not None:
            crop = photometric(crop, self.augment, rng)
        crop = alignment.normalize_crops(crop)
        lm = alignment.to_crop(self.cache["landmarks"][row][None], mat[None])[0]
        if flipped:
            lm = lm[FLIP_PERM_68]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop))[None],
            "landmarks": torch.from_numpy(np.ascontiguousarray(lm, dtype=np.float32)),
            "has_landmarks": torch.tensor(True),
            "label": torch.tensor(int(self.cache["label"][row]), dtype=torch.int64),
            "target": torch.from_numpy(self.target[index]),
            "index": torch.tensor(index, dtype=torch.int64),
        }
