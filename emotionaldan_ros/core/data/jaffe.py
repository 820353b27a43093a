"""JAFFE (Japanese Female Facial Expression): 213 TIFF images, label in the file name.

On-disk layout as distributed: one folder (searched recursively) of files named
`<poser>.<code><n>.<id>.tiff`, e.g. `KA.AN1.39.tiff` (poser KA, anger, take 1, image 39). The
two-letter codes NE HA SA SU FE DI AN map to DESIGN §2. Other files (README, .DS_Store) are
ignored; image files whose names do not follow the pattern are counted as dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data.sample import FaceSample, SampleSet, list_images, require_dir

JAFFE_CODES = {
    "NE": L.NEUTRAL,
    "HA": L.HAPPY,
    "SA": L.SAD,
    "SU": L.SURPRISE,
    "FE": L.FEAR,
    "DI": L.DISGUST,
    "AN": L.ANGER,
}
_NAME = re.compile(r"^(?P<poser>[A-Za-z]{2})\.(?P<code>[A-Za-z]{2})\d*\.\d+$")


def jaffe_label(path: Path) -> int | None:
    """DESIGN §2 label from a JAFFE file name, or None if the name does not match."""
    m = _NAME.match(path.stem)
    return JAFFE_CODES.get(m.group("code").upper()) if m else None


def load_jaffe(root: Path | str, num_classes: int = 7) -> SampleSet:
    """Read all JAFFE images under `root`.

    Raises:
        FileNotFoundError: root missing.
        ValueError: no JAFFE-named image found.
    """
    root = require_dir(root, "JAFFE")
    samples: list[FaceSample] = []
    dropped: dict[str, int] = {}
    for path in list_images(root):
        label = jaffe_label(path)
        if label is None:
            dropped["name not <poser>.<code><n>.<id>"] = (
                dropped.get("name not <poser>.<code><n>.<id>", 0) + 1
            )
            continue
        samples.append(FaceSample(path, None, None, label, "jaffe"))
    if not samples:
        raise ValueError(f"no JAFFE images (e.g. KA.AN1.39.tiff) found under {root}")
    return SampleSet("jaffe", samples, num_classes, dropped)
