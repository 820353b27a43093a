"""ROS4HRI output, tested with stand-in message classes (hri_msgs is not on PyPI).

The stand-ins only carry the field names the bridge sets, written for this test from the
ROS4HRI interface documentation; the real `hri_msgs` types are not built or used here, so
publishing them on a ROS install is untested on this machine (README, "ROS4HRI").
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from emotionaldan_ros.core.hri import face_id, hri_face, valence_arousal
from emotionaldan_ros.core.labels import EMOTIONS_7


def test_hri_face_normalises_and_names():
    marks = np.stack([np.linspace(100, 200, 68), np.linspace(50, 150, 68)], axis=1)
    probs = np.eye(7)[EMOTIONS_7.index("fear")] * 0.8 + 0.2 / 7
    face = hri_face(7, (64, 48, 320, 240), 0.9, probs, marks, 640, 480)
    assert face.id == "face7" and face.expression == "scared"
    assert face.roi == pytest.approx((0.1, 0.1, 0.5, 0.5, 0.9))
    assert face.landmarks.shape == (70, 3) and face.landmarks[:, 2].min() == 1.0
    assert face.landmarks[0, :2] == pytest.approx([100 / 640, 50 / 480])
    right_pupil = marks[36:42].mean(0) / [640, 480]
    assert face.landmarks[68, :2] == pytest.approx(right_pupil)
    assert face.valence < 0 < face.arousal and face.confidence == pytest.approx(probs.max())
    nolm = hri_face(1, (0, 0, 10, 10), 1.0, probs, None, 640, 480)
    assert not nolm.landmarks.any()
    with pytest.raises(ValueError, match="image size"):
        hri_face(1, (0, 0, 10, 10), 1.0, probs, None, 0, 480)


def test_valence_arousal_follow_the_distribution():
    happy = valence_arousal(np.eye(7)[1], EMOTIONS_7)
    sad = valence_arousal(np.eye(7)[2], EMOTIONS_7)
    assert happy[0] > 0.5 and sad[0] < -0.5
    assert valence_arousal(np.eye(7)[0], EMOTIONS_7) == (0.0, 0.0)
    assert face_id(12) == "face12"  # a topic token may not start with a digit


def _standin_msgs() -> types.SimpleNamespace:
    def msg(name: str) -> type:
        def init(self, **fields):
            self.__dict__.update(fields)

        return type(name, (), {"__init__": init})

    names = (
        "IdsList",
        "NormalizedRegionOfInterest2D",
        "NormalizedPointOfInterest2D",
        "FacialLandmarks",
        "Expression",
    )
    return types.SimpleNamespace(**{n: msg(n) for n in names})


pytest.importorskip("emotionaldan_msgs.msg")


def test_bridge_publishes_per_face_topics_and_tracked_list():
    from sensor_msgs.msg import RegionOfInterest
    from std_msgs.msg import Header

    from emotionaldan_msgs.msg import Emotion, EmotionArray, Point2D
    from emotionaldan_ros.nodes.hri_bridge import HriBridge

    sent: dict[str, list] = {}
    destroyed: list[str] = []

    class Pub:
        def __init__(self, cls, topic):
            self.topic = topic
            sent.setdefault(topic, [])

        def publish(self, msg):
            sent[self.topic].append(msg)

    bridge = HriBridge(_standin_msgs(), Pub, lambda pub: destroyed.append(pub.topic))

    def frame(*ids: int) -> EmotionArray:
        h = Header(frame_id="cabin_camera_optical_frame")
        h.stamp.sec = 5
        out = EmotionArray(header=h)
        for i in ids:
            probs = np.full(7, 0.05, np.float32)
            probs[1] = 0.7
            out.emotions.append(
                Emotion(
                    face_id=i,
                    roi=RegionOfInterest(x_offset=64, y_offset=48, width=64, height=96),
                    detection_score=0.8,
                    probabilities=probs.tolist(),
                    landmarks=[Point2D(x=320.0, y=240.0)] * 68,
                )
            )
        return out

    assert bridge.publish(frame(3)) == 0  # image size unknown until CameraInfo
    bridge.size = (640, 480)
    assert bridge.publish(frame(3, 4)) == 2
    roi = sent["/humans/faces/face3/roi"][-1]
    assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx((0.1, 0.1, 0.2, 0.3))
    assert roi.header.stamp.sec == 5 and roi.c == pytest.approx(0.8)
    marks = sent["/humans/faces/face4/landmarks"][-1]
    assert len(marks.landmarks) == 70 and (marks.width, marks.height) == (640, 480)
    assert marks.landmarks[0].x == pytest.approx(0.5)
    expr = sent["/humans/faces/face3/expression"][-1]
    assert expr.expression == "happy" and expr.confidence == pytest.approx(0.7)
    assert sent["/humans/faces/tracked"][-1].ids == ["face3", "face4"]
    # Face 4 leaves: its topics go, the tracked list follows.
    bridge.publish(frame(3))
    assert sorted(destroyed) == [
        "/humans/faces/face4/expression",
        "/humans/faces/face4/landmarks",
        "/humans/faces/face4/roi",
    ]
    assert sent["/humans/faces/tracked"][-1].ids == ["face3"]


def test_bridge_node_without_hri_msgs_says_where_to_get_it():
    pytest.importorskip("rclpy")
    try:
        import hri_msgs  # noqa: F401
    except ImportError:
        from emotionaldan_ros.nodes.hri_bridge import import_hri_msgs

        with pytest.raises(ImportError, match="not on PyPI"):
            import_hri_msgs()
    else:
        pytest.skip("hri_msgs is installed here")
