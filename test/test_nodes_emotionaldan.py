"""The EmotionalDAN node in a real rclpy graph (stub recogniser built in the test).

`Graph(track=False)` is the pairing mode (each image waits for its faces); the tests at the end
cover the default tracking mode (faces carried between detections).
"""

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rosutil import RosHarness
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from emotionaldan_msgs.msg import EmotionArray, Face, Faces, LandmarksArray
from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, RESULT_QOS, LatestSlot, bgr_to_image_msg
from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
from emotionaldan_ros.nodes.runtime import activate

pytestmark = pytest.mark.ros


def header(sec: int, nanosec: int = 0) -> Header:
    h = Header(frame_id="cabin_camera")
    h.stamp.sec, h.stamp.nanosec = sec, nanosec
    return h


def faces(h: Header, *rois: tuple[int, int, int, int]) -> Faces:
    msg = Faces(header=h, detector="test")
    for i, (x, y, w, hh) in enumerate(rois):
        msg.faces.append(
            Face(
                id=i + 1,
                roi=RegionOfInterest(x_offset=x, y_offset=y, width=w, height=hh),
                score=0.9,
            )
        )
    return msg


class Graph:
    def __init__(
        self,
        ros: RosHarness,
        backend: str = "python:stubs:stub",
        track: bool = False,
        queue_depth: int = 1,
    ):
        self.ros = ros
        self.node = ros.add(
            EmotionalDanNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("backend", value=backend),
                    Parameter("track_faces", value=track),
                    Parameter("queue_depth", value=queue_depth),
                ],
            )
        )
        activate(self.node)
        self.emotions = ros.collect(EmotionArray, "/cabin/emotion", RESULT_QOS)
        self.landmarks = ros.collect(LandmarksArray, "/cabin/landmarks", RESULT_QOS)
        self.image_pub = ros.probe.create_publisher(
            Image, "/cabin/camera/image_raw", FRAME_PUB_QOS
        )
        self.faces_pub = ros.probe.create_publisher(Faces, "/cabin/faces", RESULT_QOS)
        ros.wait_connected(
            "/cabin/camera/image_raw", "/cabin/faces", "/cabin/emotion", "/cabin/landmarks"
        )

    def send(self, h: Header, f: Faces, image: Image | None = None, faces_first=False):
        image = image or bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), h)
        order = [(self.faces_pub, f), (self.image_pub, image)]
        for pub, msg in order if faces_first else order[::-1]:
            pub.publish(msg)

    def wait(self, n: int, timeout: float = 10.0) -> list:
        assert self.ros.spin_until(lambda: len(self.emotions) >= n, timeout), (
            f"got {len(self.emotions)} EmotionArray, expected {n}"
        )
        return self.emotions


def test_emotions_carry_source_stamp_and_stub_labels():
    with RosHarness() as ros:
        g = Graph(ros)
        h = header(10, 5)
        g.send(h, faces(h, (20, 30, 60, 60), (210, 40, 50, 50)))
        (msg,) = g.wait(1)
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (10, 5)
        assert msg.header.frame_id == "cabin_camera"
        assert [e.face_id for e in msg.emotions] == [1, 2]
        # stub: label = (x1 // 100) % 7 -> 0 neutral, 2 sad
        assert [e.label_name for e in msg.emotions] == ["neutral", "sad"]
        assert len(msg.emotions[0].probabilities) == 7
        assert msg.emotions[1].valence_name == "negative"
        assert len(msg.emotions[0].landmarks) == 68
        assert ros.spin_until(lambda: len(g.landmarks) >= 1)
        assert g.landmarks[0].faces[1].face_id == 2


def test_empty_frame_gives_empty_array_and_faces_first_order_pairs():
    with RosHarness() as ros:
        g = Graph(ros)
        h = header(3)
        g.send(h, faces(h), faces_first=True)
        (msg,) = g.wait(1)
        assert msg.emotions == [] and msg.header.stamp.sec == 3


def test_bad_rois_corrupt_image_and_nan_are_counted_not_fatal():
    with RosHarness() as ros:
        g = Graph(ros, backend="python:stubs:nan_stub")
        h = header(1)
        # face 1: outside the image; face 2: zero area; face 3: fine but the stub makes it NaN
        g.send(h, faces(h, (1000, 1000, 50, 50), (10, 10, 0, 40), (50, 50, 40, 40)))
        (msg,) = g.wait(1)
        assert msg.emotions == []
        assert g.node.stats.counts["dropped_bad_roi"] == 2
        assert g.node.stats.counts["dropped_nan"] == 1
        # a corrupt image (data shorter than step * height) is dropped and counted
        h2 = header(2)
        bad = bgr_to_image_msg(np.zeros((240, 320, 3), np.uint8), h2)
        bad.data = bytes(100)
        g.send(h2, faces(h2, (50, 50, 40, 40)), image=bad)
        assert ros.spin_until(lambda: g.node.stats.counts.get("dropped_bad_image") == 1)
        # ...and the node keeps working
        h3 = header(3)
        g.send(h3, faces(h3))
        assert g.wait(2)[-1].header.stamp.sec == 3


