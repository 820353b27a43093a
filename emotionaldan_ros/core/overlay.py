"""Draw faces, landmarks and emotions on a BGR image (debug topic, demo frames, analyze CLI)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from emotionaldan_ros.core.labels import FEAR

# BGR colours per class (neutral grey, happy green, ..., fear red).
_COLOURS = {
    "neutral": (200, 200, 200),
    "happy": (60, 200, 60),
    "sad": (200, 120, 40),
    "surprise": (40, 200, 220),
    "fear": (40, 40, 230),
    "disgust": (40, 140, 120),
    "anger": (30, 30, 160),
    "contempt": (150, 60, 150),
}


def draw_faces(
    image: np.ndarray,
    boxes: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    landmarks: np.ndarray | None = None,
    face_ids: Sequence[int] | None = None,
    fear_levels: Sequence[float | None] | None = None,
) -> np.ndarray:
    """Return a copy of `image` with one annotated box per face.

    Args:
        image: (H, W, 3) BGR uint8.
        boxes: (N, 4) x1, y1, x2, y2.
        probs: (N, C) class probabilities.
        classes: class names.
        landmarks: optional (N, 68, 2) image pixels.
        face_ids: optional ids printed in the label.
        fear_levels: optional smoothed fear level per face (None = unknown).
    """
    out = image.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for i, box in enumerate(np.asarray(boxes, dtype=np.float32)):
        k = int(np.argmax(probs[i]))
        name = classes[k]
        colour = _COLOURS.get(name, (255, 255, 255))
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        if landmarks is not None and len(landmarks) > i:
            for x, y in np.asarray(landmarks[i]).reshape(-1, 2):
                cv2.circle(out, (round(float(x)), round(float(y))), thickness, colour, -1)
        text = f"{name} {probs[i][k]:.2f}"
        if face_ids is not None:
            text = f"#{face_ids[i]} {text}"
        level = fear_levels[i] if fear_levels is not None else None
        if level is None and len(classes) > FEAR and classes[FEAR] == "fear":
            level = float(probs[i][FEAR])
        if level is not None:
            text += f" fear {level:.2f}"
        scale = 0.4 * thickness
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        ty = max(th + base, y1 - 2)
        tx = max(0, min(x1, out.shape[1] - tw))  # keep the label inside the image
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw, ty + base // 2), colour, -1)
        cv2.putText(
            out, text, (tx, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness
        )
    return out
