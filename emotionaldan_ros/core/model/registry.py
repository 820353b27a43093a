"""timm-style model registry: `create_model("emotionaldan_lite", num_classes=8)`.

Each variant is a factory plus a config dict describing its input and outputs, so tools can build
and feed any model by name. `create_model` drops keyword arguments that are None, so CLI defaults
never override a variant's own defaults. The built model remembers `model_name` and
`model_kwargs`, which `core.checkpoint` saves to rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from emotionaldan_ros.core.alignment import (
    DEFAULT_MARGIN,
    DEFAULT_SHIFT,
    MEAN_SHAPE_FRAME,
    NUM_LANDMARKS,
)
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.core.model.baselines import cnn2, cnn5
from emotionaldan_ros.core.model.dan import EmotionalDAN

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_CONFIGS: dict[str, dict[str, Any]] = {}


def _cfg(notes: str, landmarks: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "input_size": (1, MEAN_SHAPE_FRAME, MEAN_SHAPE_FRAME),
        "grayscale": True,
        "normalization": "per-image",  # zero mean, unit std per crop (alignment.normalize_crops)
        "crop_margin": DEFAULT_MARGIN,
        "crop_shift": DEFAULT_SHIFT,
        "num_landmarks": NUM_LANDMARKS if landmarks else 0,
        "license": "Apache-2.0 (architecture code); weights carry their own licence",
        "notes": notes,
        **extra,
    }


def register_model(
    name: str, config: dict[str, Any]
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator adding a model factory under `name` with its config dict."""

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = factory
        _CONFIGS[name] = config
        return factory

    return deco


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def model_config(name: str, num_classes: int | None = None) -> dict[str, Any]:
    """The config dict of a variant, with class names for `num_classes` (default: its own)."""
    if name not in _CONFIGS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    cfg = dict(_CONFIGS[name])
    n = cfg["num_classes"] if num_classes is None else num_classes
    cfg["num_classes"] = n
    cfg["classes"] = emotion_names(n) if n else ()
    return cfg


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model; keyword arguments that are None are ignored.

    Raises:
        ValueError: unknown model name (the message lists the known ones).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = _MODELS[name](**kwargs)
    model.model_name = name
    model.model_kwargs = {k: v for k, v in kwargs.items() if k != "mean_shape"}
    return model


@register_model(
    "emotionaldan",
    _cfg("EmotionalDAN as in the paper: 2 DAN stages, full-width VGG bodies.", num_classes=7),
)
def emotionaldan(
    num_classes: int = 7, num_stages: int = 2, width: float = 1.0, **kwargs: Any
) -> EmotionalDAN:
    """Paper configuration."""
    return EmotionalDAN(num_stages, width, num_classes, **kwargs)


@register_model(
    "emotionaldan_lite",
    _cfg(
        "Fast EmotionalDAN for CPUs (the <= 5 ms/face configuration of benchmarks/model.py): "
        "2 stages at 1/8 channel width (8-16-32-64), ~1/60 of the paper's MACs.",
        num_classes=7,
    ),
)
def emotionaldan_lite(
    num_classes: int = 7, num_stages: int = 2, width: float = 0.125, **kwargs: Any
) -> EmotionalDAN:
    """Lite configuration (see `benchmarks/model.py` for its speed)."""
    return EmotionalDAN(num_stages, width, num_classes, **kwargs)


@register_model(
    "emotionaldan_small",
    _cfg(
        "EmotionalDAN at 1/4 channel width (16-32-64-128), 2 stages: ~1/16 of the paper's MACs.",
        num_classes=7,
    ),
)
def emotionaldan_small(
    num_classes: int = 7, num_stages: int = 2, width: float = 0.25, **kwargs: Any
) -> EmotionalDAN:
    """Between the paper's model and the lite one."""
    return EmotionalDAN(num_stages, width, num_classes, **kwargs)


@register_model(
    "dan", _cfg("Deep Alignment Network, landmarks only (2 stages, full width).", num_classes=0)
)
def dan(
    num_stages: int = 2, width: float = 1.0, num_classes: int = 0, **kwargs: Any
) -> EmotionalDAN:
    """Landmark-only DAN (for landmark pre-training on 300-W style data)."""
    return EmotionalDAN(num_stages, width, num_classes, **kwargs)


@register_model(
    "cnn2", _cfg("CNN(2) emotion baseline (2 conv, 2 pool, 1 fc).", False, num_classes=7)
)
def cnn2_model(num_classes: int = 7, dropout: float = 0.5) -> nn.Module:
    """CNN(2) baseline."""
    return cnn2(num_classes, dropout)


@register_model(
    "cnn5", _cfg("CNN(5) emotion baseline (5 conv + pool, 1 fc).", False, num_classes=7)
)
def cnn5_model(num_classes: int = 7, dropout: float = 0.5) -> nn.Module:
    """CNN(5) baseline."""
    return cnn5(num_classes, dropout)
