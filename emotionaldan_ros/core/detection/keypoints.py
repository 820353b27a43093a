"""Face keypoints → a similarity crop transform that puts the eyes where the mean shape has them.

A box-based crop (`core.alignment.crop_transforms`) leaves a tilted head tilted in the crop and
places the face according to each detector's box style. With the eye keypoints of a detector
(`Detections.keypoints`, BlazeFace or YuNet), the crop can instead be aligned: the similarity
transform (rotation, uniform scale, translation) that maps the two detected eye centres onto two
target points in the crop, by default the eye centres of the default mean shape S0 (iBUG points
36–41 and 42–47), so the landmark stage starts from its mean shape on an upright face.

The matrices have `crop_transforms`' form, (N, 2, 3) with crop = M[:, :2] @ image_point +
M[:, 2], so `alignment.crop_faces`, `to_crop` and `to_image` work with them unchanged.
"""

from __future__ import annotations

import numpy as np

from emotionaldan_ros.core.alignment import MEAN_SHAPE_FRAME

__all__ = ["keypoint_crop_transforms", "mean_shape_eyes"]

RIGHT_EYE, LEFT_EYE = 0, 1  # rows of `Detections.keypoints` (core.detection.KEYPOINT_NAMES)


def mean_shape_eyes(shape: np.ndarray | None = None) -> np.ndarray:
    """(2, 2) eye centres (subject's right eye first: the image's left) of a 68-point shape.

    Args:
        shape: (68, 2) landmarks in iBUG order; None means the default mean shape S0 in the
            112x112 crop frame.
    """
    if shape is None:
        from emotionaldan_ros.core.mean_shape import load_default_mean_shape

        shape = load_default_mean_shape()
    shape = np.asarray(shape, np.float64)
    if shape.shape != (68, 2):
        raise ValueError(f"shape must be (68, 2) iBUG landmarks, got {shape.shape}")
    return np.stack([shape[36:42].mean(axis=0), shape[42:48].mean(axis=0)])


def keypoint_crop_transforms(
    keypoints: np.ndarray,
    targets: np.ndarray | None = None,
    size: int = MEAN_SHAPE_FRAME,
    rotate: bool = True,
) -> np.ndarray:
    """Similarity transforms image → crop that map each face's eyes onto `targets`.

    Args:
        keypoints: (N, K, 2) keypoints in image pixels, K ≥ 2, rows 0 and 1 the subject's right
            and left eye (`Detections.keypoints` order).
        targets: (2, 2) crop positions of the right and left eye; None means the default mean
            shape's eyes scaled from its 112 px frame to `size`.
        size: crop side in pixels (for the default targets).
        rotate: True turns the head upright (the eye line becomes the targets' line); False
            keeps the image's orientation and only scales and shifts (the eyes' midpoint and
            distance still match).

    Returns:
        (N, 2, 3) float32 matrices.

    Raises:
        ValueError: wrong shapes, or faces whose eyes are missing (NaN) or coincide (the rows
            are named).
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1] < 2 or kp.shape[2] != 2:
        raise ValueError(f"keypoints must be (N, K >= 2, 2), got shape {kp.shape}")
    if targets is None:
        targets = mean_shape_eyes() * (size / MEAN_SHAPE_FRAME)
    targets = np.asarray(targets, np.float64)
    if targets.shape != (2, 2) or np.allclose(targets[0], targets[1]):
        raise ValueError("targets must be two distinct (x, y) points, right eye first")
    src = kp[:, [RIGHT_EYE, LEFT_EYE]]
    d_src = src[:, 1] - src[:, 0]
    dist = np.hypot(d_src[:, 0], d_src[:, 1])
    bad = np.flatnonzero(~np.isfinite(src).all(axis=(1, 2)) | ~(dist > 1e-6))
    if bad.size:
        raise ValueError(f"faces without two distinct finite eye keypoints in rows {bad.tolist()}")
    d_dst = targets[1] - targets[0]
    scale = np.hypot(*d_dst) / dist
    angle = np.arctan2(d_dst[1], d_dst[0]) - np.arctan2(d_src[:, 1], d_src[:, 0])
    if not rotate:
        angle = np.zeros_like(angle)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    mats = np.zeros((len(kp), 2, 3))
    mats[:, 0, 0], mats[:, 0, 1] = cos, -sin
    mats[:, 1, 0], mats[:, 1, 1] = sin, cos
    # Translation: the eyes' midpoint lands on the targets' midpoint.
    mid_src = src.mean(axis=1)
    mid_dst = targets.mean(axis=0)
    mats[:, :, 2] = mid_dst - np.einsum("nij,nj->ni", mats[:, :, :2], mid_src)
    return mats.astype(np.float32)
