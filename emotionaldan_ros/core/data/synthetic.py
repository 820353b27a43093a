"""A small generated face dataset for tests and the CI smoke run. SYNTHETIC, not real data.

Each image is a cartoon face drawn with OpenCV from a 68-point shape: the shipped mean shape
(measured on real annotated faces, `core.mean_shape`) deformed per class the way the expression
changes the face (mouth corners up for happy, down for sad; open round mouth and raised brows for
surprise; open wide mouth, raised brows and wide eyes for fear; raised upper lip and lowered brows
for disgust; lowered inner brows and pressed lips for anger), plus random identity variation,
expression intensity, pose (similarity transform), lighting and noise. The landmarks are exact, so
the training pipeline (landmarks + emotions) can learn it, which is what the smoke run checks.

It is written to disk in the documented CSV format (`core.data.folder`, with boxes and
landmarks) so that it goes through exactly the same loading, cropping and evaluation code as real
data::

    ROOT/images/00000.png ...
    ROOT/labels.csv          path,label,x1,y1,x2,y2,landmarks
    ROOT/synthetic.json      generation parameters (regenerated when they change)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data.dataset import box_from_landmarks
from emotionaldan_ros.core.data.folder import load_csv, write_csv
from emotionaldan_ros.core.data.sample import FaceSample, SampleSet
from emotionaldan_ros.core.mean_shape import load_default_mean_shape

GENERATOR_VERSION = 1

BROW_R, BROW_L = np.arange(17, 22), np.arange(22, 27)
EYE_R_TOP, EYE_L_TOP = np.array([37, 38]), np.array([43, 44])
EYE_R_BOT, EYE_L_BOT = np.array([40, 41]), np.array([46, 47])
MOUTH_CORNERS = np.array([48, 54, 60, 64])
UPPER_LIP = np.array([49, 50, 51, 52, 53, 61, 62, 63])
LOWER_LIP = np.array([55, 56, 57, 58, 59, 65, 66, 67])
INNER_UPPER, INNER_LOWER = np.array([61, 62, 63]), np.array([65, 66, 67])


def _expression(shape: np.ndarray, label: int, k: float) -> np.ndarray:
    """Deform a (68, 2) upright face (y down, units = interocular distance) for one class."""
    s = shape.copy()
    centre_x = s[27:31, 0].mean()

    def brows(inner: float, outer: float) -> None:
        for idx in (BROW_R, BROW_L):
            w = np.abs(s[idx, 0] - centre_x)
            w = (w - w.min()) / (w.max() - w.min() + 1e-9)  # 0 inner … 1 outer
            s[idx, 1] += k * (inner * (1 - w) + outer * w)

    def eyes(open_by: float) -> None:
        s[np.r_[EYE_R_TOP, EYE_L_TOP], 1] -= k * open_by
        s[np.r_[EYE_R_BOT, EYE_L_BOT], 1] += k * open_by * 0.3

    def mouth(corner_dy: float, open_by: float, widen: float, upper_dy: float = 0.0) -> None:
        mx = s[48:68, 0].mean()
        s[48:68, 0] = mx + (s[48:68, 0] - mx) * (1 + k * widen)
        s[MOUTH_CORNERS, 1] += k * corner_dy
        s[LOWER_LIP, 1] += k * open_by
        s[UPPER_LIP, 1] += k * upper_dy
        if open_by <= 0:  # closed mouth: inner lips meet
            mid = (s[INNER_UPPER, 1] + s[INNER_LOWER[::-1], 1]) / 2
            s[INNER_UPPER, 1] = mid
            s[INNER_LOWER[::-1], 1] = mid

    if label == L.NEUTRAL:
        mouth(0.0, 0.0, 0.0)
    elif label == L.HAPPY:
        mouth(-0.22, 0.05, 0.25)
        s[[49, 53], 1] -= k * 0.08
    elif label == L.SAD:
        mouth(0.2, 0.0, -0.05)
        brows(-0.15, 0.1)
    elif label == L.SURPRISE:
        s[48:68, 0] = s[48:68, 0].mean() + (s[48:68, 0] - s[48:68, 0].mean()) * (1 - 0.3 * k)
        mouth(0.05, 0.45, 0.0)
        brows(-0.3, -0.3)
        eyes(0.1)
    elif label == L.FEAR:
        mouth(0.12, 0.22, 0.3)
        brows(-0.3, -0.05)
        eyes(0.12)
    elif label == L.DISGUST:
        mouth(0.1, 0.0, -0.1, upper_dy=-0.12)
        brows(0.15, 0.0)
        s[31:36, 1] -= k * 0.05
    elif label == L.ANGER:
        mouth(0.03, 0.0, -0.2)
        brows(0.3, -0.1)
        eyes(-0.06)
    elif label == L.CONTEMPT:
        s[[48, 60], 1] -= k * 0.18  # one-sided smirk
        mouth(0.0, 0.0, 0.0)
    return s


def _draw(shape: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Render a (68, 2) image-pixel shape into a (size, size, 3) BGR uint8 cartoon face."""
    bg = rng.uniform(30, 120)
    img = np.full((size, size), bg, np.float32)
    img += rng.normal(0, 8, (size, size)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 0)
    skin = int(rng.uniform(150, 215))
    iod = np.linalg.norm(shape[45] - shape[36])
    jaw = shape[0:17]
    # Skull: the upper half of an ellipse standing on the jaw's top corners, up past the brows.
    across = jaw[16] - jaw[0]
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    head_c = (jaw[0] + jaw[16]) / 2
    up = np.array([across[1], -across[0]]) / np.linalg.norm(across)  # towards the forehead
    height = float(np.max((shape[17:27] - head_c) @ up) + 0.5 * iod)
    S = 16.0  # fixed-point drawing for sub-pixel accuracy
    pts = lambda a: np.round(np.asarray(a) * S).astype(np.int32)  # noqa: E731
    kw = {"lineType": cv2.LINE_AA, "shift": 4}
    cv2.fillPoly(img, [pts(jaw)], skin, **kw)
    axes = (round(np.linalg.norm(across) / 2 * S), round(height * S))
    cv2.ellipse(img, tuple(pts(head_c)), axes, angle, 180, 360, skin, -1, cv2.LINE_AA, 4)
    dark = int(rng.uniform(20, 60))
    for idx in (np.arange(17, 22), np.arange(22, 27)):
        cv2.polylines(img, [pts(shape[idx])], False, dark, max(1, round(iod * 0.07)), **kw)
    for sl in (slice(36, 42), slice(42, 48)):
        eye = shape[sl]
        cv2.fillPoly(img, [pts(eye)], 235, **kw)
        r = max(1.0, 0.35 * float(eye[:, 1].max() - eye[:, 1].min()) + 0.04 * iod)
        cv2.circle(img, tuple(pts(eye.mean(0))), int(r * S), dark, -1, cv2.LINE_AA, 4)
        cv2.polylines(img, [pts(eye)], True, dark, 1, **kw)
    cv2.polylines(img, [pts(shape[27:31])], False, skin - 50, 1, **kw)
    cv2.polylines(img, [pts(shape[31:36])], False, skin - 60, 1, **kw)
    cv2.fillPoly(img, [pts(shape[48:60])], int(skin * 0.55), **kw)
    inner = shape[60:68]
    if np.ptp(inner[:, 1]) > 0.05 * iod:
        cv2.fillPoly(img, [pts(inner)], 15, **kw)
    cv2.polylines(img, [pts(jaw)], False, skin - 40, 1, **kw)
    # lighting gradient + noise, then 3 channels
    gx = np.linspace(-1, 1, size, dtype=np.float32)[None, :] * rng.uniform(-25, 25)
    out = img.astype(np.float32) * rng.uniform(0.8, 1.15) + gx
    out += rng.normal(0, rng.uniform(1, 6), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def make_face(
    label: int, rng: np.random.Generator, size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic face: (size, size, 3) BGR uint8 image and (68, 2) landmarks (image pixels)."""
    s0 = load_default_mean_shape().astype(np.float64)
    iod = np.linalg.norm(s0[45] - s0[36])
    base = (s0 - s0.mean(0)) / iod
    base = base * np.array([rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1)])  # identity: face width
    base = base + rng.normal(0, 0.015, base.shape)  # identity: small per-point variation
    face = _expression(base, label, rng.uniform(0.6, 1.2))
    ang = np.radians(rng.uniform(-12, 12))
    scale = size * rng.uniform(0.26, 0.34)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    centre = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    pts = face @ rot.T * scale + centre
    return _draw(pts, size, rng), pts.astype(np.float32)


def make_synthetic(
    root: Path | str,
    n_per_class: int = 40,
    seed: int = 0,
    num_classes: int = 7,
    size: int = 128,
    box_jitter: float = 0.05,
) -> SampleSet:
    """Generate the dataset under `root` (replacing an earlier one) and return it.

    Args:
        root: output folder.
        n_per_class: faces per class.
        seed: random seed (the same seed gives the same images).
        num_classes: 7, or 8 with contempt.
        size: image side in pixels.
        box_jitter: detector-like noise on the face boxes, fraction of the box side.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    root = Path(root)
    if (root / "images").is_dir():
        shutil.rmtree(root / "images")
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    s0 = load_default_mean_shape()
    samples = []
    labels = np.repeat(np.arange(num_classes), n_per_class)
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        image, pts = make_face(int(label), rng, size)
        path = root / "images" / f"{i:05d}.png"
        cv2.imwrite(str(path), image)
        box = box_from_landmarks(pts, s0)
        side = box[2] - box[0]
        box = box + rng.normal(0, box_jitter * side, 4).astype(np.float32)
        samples.append(FaceSample(path, box, pts, int(label), "synthetic"))
    write_csv(root / "labels.csv", samples)
    params = _params(n_per_class, seed, num_classes, size, box_jitter)
    (root / "synthetic.json").write_text(json.dumps(params, indent=1) + "\n")
    (root / "README.txt").write_text(
        "SYNTHETIC cartoon faces generated by emotionaldan_ros.core.data.synthetic "
        "(not real data; for tests and smoke runs only).\n"
    )
    # Read back what was written, so a fresh and a cached set are identical (CSV rounding).
    ds = load_csv(root / "labels.csv", num_classes=num_classes, name="synthetic")
    return SampleSet("synthetic", ds.samples, num_classes, ds.dropped)


def _params(n_per_class: int, seed: int, num_classes: int, size: int, jitter: float) -> dict:
    return {
        "version": GENERATOR_VERSION,
        "n_per_class": n_per_class,
        "seed": seed,
        "num_classes": num_classes,
        "size": size,
        "box_jitter": jitter,
    }


def load_synthetic(
    root: Path | str,
    n_per_class: int = 40,
    seed: int = 0,
    num_classes: int = 7,
    size: int = 128,
    box_jitter: float = 0.05,
) -> SampleSet:
    """Load the synthetic set at `root`, generating it first if absent or made differently."""
    root = Path(root)
    params = _params(n_per_class, seed, num_classes, size, box_jitter)
    meta = root / "synthetic.json"
    if not (meta.is_file() and json.loads(meta.read_text()) == params):
        return make_synthetic(root, n_per_class, seed, num_classes, size, box_jitter)
    ds = load_csv(root / "labels.csv", num_classes=num_classes, name="synthetic")
    return SampleSet("synthetic", ds.samples, num_classes, ds.dropped)
