"""BlazeFace pre- and post-processing (MediaPipe's face detection graphs), in NumPy.

The networks take a square RGB image scaled to [-1, 1] and return, per anchor, 16 regression
values (box centre x, y, width, height, then 6 keypoints x, y, all in input pixels relative to the
anchor centre) and one face logit. This module builds the anchors (MediaPipe's SSD anchor
generator with fixed-size anchors), letterboxes an image into the net input, decodes the raw
outputs and merges overlapping hits with MediaPipe's weighted non-maximum suppression (boxes and
keypoints averaged by score, which steadies the box from frame to frame).

Keypoint order (the subject's own left/right, so "right eye" is on the image's left for a face
that looks at the camera): right eye, left eye, nose tip, mouth centre, right ear tragion, left
ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from emotionaldan_ros.core.detection.base import KEYPOINT_NAMES

__all__ = [
    "KEYPOINT_NAMES",
    "Letterbox",
    "ModelSpec",
    "decode",
    "letterbox",
    "shrink",
    "ssd_anchors",
    "weighted_nms",
]


@dataclass(frozen=True)
class ModelSpec:
    """Input size and anchor layout of one BlazeFace variant.

    Attributes:
        input_size: square net input side in pixels.
        strides: one stride per SSD layer; consecutive layers with the same stride share one
            feature map (MediaPipe merges them), each adding 2 anchors per cell (the layer's
            anchor and its interpolated one) or 1 when `interpolated` is False.
        interpolated: whether each layer also gets MediaPipe's interpolated-scale anchor.
    """

    input_size: int
    strides: tuple[int, ...]
    interpolated: bool = True

    @property
    def num_anchors(self) -> int:
        """Anchors the net predicts for."""
        return len(ssd_anchors(self))


def ssd_anchors(spec: ModelSpec) -> np.ndarray:
    """(A, 2) anchor centres x, y in [0, 1], in the net's output order (fixed size 1x1)."""
    out = []
    i = 0
    while i < len(spec.strides):
        stride = spec.strides[i]
        per_cell = 0
        while i < len(spec.strides) and spec.strides[i] == stride:
            per_cell += 2 if spec.interpolated else 1
            i += 1
        cells = -(-spec.input_size // stride)  # ceil
        ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32)
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out, axis=0)


@dataclass(frozen=True)
class Letterbox:
    """Where the image sits in the square net input.

    Attributes:
        scale: net input pixels per image pixel.
        pad_x: left padding in net input pixels.
        pad_y: top padding in net input pixels.
    """

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, points: np.ndarray, size: int) -> np.ndarray:
        """Map normalised net-input x, y (last axis, pairs) to image pixels."""
        xy = points.reshape(-1, 2).astype(np.float64) * size
        xy = (xy - np.array([self.pad_x, self.pad_y])) / self.scale
        return xy.reshape(points.shape).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """BGR or gray uint8 image → (1, 3, size, size) float32 RGB in [-1, 1], centred and padded.

    The image keeps its aspect ratio; the padding is 0 (mid-gray in the net's range), as
    MediaPipe's zero-border letterbox gives.
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    # INTER_AREA when shrinking keeps small faces from aliasing away; linear when enlarging.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    px, py = (size - nw) // 2, (size - nh) // 2
    batch = np.zeros((1, 3, size, size), np.float32)
    # x / 127.5 - 1, BGR → RGB, HWC → CHW in one OpenCV call.
    blob = cv2.dnn.blobFromImage(resized, 1 / 127.5, (nw, nh), (127.5, 127.5, 127.5), True)
    batch[:, :, py : py + nh, px : px + nw] = blob
    return batch, Letterbox(scale=nw / w, pad_x=float(px), pad_y=float(py))


def shrink(batch: np.ndarray, placement: Letterbox, size: int) -> tuple[np.ndarray, Letterbox]:
    """A letterboxed (1, 3, S, S) batch resized to (1, 3, size, size), with its placement.

    Cheaper than letterboxing the full image again for a second, smaller net: the large
    shrink (INTER_AREA from the camera frame) is done once.
    """
    factor = size / batch.shape[-1]
    hwc = cv2.resize(batch[0].transpose(1, 2, 0), (size, size), interpolation=cv2.INTER_AREA)
    scaled = Letterbox(
        placement.scale * factor, placement.pad_x * factor, placement.pad_y * factor
    )
    return np.ascontiguousarray(hwc.transpose(2, 0, 1)[None]), scaled


def decode(
    regressors: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    input_size: int,
    score_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs → boxes, keypoints and scores of the anchors scoring above the threshold.

    Args:
        regressors: (A, 16) raw box and keypoint offsets, in net input pixels.
        logits: (A,) raw face logits.
        anchors: (A, 2) anchor centres from `ssd_anchors`.
        input_size: net input side (the offsets' scale).
        score_threshold: keep anchors whose sigmoid score exceeds this.

    Returns:
        boxes (K, 4) x1, y1, x2, y2, keypoints (K, 12) x, y pairs, both normalised to the net
        input, and scores (K,), in anchor order.
    """
    # MediaPipe clips the logit to ±100 before the sigmoid; float64 keeps exp(100) finite.
    z = np.clip(logits.reshape(-1).astype(np.float64), -100.0, 100.0)
    scores = 1.0 / (1.0 + np.exp(-z))
    keep = scores > score_threshold
    reg = regressors.reshape(len(anchors), -1)[keep] / float(input_size)
    anc = anchors[keep]
    centre = reg[:, 0:2] + anc
    half = reg[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = (reg[:, 4:16].reshape(-1, 6, 2) + anc[:, None, :]).reshape(-1, 12)
    return boxes.astype(np.float32), keypoints.astype(np.float32), scores[keep].astype(np.float32)


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(hi - lo, 0, None).prod(axis=1)
    area = (box[2:] - box[:2]).clip(0).prod()
    areas = (boxes[:, 2:] - boxes[:, :2]).clip(0).prod(axis=1)
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted NMS: each best remaining hit absorbs those overlapping it.

    The hits whose IoU with the best remaining one exceeds `iou_threshold` are averaged into it
    (boxes and keypoints weighted by score); the merged hit keeps the best score.

    Returns:
        Merged boxes (N, 4), keypoints (N, 12) and scores (N,), best score first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    out_b, out_k, out_s = [], [], []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (_iou_one(boxes[i], boxes) > iou_threshold)
        group[i] = True
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(axis=0) / w.sum())
        out_k.append((keypoints[group] * w).sum(axis=0) / w.sum())
        out_s.append(scores[i])
        alive &= ~group
    if not out_s:
        return np.zeros((0, 4), np.float32), np.zeros((0, 12), np.float32), np.zeros(0, np.float32)
    return (
        np.asarray(out_b, np.float32),
        np.asarray(out_k, np.float32),
        np.asarray(out_s, np.float32),
    )
