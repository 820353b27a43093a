"""Camera and face detector nodes in a real rclpy graph."""

import cv2
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rosutil import RosHarness
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from emotionaldan_msgs.msg import Faces
from emotionaldan_ros.core.sources import SourceError, demo_dir
from emotionaldan_ros.nodes.camera import CameraNode
from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, RESULT_QOS, bgr_to_image_msg
from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
from emotionaldan_ros.nodes.runtime import activate

pytestmark = pytest.mark.ros

# Frame 0 of the demo clip: the smiling astronaut, one face.
FACE_FRAME = demo_dir() / "frame_0000.jpg"


def write_frames(folder, n=3):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    return folder


def test_camera_publishes_folder_then_ends_cleanly(tmp_path):
    folder = write_frames(tmp_path / "frames")
    with RosHarness() as ros:
        images = ros.collect(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        infos = ros.collect(CameraInfo, "/cabin/camera/camera_info", FRAME_PUB_QOS)
        # Subscribers exist before the camera starts, so nothing is lost at discovery.
        params = [
            Parameter("source", value=str(folder)),
            Parameter("fps", value=20.0),
            Parameter("frame_id", value="test_cam"),
        ]
        cam = ros.add(
            CameraNode(context=ros.context, namespace="/cabin", parameter_overrides=params)
        )
        assert ros.spin_until(lambda: cam.finished, timeout=10)
        assert ros.spin_until(lambda: len(images) == 3 and len(infos) == 3, timeout=5)
        assert [int(m.data[0]) for m in images] == [0, 40, 80]
        assert all(m.header.frame_id == "test_cam" and m.encoding == "bgr8" for m in images)
        assert (images[0].width, images[0].height, images[0].step) == (64, 48, 192)
        assert infos[1].header.stamp == images[1].header.stamp and infos[1].k[0] > 0
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in images]
        assert stamps == sorted(set(stamps))


def test_camera_publishes_mono8_when_asked(tmp_path):
    folder = write_frames(tmp_path / "frames", n=2)
    with RosHarness() as ros:
        images = ros.collect(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        params = [
            Parameter("source", value=str(folder)),
            Parameter("fps", value=20.0),
            Parameter("encoding", value="mono8"),
        ]
        cam = ros.add(
            CameraNode(context=ros.context, namespace="/cabin", parameter_overrides=params)
        )
        assert ros.spin_until(lambda: cam.finished and len(images) == 2, timeout=10)
        assert all(m.encoding == "mono8" for m in images)
        assert (images[1].width, images[1].height, images[1].step) == (64, 48, 64)
        assert len(images[1].data) == 64 * 48 and int(images[1].data[0]) == 40  # gray 40


def test_camera_loop_keeps_going(tmp_path):
    folder = write_frames(tmp_path / "frames", n=2)
    with RosHarness() as ros:
        images = ros.collect(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        params = [
            Parameter("source", value=str(folder)),
            Parameter("fps", value=50.0),
            Parameter("loop", value=True),
        ]
        cam = ros.add(
            CameraNode(context=ros.context, namespace="/cabin", parameter_overrides=params)
        )
        assert ros.spin_until(lambda: len(images) >= 5)
        assert not cam.finished


def test_camera_missing_device_and_bad_params_are_clear_errors():
    with RosHarness() as ros:
        with pytest.raises(SourceError, match="/dev/video77"):
            CameraNode(
                context=ros.context,
                parameter_overrides=[Parameter("source", value="/dev/video77")],
            )
        with pytest.raises(ValueError, match=r"bad parameter fps.*out of range"):
            CameraNode(
                context=ros.context,
                parameter_overrides=[
                    Parameter("source", value="demo"),
                    Parameter("fps", value=-1.0),
                ],
            )
        with pytest.raises(ValueError, match="encoding must be one of"):
            CameraNode(
                context=ros.context,
                parameter_overrides=[
                    Parameter("source", value="demo"),
                    Parameter("encoding", value="rgb8"),
                ],
            )


def header(sec):
    h = Header(frame_id="cam")
    h.stamp.sec = sec
    return h


@pytest.mark.parametrize("detector", ["haar", "faceapi_tiny", "blazeface"])
def test_detector_node_finds_real_face_and_survives_bad_images(detector):
    image = cv2.imread(str(FACE_FRAME))
    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("detector", value=detector),
                    Parameter("track_max_missed", value=2),
                ],
            )
        )
        activate(node)
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        ros.wait_connected("/cabin/camera/image_raw", "/cabin/faces")

        def send(msg, wait_for=None):
            pub.publish(msg)
            if wait_for is not None:
                assert ros.spin_until(lambda: len(faces) >= wait_for), f"{len(faces)} Faces"

        send(bgr_to_image_msg(image, header(1)), wait_for=1)
        send(bgr_to_image_msg(image, header(2)), wait_for=2)
        first, second = faces
        assert first.header.stamp.sec == 1 and first.header.frame_id == "cam"
        assert len(first.faces) == 1 and first.detector == detector
        roi = first.faces[0].roi
        # the astronaut's face sits in the upper middle of the frame
        cx, cy = roi.x_offset + roi.width / 2, roi.y_offset + roi.height / 2
        assert 150 < cx < 500 and 30 < cy < 330 and roi.width > 60
        assert second.faces[0].id == first.faces[0].id  # stable id across frames
        keypoints = first.faces[0].keypoints
        if detector == "blazeface":  # eyes, nose, mouth, ears in image pixels
            assert len(keypoints) == 6
            eyes = keypoints[:2]
            assert all(roi.x_offset < p.x < roi.x_offset + roi.width for p in eyes)
            assert all(roi.y_offset < p.y < roi.y_offset + roi.height for p in eyes)
            assert eyes[0].x < eyes[1].x  # the subject's right eye on the image's left
        else:
            assert keypoints == []

        bad = bgr_to_image_msg(image, header(3))
        bad.step = 10  # step smaller than a row
        odd = bgr_to_image_msg(image, header(4))
        odd.encoding = "32FC4"
        empty = Image(header=header(5), encoding="bgr8")  # 0x0 image
        for k, msg in enumerate((bad, odd, empty), start=1):
            pub.publish(msg)
            assert ros.spin_until(lambda k=k: node.stats.counts.get("dropped_bad_image") == k)
        send(bgr_to_image_msg(np.zeros((120, 160, 3), np.uint8), header(6)), wait_for=3)
        assert faces[-1].header.stamp.sec == 6 and faces[-1].faces == []
        assert node.stats.counts.get("errors", 0) == 0


