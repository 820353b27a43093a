"""OpenCV's YuNet face detector with a model file you supply (registered as "yunet").

YuNet (MIT, libfacedetection / opencv_zoo) runs in the installed OpenCV (`cv2.FaceDetectorYN`),
but its ONNX file ships in no package registry, so none is bundled here. Get it with git and
pass its path (docs/detectors.md):

    git clone --depth 1 https://github.com/opencv/opencv_zoo
    # models/face_detection_yunet/face_detection_yunet_2023mar.onnx (git-lfs)

Keypoints: YuNet gives eyes, nose tip and the two mouth corners; `Detections.keypoints` holds
the eyes, the nose, the mouth centre (mean of the corners) and NaN for the ears.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.core.detection.base import KEYPOINT_NAMES, Detections, register_detector
from emotionaldan_ros.core.detection.faceapi import _check_int, _check_threshold

__all__ = ["YuNetDetector"]

YUNET_HINT = (
    "YuNet's ONNX file is not bundled (no package registry ships it): "
    "`git clone --depth 1 https://github.com/opencv/opencv_zoo` and pass "
    "models/face_detection_yunet/face_detection_yunet_2023mar.onnx as model_path "
    "(node parameter face_detector.model_path); see docs/detectors.md."
)


@register_detector("yunet")
class YuNetDetector:
    """YuNet via `cv2.FaceDetectorYN`.

    Args:
        model_path: the YuNet ONNX file (required).
        input_size: the image's longer side is resized to this before detection (≥ 32; 0 keeps
            the image size); 640 by default, which suits 640x480 cabin frames.
        score_threshold: drop faces scoring at or below this, in (0, 1).
        iou_threshold: NMS IoU, in [0, 1].
        max_faces: at most this many faces (≥ 1).
        min_face_size: drop faces whose shorter side is below this many pixels (≥ 0).
        num_threads: OpenCV threads while detecting (≥ 1).

    Raises:
        FileNotFoundError: no model file (the message says how to get one).
        ValueError: bad parameters or a file OpenCV cannot load as YuNet.
    """

    name = "yunet"

    def __init__(
        self,
        model_path: str | Path = "",
        input_size: int = 640,
        score_threshold: float = 0.6,
        iou_threshold: float = 0.3,
        max_faces: int = 10,
        min_face_size: int = 20,
        num_threads: int = 1,
    ) -> None:
        if not model_path or not Path(model_path).is_file():
            raise FileNotFoundError(f"YuNet model file not found: {model_path!r}. {YUNET_HINT}")
        self.input_size = _check_int("input_size", input_size, 0)
        if 0 < self.input_size < 32:
            raise ValueError(f"input_size must be 0 or >= 32, got {input_size}")
        self.score_threshold = _check_threshold("score_threshold", score_threshold, True)
        self.iou_threshold = _check_threshold("iou_threshold", iou_threshold)
        self.max_faces = _check_int("max_faces", max_faces, 1)
        self.min_face_size = _check_int("min_face_size", min_face_size, 0)
        self.num_threads = _check_int("num_threads", num_threads, 1)
        try:
            self.net = cv2.FaceDetectorYN.create(
                str(model_path), "", (320, 320), self.score_threshold, self.iou_threshold, 5000
            )
        except cv2.error as exc:
            raise ValueError(f"OpenCV cannot load {model_path} as YuNet: {exc}") from exc

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in an (H, W, 3) BGR or (H, W) gray uint8 image."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        scale = self.input_size / max(h, w) if self.input_size else 1.0
        resized = image
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        previous = cv2.getNumThreads()
        cv2.setNumThreads(self.num_threads)
        try:
            self.net.setInputSize((resized.shape[1], resized.shape[0]))
            _, faces = self.net.detect(resized)
        finally:
            cv2.setNumThreads(previous)
        if faces is None or not len(faces):
            return Detections.empty(with_keypoints=True)
        faces = faces.astype(np.float64)
        fx, fy = w / resized.shape[1], h / resized.shape[0]
        boxes = np.stack(
            [faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], 1
        ) * [fx, fy, fx, fy]
        pts = faces[:, 4:14].reshape(-1, 5, 2) * [fx, fy]
        keypoints = np.full((len(faces), len(KEYPOINT_NAMES), 2), np.nan)
        keypoints[:, :3] = pts[:, :3]  # right eye, left eye, nose tip
        keypoints[:, 3] = pts[:, 3:5].mean(axis=1)  # mouth centre
        scores = faces[:, 14]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = np.flatnonzero(side >= max(self.min_face_size, 1))
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self.max_faces]
        return Detections(
            boxes[keep].astype(np.float32),
            scores[keep].astype(np.float32),
            keypoints[keep].astype(np.float32),
        )