def test_unpaired_faces_are_evicted_and_counted():
    with RosHarness() as ros:
        g = Graph(ros)
        for k in range(16):  # faces whose images never come; the cache holds 8
            g.faces_pub.publish(faces(header(100 + k)))
            ros.spin_until(lambda: False, timeout=0.02)
        assert ros.spin_until(lambda: g.node.stats.counts.get("dropped_unpaired", 0) >= 4)
        assert g.emotions == []


def test_burst_newest_wins_and_overruns_counted():
    with RosHarness() as ros:
        g = Graph(ros, backend="python:stubs:slow_stub")
        for k in range(1, 11):
            h = header(k)
            g.send(h, faces(h, (10, 10, 50, 50)))
            ros.spin_until(lambda: False, timeout=0.03)
        assert ros.spin_until(lambda: g.emotions and g.emotions[-1].header.stamp.sec == 10)
        assert 2 <= len(g.emotions) < 10  # some frames skipped while the model was busy
        assert g.node.stats.counts.get("dropped_overrun", 0) >= 1


def test_missing_checkpoint_fails_configure_naming_the_path(tmp_path):
    missing = tmp_path / "nope.pt"
    with RosHarness() as ros:
        node = ros.add(
            EmotionalDanNode(
                context=ros.context,
                parameter_overrides=[Parameter("backend", value=f"checkpoint:{missing}")],
            )
        )
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        with pytest.raises(RuntimeError, match="configure failed"):
            activate(node)


def test_bad_parameters_rejected_with_reason():
    with RosHarness() as ros:
        with pytest.raises(ValueError, match="surprise_valence must be one of"):
            EmotionalDanNode(
                context=ros.context,
                parameter_overrides=[Parameter("surprise_valence", value="angry")],
            )
        node = ros.add(EmotionalDanNode(context=ros.context))
        res = node.set_parameters([Parameter("pair_cache_size", value=0)])[0]
        assert not res.successful
        res = node.set_parameters([Parameter("backend", value="faceapi")])[0]
        assert not res.successful and "read-only" in res.reason


def test_autostart_false_leaves_transitions_to_a_manager(monkeypatch):
    from emotionaldan_ros.nodes import runtime

    states = []

    def fake_run_single(build, args):  # what the executable's main would spin
        node = build()
        states.append(node.diagnostics.state)
        node.destroy_node()

    monkeypatch.setattr(runtime, "run_single", fake_run_single)
    stub = Parameter("backend", value="python:stubs:stub")
    with RosHarness() as ros:
        for autostart in (False, True):
            params = [stub, Parameter("autostart", value=autostart)]
            runtime.run_lifecycle(
                lambda p=params: EmotionalDanNode(context=ros.context, parameter_overrides=p)
            )
    assert states == ["unconfigured", "running"]


# ---------------------------------------------------------------------- tracking (the default)
def test_tracking_is_the_default_and_processes_frames_without_their_faces():
    with RosHarness() as ros:
        g = Graph(ros, track=True)
        assert g.node.get_parameter("track_faces").value is True
        assert EmotionalDanNode(context=ros.context).get_parameter("track_faces").value
        requests = ros.collect(Header, "/cabin/detect_request", RESULT_QOS)
        # Nobody tracked yet: the first frame is answered at once, empty.
        g.image_pub.publish(bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), header(1)))
        assert g.wait(1)[0].emotions == []
        # The detector's faces for frame 1 open tracks (ids from the detector) ...
        h1 = header(1)
        g.faces_pub.publish(faces(h1, (20, 30, 60, 60), (210, 40, 50, 50)))
        assert ros.spin_until(lambda: g.node.stats.counts.get("detections") == 1)
        # ... and the next frames carry them without any new faces message.
        for k in (2, 3, 4):
            g.image_pub.publish(bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), header(k)))
            msg = g.wait(k)[-1]
            assert msg.header.stamp.sec == k
            assert [e.face_id for e in msg.emotions] == [1, 2]
            assert [e.label_name for e in msg.emotions] == ["neutral", "sad"]
            assert msg.emotions[1].roi.x_offset == 210 and msg.emotions[1].detection_score > 0.89
        assert requests == [] and g.node.stats.dropped() == 0


