"""Detector + recogniser on one image: the core path shared by the nodes and the CLI tools.

The ROS graph splits these two calls across the face_detector and emotionaldan nodes; tools
without ROS (`emotionaldan-analyze`, evaluation) call `FacePipeline.analyze` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotionaldan_ros.core.backends import DEFAULT_BACKEND, create_recognizer
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR, Detections, create_detector
from emotionaldan_ros.core.labels import VALENCES
from emotionaldan_ros.core.recognizer import Prediction, Recognizer


@dataclass(frozen=True)
class Analysis:
    """Faces of one image: the detections and the recogniser's prediction, row-aligned."""

    detections: Detections
    prediction: Prediction

    def to_json(self) -> list[dict]:
        """Per face: box, score, landmarks, named probabilities, valence."""
        pred = self.prediction
        out = []
        for i in range(len(pred)):
            label = int(pred.probs[i].argmax())
            valence = int(pred.valence[i].argmax())
            out.append(
                {
                    "box": [round(float(v), 2) for v in pred.boxes[i]],
                    "score": round(float(self.detections.scores[i]), 4),
                    "label": pred.classes[label],
                    "confidence": round(float(pred.probs[i][label]), 4),
                    "probabilities": {
                        c: round(float(p), 4)
                        for c, p in zip(pred.classes, pred.probs[i], strict=True)
                    },
                    "valence": VALENCES[valence],
                    "valence_probabilities": {
                        v: round(float(p), 4)
                        for v, p in zip(VALENCES, pred.valence[i], strict=True)
                    },
                    "landmarks": np.round(pred.landmarks[i], 2).tolist(),
                }
            )
        return out


class FacePipeline:
    """A face detector followed by a recogniser."""

    def __init__(
        self,
        detector: str = DEFAULT_DETECTOR,
        backend: str = DEFAULT_BACKEND,
        device: str = "cpu",
        recognizer: Recognizer | None = None,
        **detector_params: object,
    ) -> None:
        self.detector = create_detector(detector, **detector_params)
        self.recognizer = recognizer or create_recognizer(backend, device=device)

    def analyze(self, image: np.ndarray) -> Analysis:
        """Detect every face of a BGR image and recognise them in one batch."""
        det = self.detector.detect(image)
        return Analysis(det, self.recognizer.predict(image, det.boxes))
