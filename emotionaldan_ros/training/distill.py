"""Distil the converted face-api nets (teachers) into a small EmotionalDAN (student).

Pipeline:

1. `build_targets`: every photo of a manifest goes through a face detector (`faceapi_ssd`); each
   detected face gets the teacher's 68 landmarks (image px) and 7 probabilities (DESIGN order),
   plus the boxes that the other detectors (`faceapi_tiny`, `haar`) give for the same face, so the
   student sees every box style it may meet at run time. Saved to one `.npz` (`save_targets`).
2. `DistillBatcher`: heavy augmentation around those faces: a random box source, a random
   similarity (rotation / scale / shift) and flip composed into the one image → crop matrix of
   `core.alignment` (the landmarks follow through the same matrix and `FLIP_PERM_68`), random
   gray conversion weights, photometric jitter, blur, down-sampling, noise, IR-like contrast and
   cut-out occlusions.
3. `distill_loss`: landmark NME (inter-ocular, L2 per point) to the teacher's landmarks in the
   crop frame, on every DAN stage, + T² · KL(teacher ‖ student) at temperature T.
4. `evaluate`: on faces of photos never trained on, the student runs through `DANRecognizer` (the
   same code path as the nodes) and is compared with the teacher: top-1 agreement, NME against the
   teacher's landmarks, and NME against ground-truth annotations where a photo has them.

Photos are split into train / val / test *by photo* in the manifest (`config/distill.yaml`), so no
crop of a test face is ever trained on; val photos only choose the checkpoint to keep.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.data.augment import (
    FLIP_PERM_68,
    augment_options,
    compose,
    flip_matrix,
    similarity_about,
)
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.core.metrics import nme as nme_np

SPLITS = ("train", "val", "test")
BOX_SOURCES = ("faceapi_ssd", "faceapi_tiny", "haar")  # column order of `alt_boxes`
MATCH_IOU = 0.3  # a box from another detector belongs to a face above this IoU


# --------------------------------------------------------------------------------------------
# Manifest and teacher targets


@dataclass(frozen=True)
class Photo:
    """One photo of the manifest.

    Attributes:
        path: image file.
        split: "train", "val" or "test".
        origin: where it comes from (package, version, path inside it).
        licence: its licence as stated by that package.
        gt: optional ground-truth 68-point annotation (.pts, iBUG format, one face).
    """

    path: Path
    split: str
    origin: str = ""
    licence: str = ""
    gt: Path | None = None


def read_manifest(cfg: dict[str, Any], root: Path | None = None) -> list[Photo]:
    """Photos from a config's `photos` list (`path`, `split`, `origin`, `licence`, `gt`).

    Relative paths are taken under `root` (default: the config's `data_root`).

    Raises:
        ValueError: a missing key, an unknown split, or a photo listed twice.
    """
    root = Path(root if root is not None else cfg.get("data_root", "."))
    photos: list[Photo] = []
    seen: set[Path] = set()
    for i, item in enumerate(cfg.get("photos") or []):
        if "path" not in item or "split" not in item:
            raise ValueError(f"photos[{i}] needs 'path' and 'split', got {sorted(item)}")
        if item["split"] not in SPLITS:
            raise ValueError(f"photos[{i}]: split must be one of {SPLITS}, got {item['split']!r}")
        path = root / item["path"]
        if path in seen:
            raise ValueError(f"photo {path} listed twice")
        seen.add(path)
        gt = root / item["gt"] if item.get("gt") else None
        photos.append(
            Photo(path, item["split"], item.get("origin", ""), item.get("licence", ""), gt)
        )
    if not photos:
        raise ValueError("the manifest lists no photos")
    return photos


def read_image(path: Path) -> np.ndarray:
    """BGR uint8 image (alpha dropped, gray expanded).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot decode image {path}")
    return image


def read_pts(path: Path) -> np.ndarray:
    """(68, 2) float32 points of an iBUG .pts file, converted to 0-based pixel centres.

    iBUG annotations are 1-based (the top-left pixel centre is (1, 1)); `core.alignment` puts it at
    (0, 0), so 1 is subtracted.

    Raises:
        ValueError: not a 68-point file.
    """
    lines = Path(path).read_text().splitlines()
    try:
        start = lines.index("{") + 1
        end = lines.index("}", start)
    except ValueError as err:
        raise ValueError(f"{path}: no '{{ ... }}' point block") from err
    pts = np.array([[float(v) for v in ln.split()[:2]] for ln in lines[start:end] if ln.strip()])
    if pts.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 points, got {pts.shape[0]}")
    return (pts - 1.0).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of x1, y1, x2, y2 boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def shape_box(points: np.ndarray) -> np.ndarray:
    """(N, 4) bounding boxes of (N, 68, 2) landmarks."""
    points = np.asarray(points, np.float64)
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1).astype(np.float32)


