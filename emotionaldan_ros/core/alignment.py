"""The one face-crop routine shared by training, evaluation and inference.

A face box becomes a square `size` x `size` grayscale crop through a similarity transform (uniform
scale + translation, no rotation): the crop is centred on the box centre moved down by
`shift * max(box w, box h)` and its side is `max(box w, box h) * (1 + 2 * margin)` image pixels.
Landmarks move between the two frames with `to_crop` / `to_image`.

Coordinate convention (the same as `cv2.warpAffine` / `cv2.remap`): a point (x, y) is a continuous
position in which the *centre* of pixel (row i, column j) sits at (x=j, y=i); the image covers
[-0.5, W-0.5] x [-0.5, H-0.5]. Boxes, landmarks and the crop frame all use it, so the crop's centre
is at ((size-1)/2, (size-1)/2) = (55.5, 55.5) for 112 px and its outer edges at -0.5 and
size-0.5. A matrix M (2, 3) maps an image point p to the crop point `M[:, :2] @ p + M[:, 2]`;
`cv2.warpAffine(image, M, (size, size))` produces the same crop as `crop_faces` (up to OpenCV's
fixed-point interpolation).

Margin and shift: DEFAULT_MARGIN = 0.2 on each side (crop side 1.4x the box side) and
DEFAULT_SHIFT = 0.15 (crop centre 0.15 box sides below the box centre) are chosen for OpenCV's
Haar frontal-face boxes, which span roughly brow-to-lower-lip and sit high on the face: with them
the whole 68-point shape (jaw and brows included) lies inside the crop with a border of ~20 px
(see `core/mean_shape.py`, where the default mean shape is measured from Haar boxes on annotated
faces). Other detectors with tighter or looser boxes should pass their own margin and shift, and a
model should be trained and run with the same ones.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

MEAN_SHAPE_FRAME = 112  # side of the square crop, pixels (DAN input size)
NUM_LANDMARKS = 68  # iBUG / 300-W point count
DEFAULT_MARGIN = 0.2  # extra fraction of the box side added on each side of the crop
DEFAULT_SHIFT = 0.15  # crop centre moves down by this fraction of the box side (see above)


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) x1, y1, x2, y2, got {boxes.shape}")
    if not np.isfinite(boxes).all():
        bad = np.flatnonzero(~np.isfinite(boxes).all(axis=1)).tolist()
        raise ValueError(f"boxes contain NaN/inf in rows {bad}")
    return boxes


def degenerate_rows(boxes: np.ndarray) -> np.ndarray:
    """Indices of boxes with zero or negative width or height (x2 <= x1 or y2 <= y1)."""
    boxes = _as_boxes(boxes)
    return np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))


def crop_transforms(
    boxes: np.ndarray,
    size: int = MEAN_SHAPE_FRAME,
    margin: float = DEFAULT_MARGIN,
    shift: float = DEFAULT_SHIFT,
) -> np.ndarray:
    """Similarity transforms image → crop for N face boxes.

    Args:
        boxes: (N, 4) x1, y1, x2, y2 in image pixels (see the module's coordinate convention).
        size: crop side in pixels.
        margin: fraction of the box side added on each side; the crop covers a square of side
            `max(w, h) * (1 + 2 * margin)`.
        shift: the crop centre is `shift * max(w, h)` pixels below the box centre.

    Returns:
        (N, 2, 3) float32 matrices M with crop = M[:, :2] @ image_point + M[:, 2].

    Raises:
        ValueError: wrong shape, non-finite values, or zero-area boxes (the rows are named).
    """
    boxes = _as_boxes(boxes)
    bad = degenerate_rows(boxes)
    if bad.size:
        raise ValueError(f"zero-area face boxes (x2 <= x1 or y2 <= y1) in rows {bad.tolist()}")
    if margin <= -0.5:
        raise ValueError(f"margin must be > -0.5, got {margin}")
    box_side = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    centre[:, 1] += shift * box_side
    side = box_side * (1.0 + 2.0 * margin)
    scale = size / side  # crop pixels per image pixel
    mats = np.zeros((boxes.shape[0], 2, 3), dtype=np.float64)
    mats[:, 0, 0] = scale
    mats[:, 1, 1] = scale
    mats[:, :, 2] = (size - 1) / 2.0 - scale[:, None] * centre
    return mats.astype(np.float32)


def invert_transforms(mats: np.ndarray) -> np.ndarray:
    """Inverse of N affine (2, 3) matrices, computed in float64 → (N, 2, 3) float64."""
    mats = np.asarray(mats, dtype=np.float64)
    if mats.ndim != 3 or mats.shape[1:] != (2, 3):
        raise ValueError(f"transforms must have shape (N, 2, 3), got {mats.shape}")
    lin_inv = np.linalg.inv(mats[:, :, :2])
    return np.concatenate([lin_inv, -lin_inv @ mats[:, :, 2:]], axis=2)


def _apply(points: np.ndarray, mats: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    mats = np.asarray(mats, dtype=np.float64)
    if points.ndim != 3 or points.shape[2] != 2 or points.shape[0] != mats.shape[0]:
        raise ValueError(
            f"points must have shape (N, P, 2) matching {mats.shape[0]} transforms, "
            f"got {points.shape}"
        )
    return points @ mats[:, :, :2].transpose(0, 2, 1) + mats[:, None, :, 2]


def to_crop(points: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Map (N, P, 2) image-pixel points into their crops with (N, 2, 3) transforms → float32."""
    return _apply(points, mats).astype(np.float32)


def to_image(points: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """Map (N, P, 2) crop points back to image pixels (inverse of `to_crop`) → float32."""
    return _apply(points, invert_transforms(mats)).astype(np.float32)


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 gray in [0, 255] from BGR/BGRA uint8, gray uint8 or (H, W, 1).

    Raises:
        ValueError: not a 2-D or 3-D image with 1, 3 or 4 channels, empty, or not uint8/float.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(
            f"image must be (H, W), (H, W, 3) BGR or (H, W, 4) BGRA, got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image dtype must be uint8 (or float in [0, 255]), got {image.dtype}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ValueError("image contains NaN/inf")
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    if image.dtype == np.uint8:  # OpenCV's BT.601 luma, rounded to uint8
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code).astype(np.float32)
    # Float input: the same luma weights without rounding.
    b, g, r = (image[:, :, c].astype(np.float32) for c in range(3))
    return 0.114 * b + 0.587 * g + 0.299 * r


def _sub_window(mats: np.ndarray, size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Integer image window (x0, y0, x1, y1) holding every crop's samples (bilinear support)."""
    inv = invert_transforms(mats)
    corners = np.array([[-1.0, -1.0], [size, -1.0], [-1.0, size], [size, size]])
    pts = corners @ inv[:, :, :2].transpose(0, 2, 1) + inv[:, None, :, 2]  # (N, 4, 2)
    lo = np.floor(pts.reshape(-1, 2).min(0)).astype(np.int64) - 1
    hi = np.ceil(pts.reshape(-1, 2).max(0)).astype(np.int64) + 2
    x0, y0 = int(np.clip(lo[0], 0, width)), int(np.clip(lo[1], 0, height))
    x1, y1 = int(np.clip(hi[0], x0, width)), int(np.clip(hi[1], y0, height))
    return x0, y0, x1, y1


def crop_faces_torch(gray: torch.Tensor, mats: torch.Tensor, size: int) -> torch.Tensor:
    """Batched bilinear crop of one (H, W) float image for N (2, 3) transforms → (N, size, size).

    All N crops come from one `grid_sample` call: the N sampling grids are stacked into one tall
    grid over the single image. Out-of-image samples are 0.
    """
    n = mats.shape[0]
    h, w = gray.shape
    if n == 0:
        return gray.new_zeros((0, size, size))
    # Closed-form inverse of the 2x2 part: crop pixel (u, v) samples image point inv @ (u, v, 1).
    a, b, c, d = mats[:, 0, 0], mats[:, 0, 1], mats[:, 1, 0], mats[:, 1, 1]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    tx = -(ia * mats[:, 0, 2] + ib * mats[:, 1, 2])
    ty = -(ic * mats[:, 0, 2] + id_ * mats[:, 1, 2])
    u = torch.arange(size, dtype=mats.dtype, device=mats.device)
    v = u[:, None]  # rows
    # Pixel centre x ↔ normalised (2x + 1) / W - 1 under align_corners=False.
    sx, sy = 2.0 / w, 2.0 / h
    gx = (ia[:, None, None] * u + ib[:, None, None] * v + tx[:, None, None]) * sx + (sx / 2 - 1)
    gy = (ic[:, None, None] * u + id_[:, None, None] * v + ty[:, None, None]) * sy + (sy / 2 - 1)
    grid = torch.stack([gx, gy], dim=-1).reshape(1, n * size, size, 2)
    out = F.grid_sample(
        gray[None, None].to(grid.dtype),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return out.reshape(n, size, size)


def crop_faces(image: np.ndarray, mats: np.ndarray, size: int = MEAN_SHAPE_FRAME) -> np.ndarray:
    """Cut N square grayscale face crops out of one image.

    Args:
        image: (H, W, 3) BGR uint8, (H, W, 4) BGRA or (H, W) grayscale.
        mats: (N, 2, 3) image → crop transforms (`crop_transforms`); N may be 0.
        size: crop side in pixels.

    Returns:
        (N, size, size) float32 gray values in [0, 255]; areas outside the image are 0.
    """
    image = np.asarray(image)
    mats = np.asarray(mats, dtype=np.float32)
    if mats.ndim != 3 or mats.shape[1:] != (2, 3):
        raise ValueError(f"transforms must have shape (N, 2, 3), got {mats.shape}")
    to_gray(image[:1, :1])  # validate shape / dtype before any work
    if mats.shape[0] == 0:
        return np.zeros((0, size, size), np.float32)
    # Only the window that the crops sample from is converted (small faces in large frames).
    x0, y0, x1, y1 = _sub_window(mats, size, image.shape[0], image.shape[1])
    if x1 <= x0 or y1 <= y0:  # every crop lies outside the image
        return np.zeros((mats.shape[0], size, size), np.float32)
    gray = to_gray(image[y0:y1, x0:x1])
    local = mats.copy()
    local[:, :, 2] += local[:, :, :2] @ np.array([x0, y0], np.float32)
    with torch.inference_mode():
        out = crop_faces_torch(torch.from_numpy(gray), torch.from_numpy(local), size)
    return out.numpy()


def normalize_crops(
    crops: np.ndarray | torch.Tensor, eps: float = 1e-6
) -> np.ndarray | torch.Tensor:
    """Per-image zero mean / unit std (DAN's input normalisation) over the last two axes.

    A flat crop (std < eps, e.g. a box entirely outside the image) becomes all zeros instead of
    dividing by ~0.
    """
    if isinstance(crops, torch.Tensor):
        mean = crops.mean(dim=(-2, -1), keepdim=True)
        std = crops.std(dim=(-2, -1), keepdim=True, unbiased=False)
        return (crops - mean) / std.clamp_min(eps)
    crops = np.asarray(crops, dtype=np.float32)
    mean = crops.mean(axis=(-2, -1), keepdims=True)
    std = crops.std(axis=(-2, -1), keepdims=True)
    return ((crops - mean) / np.maximum(std, eps)).astype(np.float32)
