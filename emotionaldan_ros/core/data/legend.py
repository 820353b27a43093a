"""The `legend.csv` layout of the public `muxspace/facial_expressions` repository.

Layout (``git clone https://github.com/muxspace/facial_expressions``)::

    ROOT/data/legend.csv     user.id,image,emotion   (one row per labelled image)
    ROOT/images/<image>      the photos (mostly 350x350 close-up crops, colour or gray)

Labels are the 8 names anger, contempt, disgust, fear, happiness, neutral, sadness, surprise (any
case), mapped onto DESIGN §2; contempt is dropped for 7-class sets. The images are faces of
public figures named in the file name (LFW style `First_Last_0003.jpg`, or `Name_17.jpg`), so the
person is the file name without its trailing number: `split_by_identity` keeps every person on
one side of a train / validation split.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from emotionaldan_ros.core.data.folder import class_index
from emotionaldan_ros.core.data.sample import FaceSample, SampleSet, require_dir

LEGEND_FILE = Path("data") / "legend.csv"
# The two source databases inside the set, told apart by their file names: LFW photos
# (`First_Last_0001.jpg`) and Indian-movie crops (`Name_12.jpg`).
SUBSETS = {
    "all": re.compile(r""),
    "lfw": re.compile(r"_\d{4}\.jpg$", re.IGNORECASE),
    "movies": re.compile(r"[a-z]_\d{1,3}\.jpg$", re.IGNORECASE),
}
_TRAILING_NUMBER = re.compile(r"[_\- ]*\d+[a-z]?$", re.IGNORECASE)


def identity_of(file_name: str) -> str:
    """The person in a file name: the stem without its trailing number, letters and digits only.

    `Tony_Blair_0004.jpg` → `tonyblair`; `HrithikRoshan_12.jpg` and `Hrithik_Roshan_0001.jpg`
    are the same person (the two naming styles of this set); the whole stem when it has no
    number.
    """
    stem = Path(file_name).stem
    name = _TRAILING_NUMBER.sub("", stem) or stem
    return re.sub(r"[^0-9a-z]", "", name.lower()) or stem.lower()


def load_legend(
    root: Path | str,
    num_classes: int = 7,
    csv_file: str | None = None,
    name: str = "facial_expressions",
    subset: str = "all",
) -> SampleSet:
    """Read a `legend.csv` dataset (see the module docstring).

    Args:
        root: the repository folder (holding `data/legend.csv` and `images/`).
        num_classes: 7 (contempt dropped) or 8.
        csv_file: another CSV of the same columns, relative to `root` (default data/legend.csv).
        name: dataset name in reports.
        subset: "all", "lfw" or "movies" (see `SUBSETS`). The movies part, used as a
            cross-database test set, leaves out people who also appear in the LFW part.

    Raises:
        FileNotFoundError: root or the CSV missing.
        ValueError: no usable row, or a row with an unknown label (file and line named).
    """
    root = require_dir(root, name)
    if subset not in SUBSETS:
        raise ValueError(f"{name}: subset must be one of {sorted(SUBSETS)}, got {subset!r}")
    path = root / (csv_file or LEGEND_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: {path} not found (expected ROOT/data/legend.csv)")
    images = root / "images"
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    seen: set[str] = set()
    # newline="" + splitlines: some copies of these CSVs use bare CR line ends.
    text = path.read_text(encoding="utf-8", errors="replace")
    reader = csv.reader(text.splitlines())
    for lineno, row in enumerate(reader, start=1):
        if not row or (lineno == 1 and row[0].strip().lower() == "user.id"):
            continue
        where = f"{path}:{lineno}"
        if len(row) != 3:
            raise ValueError(f"{where}: expected user.id,image,emotion, got {len(row)} fields")
        file_name, label_text = row[1].strip(), row[2].strip()
        label = class_index(label_text, 8)
        if label is None:
            raise ValueError(f"{where}: unknown emotion {label_text!r}")
        if file_name.lower() in seen:  # one label per image (the first): no double counting
            dropped["duplicate row"] = dropped.get("duplicate row", 0) + 1
            continue
        seen.add(file_name.lower())
        if label >= num_classes:
            dropped["contempt"] = dropped.get("contempt", 0) + 1
            continue
        image = images / file_name
        if "/" in file_name or "\\" in file_name or not image.is_file():
            dropped["missing image"] = dropped.get("missing image", 0) + 1
            continue
        samples.append(FaceSample(image, None, None, label, name, identity_of(file_name)))
    if subset != "all":
        lfw_people = {s.identity for s in samples if SUBSETS["lfw"].search(s.image.name)}
        kept = [s for s in samples if SUBSETS[subset].search(s.image.name)]
        if subset == "movies":
            overlap = [s for s in kept if s.identity in lfw_people]
            if overlap:
                dropped["person also in the lfw part"] = len(overlap)
            kept = [s for s in kept if s.identity not in lfw_people]
        dropped[f"not in subset {subset}"] = (
            len(samples) - len(kept) - dropped.get("person also in the lfw part", 0)
        )
        samples = kept
        name = f"{name}-{subset}"
    if not samples:
        raise ValueError(f"no usable rows in {path} (dropped: {dropped or 'none'})")
    return SampleSet(name, samples, num_classes, dropped)