def _match(primary: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(N, 4) best-IoU box of `other` for each primary box, NaN where none passes MATCH_IOU."""
    out = np.full((primary.shape[0], 4), np.nan, np.float32)
    if primary.shape[0] == 0 or other.shape[0] == 0:
        return out
    iou = box_iou(primary, other)
    best = iou.argmax(axis=1)
    ok = iou[np.arange(primary.shape[0]), best] > MATCH_IOU
    out[ok] = other[best[ok]]
    return out


def build_targets(
    photos: list[Photo],
    recognizer: Any,
    detectors: dict[str, Any],
    min_face: float = 24.0,
) -> dict[str, np.ndarray]:
    """Teacher outputs for every face that the first detector finds on every photo.

    Args:
        photos: the manifest.
        recognizer: the teacher (`create_recognizer("faceapi")`).
        detectors: name → detector, the first one defining the faces (faceapi_ssd); boxes of the
            others are matched to them by IoU (`alt_boxes`, NaN where a detector missed).
        min_face: faces with a smaller box side (pixels) are dropped (the teacher is poor there).

    Returns:
        Arrays: `paths` (P,), `split` (P,), `face_photo` (F,), `boxes` (F, 4), `alt_boxes`
        (F, D, 4), `landmarks` (F, 68, 2), `probs` (F, 7), `probs_sym` (F, 7: mean of the
        photo and its mirror image, the training target), `gt` (F, 68, 2; NaN when the photo has
        no annotation or the annotation is another face), `box_sources` (D,).
    """
    names = list(detectors)
    face_photo, boxes, alt, lms, probs, probs_sym, gts = [], [], [], [], [], [], []
    for p_idx, photo in enumerate(photos):
        image = read_image(photo.path)
        found = {n: detectors[n].detect(image).boxes for n in names}
        primary = found[names[0]]
        side = np.max(primary[:, 2:] - primary[:, :2], axis=1) if len(primary) else np.zeros(0)
        primary = primary[side >= min_face]
        if primary.shape[0] == 0:
            continue
        pred = recognizer.predict(image, primary)
        w = image.shape[1]
        mirrored = primary.copy()
        mirrored[:, [0, 2]] = w - primary[:, [2, 0]]
        pred_m = recognizer.predict(np.ascontiguousarray(image[:, ::-1]), mirrored)
        gt = np.full((primary.shape[0], 68, 2), np.nan, np.float32)
        if photo.gt is not None:
            pts = read_pts(photo.gt)
            iou = box_iou(shape_box(pts[None]), shape_box(pred.landmarks))[0]
            if iou.max() > 0.4:
                gt[int(iou.argmax())] = pts
        face_photo.append(np.full(primary.shape[0], p_idx))
        boxes.append(primary)
        alt.append(np.stack([_match(primary, found[n]) for n in names], axis=1))
        lms.append(pred.landmarks)
        probs.append(pred.probs)
        probs_sym.append((pred.probs + pred_m.probs) / 2.0)
        gts.append(gt)
    if not boxes:
        raise ValueError("the detector found no face on any photo")
    return {
        "paths": np.array([str(p.path) for p in photos]),
        "split": np.array([p.split for p in photos]),
        "face_photo": np.concatenate(face_photo).astype(np.int64),
        "boxes": np.concatenate(boxes).astype(np.float32),
        "alt_boxes": np.concatenate(alt).astype(np.float32),
        "landmarks": np.concatenate(lms).astype(np.float32),
        "probs": np.concatenate(probs).astype(np.float32),
        "probs_sym": np.concatenate(probs_sym).astype(np.float32),
        "gt": np.concatenate(gts).astype(np.float32),
        "box_sources": np.array(names),
    }


TARGET_KEYS = (
    "paths",
    "split",
    "face_photo",
    "boxes",
    "alt_boxes",
    "landmarks",
    "probs",
    "probs_sym",
    "gt",
    "box_sources",
)


def save_targets(path: Path, targets: dict[str, np.ndarray]) -> Path:
    """Write the teacher targets to an .npz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **targets)
    return path


