"""300-W / iBUG `.pts` landmark folders, for landmark-only (label -1) pre-training.

Layout: any folder tree with images and, next to each, a `.pts` file of the same stem (300-W's
afw/, helen/, lfpw/, ibug/ and 300W/ folders all look like this)::

    version: 1
    n_points:  68
    {
    336.820955 240.864510
    ...
    }

Coordinates follow the iBUG files (1-based Matlab pixel indices); `one_based=True` (default)
subtracts 1 so that they land in this project's pixel-centre convention (`core.alignment`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotionaldan_ros.core.data.sample import (
    IMAGE_EXTENSIONS,
    NUM_LANDMARKS,
    FaceSample,
    SampleSet,
    require_dir,
)


def read_pts(path: Path | str) -> np.ndarray:
    """(n_points, 2) float32 points of one `.pts` file.

    Raises:
        ValueError: missing header/braces, wrong point count or non-numeric values.
    """
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    header = {}
    i = 0
    while i < len(lines) and lines[i] != "{":
        key, _, value = lines[i].partition(":")
        header[key.strip().lower()] = value.strip()
        i += 1
    if i == len(lines) or "}" not in lines[i:]:
        raise ValueError(f"{path}: not a .pts file (no '{{ ... }}' block)")
    end = lines.index("}", i)
    try:
        n = int(header.get("n_points", ""))
    except ValueError:
        raise ValueError(f"{path}: missing or bad 'n_points' header") from None
    try:
        points = np.asarray([[float(v) for v in ln.split()] for ln in lines[i + 1 : end]])
    except ValueError:
        raise ValueError(f"{path}: non-numeric point line") from None
    if points.shape != (n, 2):
        raise ValueError(f"{path}: header says {n} points, found {points.shape}")
    return points.astype(np.float32)


def write_pts(path: Path | str, points: np.ndarray) -> None:
    """Write (N, 2) points as a `.pts` file (coordinates written as given)."""
    points = np.asarray(points, dtype=np.float64)
    body = "\n".join(f"{x:.6f} {y:.6f}" for x, y in points)
    Path(path).write_text(f"version: 1\nn_points:  {len(points)}\n{{\n{body}\n}}\n")


def load_pts_folder(root: Path | str, one_based: bool = True, name: str = "pts") -> SampleSet:
    """Read every `<stem>.pts` with an image `<stem>.<ext>` beside it under `root` (recursive).

    Raises:
        FileNotFoundError: root missing.
        ValueError: a malformed .pts file, or none with 68 points and an image.
    """
    root = require_dir(root, f"{name} (.pts)")
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    for pts in sorted(root.rglob("*.pts")):
        image = next(
            (
                pts.with_suffix(ext)
                for ext in (*IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS))
                if pts.with_suffix(ext).is_file()
            ),
            None,
        )
        if image is None:
            dropped["no image beside .pts"] = dropped.get("no image beside .pts", 0) + 1
            continue
        points = read_pts(pts)
        if points.shape[0] != NUM_LANDMARKS:
            dropped["not 68 points"] = dropped.get("not 68 points", 0) + 1
            continue
        samples.append(FaceSample(image, None, points - 1.0 if one_based else points, -1, name))
    if not samples:
        raise ValueError(f"no 68-point .pts files with images found under {root}")
    return SampleSet(name, samples, 7, dropped)
