"""Pre- and post-processing of face-api's two face detectors, matching the original.

Both pad the image with black at the bottom/right to a square and resize it to the net input
(TF.js bilinear, see `image.py`). Results are in input-image pixels, x1, y1, x2, y2, *not* clipped
(as face-api returns them); `core/detection/faceapi.py` clips and filters them for `Detections`.

- Tiny detector: (x - mean RGB) / 255; per grid cell and anchor, score = sigmoid(t_o), centre =
  (cell + sigmoid(t_xy)) / grid, size = exp(t_wh) · anchor / grid, corrected for the padding;
  greedy NMS (IoU > 0.4 suppressed).
- SSD: x / 127.5 - 1; boxes decoded against the 5118 stored priors; score = sigmoid of the face
  logit; greedy NMS (IoU > 0.5 suppressed, at most `max_results`); boxes clamped to [0, 1] of the
  padded square, then scaled to the image.
"""

from __future__ import annotations

import numpy as np
import torch

from emotionaldan_ros.core.faceapi.image import (
    TINY_MEAN_RGB,
    crop_square_resize,
    image_view,
    js_round,
    normalize,
    warp_regions,
)
from emotionaldan_ros.core.faceapi.nets import SsdMobilenetV1, TinyFaceDetector
from emotionaldan_ros.core.faceapi.ort import OrtNet


def letterbox(
    image: torch.Tensor, size: int, reverse_channels: bool = False
) -> tuple[torch.Tensor, float, float]:
    """(H, W, 3) uint8 RGB → (1, size, size, 3) float32 padded bottom/right and resized.

    With `reverse_channels`, the input is BGR and the output still RGB.

    Returns:
        The batch and the padding corrections (padded side / image side) along x and y, in
        face-api's rounding (`Math.round` of the resized image size).
    """
    h, w = int(image.shape[0]), int(image.shape[1])
    region = torch.tensor([[0, 0, w, h]], dtype=torch.int64)
    batch = crop_square_resize(
        image, region, size, centered=False, reverse_channels=reverse_channels
    )
    return (batch, *_padding_corrections(h, w, size))


def _padding_corrections(h: int, w: int, size: int) -> tuple[float, float]:
    """Padded side / resized image side along x and y, in face-api's rounding."""
    scale = size / max(h, w)
    # A side that rounds to 0 px (1x10000 at 416) still covers one input pixel: no division by 0.
    resized_w, resized_h = max(1, js_round(w * scale)), max(1, js_round(h * scale))
    return size / float(resized_w), size / float(resized_h)


def letterbox_uint8(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float]:
    """`letterbox` with OpenCV for the ONNX Runtime engine: (1, size, size, 3) uint8, same order.

    The BGR frame is read in place (no copy), padded bottom/right with black and resized with
    TF.js's bilinear mapping (`image.warp_regions`); the corrections are `letterbox`'s.
    """
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    h, w = int(image.shape[0]), int(image.shape[1])
    batch = warp_regions(image, np.array([[0, 0, w, h]]), size, centered=False)
    return (batch, *_padding_corrections(h, w, size))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, max_out: int) -> list:
    """Greedy non-maximum suppression; boxes (K, 4) x1, y1, x2, y2; IoU > threshold suppressed.

    Returns:
        Kept indices, highest score first.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    lo = torch.minimum(boxes[:, :2], boxes[:, 2:])
    hi = torch.maximum(boxes[:, :2], boxes[:, 2:])
    area = (hi - lo).prod(dim=1)
    keep: list[int] = []
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if len(keep) >= max_out:
            break
        if suppressed[i]:
            continue
        keep.append(i)
        inter = (torch.minimum(hi, hi[i]) - torch.maximum(lo, lo[i])).clamp_min(0).prod(dim=1)
        union = area + area[i] - inter
        iou = torch.where((area > 0) & (area[i] > 0), inter / union, torch.zeros_like(inter))
        suppressed |= iou > iou_threshold
    return keep


def detect_tiny(
    net: TinyFaceDetector | OrtNet,
    image: np.ndarray,
    input_size: int = 416,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.4,
    bgr: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the tiny face detector (PyTorch port or ONNX Runtime session) on one uint8 image.

    Returns:
        boxes (K, 4) float64 x1, y1, x2, y2 in image pixels and scores (K,), best first.
    """
    if input_size <= 0 or input_size % 32:
        raise ValueError(
            f"tiny detector input_size must be a positive multiple of 32, got {input_size}"
        )
    img = image_view(image)
    h, w = int(img.shape[0]), int(img.shape[1])
    if isinstance(net, OrtNet):
        batch, fix_x, fix_y = letterbox_uint8(_as_bgr(image, bgr), input_size)
        out = torch.from_numpy(net(batch)[0][0]).double()
    else:
        batch, fix_x, fix_y = letterbox(img, input_size, reverse_channels=bgr)
        device = next(net.parameters()).device
        with torch.inference_mode():
            out = net(normalize(batch, TINY_MEAN_RGB, 255.0).to(device))[0].cpu().double()
    boxes, scores = decode_tiny(out, TinyFaceDetector.anchors, fix_x, fix_y)
    keep = scores > score_threshold
    boxes, scores = boxes[keep], scores[keep]
    idx = nms(boxes, scores, iou_threshold, len(scores))
    scale = torch.tensor([w, h, w, h], dtype=torch.float64)
    return (boxes[idx] * scale).numpy(), scores[idx].numpy()


