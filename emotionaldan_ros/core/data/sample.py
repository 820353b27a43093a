"""`FaceSample`: one annotated face image, the common record every dataset loader returns.

Loaders turn each dataset's own on-disk format into a `SampleSet` of `FaceSample`s whose labels
are already mapped onto the DESIGN §2 class order (`core.labels`), so training and evaluation never
see a dataset's private codes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.core.labels import emotion_names

NUM_LANDMARKS = 68
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass(frozen=True)
class FaceSample:
    """One face in one image.

    Attributes:
        image: path of the image file.
        box: (4,) float32 face box x1, y1, x2, y2 in image pixels, or None when the dataset has
            none (a box is then derived from the landmarks or a detector).
        landmarks: (68, 2) float32 iBUG-order landmarks in image pixels, or None.
        label: class index in DESIGN §2 order, or -1 for "no emotion label" (landmark-only data).
        source: dataset name ("affectnet", "ckplus", ...), kept for per-source statistics.
        identity: who the face belongs to ("" = unknown), so that splits can keep each person
            on one side (`split_by_identity`).
    """

    image: Path
    box: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    label: int = -1
    source: str = ""
    identity: str = ""

    def __post_init__(self) -> None:
        if self.box is not None:
            box = np.asarray(self.box, dtype=np.float32).reshape(-1)
            if box.shape != (4,) or not np.isfinite(box).all():
                raise ValueError(f"{self.image}: box must be 4 finite numbers, got {self.box!r}")
            if box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"{self.image}: zero-area box {box.tolist()}")
            object.__setattr__(self, "box", box)
        if self.landmarks is not None:
            lm = np.asarray(self.landmarks, dtype=np.float32)
            if lm.shape != (NUM_LANDMARKS, 2) or not np.isfinite(lm).all():
                raise ValueError(
                    f"{self.image}: landmarks must be ({NUM_LANDMARKS}, 2) finite values, "
                    f"got shape {lm.shape}"
                )
            object.__setattr__(self, "landmarks", lm)
        if not isinstance(self.label, (int, np.integer)) or self.label < -1:
            raise ValueError(f"{self.image}: label must be an int >= -1, got {self.label!r}")
        object.__setattr__(self, "label", int(self.label))
        object.__setattr__(self, "image", Path(self.image))


@dataclass
class SampleSet:
    """What a loader returns: the samples plus what it skipped and why.

    Attributes:
        name: dataset name.
        samples: the kept faces.
        num_classes: 7 or 8 (the label space of `samples`).
        dropped: reason → number of skipped rows/files (reported by the CLIs).
    """

    name: str
    samples: list[FaceSample]
    num_classes: int = 7
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the label space."""
        return emotion_names(self.num_classes)

    def __len__(self) -> int:
        return len(self.samples)

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class name ("unlabelled" for label -1)."""
        names = self.classes
        counts = Counter(s.label for s in self.samples)
        out = {names[c]: counts.get(c, 0) for c in range(self.num_classes)}
        if counts.get(-1):
            out["unlabelled"] = counts[-1]
        return out

    def summary(self) -> str:
        """One line: size, class counts and drop reasons."""
        counts = ", ".join(f"{k} {v}" for k, v in self.class_counts().items() if v)
        text = f"{self.name}: {len(self)} faces ({counts or 'none'})"
        if self.dropped:
            text += "; dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()))
        return text


def read_image(path: Path | str, gray: bool = False) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3) or gray uint8 (H, W).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode it (corrupt or unsupported file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: non-ASCII paths work
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None or image.size == 0:
        raise ValueError(f"cannot decode image {path} (corrupt or unsupported format)")
    return image


def parse_landmark_values(text: str, where: str, sep: str = ";") -> np.ndarray:
    """Parse "x1;y1;x2;y2;..." (136 numbers) into a (68, 2) float32 array.

    Raises:
        ValueError: wrong count or non-numeric values, with `where` (file:line) in the message.
    """
    parts = [p for p in text.replace(",", sep).split(sep) if p.strip()]
    if len(parts) != 2 * NUM_LANDMARKS:
        raise ValueError(
            f"{where}: expected {2 * NUM_LANDMARKS} landmark values, got {len(parts)}"
        )
    try:
        values = np.asarray([float(p) for p in parts], dtype=np.float32)
    except ValueError as exc:
        raise ValueError(f"{where}: non-numeric landmark value ({exc})") from None
    return values.reshape(NUM_LANDMARKS, 2)


def list_images(root: Path) -> list[Path]:
    """Image files under `root` (recursive, sorted, hidden files skipped)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def require_dir(root: Path | str, what: str) -> Path:
    """`root` as a Path, raising FileNotFoundError naming the dataset when it is not a folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{what} root folder not found: {root}")
    return root
