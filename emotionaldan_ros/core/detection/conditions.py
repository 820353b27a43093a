"""Hard viewing conditions made from photos with known face boxes, to test face detectors.

A cabin camera sees passengers close up, often in infrared (one channel, low contrast), lit from
the side, and sometimes far away on a low-resolution sensor. `make_condition` turns real photos
with hand-checked boxes into such images, deterministically, and moves the boxes with them:

- `photo`: the photo as it is.
- `gray`: BGR → gray, replicated to 3 channels (a mono camera's frame as bgr8).
- `ir`: gray, contrast squeezed into [40, 150], gamma 1.4, blurred (σ 1), sensor noise (σ 4).
- `sidelight`: brightness ramps from × 0.2 (left) to × 1.6 (right) across the faces.
- `closeup`: one square crop per face, the face filling 35 %, 65 % and 95 % of its side,
  resized to 224 px (small sources are upscaled, as a 224 px crop of a small face is).
- `closeup_ir`: the close-ups, rendered IR-like as in `ir`.
- `small48`, `small64`, `small96`: the photo shrunk (INTER_AREA) until its median face is 48,
  64 or 96 px (photos whose faces are already that small are left out).

Faces cut by a crop border: a face that keeps at least 75 % of its box area and 24 px of side in
the crop stays a face to find; a smaller part becomes an *ignore* region (a detection on it is
neither a hit nor a false alarm), as WIDER FACE treats faces too small or too hidden to label.
Photos without faces yield negative crops (the centre of the photo) in the close-up conditions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CLOSEUP_FILLS",
    "CLOSEUP_SIZE",
    "CONDITIONS",
    "Sample",
    "ir_like",
    "load_photos",
    "make_condition",
    "make_conditions",
    "side_light",
    "to_gray",
]

CONDITIONS = (
    "photo",
    "gray",
    "ir",
    "sidelight",
    "closeup",
    "closeup_ir",
    "small48",
    "small64",
    "small96",
)
CLOSEUP_FILLS = (0.35, 0.65, 0.95)
CLOSEUP_SIZE = 224
MIN_VISIBLE = 0.75  # fraction of a face's box area inside a crop for it to stay a face to find
MIN_SIDE = 24  # px: smaller faces become ignore regions


@dataclass(frozen=True)
class Sample:
    """One test image with its faces.

    Attributes:
        name: `<photo>` or `<photo>#<crop>`, unique within a condition.
        condition: one of `CONDITIONS`.
        image: (H, W, 3) BGR uint8.
        boxes: (N, 4) float64 face boxes x1, y1, x2, y2 to find.
        ignore: (M, 4) float64 regions where a detection counts neither way.
    """

    name: str
    condition: str
    image: np.ndarray
    boxes: np.ndarray
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))


def to_gray(image: np.ndarray) -> np.ndarray:
    """BGR → gray replicated to 3 channels (what a mono8 frame looks like after decoding)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def ir_like(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """A synthetic near-infrared rendition: one channel, low contrast, soft, noisy.

    Active-IR cabin cameras give flat, washed-out gray images: skin looks pale and even, the
    dynamic range is small and the sensor is noisy. Gray, contrast squeezed into [40, 150],
    gamma 1.4 (darker mid-tones), Gaussian blur σ 1 and Gaussian noise σ 4, fixed `seed`.
    """
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    squeezed = 40.0 + 110.0 * gray**1.4
    soft = cv2.GaussianBlur(squeezed, (0, 0), 1.0)
    noisy = soft + np.random.default_rng(seed).normal(0.0, 4.0, soft.shape)
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def side_light(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Strong light from the right: brightness × 0.2 at the left to × 1.6 at the right.

    The ramp spans the faces (their union box, widened by half its width), so that every face
    has one dark and one bright half, as a low sun through a side window gives.
    """
    w = image.shape[1]
    if len(boxes):
        x1, x2 = float(boxes[:, 0].min()), float(boxes[:, 2].max())
        pad = (x2 - x1) / 2
        x1, x2 = x1 - pad, x2 + pad
    else:
        x1, x2 = 0.0, float(w)
    ramp = np.clip((np.arange(w, dtype=np.float32) - x1) / max(x2 - x1, 1.0), 0, 1)
    gain = 0.2 + 1.4 * ramp
    out = image.astype(np.float32) * gain[None, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _crop(
    image: np.ndarray, boxes: np.ndarray, x: float, y: float, side: float, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square crop (x, y: top-left, side) resized to size; faces split into kept / ignored."""
    scale = size / side
    warp = np.array([[scale, 0, -x * scale], [0, scale, -y * scale]], np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    # Outside the photo (only when the crop is larger than it): mid gray, no fake texture.
    crop = cv2.warpAffine(image, warp, (size, size), flags=interp, borderValue=(114, 114, 114))
    moved = (boxes.reshape(-1, 2, 2) - [x, y]).reshape(-1, 4) * scale
    clipped = moved.clip(0, size)
    area = (moved[:, 2:] - moved[:, :2]).prod(axis=1)
    visible = (clipped[:, 2:] - clipped[:, :2]).clip(0).prod(axis=1)
    side_px = (clipped[:, 2:] - clipped[:, :2]).min(axis=1)
    keep = (visible >= MIN_VISIBLE * area) & (side_px >= MIN_SIDE)
    partly = ~keep & (visible > 0)
    return crop, clipped[keep], clipped[partly]


def _closeups(name: str, image: np.ndarray, boxes: np.ndarray) -> Iterable[Sample]:
    h, w = image.shape[:2]
    if not len(boxes):  # negatives: the centre of the photo, two sizes
        for k, frac in enumerate((1.0, 0.5)):
            side = min(h, w) * frac
            crop, _, _ = _crop(image, boxes, (w - side) / 2, (h - side) / 2, side, CLOSEUP_SIZE)
            yield Sample(f"{name}#centre{k}", "closeup", crop, np.zeros((0, 4)))
        return
    for i, box in enumerate(boxes):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        face = max(box[2] - box[0], box[3] - box[1])
        for fill in CLOSEUP_FILLS:
            side = face / fill
            # Keep the crop inside the photo where it fits (shifting the face off-centre), so
            # that its border is real image, not padding.
            x = min(max(cx - side / 2, 0.0), max(w - side, 0.0)) if side <= w else cx - side / 2
            y = min(max(cy - side / 2, 0.0), max(h - side, 0.0)) if side <= h else cy - side / 2
            crop, keep, ignore = _crop(image, boxes, x, y, side, CLOSEUP_SIZE)
            yield Sample(f"{name}#face{i}@{round(fill * 100)}", "closeup", crop, keep, ignore)


def _shrunk(name: str, image: np.ndarray, boxes: np.ndarray, face_px: int) -> Sample | None:
    if not len(boxes):
        factor = face_px / 96.0  # negatives shrink like a photo with ~96 px faces
    else:
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        factor = face_px / float(np.median(sides))
    if factor >= 1.0:
        return None
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    fx, fy = size[0] / w, size[1] / h
    scaled = boxes * [fx, fy, fx, fy]
    side = (scaled[:, 2:] - scaled[:, :2]).min(axis=1) if len(boxes) else np.zeros(0)
    # Faces far smaller than the median become too small to ask for: ignored, not missed.
    tiny = side < MIN_SIDE * 0.75
    return Sample(name, f"small{face_px}", small, scaled[~tiny], scaled[tiny])


def make_condition(
    condition: str, images: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]
) -> list[Sample]:
    """All samples of one condition, in the order of `truth`.

    Args:
        condition: one of `CONDITIONS`.
        images: photo name → BGR uint8 image.
        truth: photo name → (N, 4) face boxes (empty for a photo without faces).

    Raises:
        ValueError: unknown condition.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    out: list[Sample] = []
    for seed, (name, boxes) in enumerate(truth.items()):
        image = images[name]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if condition == "photo":
            out.append(Sample(name, condition, image, boxes))
        elif condition == "gray":
            out.append(Sample(name, condition, to_gray(image), boxes))
        elif condition == "ir":
            out.append(Sample(name, condition, ir_like(image, seed), boxes))
        elif condition == "sidelight":
            out.append(Sample(name, condition, side_light(image, boxes), boxes))
        elif condition.startswith("closeup"):
            for k, s in enumerate(_closeups(name, image, boxes)):
                crop = ir_like(s.image, seed * 100 + k) if condition == "closeup_ir" else s.image
                out.append(Sample(s.name, condition, crop, s.boxes, s.ignore))
        else:
            shrunk = _shrunk(name, image, boxes, int(condition.removeprefix("small")))
            if shrunk is not None:
                out.append(shrunk)
    return out


def make_conditions(
    images: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    conditions: Iterable[str] = CONDITIONS,
) -> dict[str, list[Sample]]:
    """`make_condition` for each condition: condition → its samples."""
    return {c: make_condition(c, images, truth) for c in conditions}


def load_photos(folder: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The photos named in `folder/boxes.json` (BGR) and their boxes, in the file's order.

    Raises:
        FileNotFoundError: a photo is missing or unreadable.
        ValueError: malformed boxes.json (see `evaluate.load_boxes`).
    """
    from emotionaldan_ros.core.detection.evaluate import load_boxes

    folder = Path(folder)
    truth = load_boxes(folder / "boxes.json")
    images = {}
    for name in truth:
        image = cv2.imread(str(folder / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read photo {folder / name}")
        images[name] = image
    return images, truth
