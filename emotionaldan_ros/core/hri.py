"""ROS4HRI's view of a recognised face, as plain numbers (the ROS side is nodes/hri_bridge.py).

ROS4HRI (REP-155, `hri_msgs` 2.x) publishes per face, under `/humans/faces/<id>/`: `roi`
(normalised box + confidence), `landmarks` (70 normalised points: iBUG's 68 in the same order,
then the right and left pupils) and `expression` (a name, valence and arousal in [-1, 1] and a
confidence), plus the list of tracked ids on `/humans/faces/tracked`.

- Ids: a ROS topic token may not start with a digit, so face 7 is `face7`.
- Expression names: this project's classes mapped onto ROS4HRI's names; contempt has no
  ROS4HRI name and is reported as "disgusted", the nearest one.
- Valence / arousal: the expectation of fixed circumplex coordinates per class (Russell's model,
  rounded positions) under the class probabilities. A heuristic, not a trained regressor: the
  shipped models predict classes only.
- Pupils (points 68, 69): the centre of each eye's six points, confidence 0 when unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotionaldan_ros.core import labels as L

EXPRESSION_NAMES = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "fear": "scared",
    "disgust": "disgusted",
    "anger": "angry",
    "contempt": "disgusted",
}
# (valence, arousal) per class on the circumplex (rounded positions).
CIRCUMPLEX = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "surprise": (0.3, 0.8),
    "fear": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "anger": (-0.6, 0.8),
    "contempt": (-0.5, 0.2),
}
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)  # iBUG indices (the subject's right / left)
NUM_HRI_LANDMARKS = 70


def face_id(number: int) -> str:
    """The ROS4HRI id of a face (a valid topic token)."""
    return f"face{int(number)}"


@dataclass(frozen=True)
class HriFace:
    """One face in ROS4HRI's terms (coordinates normalised to [0, 1])."""

    id: str
    roi: tuple[float, float, float, float, float]  # xmin, ymin, xmax, ymax, confidence
    landmarks: np.ndarray  # (70, 3): x, y, confidence
    expression: str
    valence: float
    arousal: float
    confidence: float


def valence_arousal(probs: np.ndarray, classes: tuple[str, ...]) -> tuple[float, float]:
    """Expected circumplex position of a class distribution."""
    coords = np.array([CIRCUMPLEX[c] for c in classes], np.float64)
    p = np.asarray(probs, np.float64)
    p = p / p.sum() if p.sum() > 0 else np.full(len(classes), 1.0 / len(classes))
    valence, arousal = p @ coords
    return float(np.clip(valence, -1, 1)), float(np.clip(arousal, -1, 1))


def hri_face(
    number: int,
    box: tuple[float, float, float, float],
    score: float,
    probs: np.ndarray,
    landmarks: np.ndarray | None,
    width: int,
    height: int,
) -> HriFace:
    """A recognised face in ROS4HRI's terms.

    Args:
        number: the tracker's face id.
        box: x1, y1, x2, y2 in image pixels.
        score: detection score.
        probs: class probabilities in this project's order (7 or 8 classes).
        landmarks: (68, 2) iBUG points in image pixels, or None / empty.
        width: image width in pixels.
        height: image height in pixels.

    Raises:
        ValueError: an image size that is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    scale = np.array([width, height, width, height], np.float64)
    x1, y1, x2, y2 = np.clip(np.asarray(box, np.float64) / scale, 0.0, 1.0)
    classes = L.emotion_names(len(probs))
    best = int(np.argmax(probs))
    valence, arousal = valence_arousal(probs, classes)
    points = np.zeros((NUM_HRI_LANDMARKS, 3), np.float32)
    marks = None if landmarks is None else np.asarray(landmarks, np.float64).reshape(-1, 2)
    if marks is not None and len(marks) == 68:
        norm = np.clip(marks / [width, height], 0.0, 1.0)
        points[:68, :2], points[:68, 2] = norm, 1.0
        points[68, :2], points[69, :2] = norm[RIGHT_EYE].mean(0), norm[LEFT_EYE].mean(0)
        points[68:, 2] = 1.0
    return HriFace(
        id=face_id(number),
        roi=(float(x1), float(y1), float(x2), float(y2), float(score)),
        landmarks=points,
        expression=EXPRESSION_NAMES[classes[best]],
        valence=valence,
        arousal=arousal,
        confidence=float(probs[best]),
    )
