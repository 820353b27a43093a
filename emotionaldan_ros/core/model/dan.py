"""EmotionalDAN (Tautkute et al., 2018) on the Deep Alignment Network (Kowalski et al., 2017).

Input: (B, 1, 112, 112) per-image normalised grayscale crops (`core.alignment`). Stage 1 regresses
landmarks from the image alone (S1 = S0 + Δ1). Every later stage t warps the image so that
S_{t-1} is aligned with the mean shape S0, adds a landmark heatmap and a feature image computed
from the previous stage's fc1 as two more input channels, and regresses a correction in that
canonical frame: S_t = T_t⁻¹(T_t(S_{t-1}) + Δ_t). The emotion head reads the last stage's fc1.

State-dict keys are part of the checkpoint format; rename nothing without a conversion.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from emotionaldan_ros.core.alignment import MEAN_SHAPE_FRAME, NUM_LANDMARKS
from emotionaldan_ros.core.model.layers import (
    FeatureImage,
    invert_affine,
    landmark_heatmap,
    pixel_grid,
    similarity_params,
    transform_points,
    warp_image,
)

VGG_CHANNELS = (64, 128, 256, 512)  # DAN's four conv blocks (two convs each)
FC1_FEATURES = 256  # DAN's fc1 width, the emotion head's input


@dataclass
class DANOutput:
    """What every model in `core.model` returns.

    Attributes:
        landmarks: one (B, 68, 2) tensor per computed stage, pixel coordinates in the crop frame;
            empty for emotion-only baselines.
        logits: (B, C) emotion logits, or None (landmark-only model, or not all stages run).
    """

    landmarks: list[Tensor] = field(default_factory=list)
    logits: Tensor | None = None


@dataclass
class DANFeatures:
    """Output of `forward_features`: per-stage landmarks and the last computed stage's fc1."""

    landmarks: list[Tensor]
    features: Tensor
    complete: bool  # all stages ran, so `features` is what the emotion head was trained on


def scaled_channels(width: float) -> tuple[int, ...]:
    """VGG channel counts for a width multiplier (at least 8, rounded to a multiple of 8)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return tuple(max(8, round(c * width / 8) * 8) for c in VGG_CHANNELS)


class ConvBNReLU(nn.Module):
    """3x3 convolution + BatchNorm + ReLU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.act(self.bn(self.conv(x)))


