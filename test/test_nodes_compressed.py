"""sensor_msgs/CompressedImage in and out: the camera, the detector and EmotionalDAN nodes."""

import cv2
import numpy as np
import pytest
from rclpy.parameter import Parameter
from rosutil import RosHarness
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from emotionaldan_msgs.msg import EmotionArray, Faces
from emotionaldan_ros.core.image_codec import decode_compressed
from emotionaldan_ros.core.sources import demo_dir
from emotionaldan_ros.nodes.camera import CameraNode
from emotionaldan_ros.nodes.common import (
    FRAME_PUB_QOS,
    RESULT_QOS,
    bgr_to_compressed_msg,
    image_msg_to_bgr,
    image_topic,
)
from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
from emotionaldan_ros.nodes.runtime import activate

pytestmark = pytest.mark.ros
RAW, COMPRESSED = "/cabin/camera/image_raw", "/cabin/camera/image_raw/compressed"


def test_transport_topics_follow_image_transport():
    assert image_topic("camera/image_raw", "raw") == "camera/image_raw"
    assert image_topic("camera/image_raw", "compressed") == "camera/image_raw/compressed"
    with pytest.raises(ValueError, match="unknown image transport"):
        image_topic("camera/image_raw", "theora")


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_camera_publishes_compressed_next_to_raw(tmp_path, fmt):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (48, 64, 3), np.uint8))
    with RosHarness() as ros:
        raws = ros.collect(Image, RAW, FRAME_PUB_QOS)
        packed = ros.collect(CompressedImage, COMPRESSED, FRAME_PUB_QOS)
        params = [
            Parameter("source", value=str(folder)),
            Parameter("fps", value=20.0),
            Parameter("publish_compressed", value=True),
            Parameter("compressed_format", value=fmt),
        ]
        cam = ros.add(
            CameraNode(context=ros.context, namespace="/cabin", parameter_overrides=params)
        )
        assert ros.spin_until(lambda: cam.finished and len(raws) == len(packed) == 2)
    for raw, comp in zip(raws, packed, strict=True):
        assert comp.header == raw.header and comp.format == f"bgr8; {fmt} compressed bgr8"
        pixels, decoded = image_msg_to_bgr(raw), decode_compressed(comp.format, comp.data)
        if fmt == "png":
            assert np.array_equal(decoded, pixels)  # lossless
        else:
            assert decoded.shape == pixels.shape


def _header(sec: int) -> Header:
    h = Header(frame_id="cabin_camera_optical_frame")
    h.stamp.sec = sec
    return h


def test_detector_and_emotionaldan_take_compressed_images():
    frame = cv2.imread(str(demo_dir() / "frame_0000.jpg"))  # one face
    compressed = [Parameter("image_transport", value="compressed")]
    with RosHarness() as ros:
        detector = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("detector", value="haar"),
                    Parameter("detect_rate_hz", value=0.0),  # every frame: transport, not tracking
                    *compressed,
                ],
            )
        )
        emo = ros.add(
            EmotionalDanNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("backend", value="python:stubs:stub"),
                    Parameter("track_faces", value=False),  # pair each image with its Faces
                    *compressed,
                ],
            )
        )
        activate(detector)
        activate(emo)
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        emotions = ros.collect(EmotionArray, "/cabin/emotion", RESULT_QOS)
        pub = ros.probe.create_publisher(CompressedImage, COMPRESSED, FRAME_PUB_QOS)
        ros.wait_connected(COMPRESSED, "/cabin/faces", "/cabin/emotion")
        assert ros.probe.count_subscribers(RAW) == 0  # nobody listens to raw frames
        pub.publish(bgr_to_compressed_msg(frame, _header(1), "jpeg"))
        assert ros.spin_until(lambda: len(emotions) == 1)
        assert faces[0].header.stamp.sec == 1 and len(faces[0].faces) == 1
        assert emotions[0].header == faces[0].header and len(emotions[0].emotions) == 1
        # A corrupt payload is dropped and counted; the next frame goes through.
        bad = bgr_to_compressed_msg(frame, _header(2), "png")
        bad.data = bytes(bad.data[:100])
        pub.publish(bad)
        assert ros.spin_until(lambda: detector.stats.counts.get("dropped_bad_image") == 1)
        pub.publish(bgr_to_compressed_msg(frame, _header(3), "png"))
        assert ros.spin_until(lambda: len(emotions) == 2)
        assert emotions[1].header.stamp.sec == 3
        assert detector.stats.counts.get("errors", 0) == emo.stats.counts.get("errors", 0) == 0
