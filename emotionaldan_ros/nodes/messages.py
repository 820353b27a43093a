"""Conversions between core results and emotionaldan_msgs messages (no node logic here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from emotionaldan_msgs.msg import Emotion, EmotionArray, Face, Faces, PassengerAlert, Point2D
from emotionaldan_ros.core.fear import PassengerState
from emotionaldan_ros.core.labels import VALENCES
from emotionaldan_ros.core.recognizer import Prediction


def faces_message(
    header: Header,
    boxes: np.ndarray,
    scores: np.ndarray,
    ids: np.ndarray,
    name: str,
    keypoints: np.ndarray | None = None,
) -> Faces:
    """Build a Faces message (boxes x1y1x2y2 → RegionOfInterest in whole pixels).

    Args:
        header: the source image's header.
        boxes: (N, 4) x1, y1, x2, y2 face boxes in image pixels.
        scores: (N,) detector scores.
        ids: (N,) tracker ids.
        name: the detector's name.
        keypoints: (N, K, 2) face keypoints in image pixels (`Detections.keypoints`), or None
            for a detector without keypoints (the faces' `keypoints` stay empty).
    """
    msg = Faces(header=header, detector=name)
    xyxy = np.rint(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)).astype(np.int64)
    for i, ((x1, y1, x2, y2), score, face_id) in enumerate(
        zip(xyxy.tolist(), scores, ids, strict=True)
    ):
        roi = RegionOfInterest(
            x_offset=max(0, x1), y_offset=max(0, y1), width=max(0, x2 - x1), height=max(0, y2 - y1)
        )
        face = Face(id=int(face_id), roi=roi, score=float(score))
        if keypoints is not None:
            face.keypoints = [Point2D(x=float(x), y=float(y)) for x, y in keypoints[i]]
        msg.faces.append(face)
    return msg


@dataclass(frozen=True)
class FaceSelection:
    """Which faces of a `Faces` message a node uses, and why the others are dropped.

    Attributes:
        keep: (N,) mask of the faces to use.
        bad_score: faces with a NaN, infinite or out-of-[0, 1] score.
        bad_roi: faces (with a good score) whose box is empty or outside the image.
        too_many: usable faces over the cap (the lowest scores).
    """

    keep: np.ndarray
    bad_score: int
    bad_roi: int
    too_many: int


def select_usable_faces(
    scores: np.ndarray, usable_roi: np.ndarray, max_faces: int
) -> FaceSelection:
    """Faces with a finite score in [0, 1] and a usable box, at most `max_faces` (best first).

    Args:
        scores: (N,) the faces' `score` fields.
        usable_roi: (N,) mask of boxes that are not empty (and inside the image).
        max_faces: the cap per frame.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    good_score = np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0)
    usable = good_score & np.asarray(usable_roi, bool).reshape(-1)
    keep = usable.copy()
    order = np.flatnonzero(usable)[np.argsort(-scores[usable], kind="stable")]
    keep[order[max_faces:]] = False
    return FaceSelection(
        keep,
        bad_score=int((~good_score).sum()),
        bad_roi=int((good_score & ~usable).sum()),
        too_many=int(max(0, len(order) - max_faces)),
    )


def roi_boxes(rois: list[RegionOfInterest]) -> np.ndarray:
    """(N, 4) float32 boxes x1, y1, x2, y2 of RegionOfInterest messages."""
    xywh = np.array(
        [[r.x_offset, r.y_offset, r.width, r.height] for r in rois], dtype=np.float32
    ).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def rois_to_boxes(faces: Faces, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes x1y1x2y2 clipped to the image, and a mask of usable (non-empty) ones."""
    boxes = roi_boxes([f.roi for f in faces.faces])
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    usable = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    return boxes, usable


def emotion_array(header: Header, faces: list, pred: Prediction, model: str) -> EmotionArray:
    """Pack a Prediction for `faces` (Face messages, same order) into an EmotionArray."""
    out = EmotionArray(header=header, model=model)
    for i, face in enumerate(faces):
        probs = pred.probs[i]
        label = int(np.argmax(probs))
        valence = int(np.argmax(pred.valence[i]))
        msg = Emotion(
            face_id=face.id,
            roi=face.roi,
            detection_score=face.score,
            label=label,
            label_name=pred.classes[label],
            probabilities=probs.astype(np.float32).tolist(),
            confidence=float(probs[label]),
            valence=valence,
            valence_name=VALENCES[valence],
            valence_probabilities=pred.valence[i].astype(np.float32).tolist(),
        )
        msg.landmarks = [Point2D(x=float(x), y=float(y)) for x, y in pred.landmarks[i]]
        out.emotions.append(msg)
    return out


def select_faces(pred: Prediction, keep: np.ndarray) -> Prediction:
    """The rows of a Prediction where `keep` is true."""
    return Prediction(
        pred.boxes[keep], pred.landmarks[keep], pred.probs[keep], pred.valence[keep], pred.classes
    )


def alert_message(header: Header, state: PassengerState) -> PassengerAlert:
    """PassengerAlert for one passenger state."""
    return PassengerAlert(
        header=header,
        face_id=state.face_id,
        present=state.present,
        fear_level=float(state.fear_level),
        fear=state.fear,
        speed_factor=float(state.speed_factor),
        reason=state.reason,
    )
