"""The one class order used everywhere (messages, heads, datasets, reports): AffectNet's codes.

`0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger` (+ `7 contempt` for 8-class
models). Valence (3 classes) is `0 neutral, 1 positive, 2 negative`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMOTIONS_7: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
EMOTIONS_8: tuple[str, ...] = (*EMOTIONS_7, "contempt")
NEUTRAL, HAPPY, SAD, SURPRISE, FEAR, DISGUST, ANGER, CONTEMPT = range(8)

VALENCES: tuple[str, ...] = ("neutral", "positive", "negative")
VALENCE_NEUTRAL, VALENCE_POSITIVE, VALENCE_NEGATIVE = range(3)

# Class name -> valence; surprise is configurable (see valence_map).
_VALENCE_OF = {
    "neutral": VALENCE_NEUTRAL,
    "happy": VALENCE_POSITIVE,
    "sad": VALENCE_NEGATIVE,
    "fear": VALENCE_NEGATIVE,
    "disgust": VALENCE_NEGATIVE,
    "anger": VALENCE_NEGATIVE,
    "contempt": VALENCE_NEGATIVE,
}


def emotion_names(num_classes: int) -> tuple[str, ...]:
    """Class names of a 7- or 8-class head."""
    if num_classes == 7:
        return EMOTIONS_7
    if num_classes == 8:
        return EMOTIONS_8
    raise ValueError(f"num_classes must be 7 or 8, got {num_classes}")


def valence_map(classes: Sequence[str], surprise: str = "positive") -> np.ndarray:
    """Index array mapping each class to its valence index.

    Args:
        classes: class names in head order.
        surprise: valence of "surprise": "positive" (default, as in DESIGN §2), "negative" or
            "neutral".
    """
    if surprise not in VALENCES:
        raise ValueError(f"surprise valence must be one of {VALENCES}, got {surprise!r}")
    out = []
    for name in classes:
        if name == "surprise":
            out.append(VALENCES.index(surprise))
        elif name in _VALENCE_OF:
            out.append(_VALENCE_OF[name])
        else:
            raise ValueError(f"no valence known for class {name!r}")
    return np.asarray(out, dtype=np.int64)


def to_valence_probs(probs: np.ndarray, vmap: np.ndarray) -> np.ndarray:
    """Sum class probabilities (..., C) into valence probabilities (..., 3)."""
    probs = np.asarray(probs, dtype=np.float32)
    out = np.zeros((*probs.shape[:-1], len(VALENCES)), dtype=np.float32)
    for c, v in enumerate(vmap):
        out[..., v] += probs[..., c]
    return out


def valence_mapping_text(classes: Sequence[str], surprise: str = "positive") -> str:
    """Human-readable mapping for reports: 'neutral→neutral; happy, surprise→positive; ...'."""
    vmap = valence_map(classes, surprise)
    parts = []
    for v, vname in enumerate(VALENCES):
        members = [c for c, m in zip(classes, vmap, strict=True) if m == v]
        parts.append(f"{', '.join(members) or '-'}→{vname}")
    return "; ".join(parts)
