"""PyTorch re-implementations of the face-api.js networks (MIT, @vladmandic/face-api).

Layer graphs follow the TF.js originals exactly, including TensorFlow's "SAME" padding (which pads
more at the bottom/right for stride 2), so that converted weights give the same numbers. All nets
take NCHW float32 input that is already normalised (see `detect.py` and `recognizer.py`).

- `FaceLandmark68Net` / `FaceLandmark68TinyNet`: 112×112 face → 136 values (x0, y0, x1, ...) in
  [0, 1] of the padded square input.
- `FaceExpressionNet`: 112×112 face → 7 logits in face-api order (`FACEAPI_EXPRESSIONS`).
- `TinyFaceDetector`: YOLO-style grid (5 anchors × [tx, ty, tw, th, objectness]) per cell.
- `SsdMobilenetV1`: decoded boxes [ymin, xmin, ymax, xmax] (relative) and face scores per prior.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FACEAPI_EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
)

# Anchors (width, height in grid cells) of the separable-conv tiny YOLO face detector.
TINY_ANCHORS: tuple[tuple[float, float], ...] = (
    (1.603231, 2.094468),
    (6.041143, 7.080126),
    (2.882459, 3.518061),
    (4.266906, 5.178857),
    (9.041765, 10.66308),
)


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad NCHW `x` like TensorFlow's padding="SAME" (extra pixel goes bottom/right)."""
    pads = []
    # Plain ints: when traced for ONNX export the pads become constants (only the batch axis is
    # dynamic), so ONNX Runtime can fold each Pad into its Conv.
    for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: last dim first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (computed per input size)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, **kwargs: object):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad as TF "SAME" then convolve."""
        return super().forward(tf_same_pad(x, self.kernel_size[0], self.stride[0]))


class SeparableConv(nn.Module):
    """Depthwise 3×3 (no bias) then pointwise 1×1 with bias, as `tf.separableConv2d` + bias."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.depthwise = SameConv2d(cin, cin, 3, stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise then pointwise convolution."""
        return self.pointwise(self.depthwise(x))


class DenseBlock(nn.Module):
    """face-api dense block: conv0 (stride 2) then `n - 1` separable convs with dense sums."""

    def __init__(self, cin: int, cout: int, n_convs: int, first_is_plain_conv: bool):
        super().__init__()
        self.conv0 = (
            SameConv2d(cin, cout, 3, 2) if first_is_plain_conv else SeparableConv(cin, cout, 2)
        )
        for i in range(1, n_convs):
            self.add_module(f"conv{i}", SeparableConv(cout, cout))
        self.n_convs = n_convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each conv sees the ReLU of the sum of all previous conv outputs."""
        total = F.relu(self.conv0(x))
        inp = total
        for i in range(1, self.n_convs):
            total = total + getattr(self, f"conv{i}")(inp)
            inp = F.relu(total)
        return inp


class _FaceFeatures(nn.Module):
    """Shared 112×112 feature extractor of the landmark and expression nets."""

    def __init__(self, channels: tuple[int, ...], n_convs: int, pool: int):
        super().__init__()
        cin = 3
        for i, cout in enumerate(channels):
            self.add_module(f"dense{i}", DenseBlock(cin, cout, n_convs, i == 0))
            cin = cout
        self.n_blocks = len(channels)
        self.pool = pool
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_blocks):
            x = getattr(self, f"dense{i}")(x)
        return F.avg_pool2d(x, self.pool, stride=2).flatten(1)


class FaceLandmark68Net(nn.Module):
    """68-point landmark regressor (4 dense blocks of 4 convs, 357 KB of weights)."""

    input_size = 112

    def __init__(self):
        super().__init__()
        self.features = _FaceFeatures((32, 64, 128, 256), n_convs=4, pool=7)
        self.fc = nn.Linear(256, 136)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) normalised faces → (N, 136) relative x, y pairs."""
        return self.fc(self.features(x))


class FaceLandmark68TinyNet(nn.Module):
    """Smaller 68-point landmark regressor (3 dense blocks of 3 convs, 77 KB)."""

    input_size = 112

    def __init__(self):
        super().__init__()
        self.features = _FaceFeatures((32, 64, 128), n_convs=3, pool=14)
        self.fc = nn.Linear(128, 136)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) normalised faces → (N, 136) relative x, y pairs."""
        return self.fc(self.features(x))


class FaceExpressionNet(nn.Module):
    """7-class expression classifier (same backbone layout as `FaceLandmark68Net`)."""

    input_size = 112
    classes = FACEAPI_EXPRESSIONS

    def __init__(self):
        super().__init__()
        self.features = _FaceFeatures((32, 64, 128, 256), n_convs=4, pool=7)
        self.fc = nn.Linear(256, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 112) normalised faces → (N, 7) logits in `FACEAPI_EXPRESSIONS` order."""
        return self.fc(self.features(x))


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def _max_pool_same(x: torch.Tensor, stride: int) -> torch.Tensor:
    return F.max_pool2d(tf_same_pad(x, 2, stride, value=-math.inf), 2, stride)