def load_targets(path: Path) -> dict[str, np.ndarray]:
    """Read teacher targets written by `save_targets`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a key is missing.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        missing = [k for k in TARGET_KEYS if k not in data]
        if missing:
            raise ValueError(f"{path}: not a teacher-target file, missing {missing}")
        return {k: data[k] for k in TARGET_KEYS}


def faces_of(targets: dict[str, np.ndarray], split: str) -> np.ndarray:
    """Indices of the faces whose photo is in `split`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return np.flatnonzero(targets["split"][targets["face_photo"]] == split)


# --------------------------------------------------------------------------------------------
# Augmentation


@dataclass(frozen=True)
class DistillAugment:
    """Augmentation strengths for distillation (0 disables each one).

    Attributes:
        rotate_deg: maximum absolute in-plane rotation, degrees.
        scale: maximum relative scale change.
        translate: maximum shift, fraction of the crop side per axis.
        flip_prob: probability of a horizontal mirror.
        gray_mix_prob: probability of random BGR → gray weights (other sensors / IR-like).
        contrast: maximum relative contrast change.
        brightness: maximum additive change, fraction of 255.
        gamma: maximum |log gamma|.
        blur_prob: probability of a Gaussian blur (sigma up to `blur_sigma` px).
        blur_sigma: maximum blur sigma, crop pixels.
        lowres_prob: probability of down-sampling the crop by 2–4x and back (small faces).
        noise_std: maximum Gaussian noise std, gray levels.
        ir_prob: probability of an IR-like look: histogram equalisation and a vignette.
        cutout_prob: probability of one occluding rectangle (hand, cup, hair).
    """

    rotate_deg: float = 20.0
    scale: float = 0.15
    translate: float = 0.07
    flip_prob: float = 0.5
    gray_mix_prob: float = 0.3
    contrast: float = 0.5
    brightness: float = 0.2
    gamma: float = 0.6
    blur_prob: float = 0.3
    blur_sigma: float = 2.0
    lowres_prob: float = 0.2
    noise_std: float = 8.0
    ir_prob: float = 0.15
    cutout_prob: float = 0.2

    @classmethod
    def from_dict(cls, values: dict | None) -> DistillAugment:
        """Build from a mapping; unknown keys or negative strengths raise ValueError."""
        return augment_options(cls, values)

    @classmethod
    def none(cls) -> DistillAugment:
        """No augmentation at all (evaluation, tests)."""
        return cls(**{k: 0.0 for k in asdict(cls())})


