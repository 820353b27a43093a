"""CK+ (Extended Cohn-Kanade): image sequences + per-sequence emotion label files.

On-disk layout as distributed (the zips unpack into these folders under one ROOT)::

    ROOT/cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    ROOT/Emotion/S005/001/S005_001_00000011_emotion.txt        # "   3.0000000e+00"
    ROOT/Landmarks/S005/001/S005_001_00000001_landmarks.txt    # optional, 68 lines "x y"

Only sequences with an Emotion file are used (327 of 593 in the full set). Each gives its last
`peak_frames` frames (the apex) with the sequence's label and, with `neutral_first`, its first
frame as neutral. CK+ codes (0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy,
6 sadness, 7 surprise) are mapped to DESIGN §2; contempt is kept only with `num_classes=8`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data.sample import (
    IMAGE_EXTENSIONS,
    NUM_LANDMARKS,
    FaceSample,
    SampleSet,
    require_dir,
)

# CK+ code → DESIGN §2 index.
CKPLUS_TO_CANONICAL = {
    0: L.NEUTRAL,
    1: L.ANGER,
    2: L.CONTEMPT,
    3: L.DISGUST,
    4: L.FEAR,
    5: L.HAPPY,
    6: L.SAD,
    7: L.SURPRISE,
}


def read_emotion_file(path: Path) -> int:
    """CK+ emotion code from an `*_emotion.txt` file (one float such as `3.0000000e+00`)."""
    text = path.read_text(encoding="utf-8", errors="replace").split()
    try:
        value = float(text[0]) if len(text) == 1 else None
    except ValueError:
        value = None
    if value is None or value != int(value) or int(value) not in CKPLUS_TO_CANONICAL:
        raise ValueError(f"{path}: expected one CK+ emotion code 0-7, got {' '.join(text)!r}")
    return int(value)


def read_landmark_file(path: Path) -> np.ndarray:
    """(68, 2) float32 points from a CK+ `*_landmarks.txt` file (68 lines "x y")."""
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: unreadable landmark file ({exc})") from None
    if values.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"{path}: expected {NUM_LANDMARKS} lines 'x y', got {values.shape}")
    return values.astype(np.float32)


def _landmarks_for(root: Path, image: Path) -> np.ndarray | None:
    subject, seq = image.parent.parent.name, image.parent.name
    path = root / "Landmarks" / subject / seq / f"{image.stem}_landmarks.txt"
    return read_landmark_file(path) if path.is_file() else None


def load_ckplus(
    root: Path | str,
    peak_frames: int = 1,
    neutral_first: bool = True,
    num_classes: int = 7,
    use_landmarks: bool = True,
) -> SampleSet:
    """Read the labelled CK+ sequences.

    Args:
        root: folder holding `cohn-kanade-images/` and `Emotion/` (and optionally `Landmarks/`).
        peak_frames: number of last frames per sequence labelled with the sequence's emotion.
        neutral_first: also add each labelled sequence's first frame as neutral.
        num_classes: 7 drops contempt sequences; 8 keeps them.
        use_landmarks: attach `Landmarks/` points where the file exists.

    Raises:
        FileNotFoundError: the root or one of its two required folders is missing.
        ValueError: a malformed emotion or landmark file (named in the message).
    """
    if num_classes not in (7, 8):
        raise ValueError(f"num_classes must be 7 or 8, got {num_classes}")
    if peak_frames < 1:
        raise ValueError(f"peak_frames must be >= 1, got {peak_frames}")
    root = require_dir(root, "CK+")
    images_dir = require_dir(root / "cohn-kanade-images", "CK+ cohn-kanade-images")
    emotion_dir = require_dir(root / "Emotion", "CK+ Emotion")
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    for label_file in sorted(emotion_dir.glob("*/*/*_emotion.txt")):
        subject, seq = label_file.parent.parent.name, label_file.parent.name
        label = CKPLUS_TO_CANONICAL[read_emotion_file(label_file)]
        if label == L.CONTEMPT and num_classes == 7:
            dropped["contempt sequence"] = dropped.get("contempt sequence", 0) + 1
            continue
        seq_dir = images_dir / subject / seq
        frames = (
            sorted(p for p in seq_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if seq_dir.is_dir()
            else []
        )
        frames = [p for p in frames if not p.name.startswith(".")]
        if len(frames) < 2:
            dropped["sequence without frames"] = dropped.get("sequence without frames", 0) + 1
            continue
        chosen = [(p, label) for p in frames[-min(peak_frames, len(frames) - 1) :]]
        if neutral_first and label != L.NEUTRAL:
            chosen.insert(0, (frames[0], L.NEUTRAL))
        for path, lab in chosen:
            lm = _landmarks_for(root, path) if use_landmarks else None
            samples.append(FaceSample(path, None, lm, lab, "ckplus"))
    labelled = {
        (p.parent.parent.name, p.parent.name) for p in emotion_dir.glob("*/*/*_emotion.txt")
    }
    unlabelled = sum(1 for d in images_dir.glob("*/*") if d.is_dir()) - len(
        {k for k in labelled if (images_dir / k[0] / k[1]).is_dir()}
    )
    if unlabelled:
        dropped["unlabelled sequence"] = unlabelled
    if not samples:
        raise ValueError(f"no labelled CK+ sequences found under {root}")
    return SampleSet("ckplus", samples, num_classes, dropped)
