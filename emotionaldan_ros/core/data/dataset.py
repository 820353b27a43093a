"""Torch `Dataset` turning `FaceSample`s into aligned training tensors.

Every crop goes through `core.alignment` (the one crop routine shared with evaluation and the ROS
node): box → `crop_transforms` → (optional augmentation of that matrix) → `crop_faces` →
`normalize_crops`. Samples without a box get one, in this order: from their landmarks (the box a
Haar detector would give for that face, see `box_from_landmarks`), from a face detector, or the
whole image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

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
from emotionaldan_ros.core.data.sample import NUM_LANDMARKS, FaceSample, read_image

log = logging.getLogger(__name__)

# Where a sample's face box comes from, tried in order. "auto" suits training (landmark boxes are
# exact and free); "detector_first" suits evaluation (boxes as the deployed detector gives them,
# landmarks only where it finds no face).
_BOX_ORDER = {
    "auto": ("dataset", "landmarks", "detector", "full"),
    "detector_first": ("dataset", "detector", "landmarks", "full"),
    "dataset": ("dataset",),
    "landmarks": ("landmarks",),
    "detector": ("detector",),
    "full": ("full",),
    # What a passenger gets: the detector alone; evaluation counts a missed face as wrong.
    "pipeline": ("detector",),
}
BOX_SOURCES = tuple(_BOX_ORDER)
_REF_BOX = np.array([[0.0, 0.0, 100.0, 100.0]])


def box_from_landmarks(
    landmarks: np.ndarray,
    mean_shape: np.ndarray,
    size: int = alignment.MEAN_SHAPE_FRAME,
    **crop_kw: Any,
) -> np.ndarray:
    """The face box whose crop puts `landmarks` where the mean shape is (scale + translation).

    The mean shape stands for "where the crop routine puts a face given a detector box", so this
    yields boxes that match detector boxes in size and position instead of the (tighter, chin-to-
    brow) landmark extent. `crop_transforms` is shift/scale-equivariant in the box, so the box is
    found in closed form from a reference box.

    Args:
        landmarks: (68, 2) image-pixel landmarks.
        mean_shape: (68, 2) mean shape in the crop frame.
        size: crop side.
        **crop_kw: margin / shift passed to `alignment.crop_transforms`.

    Returns:
        (4,) float32 box x1, y1, x2, y2.
    """
    p = np.asarray(landmarks, dtype=np.float64)
    q = np.asarray(mean_shape, dtype=np.float64)
    pc, qc = p - p.mean(0), q - q.mean(0)
    # Similarity scale crop → image (rotation-invariant): |sum p·q + i p×q| / |q|².
    a = (pc * qc).sum()
    b = (pc[:, 1] * qc[:, 0] - pc[:, 0] * qc[:, 1]).sum()
    s_t = np.hypot(a, b) / (qc**2).sum()
    if not np.isfinite(s_t) or s_t <= 0:
        raise ValueError("degenerate landmarks: cannot derive a face box")
    t_t = p.mean(0) - s_t * q.mean(0)
    m0 = alignment.crop_transforms(_REF_BOX, size, **crop_kw)[0].astype(np.float64)
    s0, t0 = m0[0, 0], m0[:, 2]
    # Box B = k·B0 + c gives M_B(x) = s0 (x - c) / k + t0; match it to T⁻¹(x) = (x - t_t) / s_t.
    k = s0 * s_t
    c = t0 * s_t + t_t
    return (_REF_BOX[0] * k + np.r_[c, c]).astype(np.float32)


class FaceDataset(Dataset):
    """Aligned 112x112 crops with crop-frame landmarks and labels.

    Items are dicts: `image` (1, S, S) float32 normalised crop; `landmarks` (68, 2) float32 in
    the crop frame (zeros when unknown); `has_landmarks` bool; `label` int64 (-1 = none);
    `index` int64.
    """

    def __init__(
        self,
        samples: Sequence[FaceSample],
        size: int = alignment.MEAN_SHAPE_FRAME,
        augment: AugmentConfig | None = None,
        mean_shape: np.ndarray | None = None,
        box_source: str = "auto",
        detector: str | None = "haar",
        seed: int = 0,
        crop_kw: dict[str, Any] | None = None,
    ) -> None:
        """Create the dataset.

        Args:
            samples: faces to serve.
            size: crop side.
            augment: augmentation strengths, or None for plain crops (validation).
            mean_shape: (68, 2) crop-frame mean shape used to turn landmarks into boxes
                (default: the shipped one).
            box_source: "auto" (dataset box → landmarks → detector → full image),
                "detector_first" (dataset box → detector → landmarks → full image), or one of
                "dataset", "landmarks", "detector", "full" alone.
            detector: detector name for `core.detection.create_detector`, or None.
            seed: base seed; item randomness depends on (seed, epoch, index) only.
            crop_kw: margin / shift for `alignment.crop_transforms`.
        """
        if box_source not in BOX_SOURCES:
            raise ValueError(f"box_source must be one of {BOX_SOURCES}, got {box_source!r}")
        if not samples:
            raise ValueError("FaceDataset needs at least one sample")
        self.samples = list(samples)
        self.size = size
        self.augment = augment
        if mean_shape is None:
            from emotionaldan_ros.core.mean_shape import load_default_mean_shape

            mean_shape = load_default_mean_shape()
        self.mean_shape = np.asarray(mean_shape, dtype=np.float32)
        self.box_source = box_source
        self.detector_name = detector
        self.seed = seed
        self.epoch = 0
        self.crop_kw = dict(crop_kw or {})
        self._detector: Any = None
        self._detector_failed = False
        self._box_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Make the augmentation of the next pass differ from the previous one (reproducibly)."""
        self.epoch = int(epoch)

    @property
    def labels(self) -> np.ndarray:
        """(N,) labels of all samples (-1 = none)."""
        return np.asarray([s.label for s in self.samples], dtype=np.int64)

    def _detect(self, image: np.ndarray) -> np.ndarray | None:
        if self.detector_name is None or self._detector_failed:
            return None
        if self._detector is None:
            try:
                from emotionaldan_ros.core.detection import create_detector

                self._detector = create_detector(self.detector_name)
            except (ValueError, ImportError, OSError) as exc:
                log.warning("face detector %r unavailable (%s)", self.detector_name, exc)
                self._detector_failed = True
                return None
        bgr = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        dets = self._detector.detect(bgr)
        if len(dets) == 0:
            return None
        areas = (dets.boxes[:, 2] - dets.boxes[:, 0]) * (dets.boxes[:, 3] - dets.boxes[:, 1])
        return dets.boxes[int(np.argmax(areas))].astype(np.float32)

    def face_box(self, index: int, image: np.ndarray | None = None) -> tuple[np.ndarray, str]:
        """The box used for sample `index` and where it came from.

        Raises:
            ValueError: a forced box source that the sample cannot provide.
        """
        s = self.samples[index]
        for src in _BOX_ORDER[self.box_source]:
            if src == "dataset" and s.box is not None:
                return s.box, "dataset"
            if src == "landmarks" and s.landmarks is not None:
                box = box_from_landmarks(s.landmarks, self.mean_shape, self.size, **self.crop_kw)
                return box, "landmarks"
            if src == "detector":
                if index in self._box_cache:
                    return self._box_cache[index], "detector"
                if image is None:
                    image = read_image(s.image)
                box = self._detect(image)
                if box is not None:
                    self._box_cache[index] = box
                    return box, "detector"
            if src == "full":
                if image is None:
                    image = read_image(s.image, gray=True)
                h, w = image.shape[:2]
                return np.array([-0.5, -0.5, w - 0.5, h - 0.5], dtype=np.float32), "full"
        raise ValueError(f"{s.image}: no face box from source {self.box_source!r}")

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.samples[index]
        needs_color = (
            s.box is None
            and "detector" in _BOX_ORDER[self.box_source]
            and (s.landmarks is None or self.box_source in ("detector_first", "detector"))
        )
        image = read_image(s.image, gray=not needs_color)
        box, _ = self.face_box(index, image)
        mat = alignment.crop_transforms(box[None], self.size, **self.crop_kw)[0]
        flipped = False
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            mat, flipped = random_crop_transform(mat, self.size, self.augment, rng)
        crop = alignment.crop_faces(image, mat[None], self.size)[0]
        if rng is not None:
            crop = photometric(crop, self.augment, rng)
        crop = alignment.normalize_crops(crop)
        if s.landmarks is not None:
            lm = alignment.to_crop(s.landmarks[None], mat[None])[0]
            if flipped:
                lm = lm[FLIP_PERM_68]
            has_lm = True
        else:
            lm = np.zeros((NUM_LANDMARKS, 2), dtype=np.float32)
            has_lm = False
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop))[None],
            "landmarks": torch.from_numpy(np.ascontiguousarray(lm, dtype=np.float32)),
            "has_landmarks": torch.tensor(has_lm),
            "label": torch.tensor(s.label, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }

    def crop_landmarks(self, max_samples: int | None = None) -> np.ndarray:
        """(M, 68, 2) crop-frame landmarks of the samples that have them (no augmentation).

        Used to recompute the mean shape from the training set. Boxes that need a detector are
        skipped (the image would have to be read); dataset and landmark boxes are free.
        """
        out = []
        for s in self.samples:
            if s.landmarks is None:
                continue
            if s.box is None and self.box_source in ("detector", "full"):
                continue
            box = s.box if (s.box is not None and self.box_source != "landmarks") else None
            if box is None:
                box = box_from_landmarks(s.landmarks, self.mean_shape, self.size, **self.crop_kw)
            mat = alignment.crop_transforms(box[None], self.size, **self.crop_kw)
            out.append(alignment.to_crop(s.landmarks[None], mat)[0])
            if max_samples and len(out) >= max_samples:
                break
        if not out:
            return np.zeros((0, NUM_LANDMARKS, 2), dtype=np.float32)
        return np.stack(out)