def photometric_heavy(
    crop: np.ndarray, aug: DistillAugment, rng: np.random.Generator
) -> np.ndarray:
    """Contrast / brightness / gamma / blur / low-res / IR-like / cut-out / noise on one crop."""
    x = np.asarray(crop, np.float32)
    size = x.shape[0]
    if aug.contrast:
        m = x.mean()
        x = (x - m) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + m
    if aug.brightness:
        x = x + rng.uniform(-aug.brightness, aug.brightness) * 255.0
    x = np.clip(x, 0.0, 255.0)
    if aug.gamma:
        x = 255.0 * (x / 255.0) ** math.exp(rng.uniform(-aug.gamma, aug.gamma))
    if rng.random() < aug.ir_prob:
        x = cv2.equalizeHist(x.astype(np.uint8)).astype(np.float32)
        yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
        x = x * (1.0 - rng.uniform(0.3, 0.8) * (xx**2 + yy**2) * 2.0)
    if rng.random() < aug.blur_prob:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, max(aug.blur_sigma, 0.5)))
    if rng.random() < aug.lowres_prob:
        small = max(8, int(size / rng.uniform(2.0, 4.0)))
        x = cv2.resize(cv2.resize(x, (small, small), interpolation=cv2.INTER_AREA), (size, size))
    if rng.random() < aug.cutout_prob:
        h, w = (rng.uniform(0.15, 0.35, size=2) * size).astype(int)
        y0, x0 = rng.integers(0, size - h), rng.integers(0, size - w)
        x = x.copy()
        x[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255)
    if aug.noise_std:
        x = x + rng.normal(0.0, rng.uniform(0.0, aug.noise_std), size=x.shape)
    return np.clip(x, 0.0, 255.0).astype(np.float32)


