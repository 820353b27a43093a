"""Face detector node: finds faces in each image and gives them stable ids (lifecycle node)."""

from __future__ import annotations

import time

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import Image

from emotionaldan_msgs.msg import Faces
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR, create_detector, list_detectors
from emotionaldan_ros.core.detection.tracker import IouTracker
from emotionaldan_ros.core.image_codec import ImageDecodeError
from emotionaldan_ros.nodes.common import (
    FRAME_SUB_QOS,
    RESULT_QOS,
    Diagnostics,
    LatestSlot,
    Stats,
    Worker,
    declare_params,
    image_msg_to_bgr,
    set_torch_threads,
)
from emotionaldan_ros.nodes.messages import faces_message
from emotionaldan_ros.nodes.runtime import run_lifecycle
from emotionaldan_ros.params import ParamSpec

PARAMS = (
    ParamSpec(
        "detector",
        DEFAULT_DETECTOR,
        "Face detector backend (see emotionaldan_ros.core.detection.list_detectors())",
        check=lambda v: None if v in list_detectors() else f"unknown detector {v!r}",
        read_only=True,
    ),
    ParamSpec(
        "torch_threads",
        1,
        "CPU threads torch may use in this process (0 = torch's default); the detector and the "
        "recogniser each run in their own worker thread",
        range=(0, 256),
        read_only=True,
    ),
    ParamSpec("min_face_size", 40, "Smallest face side in pixels", range=(8, 4096)),
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
)


class FaceDetectorNode(LifecycleNode):
    """Subscribes `camera/image_raw`, publishes `faces` with the image's header."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("face_detector", **kwargs)
        self.params = declare_params(self, PARAMS)
        self.stats = Stats()
        self.diagnostics = Diagnostics(self, self.stats)
        self.diagnostics.state = "unconfigured"
        self.detector = None
        self._sub = None
        self._worker: Worker | None = None

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Build the detector (loads its weights) and the publisher."""
        p = self.params
        set_torch_threads(p["torch_threads"])
        try:
            self.detector = create_detector(
                p["detector"],
                min_face_size=p["min_face_size"],
                max_faces=p["max_faces"],
                score_threshold=p["score_threshold"],
            )
        except Exception as exc:  # missing weights, bad parameters: a clear failure
            self.get_logger().error(f"cannot create detector {p['detector']!r}: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.tracker = IouTracker(
            iou_threshold=p["track_iou"],
            max_missed=p["track_max_missed"],
            min_hits=p["track_min_hits"],
        )
        self.faces_pub = self.create_lifecycle_publisher(Faces, "faces", RESULT_QOS)
        self.diagnostics.state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start receiving images."""
        self._slot: LatestSlot[Image] = LatestSlot()
        self._worker = Worker(self, self._slot, self.process, self.stats)
        self._sub = self.create_subscription(
            Image, "camera/image_raw", self.image_callback, FRAME_SUB_QOS
        )
        self.diagnostics.state = "running"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop receiving images."""
        self.close()
        self.diagnostics.state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the detector."""
        self.destroy_publisher(self.faces_pub)
        self.detector = None
        self.diagnostics.state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def image_callback(self, msg: Image) -> None:
        """Hand the newest image to the worker; an unprocessed older one is a counted drop."""
        self.stats.count("received")
        if self._slot.put(msg):
            self.stats.count("dropped_overrun")

    def process(self, msg: Image) -> None:
        """Detect, track and publish the faces of one image."""
        start = time.perf_counter()
        try:
            image = image_msg_to_bgr(msg)
        except ImageDecodeError as exc:
            self.stats.count("dropped_bad_image")
            self.get_logger().warning(f"dropped image: {exc}", throttle_duration_sec=5.0)
            return
        try:
            det = self.detector.detect(image)
        except Exception as exc:  # a detector bug must not kill the node; counted and logged
            self.stats.count("errors")
            self.get_logger().error(f"detector failed: {exc}", throttle_duration_sec=5.0)
            return
        ids = self.tracker.update(det.boxes, det.scores)
        keep = self.tracker.confirmed
        self.faces_pub.publish(
            faces_message(
                msg.header, det.boxes[keep], det.scores[keep], ids[keep], self.detector.name
            )
        )
        self.stats.count("published")
        self.stats.count("faces", int(keep.sum()))
        self.stats.latency((time.perf_counter() - start) * 1e3)

    def close(self) -> None:
        """Stop the worker and the subscription."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None


def main(args: list[str] | None = None) -> None:
    """Run the face detector (configured and activated at start)."""
    run_lifecycle(FaceDetectorNode, args)


if __name__ == "__main__":
    main()
