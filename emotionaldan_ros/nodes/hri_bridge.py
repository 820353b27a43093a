"""ROS4HRI output: `emotion` → `/humans/faces/<id>/{roi,landmarks,expression}` + `tracked`.

Optional: runs only where `hri_msgs` (ROS4HRI's interfaces, on ROS installs, not on PyPI) is
importable, so ROS4HRI tools and RViz plugins see the cabin's passengers. The image size needed
to normalise coordinates comes from `camera/camera_info`. Per-face publishers are created when a
face appears and destroyed when it leaves the tracked list (ROS4HRI's convention).

`HriBridge` holds the logic with the message module and the publisher factory passed in, so it
is tested without `hri_msgs` (test_hri_bridge.py); the node wires it to rclpy.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo

from emotionaldan_msgs.msg import EmotionArray
from emotionaldan_ros.core.hri import HriFace, hri_face
from emotionaldan_ros.nodes.common import RESULT_QOS, Diagnostics, Stats, declare_params
from emotionaldan_ros.nodes.messages import roi_boxes
from emotionaldan_ros.nodes.runtime import run_single
from emotionaldan_ros.params import ParamSpec

PARAMS = (
    ParamSpec(
        "prefix",
        "/humans/faces",
        "Root of the ROS4HRI face topics (REP-155: /humans/faces)",
        read_only=True,
    ),
)
HRI_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


def import_hri_msgs() -> types.ModuleType:
    """`hri_msgs.msg`, or an ImportError that says where it comes from."""
    try:
        import hri_msgs.msg
    except ImportError as exc:
        raise ImportError(
            "hri_msgs is not installed: the ROS4HRI bridge needs it (e.g. "
            "`apt install ros-$ROS_DISTRO-hri-msgs` on a ROS install; it is not on PyPI)"
        ) from exc
    return hri_msgs.msg


class HriBridge:
    """Turns EmotionArray messages into ROS4HRI messages.

    Args:
        msgs: a module with IdsList, NormalizedRegionOfInterest2D, FacialLandmarks,
            NormalizedPointOfInterest2D and Expression (`hri_msgs.msg`).
        create_publisher: (message class, topic) → publisher with `publish`.
        destroy_publisher: frees a publisher made by `create_publisher`.
        prefix: root of the face topics.
    """

    def __init__(
        self,
        msgs: Any,
        create_publisher: Callable[[type, str], Any],
        destroy_publisher: Callable[[Any], None],
        prefix: str = "/humans/faces",
    ) -> None:
        self.msgs = msgs
        self._create, self._destroy = create_publisher, destroy_publisher
        self.prefix = prefix.rstrip("/")
        self.tracked_pub = create_publisher(msgs.IdsList, f"{self.prefix}/tracked")
        self.faces: dict[str, dict[str, Any]] = {}
        self.size: tuple[int, int] | None = None

    def _publishers(self, face: str) -> dict[str, Any]:
        if face not in self.faces:
            base = f"{self.prefix}/{face}"
            m = self.msgs
            self.faces[face] = {
                "roi": self._create(m.NormalizedRegionOfInterest2D, f"{base}/roi"),
                "landmarks": self._create(m.FacialLandmarks, f"{base}/landmarks"),
                "expression": self._create(m.Expression, f"{base}/expression"),
            }
        return self.faces[face]

    def convert(self, msg: EmotionArray) -> list[HriFace]:
        """The faces of one EmotionArray in ROS4HRI's terms (needs the image size)."""
        if self.size is None:
            return []
        width, height = self.size
        boxes = roi_boxes([e.roi for e in msg.emotions])
        out = []
        for e, box in zip(msg.emotions, boxes, strict=True):
            marks = np.array([(p.x, p.y) for p in e.landmarks], np.float64)
            probs = np.asarray(e.probabilities, np.float64)
            out.append(hri_face(e.face_id, box, e.detection_score, probs, marks, width, height))
        return out

    def publish(self, msg: EmotionArray) -> int:
        """Publish one frame's faces and the tracked list; returns the faces published."""
        if self.size is None:
            return 0
        m, (width, height) = self.msgs, self.size
        faces = self.convert(msg)
        for face in faces:
            pubs = self._publishers(face.id)
            x1, y1, x2, y2, c = face.roi
            pubs["roi"].publish(
                m.NormalizedRegionOfInterest2D(
                    header=msg.header, xmin=x1, ymin=y1, xmax=x2, ymax=y2, c=c
                )
            )
            points = [
                m.NormalizedPointOfInterest2D(x=float(x), y=float(y), c=float(conf))
                for x, y, conf in face.landmarks
            ]
            pubs["landmarks"].publish(
                m.FacialLandmarks(header=msg.header, landmarks=points, height=height, width=width)
            )
            pubs["expression"].publish(
                m.Expression(
                    header=msg.header,
                    expression=face.expression,
                    valence=face.valence,
                    arousal=face.arousal,
                    confidence=face.confidence,
                )
            )
        seen = {f.id for f in faces}
        for gone in [f for f in self.faces if f not in seen]:
            for pub in self.faces.pop(gone).values():
                self._destroy(pub)
        self.tracked_pub.publish(m.IdsList(header=msg.header, ids=sorted(seen)))
        return len(faces)


class HriBridgeNode(Node):
    """Subscribes `emotion` + `camera/camera_info`; publishes the ROS4HRI face topics."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("hri_bridge", **kwargs)
        p = declare_params(self, PARAMS)
        msgs = import_hri_msgs()
        self.stats = Stats()
        self.diagnostics = Diagnostics(self, self.stats)
        self.bridge = HriBridge(
            msgs,
            lambda cls, topic: self.create_publisher(cls, topic, HRI_QOS),
            self.destroy_publisher,
            p["prefix"],
        )
        self.create_subscription(CameraInfo, "camera/camera_info", self.info_callback, 1)
        self.create_subscription(EmotionArray, "emotion", self.emotion_callback, RESULT_QOS)

    def info_callback(self, msg: CameraInfo) -> None:
        """Remember the image size (coordinates are normalised by it)."""
        if msg.width > 0 and msg.height > 0:
            self.bridge.size = (int(msg.width), int(msg.height))

    def emotion_callback(self, msg: EmotionArray) -> None:
        """Publish the frame's faces; frames before the first CameraInfo are counted drops."""
        self.stats.count("received")
        if self.bridge.size is None:
            self.stats.count("dropped_no_camera_info")
            self.get_logger().warning(
                "no camera/camera_info yet: image size unknown", throttle_duration_sec=5.0
            )
            return
        self.stats.count("faces", self.bridge.publish(msg))
        self.stats.count("published")


def main(args: list[str] | None = None) -> None:
    """Run the ROS4HRI bridge (`ros2 run emotionaldan_ros hri_bridge_node`)."""
    run_single(HriBridgeNode, args)


if __name__ == "__main__":
    main()