def test_faces_first_are_used_for_their_own_frame():
    with RosHarness() as ros:
        g = Graph(ros, track=True)
        h = header(7)
        g.faces_pub.publish(faces(h, (120, 30, 60, 60)))
        assert ros.spin_until(lambda: g.node.stats.counts.get("detections") == 1)
        g.image_pub.publish(bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), h))
        (msg,) = g.wait(1)
        assert [e.face_id for e in msg.emotions] == [1] and msg.emotions[0].label_name == "happy"


def test_lost_tracks_ask_the_detector_and_bad_rois_are_counted():
    with RosHarness() as ros:
        g = Graph(ros, backend="python:stubs:runaway_stub", track=True)
        requests = ros.collect(Header, "/cabin/detect_request", RESULT_QOS)
        h = header(1)
        # One usable face, one zero-area box (dropped and counted).
        g.faces_pub.publish(faces(h, (20, 30, 60, 60), (100, 100, 0, 30)))
        assert ros.spin_until(lambda: g.node.stats.counts.get("dropped_bad_roi") == 1)
        image = bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), h)
        g.image_pub.publish(image)
        (msg,) = g.wait(1)
        assert [e.face_id for e in msg.emotions] == [1]
        # The stub's landmarks run off to the right: within a few frames the track leaves the
        # image, ends, and a detection is requested with that frame's stamp.
        for k in range(2, 8):
            image.header = header(k)
            g.image_pub.publish(image)
            g.wait(k)
            if ros.spin_until(lambda: bool(requests), timeout=0.3):
                break
        assert ros.spin_until(lambda: len(requests) >= 1)
        assert len(requests) == 1 and g.node.stats.counts["tracks_lost"] == 1
        lost_at = requests[0].stamp.sec
        assert 2 <= lost_at < 8 and g.emotions[lost_at - 1].emotions  # last frame with it
        image.header = header(lost_at + 1)
        g.image_pub.publish(image)
        assert g.wait(lost_at + 1)[-1].emotions == []  # gone from the next frame


def test_stamps_going_back_restart_the_tracks():
    """A bag played in a loop: the old tracks go, the new stream's detections are used."""
    with RosHarness() as ros:
        g = Graph(ros, track=True)
        image = bgr_to_image_msg(np.full((240, 320, 3), 128, np.uint8), header(10))
        g.faces_pub.publish(faces(header(10), (20, 30, 60, 60)))
        assert ros.spin_until(lambda: g.node.stats.counts.get("detections") == 1)
        g.image_pub.publish(image)
        assert [e.face_id for e in g.wait(1)[-1].emotions] == [1]
        image.header = header(1)  # back to the start
        g.image_pub.publish(image)
        assert g.wait(2)[-1].emotions == []
        assert g.node.stats.counts["stream_restarts"] == 1
        g.faces_pub.publish(faces(header(1), (120, 30, 60, 60)))
        assert ros.spin_until(lambda: g.node.stats.counts.get("detections") == 2)
        image.header = header(2)
        g.image_pub.publish(image)
        assert [e.label_name for e in g.wait(3)[-1].emotions] == ["happy"]


def test_mailbox_keeps_the_newest_items_oldest_first():
    slot: LatestSlot[int] = LatestSlot(capacity=2)
    assert not slot.put(1) and not slot.put(2)
    assert slot.put(3)  # full: the oldest (1) is dropped and counted
    assert slot.overwritten == 1
    assert [slot.take(0), slot.take(0), slot.take(0)] == [2, 3, None]
    latest: LatestSlot[int] = LatestSlot()
    latest.put(1)
    assert latest.put(2) and latest.take(0) == 2
    with pytest.raises(ValueError):
        LatestSlot(capacity=0)


def test_queue_depth_lets_one_frame_wait_behind_a_slow_one():
    with RosHarness() as ros:
        g = Graph(ros, backend="python:stubs:slow_stub", queue_depth=2)
        for k in (1, 2, 3):  # 2 and 3 arrive while 1 is processed (0.3 s): both wait
            h = header(k)
            g.send(h, faces(h, (10, 10, 50, 50)))
            ros.spin_until(lambda: False, timeout=0.05)
        assert ros.spin_until(lambda: len(g.emotions) == 3, timeout=10)
        assert [e.header.stamp.sec for e in g.emotions] == [1, 2, 3]
        assert g.node.stats.counts.get("dropped_overrun", 0) == 0
