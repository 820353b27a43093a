"""Issue 10.2: parameters set at run time take effect (or are refused with the way to set them).

Each test changes a parameter of a running node through the parameter API (what `ros2 param set`
calls) and checks the node's behaviour, not only the stored value: they used to be accepted and
ignored (the nodes kept a copy made at start-up). `reconfigure` parameters are refused while the
node is configured and read by the next configure; `device` is validated.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rosutil import RosHarness
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from emotionaldan_msgs.msg import EmotionArray, Face, Faces
from emotionaldan_ros.core.devices import device_problem
from emotionaldan_ros.core.sources import demo_dir
from emotionaldan_ros.nodes.camera import CameraNode
from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, RESULT_QOS, bgr_to_image_msg
from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
from emotionaldan_ros.nodes.runtime import activate

pytestmark = pytest.mark.ros

FACE_FRAME = demo_dir() / "frame_0000.jpg"  # one face, about 100 px wide


def header(sec: int) -> Header:
    h = Header(frame_id="cam")
    h.stamp.sec = sec
    return h


def set_param(node, name, value) -> tuple[bool, str]:
    (result,) = node.set_parameters([Parameter(name, value=value)])
    return result.successful, result.reason


def reconfigure(node) -> None:
    for step in (node.trigger_deactivate, node.trigger_cleanup):
        assert step() == TransitionCallbackReturn.SUCCESS


def test_detector_thresholds_apply_at_run_time_and_survive_a_reconfigure():
    image = cv2.imread(str(FACE_FRAME))
    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("detector", value="haar"),
                    Parameter("detect_rate_hz", value=0.0),
                ],
            )
        )
        activate(node)
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        ros.wait_connected("/cabin/camera/image_raw", "/cabin/faces")

        def detect(sec: int) -> Faces:
            pub.publish(bgr_to_image_msg(image, header(sec)))
            assert ros.spin_until(lambda: faces and faces[-1].header.stamp.sec == sec)
            return faces[-1]

        assert len(detect(1).faces) == 1
        assert set_param(node, "min_face_size", 1000) == (True, "")
        assert detect(2).faces == []  # the running detector uses it: the face is too small now
        assert set_param(node, "track_min_hits", 7)[0]
        detect(3)
        assert node.tracker.min_hits == 7
        reconfigure(node)  # deactivate, cleanup, configure, activate: re-reads every value
        activate(node)
        assert node.detector.min_face_size == 1000 and node.tracker.min_hits == 7
        assert set_param(node, "min_face_size", 24)[0]
        assert set_param(node, "track_min_hits", 1)[0]
        assert len(detect(4).faces) == 1
        assert node.stats.counts.get("errors", 0) == 0


def test_reconfigure_parameters_wait_for_the_unconfigured_state():
    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context, parameter_overrides=[Parameter("detector", value="haar")]
            )
        )
        activate(node)
        ok, reason = set_param(node, "detector", "faceapi_tiny")
        assert not ok and "unconfigured" in reason and "ros2 lifecycle set" in reason
        assert node.get_parameter("detector").value == "haar"
        reconfigure(node)
        assert set_param(node, "detector", "faceapi_tiny") == (True, "")
        assert not set_param(node, "detector", "nope")[0]  # still validated
        activate(node)
        assert node.detector.name == "faceapi_tiny"


class Emotion:
    """An EmotionalDAN node on the stub recogniser, pairing mode (one Faces per image)."""

    def __init__(self, ros: RosHarness, *overrides: Parameter) -> None:
        self.ros = ros
        self.node = ros.add(
            EmotionalDanNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("backend", value="python:stubs:stub"),
                    Parameter("track_faces", value=False),
                    *overrides,
                ],
            )
        )
        activate(self.node)
        self.emotions = ros.collect(EmotionArray, "/cabin/emotion", RESULT_QOS)
        self.debug = ros.collect(Image, "/cabin/debug_image", FRAME_PUB_QOS)
        self.image_pub = ros.probe.create_publisher(
            Image, "/cabin/camera/image_raw", FRAME_PUB_QOS
        )
        self.faces_pub = ros.probe.create_publisher(Faces, "/cabin/faces", RESULT_QOS)
        ros.wait_connected("/cabin/camera/image_raw", "/cabin/faces", "/cabin/emotion")

    def send(self, sec: int, boxes=((20, 30, 60, 60, 0.9),), image: Image | None = None):
        h = header(sec)
        msg = Faces(header=h, detector="test")
        for i, (x, y, w, hh, score) in enumerate(boxes):
            roi = RegionOfInterest(x_offset=x, y_offset=y, width=w, height=hh)
            msg.faces.append(Face(id=i + 1, roi=roi, score=score))
        self.faces_pub.publish(msg)
        self.image_pub.publish(image or bgr_to_image_msg(np.full((240, 320, 3), 99, np.uint8), h))

    def wait(self, sec: int) -> EmotionArray:
        assert self.ros.spin_until(
            lambda: self.emotions and self.emotions[-1].header.stamp.sec == sec
        ), f"no emotion for stamp {sec}"
        return self.emotions[-1]


def test_emotionaldan_outputs_and_cache_follow_run_time_changes():
    with RosHarness() as ros:
        g = Emotion(ros)
        g.send(1)
        g.wait(1)
        assert g.debug == []
        assert set_param(g.node, "publish_debug_image", True)[0]
        g.send(2)
        g.wait(2)
        assert ros.spin_until(lambda: any(m.header.stamp.sec == 2 for m in g.debug))
        assert set_param(g.node, "pair_cache_size", 2)[0]
        assert g.node.pairer.capacity == 2
        before = g.node.stats.counts["detections"]
        for k, sec in enumerate(range(10, 16), start=1):  # faces whose images never come
            g.faces_pub.publish(Faces(header=header(sec)))
            assert ros.spin_until(lambda k=k: g.node.stats.counts["detections"] == before + k)
        assert g.node.stats.counts["dropped_unpaired"] == 4  # the smaller cache evicts them


def test_faces_per_frame_are_capped_and_bad_scores_dropped():
    with RosHarness() as ros:
        g = Emotion(ros)
        many = [(x % 280, (x // 280) * 4 % 200, 30, 30, 0.5 + (x % 7) / 20) for x in range(500)]
        g.send(1, many)
        assert len(g.wait(1).emotions) == 16  # max_faces_per_frame
        assert g.node.stats.counts["dropped_too_many_faces"] == 500 - 16
        assert min(e.detection_score for e in g.emotions[-1].emotions) == pytest.approx(0.8)
        assert set_param(g.node, "max_faces_per_frame", 3)[0]
        g.send(2, many)
        assert len(g.wait(2).emotions) == 3
        bad = [(20, 20, 40, 40, s) for s in (float("nan"), float("inf"), -0.1, 1.5)]
        g.send(3, [*bad, (100, 20, 40, 40, 0.7)])
        (kept,) = g.wait(3).emotions
        assert kept.detection_score == pytest.approx(0.7)
        assert g.node.stats.counts["dropped_bad_score"] == 4


def test_oversized_images_are_dropped_before_decoding():
    with RosHarness() as ros:
        g = Emotion(ros, Parameter("max_image_pixels", value=320 * 240))
        g.send(1)
        g.wait(1)
        big = bgr_to_image_msg(np.zeros((241, 320, 3), np.uint8), header(2))
        g.send(2, image=big)
        assert ros.spin_until(lambda: g.node.stats.counts.get("dropped_too_large") == 1)
        assert set_param(g.node, "max_image_pixels", 10**6)[0]
        g.send(3, image=bgr_to_image_msg(np.zeros((241, 320, 3), np.uint8), header(3)))
        g.wait(3)


def test_device_is_validated_and_backend_never_changes_at_run_time():
    assert device_problem("cpu") is None
    for bad in ("foo", "", "cuda:7", "cuda:-1", "CPU", "cuda:"):
        assert device_problem(bad, cuda_devices=1), bad
    assert device_problem("cuda:0", cuda_devices=1) is None
    assert "no CUDA device" in device_problem("cuda", cuda_devices=0)
    with RosHarness() as ros:
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            EmotionalDanNode(
                context=ros.context, parameter_overrides=[Parameter("device", value="foo")]
            )
        node = ros.add(
            EmotionalDanNode(
                context=ros.context,
                parameter_overrides=[Parameter("backend", value="python:stubs:stub")],
            )
        )
        for value in ("foo", "", "cuda:7"):  # unconfigured: validated
            ok, reason = set_param(node, "device", value)
            assert not ok and "device" in reason, value
        activate(node)
        ok, reason = set_param(node, "device", "cpu")
        assert not ok and "unconfigured" in reason  # active: the model would need a reload
        # python:MODULE:FACTORY runs code: no state of the node lets a remote caller set it.
        for state in ("active", "unconfigured"):
            ok, reason = set_param(node, "backend", "python:os:getcwd")
            assert not ok, state
            if state == "active":
                reconfigure(node)
        assert node.get_parameter("backend").value == "python:stubs:stub"


def test_camera_rate_size_and_frame_id_change_at_run_time(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "f.png"), np.full((48, 64, 3), 77, np.uint8))
    with RosHarness() as ros:
        images = ros.collect(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        cam = ros.add(
            CameraNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("source", value=str(folder)),
                    Parameter("loop", value=True),
                    Parameter("fps", value=20.0),
                ],
            )
        )
        assert ros.spin_until(lambda: len(images) >= 2)
        assert cam.timer.timer_period_ns == 50_000_000
        assert set_param(cam, "fps", 40.0)[0]
        assert cam.timer.timer_period_ns == 25_000_000
        for name, value in (("width", 32), ("height", 24), ("frame_id", "rear_optical")):
            assert set_param(cam, name, value)[0]
        n = len(images)
        assert ros.spin_until(lambda: len(images) >= n + 2)
        last = images[-1]
        assert (last.width, last.height, last.header.frame_id) == (32, 24, "rear_optical")
        assert set_param(cam, "encoding", "mono8")[0]
        assert ros.spin_until(lambda: images[-1].encoding == "mono8")
        assert not set_param(cam, "source", "demo")[0]  # read-only: opening a device
