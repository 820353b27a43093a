"""MediaPipe BlazeFace face detectors on ONNX Runtime.

Registered as "blazeface" (both nets merged, the default), "blazeface_full" and "blazeface_short".

Two converted MediaPipe nets (Apache-2.0, `emotionaldan_ros/models/blazeface/`, see its NOTICE):

- **full range** (192x192 input, 2304 anchors on a 48x48 grid): faces from about 1/40 of the
  frame's longer side up to about half of it; the one for faces a metre or more away.
- **short range** (128x128 input, 896 anchors): faces that fill 20–100 % of the frame, the
  close-up a cabin camera sees of the driver; it misses small faces.

`blazeface` runs both on every frame and merges them: the short-range hits count only when they
are large (shorter side ≥ `short_min_side` of the frame's longer side), where the full-range net
starts to miss faces; both sets go through one weighted non-maximum suppression. Boxes are
re-shaped to this project's face-box convention (hairline to chin, cheek to cheek, see
`test/data/detection/README.md`): BlazeFace's own boxes are square and stop at the brows. The
six keypoints (`KEYPOINT_NAMES`: eyes, nose tip, mouth centre, ear tragions) come out in image
pixels in `Detections.keypoints`.

Each ONNX Runtime session is single-threaded by default (`num_threads`): the detector node owns
one core (see docs/detectors.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotionaldan_ros.core.detection.base import Detections, register_detector
from emotionaldan_ros.core.detection.blazeface_decode import (
    KEYPOINT_NAMES,
    Letterbox,
    ModelSpec,
    decode,
    letterbox,
    shrink,
    weighted_nms,
)
from emotionaldan_ros.core.detection.faceapi import _check_int, _check_threshold

__all__ = [
    "BOX_STYLE",
    "KEYPOINT_NAMES",
    "MODEL_DIR",
    "BlazeFaceDetector",
    "BlazeFaceNet",
    "model_path",
]

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "blazeface"
SPECS = {
    "short_range": ModelSpec(128, (8, 16, 16, 16)),
    "full_range": ModelSpec(192, (4,), interpolated=False),
}


@dataclass(frozen=True)
class BoxStyle:
    """How to turn a net's box into a convention box (medians over the fixture photos' faces).

    Attributes:
        width: convention width / net box width.
        height: convention height / net box height.
        dx: centre shift right, in net box widths.
        dy: centre shift down, in net box heights.
    """

    width: float
    height: float
    dx: float
    dy: float

    def apply(self, boxes: np.ndarray, roll: np.ndarray | None = None) -> np.ndarray:
        """Re-shape (N, 4) x1, y1, x2, y2 boxes.

        Args:
            boxes: the net's boxes.
            roll: (N,) head roll in radians (from the eye keypoints), or None for upright.
                BlazeFace's box is the face's own upright box; a convention box of a tilted
                head is the axis-aligned box around the tilted face, so the re-shaped box is
                turned by the roll and its bounding box taken.
        """
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        cx = (boxes[:, 0] + boxes[:, 2]) / 2 + self.dx * w
        cy = (boxes[:, 1] + boxes[:, 3]) / 2 + self.dy * h
        half_w, half_h = w * self.width / 2, h * self.height / 2
        if roll is not None:
            c, s = np.abs(np.cos(roll)), np.abs(np.sin(roll))
            half_w, half_h = half_w * c + half_h * s, half_w * s + half_h * c
        return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def eye_roll(keypoints: np.ndarray) -> np.ndarray:
    """(N,) head roll in radians from (N, 6, 2) keypoints: the right-eye → left-eye angle."""
    d = keypoints[:, 1] - keypoints[:, 0]
    return np.arctan2(d[:, 1], d[:, 0])


# Measured by `python benchmarks/detectors.py --box-style` (median ratios of the hand-checked
# boxes to each net's boxes over 73 faces with level eyes, on the `photo` and `closeup`
# conditions of test/data/detection).
BOX_STYLE = {
    "short_range": BoxStyle(0.956, 1.168, -0.016, -0.032),
    "full_range": BoxStyle(0.933, 1.131, -0.016, 0.019),
}


def model_path(variant: str, model_dir: Path | None = None) -> Path:
    """The checksum-verified ONNX file of a variant ("short_range" or "full_range").

    Raises:
        WeightsError: missing or modified file.
    """
    from emotionaldan_ros.core.weights import verify_with_sums

    return verify_with_sums(Path(model_dir or MODEL_DIR) / f"{variant}.onnx")


class BlazeFaceNet:
    """One BlazeFace net: letterbox, ONNX Runtime, decode, weighted NMS.

    Args:
        variant: "short_range" or "full_range".
        num_threads: ONNX Runtime intra-op threads (1: the detector node's one core).
        model_dir: folder of the ONNX files and their SHA256SUMS (default: the shipped ones).
    """

    def __init__(self, variant: str, num_threads: int = 1, model_dir: Path | None = None) -> None:
        import onnxruntime as ort

        from emotionaldan_ros.core.detection.blazeface_decode import ssd_anchors
        from emotionaldan_ros.core.weights import GET_WEIGHTS_HINT, WeightsError

        if variant not in SPECS:
            raise ValueError(f"unknown BlazeFace variant {variant!r}; known: {sorted(SPECS)}")
        self.variant = variant
        self.spec = SPECS[variant]
        self.anchors = ssd_anchors(self.spec)
        path = model_path(variant, model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = num_threads
        opts.inter_op_num_threads = 1
        # No busy-waiting: on a shared CPU spinning threads steal the cores they wait for.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                str(path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # any load failure means a bad file
            raise WeightsError(
                f"cannot load ONNX model {path}: {exc}. {GET_WEIGHTS_HINT}"
            ) from exc
        shape = self.session.get_inputs()[0].shape
        if list(shape) != [1, 3, self.spec.input_size, self.spec.input_size]:
            raise WeightsError(
                f"{path}: input shape {shape} is not {variant}'s. {GET_WEIGHTS_HINT}"
            )

    def raw(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1, 3, S, S) input → regressors (A, 16), logits (A,)."""
        reg, logits = self.session.run(None, {"image": batch})
        return reg.reshape(-1, 16), logits.reshape(-1)

    def detect(
        self,
        image: np.ndarray,
        score_threshold: float,
        iou_threshold: float,
        prepared: tuple[np.ndarray, Letterbox] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4) in the net's own style, keypoints (N, 6, 2), scores (N,), image pixels.

        Args:
            image: BGR or gray uint8 image.
            score_threshold: keep hits scoring above this.
            iou_threshold: weighted NMS IoU.
            prepared: the image already letterboxed (by `letterbox` / `shrink`) to this net's
                input size, and its placement; `image` is then not read.
        """
        size = self.spec.input_size
        batch, placement = prepared if prepared is not None else letterbox(image, size)
        reg, logits = self.raw(batch)
        boxes, keypoints, scores = decode(reg, logits, self.anchors, size, score_threshold)
        boxes, keypoints, scores = weighted_nms(boxes, keypoints, scores, iou_threshold)
        boxes = placement.to_image(boxes, size)
        keypoints = placement.to_image(keypoints, size).reshape(-1, len(KEYPOINT_NAMES), 2)
        return boxes, keypoints, scores


def _finish(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    shape: tuple[int, ...],
    min_size: int,
    max_faces: int,
) -> Detections:
    """Clip to the image, drop small/non-finite boxes, keep the best `max_faces`."""
    h, w = shape[:2]
    b = boxes.astype(np.float32).copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    side = np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    keep = (side >= max(min_size, 1)) & np.isfinite(b).all(axis=1)
    order = np.argsort(-scores[keep], kind="stable")[:max_faces]
    return Detections(
        b[keep][order],
        scores[keep][order].astype(np.float32),
        keypoints[keep][order].astype(np.float32),
    )


class BlazeFaceDetector:
    """BlazeFace full range, short range, or both merged (see the module docstring).

    Args:
        variants: the nets to run: ("full_range", "short_range"), ("full_range",) or
            ("short_range",).
        score_threshold: drop faces scoring at or below this, in (0, 1).
        iou_threshold: weighted NMS merges hits overlapping by more than this IoU, in [0, 1].
        max_faces: at most this many faces (≥ 1).
        min_face_size: drop faces whose shorter side is below this many pixels (≥ 0).
        short_min_side: with both nets, a short-range hit counts only when its shorter side is
            at least this fraction of the image's longer side, in [0, 1].
        input_size: accepted for the node's uniform interface; must be 0 (the nets' input
            sizes are fixed: 192 and 128).
        num_threads: ONNX Runtime threads per net (≥ 1).
        model_dir: folder of the ONNX files (default: the shipped, checksum-verified ones).
        roll_boxes: widen the box of a tilted head to the axis-aligned box around it (the
            roll comes from the eye keypoints); False gives the net's upright box.
    """

    name = "blazeface"

    def __init__(
        self,
        variants: tuple[str, ...] = ("full_range", "short_range"),
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        max_faces: int = 10,
        min_face_size: int = 20,
        short_min_side: float = 0.25,
        input_size: int = 0,
        num_threads: int = 1,
        model_dir: str | Path | None = None,
        roll_boxes: bool = True,
    ) -> None:
        if (
            not variants
            or any(v not in SPECS for v in variants)
            or len(set(variants)) != len(variants)
        ):
            raise ValueError(f"variants must be distinct names out of {sorted(SPECS)}")
        if input_size not in (0, None):
            sizes = ", ".join(f"{v} {SPECS[v].input_size}" for v in variants)
            raise ValueError(f"BlazeFace input sizes are fixed ({sizes}); input_size must be 0")
        self.variants = tuple(variants)
        self.score_threshold = _check_threshold("score_threshold", score_threshold, True)
        self.iou_threshold = _check_threshold("iou_threshold", iou_threshold)
        self.max_faces = _check_int("max_faces", max_faces, 1)
        self.min_face_size = _check_int("min_face_size", min_face_size, 0)
        self.short_min_side = _check_threshold("short_min_side", short_min_side)
        self.roll_boxes = bool(roll_boxes)
        _check_int("num_threads", num_threads, 1)
        model_dir = Path(model_dir) if model_dir else None
        self.nets = [BlazeFaceNet(v, num_threads, model_dir) for v in self.variants]

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR or (H, W) gray uint8 image."""
        ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
        if not ok or image.size == 0 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an (H, W, 3) BGR or (H, W) gray uint8 image, got {image.dtype} "
                f"{image.shape}"
            )
        longer = max(image.shape[:2])
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # Letterbox once for the largest net; smaller nets get that square shrunk.
        largest = max(net.spec.input_size for net in self.nets)
        batch, placement = letterbox(image, largest)
        for net in self.nets:
            size = net.spec.input_size
            prepared = (batch, placement) if size == largest else shrink(batch, placement, size)
            boxes, keypoints, scores = net.detect(
                image, self.score_threshold, self.iou_threshold, prepared
            )
            if net.variant == "short_range" and len(self.nets) > 1:
                side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
                keep = side >= self.short_min_side * longer
                boxes, keypoints, scores = boxes[keep], keypoints[keep], scores[keep]
            roll = eye_roll(keypoints) if self.roll_boxes else None
            parts.append((BOX_STYLE[net.variant].apply(boxes, roll), keypoints, scores))
        boxes = np.concatenate([p[0] for p in parts])
        keypoints = np.concatenate([p[1] for p in parts])
        scores = np.concatenate([p[2] for p in parts])
        if len(self.nets) > 1 and len(scores):
            n = len(KEYPOINT_NAMES)
            boxes, flat, scores = weighted_nms(
                boxes, keypoints.reshape(-1, 2 * n), scores, self.iou_threshold
            )
            keypoints = flat.reshape(-1, n, 2)
        if not len(scores):
            return Detections.empty(with_keypoints=True)
        return _finish(boxes, keypoints, scores, image.shape, self.min_face_size, self.max_faces)


def _factory(name: str, variants: tuple[str, ...]) -> Any:
    def build(engine: str = "onnxruntime", threads: int = 0, **params: Any) -> BlazeFaceDetector:
        # The node's uniform engine/threads parameters: BlazeFace ships as ONNX only.
        if engine != "onnxruntime":
            raise ValueError(f"{name} runs on ONNX Runtime only (engine {engine!r} asked)")
        if threads:
            params["num_threads"] = threads
        detector = BlazeFaceDetector(variants=variants, **params)
        detector.name = name
        return detector

    build.__doc__ = f"`BlazeFaceDetector` running {' + '.join(variants)}."
    return register_detector(name)(build)


_factory("blazeface", ("full_range", "short_range"))
_factory("blazeface_full", ("full_range",))
_factory("blazeface_short", ("short_range",))
