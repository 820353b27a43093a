"""AffectNet (manually annotated part): `training.csv` / `validation.csv` + image folder.

On-disk layout as distributed (both file names are looked up in that order)::

    ROOT/Manually_Annotated_file_lists/training.csv   (or ROOT/training.csv)
    ROOT/Manually_Annotated_file_lists/validation.csv (or ROOT/validation.csv)
    ROOT/Manually_Annotated_Images/<subDirectory_filePath>   (or ROOT/<subDirectory_filePath>)

CSV columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks
("x1;y1;x2;y2;..." with 136 values), expression, valence, arousal. The header row is optional
(the distributed validation.csv has none). Expression codes 0–6 are DESIGN §2's order already;
7 (contempt) is kept only for 8-class training; 8–10 (none, uncertain, no-face) are dropped and
counted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from emotionaldan_ros.core.data.sample import (
    FaceSample,
    SampleSet,
    parse_landmark_values,
    require_dir,
)

COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
DROPPED_CODES = {7: "contempt", 8: "none", 9: "uncertain", 10: "no-face"}


def find_csv(root: Path, split: str) -> Path:
    """Locate `<split>.csv` under an AffectNet root."""
    for cand in (root / "Manually_Annotated_file_lists" / f"{split}.csv", root / f"{split}.csv"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"AffectNet {split}.csv not found under {root} "
        "(looked in Manually_Annotated_file_lists/ and the root)"
    )


def find_image_root(root: Path) -> Path:
    """The folder that `subDirectory_filePath` is relative to."""
    cand = root / "Manually_Annotated_Images"
    return cand if cand.is_dir() else root


def load_affectnet(
    root: Path | str,
    split: str = "training",
    num_classes: int = 7,
    csv_path: Path | str | None = None,
    image_root: Path | str | None = None,
    check_files: bool = True,
) -> SampleSet:
    """Read one AffectNet split.

    Args:
        root: AffectNet root folder.
        split: "training" or "validation" (the CSV's stem).
        num_classes: 7 drops contempt (code 7); 8 keeps it as class 7.
        csv_path: explicit CSV file (overrides the lookup under `root`).
        image_root: explicit image folder (overrides the lookup under `root`).
        check_files: drop (and count as "missing image") rows whose image file is absent.

    Raises:
        FileNotFoundError: root or CSV missing.
        ValueError: a malformed row (the message names file and line) or bad num_classes.
    """
    if num_classes not in (7, 8):
        raise ValueError(f"num_classes must be 7 or 8, got {num_classes}")
    root = require_dir(root, "AffectNet")
    csv_file = Path(csv_path) if csv_path else find_csv(root, split)
    img_root = Path(image_root) if image_root else find_image_root(root)
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    with open(csv_file, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or (lineno == 1 and row[0].strip() == COLUMNS[0]):
                continue
            where = f"{csv_file}:{lineno}"
            if len(row) < 7:
                raise ValueError(f"{where}: expected {len(COLUMNS)} columns, got {len(row)}")
            try:
                code = int(float(row[6]))
                x, y, w, h = (float(v) for v in row[1:5])
            except ValueError:
                raise ValueError(
                    f"{where}: non-numeric face box or expression {row[1:7]}"
                ) from None
            if code in DROPPED_CODES and not (code == 7 and num_classes == 8):
                reason = DROPPED_CODES[code]
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            if not 0 <= code <= 7:
                raise ValueError(f"{where}: unknown expression code {code} (expected 0-10)")
            path = img_root / row[0].strip()
            if check_files and not path.is_file():
                dropped["missing image"] = dropped.get("missing image", 0) + 1
                continue
            if w <= 0 or h <= 0:
                dropped["zero-area box"] = dropped.get("zero-area box", 0) + 1
                continue
            landmarks = parse_landmark_values(row[5], where) if row[5].strip() else None
            box = np.array([x, y, x + w, y + h], dtype=np.float32)
            samples.append(FaceSample(path, box, landmarks, code, "affectnet"))
    return SampleSet("affectnet", samples, num_classes, dropped)
