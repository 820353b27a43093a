"""Face detectors behind one interface, plus IoU tracking for stable face ids."""

from emotionaldan_ros.core.detection.base import (
    DEFAULT_DETECTOR,
    KEYPOINT_NAMES,
    Detections,
    Detector,
    create_detector,
    list_detectors,
    register_detector,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "KEYPOINT_NAMES",
    "Detections",
    "Detector",
    "create_detector",
    "list_detectors",
    "register_detector",
]