class DistillBatcher:
    """Random augmented batches (crops, teacher landmarks in the crop frame, teacher probs).

    Args:
        targets: teacher targets (`build_targets`).
        faces: indices of the faces to draw from (one split).
        aug: augmentation strengths.
        margin: crop margin (`core.alignment`), the same at training and run time.
        shift: crop shift.
        size: crop side.
        seed: random seed.
    """

    def __init__(
        self,
        targets: dict[str, np.ndarray],
        faces: np.ndarray,
        aug: DistillAugment,
        margin: float = alignment.DEFAULT_MARGIN,
        shift: float = alignment.DEFAULT_SHIFT,
        size: int = alignment.MEAN_SHAPE_FRAME,
        seed: int = 0,
    ) -> None:
        if len(faces) == 0:
            raise ValueError("no faces to train on")
        self.t = targets
        self.faces = np.asarray(faces)
        self.aug = aug
        self.margin, self.shift, self.size = margin, shift, size
        self.rng = np.random.default_rng(seed)
        photos = np.unique(targets["face_photo"][self.faces])
        self.images = {int(p): read_image(Path(str(targets["paths"][p]))) for p in photos}
        self.gray = {p: alignment.to_gray(im) for p, im in self.images.items()}

    def _gray(self, photo: int) -> np.ndarray:
        if self.rng.random() >= self.aug.gray_mix_prob:
            return self.gray[photo]
        w = self.rng.dirichlet(np.ones(3)).astype(np.float32)
        return self.images[photo].astype(np.float32) @ w

    def _box(self, face: int) -> np.ndarray:
        cands = self.t["alt_boxes"][face]
        cands = cands[np.isfinite(cands).all(axis=1)]
        return cands[self.rng.integers(len(cands))] if len(cands) else self.t["boxes"][face]

    def sample(self, face: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One augmented (size, size) crop in [0, 255], (68, 2) crop landmarks, (7,) probs."""
        photo = int(self.t["face_photo"][face])
        box = self._box(face) if self.aug != DistillAugment.none() else self.t["boxes"][face]
        mat = alignment.crop_transforms(box[None], self.size, self.margin, self.shift)[0]
        a, c = self.aug, ((self.size - 1) / 2.0,) * 2
        angle = math.radians(self.rng.uniform(-a.rotate_deg, a.rotate_deg))
        scale = self.rng.uniform(1.0 - a.scale, 1.0 + a.scale)
        move = tuple(self.rng.uniform(-a.translate, a.translate, size=2) * self.size)
        mat = compose(similarity_about(c, angle, scale, move), mat)
        flipped = bool(self.rng.random() < a.flip_prob)
        if flipped:
            mat = compose(flip_matrix(self.size), mat)
        mat = mat.astype(np.float32)[None]
        crop = alignment.crop_faces(self._gray(photo), mat, self.size)[0]
        lm = alignment.to_crop(self.t["landmarks"][face][None], mat)[0]
        if flipped:
            lm = lm[FLIP_PERM_68]
        return photometric_heavy(crop, self.aug, self.rng), lm, self.t["probs_sym"][face]

    def batch(self, batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
        """(B, 1, size, size) normalised crops, (B, 68, 2) landmarks, (B, 7) teacher probs."""
        picks = self.rng.choice(self.faces, size=batch_size, replace=len(self.faces) < batch_size)
        crops, lms, probs = zip(*(self.sample(int(f)) for f in picks), strict=True)
        x = alignment.normalize_crops(np.stack(crops))[:, None]
        return (
            torch.from_numpy(x),
            torch.from_numpy(np.stack(lms)),
            torch.from_numpy(np.stack(probs)),
        )


# --------------------------------------------------------------------------------------------
# Loss


def distill_loss(
    landmarks: list[Tensor],
    logits: Tensor,
    teacher_landmarks: Tensor,
    teacher_probs: Tensor,
    temperature: float = 2.0,
    kl_weight: float = 1.0,
    stage_weights: tuple[float, ...] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Landmark NME to the teacher (every stage) + T² · KL(teacher ‖ student) at temperature T.

    The teacher gives probabilities, not logits; its tempered distribution is p^(1/T),
    renormalised (the same as softmax(logits / T)).

    Args:
        landmarks: the student's per-stage (B, 68, 2) crop landmarks.
        logits: (B, C) student logits.
        teacher_landmarks: (B, 68, 2) in the same frame.
        teacher_probs: (B, C) teacher probabilities.
        temperature: T > 0.
        kl_weight: weight of the KL term.
        stage_weights: weight per stage (default: 1 for the last, 0.5 for earlier ones).

    Returns:
        The total loss and its parts as floats ("landmarks", "kl").
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits.shape != teacher_probs.shape:
        raise ValueError(f"logits {tuple(logits.shape)} vs teacher {tuple(teacher_probs.shape)}")
    if stage_weights is None:
        stage_weights = tuple([0.5] * (len(landmarks) - 1) + [1.0])
    d = torch.linalg.vector_norm(teacher_landmarks[:, 36] - teacher_landmarks[:, 45], dim=-1)
    d = d.clamp_min(1.0)
    lm_loss = logits.new_zeros(())
    for w, pred in zip(stage_weights, landmarks, strict=True):
        err = torch.linalg.vector_norm(pred - teacher_landmarks, dim=-1).mean(dim=-1) / d
        lm_loss = lm_loss + w * err.mean()
    log_t = torch.log(teacher_probs.clamp_min(1e-8)) / temperature
    p_t = torch.softmax(log_t, dim=1)
    log_s = torch.log_softmax(logits / temperature, dim=1)
    kl = (p_t * (torch.log(p_t.clamp_min(1e-12)) - log_s)).sum(dim=1).mean() * temperature**2
    total = lm_loss + kl_weight * kl
    return total, {"landmarks": float(lm_loss.detach()), "kl": float(kl.detach())}


# --------------------------------------------------------------------------------------------
# Evaluation


def agreement_metrics(
    student_probs: np.ndarray,
    teacher_probs: np.ndarray,
    student_landmarks: np.ndarray,
    teacher_landmarks: np.ndarray,
) -> dict[str, float]:
    """Top-1 agreement and landmark NME (inter-ocular, of the teacher's shape) student vs teacher.

    Raises:
        ValueError: shapes differ or there is no face.
    """
    sp, tp = np.asarray(student_probs), np.asarray(teacher_probs)
    if sp.shape != tp.shape or sp.ndim != 2 or sp.shape[0] == 0:
        raise ValueError(
            f"probability arrays must be equal non-empty (N, C): {sp.shape} {tp.shape}"
        )
    err = nme_np(student_landmarks, teacher_landmarks, "interocular")
    return {
        "faces": int(sp.shape[0]),
        "top1_agreement": float(np.mean(sp.argmax(1) == tp.argmax(1))),
        "nme_vs_teacher": float(err.mean()),
        "nme_vs_teacher_median": float(np.median(err)),
    }


def evaluate(
    recognizer: Any,
    targets: dict[str, np.ndarray],
    faces: np.ndarray,
    box_source: str | None = None,
) -> dict[str, Any]:
    """Compare a recogniser (the student) with the cached teacher outputs on some faces.

    Args:
        recognizer: anything with `predict(image, boxes) -> Prediction` (e.g. `DANRecognizer`).
        targets: teacher targets.
        faces: face indices (normally `faces_of(targets, "test")`).
        box_source: which detector's box the student gets (a column of `alt_boxes`; faces that
            detector missed are skipped and counted); default: the one that defined the faces.

    Returns:
        Metrics (`agreement_metrics`), `skipped`, per-class counts, and where ground truth exists:
        `gt_faces`, `student_nme_vs_gt`, `teacher_nme_vs_gt`.
    """
    sources = [str(s) for s in targets["box_sources"]]
    box_source = sources[0] if box_source is None else box_source
    if box_source not in sources:
        raise ValueError(f"box_source must be one of {sources}, got {box_source!r}")
    col = sources.index(box_source)
    faces = np.asarray(faces)
    boxes = targets["alt_boxes"][faces, col]
    keep = np.isfinite(boxes).all(axis=1)
    faces, boxes = faces[keep], boxes[keep]
    s_lm = np.zeros((len(faces), 68, 2), np.float32)
    s_pr = np.zeros((len(faces), targets["probs"].shape[1]), np.float32)
    for photo in np.unique(targets["face_photo"][faces]):
        sel = np.flatnonzero(targets["face_photo"][faces] == photo)
        image = read_image(Path(str(targets["paths"][photo])))
        pred = recognizer.predict(image, boxes[sel])
        s_lm[sel], s_pr[sel] = pred.landmarks, pred.probs
    out: dict[str, Any] = {"box_source": box_source, "skipped": int((~keep).sum())}
    if len(faces) == 0:
        return out | {"faces": 0}
    t_pr = targets["probs"][faces]
    out |= agreement_metrics(s_pr, t_pr, s_lm, targets["landmarks"][faces])
    names = emotion_names(t_pr.shape[1])
    out["teacher_top1"] = {n: int((t_pr.argmax(1) == i).sum()) for i, n in enumerate(names)}
    out["student_top1"] = {n: int((s_pr.argmax(1) == i).sum()) for i, n in enumerate(names)}
    gt = targets["gt"][faces]
    has = np.isfinite(gt).all(axis=(1, 2))
    out["gt_faces"] = int(has.sum())
    if has.any():
        out["student_nme_vs_gt"] = float(nme_np(s_lm[has], gt[has]).mean())
        out["teacher_nme_vs_gt"] = float(nme_np(targets["landmarks"][faces][has], gt[has]).mean())
    return out


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class DistillConfig:
    """Training options (the `train` section of `config/distill.yaml`)."""

    model: str = "emotionaldan_lite"
    model_kwargs: dict[str, Any] = field(default_factory=lambda: {"num_stages": 1})
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 2.0
    kl_weight: float = 1.0
    eval_every: int = 50
    patience: int = 6  # evaluations without a better val score before stopping
    time_limit_s: float = 0.0  # 0 = none
    threads: int = 2
    seed: int = 0
    margin: float = alignment.DEFAULT_MARGIN
    shift: float = alignment.DEFAULT_SHIFT

    @classmethod
    def from_dict(cls, values: dict | None) -> DistillConfig:
        """Build from a mapping; unknown keys raise ValueError naming them."""
        values = dict(values or {})
        unknown = set(values) - set(asdict(cls()))
        if unknown:
            raise ValueError(f"unknown train option(s): {sorted(unknown)}")
        return cls(**values)


def new_student(cfg: DistillConfig, num_classes: int) -> torch.nn.Module:
    """A fresh student as `cfg` describes it (default mean shape as S0)."""
    from emotionaldan_ros.core.mean_shape import load_default_mean_shape
    from emotionaldan_ros.core.model import create_model

    return create_model(
        cfg.model,
        num_classes=num_classes,
        mean_shape=load_default_mean_shape(),
        **cfg.model_kwargs,
    )


def init_from(path: Path, cfg: DistillConfig, targets: dict[str, np.ndarray]) -> torch.nn.Module:
    """A new student whose tensors that match a checkpoint's by name and shape are copied.

    Raises:
        WeightsError: unreadable or tampered checkpoint.
        ValueError: no tensor matches.
    """
    from emotionaldan_ros.core.checkpoint import load_checkpoint

    model = new_student(cfg, targets["probs"].shape[1])
    source, _ = load_checkpoint(path)
    own = model.state_dict()
    hits = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    if not hits:
        raise ValueError(f"no tensor of {path} matches a {cfg.model} {cfg.model_kwargs}")
    model.load_state_dict(hits, strict=False)
    return model


def val_score(metrics: dict[str, Any]) -> float:
    """Model-selection score on val faces: agreement minus NME (higher is better)."""
    return metrics.get("top1_agreement", 0.0) - metrics.get("nme_vs_teacher", 1.0)


def train(
    targets: dict[str, np.ndarray],
    cfg: DistillConfig,
    aug: DistillAugment,
    log: Any = print,
    model: torch.nn.Module | None = None,
) -> tuple[torch.nn.Module, list[dict[str, Any]]]:
    """Distil the teacher targets of the train faces into a student; keep the best val state.

    Returns:
        The student (in eval mode, best val weights, or the last ones without val faces) and
        the history: one dict per evaluation.
    """
    from emotionaldan_ros.core.dan_recognizer import DANRecognizer

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    if model is None:
        model = new_student(cfg, targets["probs"].shape[1])
    batcher = DistillBatcher(
        targets, faces_of(targets, "train"), aug, cfg.margin, cfg.shift, seed=cfg.seed
    )
    val = faces_of(targets, "val")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=max(cfg.steps, 2))
    crop = {"size": alignment.MEAN_SHAPE_FRAME, "margin": cfg.margin, "shift": cfg.shift}
    history: list[dict[str, Any]] = []
    best, best_state, bad = -math.inf, None, 0
    start = time.monotonic()
    running: list[float] = []
    for step in range(1, cfg.steps + 1):
        model.train()
        x, lm, pr = batcher.batch(cfg.batch_size)
        out = model(x)
        loss, parts = distill_loss(
            out.landmarks, out.logits, lm, pr, cfg.temperature, cfg.kl_weight
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        over = cfg.time_limit_s and time.monotonic() - start > cfg.time_limit_s
        if step % cfg.eval_every and step != cfg.steps and not over:
            continue
        model.eval()
        entry: dict[str, Any] = {
            "step": step,
            "loss": float(np.mean(running)),
            "elapsed_s": round(time.monotonic() - start, 1),
        } | {f"last_{k}": v for k, v in parts.items()}
        running = []
        if len(val):
            rec = DANRecognizer(model, crop=crop)
            entry["val"] = evaluate(rec, targets, val)
            score = val_score(entry["val"])
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
        history.append(entry)
        log(entry)
        if (len(val) and bad >= cfg.patience) or over:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), history
