"""Training augmentations: similarity perturbation, horizontal flip, photometric jitter.

Geometry never touches pixels twice: the random rotation / scale / translation and the flip are
composed into the one image → crop matrix that `alignment.crop_faces` samples with, and the
landmarks go through the same matrix (`alignment.to_crop`), so they follow the pixels exactly.
Because DAN's initial shape S0 sits at a fixed place in the crop, perturbing the crop is the same
as perturbing the initial shape relative to the face (DAN's own augmentation).

A flip mirrors the crop about its vertical centre line, x → (size - 1) - x in the pixel-centre
convention of `core.alignment`, and renames the points with `FLIP_PERM_68` (left eye ↔ right
eye, ...).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TypeVar

import cv2
import numpy as np

from emotionaldan_ros.core.mean_shape import MIRROR_68

T = TypeVar("T")

# Index i of a mirrored face is point FLIP_PERM_68[i] of the original (iBUG 68, 0-based). One
# table for the whole project: the mean-shape code uses it too.
FLIP_PERM_68: np.ndarray = MIRROR_68


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (0 disables each one).

    Attributes:
        rotate_deg: maximum absolute rotation, degrees (uniform).
        scale: maximum relative scale change (uniform in [1 - scale, 1 + scale]).
        translate: maximum shift as a fraction of the crop side, per axis (uniform).
        flip_prob: probability of a horizontal flip.
        brightness: maximum additive change, fraction of 255.
        contrast: maximum relative contrast change around the crop mean.
        gamma: maximum |log gamma| (gamma uniform in log space).
        noise_std: maximum Gaussian noise std, gray levels (uniform in [0, noise_std]).
        downscale_prob: probability of a low-resolution rendition (down- then up-sampled), as
            a small or distant face gives.
        downscale_min: smallest down-sampling factor of that rendition (uniform in [min, 1]).
    """

    rotate_deg: float = 10.0
    scale: float = 0.1
    translate: float = 0.05
    flip_prob: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.2
    gamma: float = 0.3
    noise_std: float = 4.0
    downscale_prob: float = 0.0
    downscale_min: float = 0.25

    @classmethod
    def from_dict(cls, values: dict | None) -> AugmentConfig:
        """Build from a config mapping; unknown keys raise ValueError naming them."""
        return augment_options(cls, values)


def augment_options(cls: type[T], values: dict | None) -> T:
    """Build an augmentation dataclass of floats from a config mapping, validated.

    Raises:
        ValueError: an unknown key, a negative strength, `scale` >= 1, or a `*_prob` field
            outside [0, 1].
    """
    values = dict(values or {})
    unknown = set(values) - set(asdict(cls()))
    if unknown:
        raise ValueError(f"unknown augmentation option(s): {sorted(unknown)}")
    cfg = cls(**{k: float(v) for k, v in values.items()})
    fields = asdict(cfg)
    for name, value in fields.items():
        if name.endswith("_prob") and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if min(fields.values()) < 0 or cfg.scale >= 1.0:
        raise ValueError(f"augmentation strengths must be >= 0 (scale < 1): {cfg}")
    if not 0.0 < fields.get("downscale_min", 1.0) <= 1.0:
        raise ValueError(f"downscale_min must be in (0, 1], got {fields['downscale_min']}")
    return cfg


def _as3(mat: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(mat, dtype=np.float64), [0.0, 0.0, 1.0]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) matrix applying `inner` first, then `outer`."""
    return (_as3(outer) @ _as3(inner))[:2]


def similarity_about(
    centre: tuple[float, float], angle_rad: float, scale: float, shift: tuple[float, float]
) -> np.ndarray:
    """(2, 3) rotation by `angle_rad` and scaling about `centre`, then translation by `shift`."""
    c, s = math.cos(angle_rad) * scale, math.sin(angle_rad) * scale
    cx, cy = centre
    return np.array(
        [[c, -s, cx - c * cx + s * cy + shift[0]], [s, c, cy - s * cx - c * cy + shift[1]]]
    )


def flip_matrix(size: int) -> np.ndarray:
    """(2, 3) horizontal mirror of a `size`-pixel crop: x → (size - 1) - x."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]])


def flip_points(points: np.ndarray, size: int) -> np.ndarray:
    """Mirror (..., 68, 2) crop-frame landmarks and rename them left ↔ right."""
    out = np.asarray(points, dtype=np.float32)[..., FLIP_PERM_68, :].copy()
    out[..., 0] = (size - 1) - out[..., 0]
    return out


def random_crop_transform(
    mat: np.ndarray, size: int, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Perturb one image → crop matrix.

    Args:
        mat: (2, 3) image → crop matrix (`alignment.crop_transforms`).
        size: crop side in pixels.
        cfg: strengths.
        rng: random source.

    Returns:
        (2, 3) float32 perturbed matrix, and whether it mirrors (the caller must then reorder the
        landmarks with `FLIP_PERM_68` after mapping them with the matrix).
    """
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    angle = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    scale = rng.uniform(1.0 - cfg.scale, 1.0 + cfg.scale)
    shift = tuple(rng.uniform(-cfg.translate, cfg.translate, size=2) * size)
    out = compose(similarity_about(centre, angle, scale, shift), mat)
    flipped = bool(rng.random() < cfg.flip_prob)
    if flipped:
        out = compose(flip_matrix(size), out)
    return out.astype(np.float32), flipped


def photometric(crop: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness / contrast / gamma / noise jitter of a (size, size) crop in [0, 255].

    Per-image normalisation later removes plain brightness and contrast shifts; they still matter
    through clipping and in combination with gamma and noise, so they are kept.
    """
    x = np.asarray(crop, dtype=np.float32)
    if cfg.downscale_prob and rng.random() < cfg.downscale_prob:
        h, w = x.shape
        f = rng.uniform(cfg.downscale_min, 1.0)
        small = cv2.resize(
            x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
        )
        x = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if cfg.contrast:
        x = (x - x.mean()) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + x.mean()
    if cfg.brightness:
        x = x + rng.uniform(-cfg.brightness, cfg.brightness) * 255.0
    x = np.clip(x, 0.0, 255.0)
    if cfg.gamma:
        x = 255.0 * (x / 255.0) ** math.exp(rng.uniform(-cfg.gamma, cfg.gamma))
    if cfg.noise_std:
        x = x + rng.normal(0.0, rng.uniform(0.0, cfg.noise_std), size=x.shape)
    return np.clip(x, 0.0, 255.0).astype(np.float32)
