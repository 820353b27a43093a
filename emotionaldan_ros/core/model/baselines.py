"""Emotion-only CNN baselines from the paper's tables, on the same input as EmotionalDAN.

- CNN(2): two convolutions, two poolings and one hidden fully connected layer before the
  softmax classifier, in the spirit of Tang (2013)'s FER network.
- CNN(5): five 3x3 convolutions (BatchNorm + ReLU, each followed by 2x2 max pooling) and one hidden
  fully connected layer before the classifier.

Both take (B, 1, 112, 112) normalised crops and return a `DANOutput` with no landmarks.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from emotionaldan_ros.core.alignment import MEAN_SHAPE_FRAME
from emotionaldan_ros.core.model.dan import DANFeatures, DANOutput


def _conv_block(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
            bn=nn.BatchNorm2d(out_ch),
            act=nn.ReLU(inplace=True),
        )
    )


class BaselineCNN(nn.Module):
    """A plain conv → pool stack, one hidden fc layer and a classifier head.

    Args:
        convs: (out_channels, kernel, pool) per conv layer.
        hidden: width of the hidden fc layer.
        num_classes: emotion classes (7 or 8).
        dropout: dropout before the hidden fc and before the classifier.
        size: input side.
    """

    def __init__(
        self,
        convs: tuple[tuple[int, int, int], ...],
        hidden: int = 256,
        num_classes: int = 7,
        dropout: float = 0.5,
        size: int = MEAN_SHAPE_FRAME,
    ) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"an emotion baseline needs num_classes > 0, got {num_classes}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        prev, side = 1, size
        for i, (ch, kernel, pool) in enumerate(convs, start=1):
            layers[f"conv{i}"] = _conv_block(prev, ch, kernel)
            layers[f"pool{i}"] = nn.MaxPool2d(pool)
            prev, side = ch, side // pool
        if side < 1:
            raise ValueError(f"input size {size} is too small for {len(convs)} poolings")
        self.size = size
        self.features = nn.Sequential(layers)
        self.fc1 = nn.Sequential(
            OrderedDict(
                dropout=nn.Dropout(dropout),
                fc=nn.Linear(prev * side * side, hidden),
                act=nn.ReLU(inplace=True),
                dropout2=nn.Dropout(dropout),
            )
        )
        self.hidden = hidden
        self.num_classes = num_classes
        self.head = nn.Linear(hidden, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a fresh one for `num_classes`."""
        if num_classes <= 0:
            raise ValueError(f"an emotion baseline needs num_classes > 0, got {num_classes}")
        self.num_classes = num_classes
        self.head = nn.Linear(self.hidden, num_classes)

    def forward_features(self, x: Tensor, num_stages: int | None = None) -> DANFeatures:
        """(B, 1, size, size) → hidden features; `num_stages` is accepted and ignored."""
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2:] != (self.size, self.size):
            raise ValueError(f"expected input (B, 1, {self.size}, {self.size}), got {x.shape}")
        return DANFeatures([], self.fc1(self.features(x).flatten(1)), True)

    def forward_head(self, features: DANFeatures) -> Tensor:
        """Emotion logits (B, C)."""
        return self.head(features.features)

    def forward(self, x: Tensor, num_stages: int | None = None) -> DANOutput:
        """Emotion logits, no landmarks."""
        return DANOutput([], self.forward_head(self.forward_features(x, num_stages)))


def cnn2(num_classes: int = 7, dropout: float = 0.5) -> BaselineCNN:
    """CNN(2): conv5x5 32 → pool 4 → conv5x5 64 → pool 4 → fc 256 → classifier."""
    return BaselineCNN(((32, 5, 4), (64, 5, 4)), 256, num_classes, dropout)


def cnn5(num_classes: int = 7, dropout: float = 0.5) -> BaselineCNN:
    """CNN(5): five conv3x3 (32, 64, 128, 128, 256), each + pool 2 → fc 256 → classifier."""
    convs = ((32, 3, 2), (64, 3, 2), (128, 3, 2), (128, 3, 2), (256, 3, 2))
    return BaselineCNN(convs, 256, num_classes, dropout)