def test_unknown_detector_rejected():
    with RosHarness() as ros, pytest.raises(ValueError, match="unknown detector"):
        FaceDetectorNode(
            context=ros.context, parameter_overrides=[Parameter("detector", value="nope")]
        )


def test_detector_node_publishes_new_faces_after_min_hits():
    image = cv2.imread(str(FACE_FRAME))
    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("detector", value="faceapi_tiny"),
                    Parameter("track_min_hits", value=2),
                ],
            )
        )
        activate(node)
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        ros.wait_connected("/cabin/camera/image_raw", "/cabin/faces")
        for k in (1, 2):
            pub.publish(bgr_to_image_msg(image, header(k)))
            assert ros.spin_until(lambda k=k: len(faces) >= k)
        assert faces[0].faces == []  # seen once: not confirmed yet
        assert len(faces[1].faces) == 1


@pytest.mark.parametrize(
    ("detector", "size", "ok"),
    [("faceapi_tiny", 320, True), ("haar", 320, True), ("faceapi_tiny", 100, False)],
)
def test_detector_input_size_reaches_the_detector_or_fails_configure(detector, size, ok):
    from rclpy.lifecycle import TransitionCallbackReturn

    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                parameter_overrides=[
                    Parameter("detector", value=detector),
                    Parameter("input_size", value=size),
                ],
            )
        )
        result = node.trigger_configure()
        assert (result == TransitionCallbackReturn.SUCCESS) is ok
        if ok:
            assert size in (
                getattr(node.detector, "input_size", None),
                getattr(node.detector, "max_side", None),
            )


def test_detector_runs_at_its_rate_and_at_once_on_request():
    """30 fps stamps, detect_rate_hz 10: every third frame; a request makes the next one due."""
    image = cv2.resize(cv2.imread(str(FACE_FRAME)), (320, 240))
    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[Parameter("detector", value="haar")],
            )
        )
        activate(node)
        assert node.get_parameter("detect_rate_hz").value == 10.0
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        req = ros.probe.create_publisher(Header, "/cabin/detect_request", RESULT_QOS)
        ros.wait_connected("/cabin/camera/image_raw", "/cabin/faces", "/cabin/detect_request")

        def send(k: int) -> None:
            """Publish frame k (30 fps stamps); wait for its Faces or for the node to skip it."""
            h = Header(frame_id="cam")
            h.stamp.sec, h.stamp.nanosec = 50, k * 33_333_333
            done = len(faces) + node.stats.counts.get("skipped_by_rate", 0)
            pub.publish(bgr_to_image_msg(image, h))
            assert ros.spin_until(
                lambda: len(faces) + node.stats.counts.get("skipped_by_rate", 0) > done
            )

        def detected() -> list[int]:
            return [f.header.stamp.nanosec // 33_333_333 for f in faces]

        for k in range(8):
            send(k)
        assert detected() == [0, 3, 6]
        req.publish(Header())
        assert ros.spin_until(lambda: node.stats.counts.get("requests") == 1)
        send(8)  # not due by the rate (next at 9), but requested
        send(9)
        assert detected() == [0, 3, 6, 8]
        # A rate of 0 detects every frame (parameter changes apply at run time).
        assert node.set_parameters([Parameter("detect_rate_hz", value=0.0)])[0].successful
        for k in (10, 11):
            send(k)
        assert detected()[-2:] == [10, 11]
        assert node.stats.dropped() == 0


def test_detection_thread_runs_niced_so_the_recogniser_goes_first():
    import os
    import threading

    seen = []

    class Probe(FaceDetectorNode):
        def process(self, msg):  # record the worker thread's nice value instead of detecting
            tid = threading.get_native_id()
            main = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main thread's nice
            seen.append(os.getpriority(os.PRIO_PROCESS, tid) - main)

    with RosHarness() as ros:
        node = ros.add(
            Probe(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[Parameter("detector", value="haar")],
            )
        )
        activate(node)
        assert node.get_parameter("worker_nice").value == 5
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)
        ros.wait_connected("/cabin/camera/image_raw")
        pub.publish(bgr_to_image_msg(np.zeros((48, 64, 3), np.uint8), header(1)))
        assert ros.spin_until(lambda: bool(seen))
        assert seen[0] == 5 or os.getpriority(os.PRIO_PROCESS, os.getpid()) + 5 > 19  # max 19
