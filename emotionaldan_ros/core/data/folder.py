"""Generic formats for ISED and any other labelled set: class folders and a CSV list.

Class-folder format (`load_class_folders`)::

    ROOT/<class>/<any sub-folders>/*.png|jpg|jpeg|bmp|tif|tiff

`<class>` is a DESIGN §2 class name, case-insensitive, or an alias (angry → anger, happiness →
happy, surprised → surprise, sadness → sad, fearful → fear, disgusted → disgust, ...). Folders
with other names are skipped and reported.

CSV format (`load_csv`), UTF-8, one face per row::

    path,label,x1,y1,x2,y2,landmarks
    ised/happy/001.png,happy,34,40,130,150,
    other/img7.jpg,6,,,,,
    pts/img9.png,,10,12,90,100,"x1;y1;x2;y2;...;x68;y68"

- `path` is relative to the CSV file's folder (or absolute); `label` is a class name/alias or an
  index in DESIGN §2 order; empty or -1 means "no emotion label". With
  `allow_outside_root=False` (what `emotionaldan-bag from-dataset` uses by default) a path that
  resolves outside the CSV's folder (`../x.jpg`, an absolute path, a symlink out) is skipped and
  counted as "outside the dataset root".
- `x1,y1,x2,y2` (face box, image pixels) and `landmarks` (136 values "x;y;..." in iBUG order) are
  optional and may be left empty per row.
- The header row is optional; without it the columns are positional in the order above.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data.sample import (
    FaceSample,
    SampleSet,
    list_images,
    parse_landmark_values,
    require_dir,
)

ALIASES = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "ne": "neutral",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fe": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "anger": "anger",
    "angry": "anger",
    "an": "anger",
    "contempt": "contempt",
}
CSV_COLUMNS = ("path", "label", "x1", "y1", "x2", "y2", "landmarks")


def class_index(name: str, num_classes: int = 7) -> int | None:
    """DESIGN §2 index of a class name or alias (any case); None if unknown or out of range."""
    canonical = ALIASES.get(name.strip().lower())
    if canonical is None:
        return None
    idx = L.EMOTIONS_8.index(canonical)
    return idx if idx < num_classes else None


def load_class_folders(root: Path | str, num_classes: int = 7, name: str = "folder") -> SampleSet:
    """Read `ROOT/<class>/**/*.png|jpg` (see the module docstring).

    Raises:
        FileNotFoundError: root missing.
        ValueError: no class folder found.
    """
    root = require_dir(root, f"{name} (class folders)")
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = class_index(folder.name, num_classes)
        images = list_images(folder)
        if label is None:
            key = f"folder {folder.name!r} (not a class)"
            dropped[key] = len(images)
            continue
        samples.extend(FaceSample(p, None, None, label, name) for p in images)
    if not samples:
        raise ValueError(
            f"no images in class folders under {root}; expected ROOT/<class>/*.png with class "
            f"names {', '.join(L.emotion_names(num_classes))}"
        )
    return SampleSet(name, samples, num_classes, dropped)


def _parse_label(text: str, num_classes: int, where: str) -> int:
    text = text.strip()
    if not text or text == "-1":
        return -1
    if text.lstrip("-").isdigit():
        idx = int(text)
        if not 0 <= idx < num_classes:
            raise ValueError(f"{where}: label index {idx} outside 0..{num_classes - 1}")
        return idx
    idx = class_index(text, 8)
    if idx is None:
        raise ValueError(f"{where}: unknown class name {text!r}")
    if idx >= num_classes:
        return -2  # contempt in a 7-class set: caller drops it
    return idx


def load_csv(
    csv_path: Path | str,
    num_classes: int = 7,
    name: str = "csv",
    allow_outside_root: bool = True,
) -> SampleSet:
    """Read the documented CSV list (see the module docstring).

    Args:
        csv_path: the CSV file; relative paths in it are relative to its folder (the root).
        num_classes: label space, 7 or 8.
        name: dataset name written into the samples.
        allow_outside_root: also read images that resolve outside the root (else skip and
            count them).

    Raises:
        FileNotFoundError: the CSV is missing.
        ValueError: a malformed row (file and line named in the message).
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{name} CSV file not found: {csv_path}")
    base = csv_path.parent
    root = base.resolve()
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    columns = list(CSV_COLUMNS)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not any(c.strip() for c in row):
                continue
            if lineno == 1 and row[0].strip().lower() == "path":
                columns = [c.strip().lower() for c in row]
                missing = {"path", "label"} - set(columns)
                if missing:
                    raise ValueError(f"{csv_path}:1: header lacks column(s) {sorted(missing)}")
                continue
            where = f"{csv_path}:{lineno}"
            if len(row) > len(columns):
                raise ValueError(f"{where}: {len(row)} fields, header has {len(columns)}")
            rec = dict(zip(columns, (c.strip() for c in row), strict=False))
            if not rec.get("path"):
                raise ValueError(f"{where}: empty path")
            label = _parse_label(rec.get("label", ""), num_classes, where)
            if label == -2:
                dropped["contempt"] = dropped.get("contempt", 0) + 1
                continue
            box = None
            box_fields = [rec.get(k, "") for k in ("x1", "y1", "x2", "y2")]
            if any(box_fields):
                try:
                    box = np.array([float(v) for v in box_fields], dtype=np.float32)
                except ValueError:
                    raise ValueError(f"{where}: box needs 4 numbers, got {box_fields}") from None
            lm_text = rec.get("landmarks", "")
            landmarks = parse_landmark_values(lm_text, where) if lm_text else None
            path = Path(rec["path"]).expanduser()
            path = path if path.is_absolute() else base / path
            if not allow_outside_root and not path.resolve().is_relative_to(root):
                dropped["outside the dataset root"] = (
                    dropped.get("outside the dataset root", 0) + 1
                )
                continue
            if not path.is_file():
                dropped["missing image"] = dropped.get("missing image", 0) + 1
                continue
            try:
                samples.append(FaceSample(path, box, landmarks, label, name))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
    if not samples:
        raise ValueError(f"no usable rows in {csv_path} (dropped: {dropped or 'none'})")
    return SampleSet(name, samples, num_classes, dropped)


def write_csv(path: Path | str, samples: list[FaceSample]) -> None:
    """Write samples in the documented CSV format (paths relative to the CSV where possible)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(CSV_COLUMNS)
        for s in samples:
            try:
                rel = s.image.resolve().relative_to(path.parent.resolve())
            except ValueError:
                rel = s.image.resolve()
            box = [f"{v:.2f}" for v in s.box] if s.box is not None else ["", "", "", ""]
            lm = (
                ";".join(f"{v:.3f}" for v in s.landmarks.reshape(-1))
                if s.landmarks is not None
                else ""
            )
            out.writerow([rel.as_posix(), s.label, *box, lm])