class VGGBody(nn.Module):
    """DAN's feed-forward part: 4 x (conv, conv, pool) → dropout → fc1 (BN, ReLU) → fc 136."""

    def __init__(
        self, in_ch: int, width: float = 1.0, dropout: float = 0.5, size: int = MEAN_SHAPE_FRAME
    ) -> None:
        super().__init__()
        if size % 16:
            raise ValueError(f"input size must be a multiple of 16, got {size}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        prev = in_ch
        for i, ch in enumerate(scaled_channels(width), start=1):
            layers[f"conv{i}_1"] = ConvBNReLU(prev, ch)
            layers[f"conv{i}_2"] = ConvBNReLU(ch, ch)
            layers[f"pool{i}"] = nn.MaxPool2d(2)
            prev = ch
        self.features = nn.Sequential(layers)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(prev * (size // 16) ** 2, FC1_FEATURES, bias=False)
        self.fc1_bn = nn.BatchNorm1d(FC1_FEATURES)
        self.landmarks = nn.Linear(FC1_FEATURES, NUM_LANDMARKS * 2)
        # Start at "no correction" so an untrained stage outputs its input shape.
        nn.init.normal_(self.landmarks.weight, std=1e-3)
        nn.init.zeros_(self.landmarks.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) → (Δ landmarks (B, 68, 2), fc1 features (B, 256))."""
        x = self.features(x).flatten(1)
        fc1 = torch.relu(self.fc1_bn(self.fc1(self.dropout(x))))
        return self.landmarks(fc1).reshape(-1, NUM_LANDMARKS, 2), fc1


class DANStage(nn.Module):
    """One DAN stage; stages after the first own the connection layers' learnable part."""

    def __init__(
        self, first: bool, width: float, dropout: float, size: int = MEAN_SHAPE_FRAME
    ) -> None:
        super().__init__()
        self.first = first
        self.feature_image = None if first else FeatureImage(FC1_FEATURES, size)
        self.body = VGGBody(1 if first else 3, width, dropout, size)


class EmotionalDAN(nn.Module):
    """Multi-stage DAN with an optional emotion head on the last stage.

    Args:
        num_stages: DAN stages (1–3; the public EmotionalDAN code uses 2).
        width: channel multiplier of the VGG bodies (1.0 = paper, < 1 for fast variants).
        num_classes: emotion classes (7 or 8); 0 gives a landmark-only DAN.
        dropout: dropout before fc1.
        mean_shape: (68, 2) S0 in the crop frame; default: the shipped mean shape.
        size: input side (112 in the paper).
    """

    def __init__(
        self,
        num_stages: int = 2,
        width: float = 1.0,
        num_classes: int = 7,
        dropout: float = 0.5,
        mean_shape: np.ndarray | Tensor | None = None,
        size: int = MEAN_SHAPE_FRAME,
    ) -> None:
        super().__init__()
        if not 1 <= num_stages <= 3:
            raise ValueError(f"num_stages must be 1, 2 or 3, got {num_stages}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        if mean_shape is None:
            from emotionaldan_ros.core.mean_shape import load_default_mean_shape

            mean_shape = load_default_mean_shape()
            if size != MEAN_SHAPE_FRAME:
                mean_shape = mean_shape * (size / MEAN_SHAPE_FRAME)
        mean = torch.as_tensor(np.asarray(mean_shape, dtype=np.float32))
        if mean.shape != (NUM_LANDMARKS, 2) or not torch.isfinite(mean).all():
            raise ValueError(f"mean_shape must be finite (68, 2), got {tuple(mean.shape)}")
        self.num_stages = num_stages
        self.width = width
        self.num_classes = num_classes
        self.size = size
        self.register_buffer("mean_shape", mean.clone())
        self.register_buffer("grid", pixel_grid(size, size), persistent=False)
        self.stages = nn.ModuleList(
            DANStage(i == 0, width, dropout, size) for i in range(num_stages)
        )
        self.head: nn.Linear | None = None
        self.reset_classifier(num_classes)
        self.frozen_stages = 0

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the emotion head with a fresh one for `num_classes` (0: no head)."""
        self.num_classes = num_classes
        self.head = nn.Linear(FC1_FEATURES, num_classes) if num_classes > 0 else None

    def set_mean_shape(self, mean_shape: np.ndarray | Tensor) -> None:
        """Replace S0 (e.g. by `compute_mean_shape` of the training landmarks)."""
        mean = torch.as_tensor(np.asarray(mean_shape, dtype=np.float32))
        if mean.shape != (NUM_LANDMARKS, 2) or not torch.isfinite(mean).all():
            raise ValueError(f"mean_shape must be finite (68, 2), got {tuple(mean.shape)}")
        self.mean_shape.copy_(mean)

    def freeze_stages(self, n: int) -> None:
        """Freeze the first n stages: no gradients, BatchNorm statistics fixed (eval mode).

        DAN trains stage by stage; call `freeze_stages(1)` before training stage 2 with stage 1
        fixed, `freeze_stages(0)` to fine-tune everything.
        """
        if not 0 <= n <= self.num_stages:
            raise ValueError(f"can freeze 0..{self.num_stages} stages, got {n}")
        self.frozen_stages = n
        for i, stage in enumerate(self.stages):
            for p in stage.parameters():
                p.requires_grad_(i >= n)
        self.train(self.training)

    def train(self, mode: bool = True) -> EmotionalDAN:
        """Set train/eval mode; frozen stages always stay in eval mode."""
        super().train(mode)
        for stage in self.stages[: self.frozen_stages]:
            stage.eval()
        return self

    def _resolve_stages(self, num_stages: int | None) -> int:
        n = self.num_stages if num_stages is None else num_stages
        if not 1 <= n <= self.num_stages:
            raise ValueError(f"num_stages must be in 1..{self.num_stages}, got {num_stages}")
        return n

    def forward_features(self, x: Tensor, num_stages: int | None = None) -> DANFeatures:
        """Run the first `num_stages` stages (all by default).

        Args:
            x: (B, 1, size, size) normalised crops.
            num_stages: stages to run, for stage-wise training.
        """
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2:] != (self.size, self.size):
            raise ValueError(f"expected input (B, 1, {self.size}, {self.size}), got {x.shape}")
        n = self._resolve_stages(num_stages)
        mean = self.mean_shape
        delta, fc1 = self.stages[0].body(x)
        shape = mean + delta.float()
        landmarks = [shape]
        for stage in self.stages[1:n]:
            # Landmark geometry stays in float32 under autocast: fp16 sums of squared
            # coordinates overflow and its resolution at 112 px is only ~0.06 px.
            with torch.autocast(x.device.type, enabled=False):
                T = similarity_params(shape, mean)
                warped = warp_image(x.float(), T, self.grid)
                moved = transform_points(shape, T)
                heat = landmark_heatmap(moved, self.size, self.size, self.grid)
            feat = stage.feature_image(fc1).to(warped.dtype)
            delta, fc1 = stage.body(torch.cat([warped, heat, feat], dim=1))
            with torch.autocast(x.device.type, enabled=False):
                shape = transform_points(moved + delta.float(), invert_affine(T))
            landmarks.append(shape)
        return DANFeatures(landmarks, fc1, n == self.num_stages)

    def forward_head(self, features: DANFeatures) -> Tensor | None:
        """Emotion logits (B, C) from the last stage's fc1, or None without a head / all stages."""
        if self.head is None or not features.complete:
            return None
        return self.head(features.features)

    def forward(self, x: Tensor, num_stages: int | None = None) -> DANOutput:
        """Landmarks of every computed stage and, when all stages ran, emotion logits."""
        feats = self.forward_features(x, num_stages)
        return DANOutput(feats.landmarks, self.forward_head(feats))