class TinyFaceDetector(nn.Module):
    """face-api's tiny YOLOv2 face detector with depthwise-separable convs (193 KB).

    Input (N, 3, S, S) with S a multiple of 32; output (N, S/32, S/32, 5 anchors, 5).
    """

    anchors = TINY_ANCHORS

    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3)  # "valid" padding, as in the original
        chans = (16, 32, 64, 128, 256, 512)
        for i in range(1, 6):  # TF pads 1 on each side then convolves "valid" == SAME here
            self.add_module(f"conv{i}", SeparableConv(chans[i - 1], chans[i]))
        self.conv8 = nn.Conv2d(512, len(TINY_ANCHORS) * 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) normalised image → (N, S/32, S/32, 5, 5) raw grid outputs."""
        x = _leaky(self.conv0(x))
        for i in range(1, 6):
            x = _max_pool_same(x, 2)
            x = _leaky(getattr(self, f"conv{i}")(x))
        x = _max_pool_same(x, 1)
        out = self.conv8(x)  # (N, A*5, G, G), channel = anchor * 5 + field
        n, _, g, _ = out.shape
        return out.permute(0, 2, 3, 1).reshape(n, g, g, len(TINY_ANCHORS), 5)


class FrozenBatchNorm(nn.Module):
    """Inference-only batch norm: (x - mean) * gamma / sqrt(var + eps) + beta."""

    def __init__(self, channels: int, eps: float = 0.0010000000474974513):
        super().__init__()
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise NCHW `x` per channel."""
        scale = (self.weight / torch.sqrt(self.running_var + self.eps))[:, None, None]
        return (x - self.running_mean[:, None, None]) * scale + self.bias[:, None, None]


class _DepthwisePair(nn.Module):
    """MobileNetV1 pair: depthwise 3×3 + BN + ReLU6, pointwise 1×1 + bias + ReLU6."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.depthwise = SameConv2d(cin, cin, 3, stride, groups=cin, bias=False)
        self.bn = FrozenBatchNorm(cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn(self.depthwise(x)))
        return F.relu6(self.pointwise(x))


_MOBILENET_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
_MOBILENET_STRIDE2 = (2, 4, 6, 12)
# SSD extra layers: (out channels, kernel, stride); input of the first is the backbone output.
_SSD_EXTRAS = ((256, 1, 1), (512, 3, 2), (128, 1, 1), (256, 3, 2), (128, 1, 1), (256, 3, 2))
_SSD_EXTRAS += ((64, 1, 1), (128, 3, 2))
# Box predictors: (input channels, anchors per cell).
_SSD_HEADS = ((512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6))
SSD_NUM_PRIORS = 5118  # at the fixed 512×512 input


class SsdMobilenetV1(nn.Module):
    """face-api's SSD MobileNetV1 face detector (5.6 MB), fixed 512×512 input.

    Returns decoded boxes (N, 5118, 4) as [ymin, xmin, ymax, xmax] relative to the padded square
    input and face scores (N, 5118) in [0, 1].
    """

    input_size = 512

    def __init__(self):
        super().__init__()
        self.conv0 = SameConv2d(3, 32, 3, 2)
        self.layers = nn.ModuleList(
            _DepthwisePair(
                _MOBILENET_CHANNELS[i - 1],
                _MOBILENET_CHANNELS[i],
                2 if i in _MOBILENET_STRIDE2 else 1,
            )
            for i in range(1, 14)
        )
        extras, cin = [], 1024
        for cout, k, s in _SSD_EXTRAS:
            extras.append(SameConv2d(cin, cout, k, s))
            cin = cout
        self.extras = nn.ModuleList(extras)
        self.box_heads = nn.ModuleList(nn.Conv2d(c, a * 4, 1) for c, a in _SSD_HEADS)
        self.class_heads = nn.ModuleList(nn.Conv2d(c, a * 3, 1) for c, a in _SSD_HEADS)
        self.register_buffer("priors", torch.zeros(SSD_NUM_PRIORS, 4))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, 512, 512) image in [-1, 1] → boxes (N, 5118, 4), scores (N, 5118)."""
        x = F.relu6(self.conv0(x))
        conv11 = x
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x)
            if i == 11:
                conv11 = x
        feats = [conv11, x]
        for i, conv in enumerate(self.extras):
            x = F.relu6(conv(x))
            if i % 2 == 1:
                feats.append(x)
        n = x.shape[0]
        enc = torch.cat(
            [_nhwc_flat(h(f), 4) for h, f in zip(self.box_heads, feats, strict=True)], 1
        )
        cls = torch.cat(
            [_nhwc_flat(h(f), 3) for h, f in zip(self.class_heads, feats, strict=True)], 1
        )
        boxes = _decode_ssd(self.priors.expand(n, -1, -1), enc)
        return boxes, torch.sigmoid(cls[..., 1])


def _nhwc_flat(x: torch.Tensor, fields: int) -> torch.Tensor:
    """(N, A*fields, H, W) → (N, H*W*A, fields) in TF's NHWC order."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, fields)


def _decode_ssd(priors: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
    """Decode [ty, tx, th, tw] against [ymin, xmin, ymax, xmax] priors (variances 10, 10, 5, 5)."""
    size = priors[..., 2:] - priors[..., :2]
    center = priors[..., :2] + size / 2
    half = torch.exp(enc[..., 2:] / 5) * size / 2
    mid = enc[..., :2] / 10 * size + center
    return torch.cat([mid - half, mid + half], -1)


NETS: dict[str, type[nn.Module]] = {
    "face_landmark_68": FaceLandmark68Net,
    "face_landmark_68_tiny": FaceLandmark68TinyNet,
    "face_expression": FaceExpressionNet,
    "tiny_face_detector": TinyFaceDetector,
    "ssd_mobilenetv1": SsdMobilenetV1,
}
