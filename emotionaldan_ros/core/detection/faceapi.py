"""Converted face-api face detectors, registered as "faceapi_tiny" and "faceapi_ssd".

Both return boxes clipped to the image, dropped when smaller than `min_face_size` (shorter side,
pixels after clipping), at most `max_faces`, best score first. Weights are the shipped,
checksum-verified conversions (`emotionaldan_ros/models/faceapi/`, MIT, see its NOTICE). They run
on ONNX Runtime by default (`engine="onnxruntime"`, exported in memory at load, `faceapi/ort.py`)
or on the PyTorch ports (`engine="torch"`).
"""

from __future__ import annotations

import math

import numpy as np

from emotionaldan_ros.core.detection.base import Detections, register_detector
from emotionaldan_ros.core.faceapi.detect import detect_ssd, detect_tiny
from emotionaldan_ros.core.faceapi.ort import DEFAULT_ENGINE, OrtNet, check_engine
from emotionaldan_ros.core.faceapi.pretrained import load_net

__all__ = ["FaceApiSsdDetector", "FaceApiTinyDetector"]


def _check_threshold(name: str, value: object, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (0.0 < value < 1.0 if low_open else 0.0 <= value <= 1.0):
        interval = "(0, 1)" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _finish(
    boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, ...], min_size: int, max_faces: int
) -> Detections:
    """Clip to the image, drop small/empty boxes, keep the best `max_faces`."""
    h, w = shape[:2]
    if len(boxes) == 0:
        return Detections.empty()
    b = boxes.copy()
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    side = np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    keep = (side >= max(min_size, 1)) & np.isfinite(b).all(axis=1)
    b, s = b[keep][:max_faces], scores[keep][:max_faces]  # already sorted best first
    return Detections(b.astype(np.float32), s.astype(np.float32))


@register_detector("faceapi_tiny")
class FaceApiTinyDetector:
    """face-api's tiny YOLO face detector (193 KB; fast, good for near frontal faces).

    Args:
        input_size: square net input, a multiple of 32 (face-api default 416; 320/224 faster).
        score_threshold: drop faces scoring at or below this, in (0, 1).
        iou_threshold: suppress a face overlapping a better one by more than this IoU, in [0, 1].
        max_faces: at most this many faces (≥ 1).
        min_face_size: drop faces whose shorter side is below this many pixels (≥ 0).
        device: torch device (engine "torch").
        engine: "onnxruntime" (default) or "torch".
        threads: ONNX Runtime intra-op threads (0 = one per core).
    """

    name = "faceapi_tiny"

    def __init__(
        self,
        input_size: int = 416,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.4,
        max_faces: int = 10,
        min_face_size: int = 20,
        device: str = "cpu",
        engine: str = DEFAULT_ENGINE,
        threads: int = 1,
    ) -> None:
        _check_int("input_size", input_size, 32)
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.input_size = input_size
        self.score_threshold = _check_threshold("score_threshold", score_threshold, True)
        self.iou_threshold = _check_threshold("iou_threshold", iou_threshold)
        self.max_faces = _check_int("max_faces", max_faces, 1)
        self.min_face_size = _check_int("min_face_size", min_face_size, 0)
        self.engine = check_engine(engine)
        _check_int("threads", threads, 0)
        self.net = (
            OrtNet("tiny_face_detector", input_size, threads)
            if self.engine == "onnxruntime"
            else load_net("tiny_face_detector", device)
        )

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR or (H, W) gray uint8 image."""
        boxes, scores = detect_tiny(
            self.net, image, self.input_size, self.score_threshold, self.iou_threshold
        )
        return _finish(boxes, scores, image.shape, self.min_face_size, self.max_faces)


@register_detector("faceapi_ssd")
class FaceApiSsdDetector:
    """face-api's SSD MobileNetV1 face detector (5.6 MB; slower, more accurate, fixed 512 input).

    Args:
        input_size: must be 512 (the priors are fixed to it); accepted for a uniform interface.
        score_threshold: drop faces scoring at or below this, in (0, 1).
        iou_threshold: suppress a face overlapping a better one by more than this IoU, in [0, 1].
        max_faces: at most this many faces (≥ 1).
        min_face_size: drop faces whose shorter side is below this many pixels (≥ 0).
        device: torch device (engine "torch").
        engine: "onnxruntime" (default) or "torch".
        threads: ONNX Runtime intra-op threads (0 = one per core).
    """

    name = "faceapi_ssd"

    def __init__(
        self,
        input_size: int = 512,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.5,
        max_faces: int = 10,
        min_face_size: int = 20,
        device: str = "cpu",
        engine: str = DEFAULT_ENGINE,
        threads: int = 1,
    ) -> None:
        if input_size != 512:
            raise ValueError(f"faceapi_ssd runs at input_size 512 only, got {input_size!r}")
        self.input_size = 512
        self.score_threshold = _check_threshold("score_threshold", score_threshold, True)
        self.iou_threshold = _check_threshold("iou_threshold", iou_threshold)
        self.max_faces = _check_int("max_faces", max_faces, 1)
        self.min_face_size = _check_int("min_face_size", min_face_size, 0)
        self.engine = check_engine(engine)
        _check_int("threads", threads, 0)
        self.net = (
            OrtNet("ssd_mobilenetv1", 512, threads)
            if self.engine == "onnxruntime"
            else load_net("ssd_mobilenetv1", device)
        )

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR or (H, W) gray uint8 image."""
        boxes, scores = detect_ssd(
            self.net, image, self.score_threshold, self.iou_threshold, max_results=100
        )
        return _finish(boxes, scores, image.shape, self.min_face_size, self.max_faces)
