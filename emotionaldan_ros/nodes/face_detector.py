"""Face detector node: finds faces and gives them stable ids (lifecycle node).

It detects at `detect_rate_hz` (by image stamps) and at once on the frame after a
`detect_request`, and publishes `faces` for the frames it ran on; the EmotionalDAN node tracks
the faces in between (core/schedule.py). `detect_rate_hz: 0` detects every frame.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from emotionaldan_msgs.msg import Faces
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR, create_detector, list_detectors
from emotionaldan_ros.core.detection.tracker import IouTracker
from emotionaldan_ros.core.schedule import DetectionSchedule
from emotionaldan_ros.nodes.common import (
    FRAME_SUB_QOS,
    RESULT_QOS,
    image_subscription,
    stamp_ns,
)
from emotionaldan_ros.nodes.messages import faces_message
from emotionaldan_ros.nodes.model_node import MODEL_NODE_PARAMS, ModelNode
from emotionaldan_ros.nodes.runtime import run_lifecycle
from emotionaldan_ros.params import ParamSpec

PARAMS = (
    ParamSpec(
        "detector",
        DEFAULT_DETECTOR,
        "Face detector backend (see emotionaldan_ros.core.detection.list_detectors())",
        check=lambda v: None if v in list_detectors() else f"unknown detector {v!r}",
        reconfigure=True,
    ),
    ParamSpec(
        "input_size",
        0,
        "Size the detector works at, px (faceapi_tiny: multiple of 32, e.g. 320/416/512; "
        "faceapi_ssd: 512; haar: longest image side; yunet: longest image side; blazeface*: "
        "fixed, 0 only); 0 = the detector's default",
        range=(0, 4096),
        reconfigure=True,
    ),
    ParamSpec(
        "detect_rate_hz",
        10.0,
        "Detections per second of image time; the EmotionalDAN node tracks the faces in "
        "between and asks for a detection at once when it loses one; 0 = every frame",
        range=(0.0, 1000.0),
    ),
    ParamSpec(
        "worker_nice",
        5,
        "Nice increment of the detection thread (Linux), so that on a busy CPU the per-frame "
        "recogniser goes first (faces are tracked between detections); 0 = normal priority",
        range=(0, 19),
        reconfigure=True,
    ),
    ParamSpec("min_face_size", 24, "Smallest face side in pixels", range=(8, 4096)),
    ParamSpec(
        "model_path",
        "",
        "Model file for detectors that ship none (yunet: its ONNX file); '' = none",
        reconfigure=True,
    ),
    ParamSpec("max_faces", 8, "Keep at most this many faces (highest scores)", range=(1, 64)),
    ParamSpec("score_threshold", 0.5, "Drop faces scoring below this", range=(0.0, 1.0)),
    ParamSpec("track_iou", 0.3, "IoU needed to keep a face id across frames", range=(0.01, 1.0)),
    ParamSpec(
        "track_max_missed", 5, "Frames a face may be missed before its id ends", range=(0, 1000)
    ),
    ParamSpec(
        "track_min_hits",
        1,
        "Frames a new face must be seen before it is published (hides flickering false faces)",
        range=(1, 100),
    ),
    *MODEL_NODE_PARAMS,
)


# Run-time parameters the detector is built with (apply_params rebuilds it).
DETECTOR_PARAMS = {"min_face_size", "max_faces", "score_threshold"}


class FaceDetectorNode(ModelNode):
    """Subscribes `camera/image_raw`, publishes `faces` with the image's header."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("face_detector", PARAMS, **kwargs)
        self.detector = None
        self.schedule = DetectionSchedule(self.params["detect_rate_hz"])
        self.add_post_set_parameters_callback(self._on_rate_change)

    def load(self) -> None:
        """Build the detector (loads its weights), the tracker and the publisher."""
        self.detector = self._create_detector()
        p = self.params
        self.tracker = IouTracker(
            iou_threshold=p["track_iou"],
            max_missed=p["track_max_missed"],
            min_hits=p["track_min_hits"],
        )
        self.schedule = DetectionSchedule(self.get_parameter("detect_rate_hz").value)
        self.faces_pub = self.create_lifecycle_publisher(Faces, "faces", RESULT_QOS)

    def _create_detector(self) -> object:
        """The detector the current parameters describe, warmed up."""
        p = self.params
        try:
            size = {"input_size": p["input_size"]} if p["input_size"] else {}
            if p["model_path"]:
                size["model_path"] = p["model_path"]
            engine = {"engine": p["engine"], "threads": p["inference_threads"]}
            detector = create_detector(
                p["detector"],
                min_face_size=p["min_face_size"],
                max_faces=p["max_faces"],
                score_threshold=p["score_threshold"],
                **size,
                **_accepted(p["detector"], engine),
            )
            # First inferences allocate and tune (ONNX Runtime): pay for it before frames come.
            detector.detect(np.zeros((480, 640, 3), np.uint8))
        except Exception as exc:
            raise RuntimeError(f"cannot create detector {p['detector']!r}: {exc}") from exc
        return detector

    def apply_params(self, names: set[str]) -> None:
        """Run-time changes: rebuild the detector for its thresholds, retune the tracker."""
        if names & DETECTOR_PARAMS:
            try:
                self.detector = self._create_detector()  # the same weights, new thresholds
            except RuntimeError as exc:  # keeps the previous detector; the change is logged
                self.stats.count("errors")
                self.get_logger().error(f"parameter change not applied: {exc}")
            else:
                self.get_logger().info(f"detector rebuilt for {sorted(names & DETECTOR_PARAMS)}")
        p = self.params
        self.tracker.iou_threshold = float(p["track_iou"])
        self.tracker.max_missed = int(p["track_max_missed"])
        self.tracker.min_hits = int(p["track_min_hits"])

    def subscribe(self) -> list:
        """Images in (each callback only hands a due image to the worker), detection requests."""
        return [
            image_subscription(
                self, self.image_callback, self.params["image_transport"], FRAME_SUB_QOS
            ),
            self.create_subscription(Header, "detect_request", self.request_callback, RESULT_QOS),
        ]

    def unload(self) -> None:
        """Free the detector."""
        self.destroy_publisher(self.faces_pub)
        self.detector = None

    def image_callback(self, msg: Image) -> None:
        """Count the image and pass it on when a detection is due."""
        self.stats.count("received")
        if self.schedule.due(stamp_ns(msg.header)):
            self.offer(msg)
        else:
            self.stats.count("skipped_by_rate")  # by design, not a drop

    def request_callback(self, msg: Header) -> None:
        """The EmotionalDAN node lost a face: detect the next frame."""
        self.stats.count("requests")
        self.schedule.request()

    def _on_rate_change(self, params: list) -> None:
        """Apply a new detect_rate_hz (already validated) at run time."""
        for param in params:
            if param.name == "detect_rate_hz":
                self.schedule.rate_hz = float(param.value)

    def process(self, msg: Image) -> None:
        """Detect, track and publish the faces of one image."""
        start = time.perf_counter()
        image = self.decode(msg)
        if image is None:
            return
        try:
            det = self.detector.detect(image)
        except Exception as exc:  # a detector bug must not kill the node; counted and logged
            self.stats.count("errors")
            self.get_logger().error(f"detector failed: {exc}", throttle_duration_sec=5.0)
            return
        ids = self.tracker.update(det.boxes, det.scores)
        keep = self.tracker.confirmed
        keypoints = det.keypoints[keep] if det.keypoints is not None else None
        self.faces_pub.publish(
            faces_message(
                msg.header,
                det.boxes[keep],
                det.scores[keep],
                ids[keep],
                self.detector.name,
                keypoints,
            )
        )
        self.stats.count("published")
        self.stats.count("faces", int(keep.sum()))
        self.stats.latency((time.perf_counter() - start) * 1e3)


def _accepted(detector: str, kwargs: dict[str, object]) -> dict[str, object]:
    """The `kwargs` that detector's constructor takes (engine and threads: the ONNX ones)."""
    from emotionaldan_ros.core.detection import base

    factory = base._REGISTRY.get(detector)  # registered by list_detectors() in the check
    if factory is None:
        return {}
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def main(args: list[str] | None = None) -> None:
    """Run the face detector (configured and activated at start)."""
    run_lifecycle(FaceDetectorNode, args)


if __name__ == "__main__":
    main()