def decode_tiny(
    grid: torch.Tensor, anchors: tuple[tuple[float, float], ...], fix_x: float, fix_y: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(G, G, A, 5) raw outputs → relative boxes (G·G·A, 4) x1, y1, x2, y2 and scores."""
    g = grid.shape[0]
    cells = torch.arange(g, dtype=grid.dtype)
    anchor = torch.tensor(anchors, dtype=grid.dtype)
    cx = (cells[None, :, None] + torch.sigmoid(grid[..., 0])) / g * fix_x
    cy = (cells[:, None, None] + torch.sigmoid(grid[..., 1])) / g * fix_y
    bw = torch.exp(grid[..., 2]) * anchor[:, 0] / g * fix_x
    bh = torch.exp(grid[..., 3]) * anchor[:, 1] / g * fix_y
    x1, y1 = cx - bw / 2, cy - bh / 2
    boxes = torch.stack([x1, y1, x1 + bw, y1 + bh], dim=-1).reshape(-1, 4)
    return boxes, torch.sigmoid(grid[..., 4]).reshape(-1)


def detect_ssd(
    net: SsdMobilenetV1 | OrtNet,
    image: np.ndarray,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    max_results: int = 100,
    bgr: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the SSD MobileNetV1 face detector (PyTorch port or ONNX Runtime) on one uint8 image.

    Returns:
        boxes (K, 4) float64 x1, y1, x2, y2 in image pixels and scores (K,), best first.
    """
    img = image_view(image)
    h, w = int(img.shape[0]), int(img.shape[1])
    size = SsdMobilenetV1.input_size
    if isinstance(net, OrtNet):
        batch, fix_x, fix_y = letterbox_uint8(_as_bgr(image, bgr), size)
        boxes, scores = (torch.from_numpy(o[0]).double() for o in net(batch))
    else:
        batch, fix_x, fix_y = letterbox(img, size, reverse_channels=bgr)
        x = (batch / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()
        device = next(net.parameters()).device
        with torch.inference_mode():
            boxes, scores = net(x.to(device))
        boxes, scores = boxes[0].cpu().double(), scores[0].cpu().double()
    cand = torch.nonzero(scores > score_threshold).flatten()
    yx = boxes[cand]  # [ymin, xmin, ymax, xmax]
    idx = cand[nms(yx, scores[cand], iou_threshold, max_results)]
    b = boxes[idx]
    top, left = b[:, 0].clamp_min(0) * fix_y, b[:, 1].clamp_min(0) * fix_x
    bottom, right = b[:, 2].clamp_max(1) * fix_y, b[:, 3].clamp_max(1) * fix_x
    rel = torch.stack([left, top, right, bottom], dim=1)
    scale = torch.tensor([w, h, w, h], dtype=torch.float64)
    return (rel * scale).numpy(), scores[idx].numpy()


def _as_bgr(image: np.ndarray, bgr: bool) -> np.ndarray:
    """The uint8 image in BGR order for the ONNX Runtime graphs (an RGB input is flipped)."""
    return image if bgr or image.ndim == 2 else np.ascontiguousarray(image[:, :, ::-1])
