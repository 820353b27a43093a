"""The fuzz corpus (corpus.py) fed to each node of the graph in a real rclpy graph.

For every case: the node stays alive and raises no error (a caught exception counts as
`errors`, which fails the test too), a bad input is counted as a drop, and the next good input
is answered. At the end the node's drop counters on /diagnostics match the corpus. Default: the
default detector and the stub recogniser; `--soak`: every registered detector (YuNet with a
model file) and the shipped face-api recogniser as well.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rosutil import RosHarness
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from emotionaldan_msgs.msg import Emotion, EmotionArray, Face, Faces, PassengerAlert
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR, list_detectors
from emotionaldan_ros.nodes.camera import CameraNode
from emotionaldan_ros.nodes.common import ALERT_QOS, FRAME_PUB_QOS, RESULT_QOS, bgr_to_image_msg
from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
from emotionaldan_ros.nodes.fear_monitor import FearMonitorNode
from emotionaldan_ros.nodes.runtime import activate

from .corpus import GOOD_SIZE, ImageCase, emotion_cases, faces_cases, image_cases, param_cases

pytestmark = pytest.mark.ros

YUNET_MODEL = os.environ.get("EMOTIONALDAN_YUNET_MODEL", "")
_stamps = iter(range(1000, 10**9))


def next_header() -> Header:
    h = Header(frame_id="fuzz")
    h.stamp.sec = next(_stamps)
    return h


def good_image(h: Header) -> Image:
    return bgr_to_image_msg(np.full((*GOOD_SIZE, 3), 120, np.uint8), h)


def image_msg(case: ImageCase, h: Header) -> Image | CompressedImage:
    if case.compressed:
        return CompressedImage(header=h, format=case.encoding, data=case.data)
    msg = Image(header=h, encoding=case.encoding, height=case.height, width=case.width)
    msg.step, msg.is_bigendian, msg.data = case.step, case.is_bigendian, case.data
    return msg


class Diagnostics:
    """The last /diagnostics values per node, as the probe receives them."""

    def __init__(self, ros: RosHarness) -> None:
        self.ros = ros
        self.latest: dict[str, dict[str, str]] = {}
        ros.probe.create_subscription(DiagnosticArray, "/diagnostics", self._got, 50)

    def _got(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.latest[status.name] = {kv.key: kv.value for kv in status.values}

    def wait_for(self, node: str, expected: dict[str, int], timeout: float = 15.0) -> dict:
        name = f"emotionaldan_ros: /cabin/{node}"

        def ok() -> bool:
            values = self.latest.get(name, {})
            return all(int(values.get(k, 0)) == v for k, v in expected.items())

        assert self.ros.spin_until(ok, timeout), f"{name}: {self.latest.get(name)} != {expected}"
        return self.latest[name]


def detector_params(soak: bool) -> list:
    if not soak:
        return [DEFAULT_DETECTOR]
    names = [n for n in list_detectors() if n != "yunet" or Path(YUNET_MODEL).is_file()]
    return names


@pytest.fixture(params=["raw", "compressed"])
def transport(request):
    return request.param


def test_face_detector_survives_the_image_corpus(transport, soak):
    cases = [c for c in image_cases() if c.compressed == (transport == "compressed")]
    for detector in detector_params(soak):
        _fuzz_detector(detector, transport, cases)


def _fuzz_detector(detector: str, transport: str, cases: list[ImageCase]) -> None:
    overrides = [
        Parameter("detector", value=detector),
        Parameter("detect_rate_hz", value=0.0),  # every frame
        Parameter("image_transport", value=transport),
    ]
    if detector == "yunet":
        overrides.append(Parameter("model_path", value=YUNET_MODEL))
    good_jpeg = next(c for c in image_cases() if c.name == "jpeg_format_string")
    with RosHarness() as ros:
        diagnostics = Diagnostics(ros)
        node = ros.add(
            FaceDetectorNode(
                context=ros.context, namespace="/cabin", parameter_overrides=overrides
            )
        )
        activate(node)
        faces = ros.collect(Faces, "/cabin/faces", RESULT_QOS)
        topic = "/cabin/camera/image_raw" + ("/compressed" if transport != "raw" else "")
        kind = CompressedImage if transport != "raw" else Image
        pub = ros.probe.create_publisher(kind, topic, FRAME_PUB_QOS)
        ros.wait_connected(topic, "/cabin/faces")

        def answered(h: Header) -> bool:
            return any(f.header.stamp.sec == h.stamp.sec for f in faces)

        bad = 0
        for case in cases:
            what = f"{detector}: {case.name}"
            h = next_header()
            pub.publish(image_msg(case, h))
            if case.usable:
                assert ros.spin_until(lambda h=h: answered(h)), what
            else:
                bad += 1  # dropped_bad_image, or dropped_too_large before decoding
                assert ros.spin_until(lambda b=bad: node.stats.dropped() == b), what
            assert node.stats.counts.get("errors", 0) == 0, what
            h = next_header()  # the next good frame is answered
            pub.publish(good_image(h) if transport == "raw" else image_msg(good_jpeg, h))
            assert ros.spin_until(lambda h=h: answered(h)), f"{what}: no answer after it"
        diagnostics.wait_for("face_detector", {"dropped": bad, "errors": 0})


class EmotionGraph:
    """An EmotionalDAN node, pairing mode (each image waits for its Faces: deterministic)."""

    def __init__(
        self, ros: RosHarness, backend: str, transport: str = "raw", track: bool = False
    ) -> None:
        self.ros = ros
        self.node = ros.add(
            EmotionalDanNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("backend", value=backend),
                    Parameter("track_faces", value=track),
                    Parameter("image_transport", value=transport),
                ],
            )
        )
        activate(self.node)
        self.emotions = ros.collect(EmotionArray, "/cabin/emotion", RESULT_QOS)
        topic = "/cabin/camera/image_raw" + ("/compressed" if transport != "raw" else "")
        kind = CompressedImage if transport != "raw" else Image
        self.image_pub = ros.probe.create_publisher(kind, topic, FRAME_PUB_QOS)
        self.faces_pub = ros.probe.create_publisher(Faces, "/cabin/faces", RESULT_QOS)
        ros.wait_connected(topic, "/cabin/faces", "/cabin/emotion")

    def send(self, image, faces) -> Header:
        h = image.header
        msg = Faces(header=h, detector="fuzz")
        for fid, x, y, w, hh, score in faces:
            roi = RegionOfInterest(x_offset=x, y_offset=y, width=w, height=hh)
            msg.faces.append(Face(id=fid, roi=roi, score=score))
        self.faces_pub.publish(msg)
        self.image_pub.publish(image)
        return h

    def image_drops(self) -> int:
        """Images dropped as unusable (bad, or too large to decode)."""
        counts = self.node.stats.counts
        return counts.get("dropped_bad_image", 0) + counts.get("dropped_too_large", 0)

    def answered(self, h: Header) -> EmotionArray | None:
        return next((m for m in self.emotions if m.header.stamp.sec == h.stamp.sec), None)

    def wait(self, h: Header, what: str) -> EmotionArray:
        assert self.ros.spin_until(lambda: self.answered(h) is not None), what
        return self.answered(h)

    def check_alive(self, what: str) -> None:
        assert self.node.stats.counts.get("errors", 0) == 0, what
        h = self.send(good_image(next_header()), [(1, 40, 40, 80, 80, 0.9)])
        assert len(self.wait(h, f"good frame after {what}").emotions) == 1


NON_FINITE = (
    (1, 20, 20, 40, 40, float("nan")),
    (2, 90, 20, 40, 40, float("inf")),
    (3, 160, 20, 40, 40, -float("inf")),
    (4, 230, 20, 40, 40, 0.8),
)


def backends(soak: bool) -> list[str]:
    return ["python:stubs:stub", "faceapi"] if soak else ["python:stubs:stub"]


def test_emotionaldan_survives_the_image_corpus(transport, soak):
    cases = [c for c in image_cases() if c.compressed == (transport == "compressed")]
    for backend in backends(soak):
        _fuzz_emotion_images(backend, transport, cases)


def _fuzz_emotion_images(backend: str, transport: str, cases: list[ImageCase]) -> None:
    good_jpeg = next(c for c in image_cases() if c.name == "jpeg_format_string")
    with RosHarness() as ros:
        diagnostics = Diagnostics(ros)
        g = EmotionGraph(ros, backend, transport)
        bad = 0
        for case in cases:
            what = f"{backend}: {case.name}"
            h = next_header()
            # One face over the whole frame, whatever its size (the box is clipped).
            g.send(image_msg(case, h), [(1, 0, 0, 100000, 100000, 0.9)])
            if case.usable:
                g.wait(h, what)
            else:
                bad += 1
                assert ros.spin_until(lambda b=bad: g.image_drops() == b), what
            if transport == "raw":
                g.check_alive(what)
            else:
                h = g.send(image_msg(good_jpeg, next_header()), [(1, 40, 40, 80, 80, 0.9)])
                g.wait(h, f"{what}: good jpeg after it")
                assert g.node.stats.counts.get("errors", 0) == 0, what
        counts = g.node.stats.counts
        expected = {k: counts.get(k, 0) for k in ("dropped_bad_image", "dropped_too_large")}
        assert sum(expected.values()) == bad
        diagnostics.wait_for("emotionaldan", {**expected, "errors": 0})


def test_emotionaldan_survives_the_faces_corpus(soak):
    for backend in backends(soak):
        with RosHarness() as ros:
            diagnostics = Diagnostics(ros)
            g = EmotionGraph(ros, backend)
            totals: dict[str, int] = {}
            cases = [
                *faces_cases(),  # plus the cases: 500 boxes, NaN / inf scores
                type(faces_cases()[0])(
                    "five_hundred_boxes",
                    tuple((i + 1, (i * 7) % 280, (i * 3) % 200, 30, 30, 0.9) for i in range(500)),
                    16,
                    ("dropped_too_many_faces",),
                ),
                type(faces_cases()[0])(
                    "non_finite_scores",
                    (
                        (1, 20, 20, 40, 40, float("nan")),
                        (2, 90, 20, 40, 40, float("inf")),
                        (3, 160, 20, 40, 40, -float("inf")),
                        (4, 230, 20, 40, 40, 0.8),
                    ),
                    1,
                    ("dropped_bad_score",),
                ),
            ]
            for case in cases:
                before = g.node.stats.dropped()
                h = g.send(good_image(next_header()), case.faces)
                out = g.wait(h, f"{backend}: {case.name}")
                assert len(out.emotions) == case.kept, case.name
                assert all(0.0 <= e.detection_score <= 1.0 for e in out.emotions), case.name
                dropped = g.node.stats.dropped() - before
                assert dropped == len(case.faces) - case.kept, case.name
                for key in case.drop_keys:
                    assert g.node.stats.counts.get(key, 0) > 0, (case.name, key)
                g.check_alive(f"{backend}: {case.name}")
            for key in ("dropped_bad_roi", "dropped_bad_score", "dropped_too_many_faces"):
                totals[key] = g.node.stats.counts.get(key, 0)
            diagnostics.wait_for("emotionaldan", {**totals, "errors": 0})


def test_emotionaldan_tracking_mode_survives_the_faces_corpus():
    # The default mode: faces feed the landmark tracks, every image is answered on the tracks.
    with RosHarness() as ros:
        g = EmotionGraph(ros, "python:stubs:stub", track=True)
        cases = [*faces_cases(), type(faces_cases()[0])("non_finite_scores", NON_FINITE, 1)]
        many = tuple((i + 1, (i * 7) % 280, (i * 3) % 200, 30, 30, 0.9) for i in range(500))
        cases.append(type(faces_cases()[0])("five_hundred_boxes", many, 16))
        for case in cases:
            detections = g.node.stats.counts.get("detections", 0)
            h = next_header()
            g.faces_pub.publish(Faces(header=h, detector="fuzz", faces=[
                Face(id=i, roi=RegionOfInterest(x_offset=x, y_offset=y, width=w, height=hh),
                     score=sc) for i, x, y, w, hh, sc in case.faces]))  # fmt: skip
            assert ros.spin_until(
                lambda d=detections: g.node.stats.counts.get("detections", 0) == d + 1
            ), case.name
            g.image_pub.publish(good_image(h))
            out = g.wait(h, case.name)
            assert len(out.emotions) <= 16, case.name  # max_faces_per_frame
            assert g.node.stats.counts.get("errors", 0) == 0, case.name


def test_fear_monitor_survives_the_emotion_corpus():
    with RosHarness() as ros:
        diagnostics = Diagnostics(ros)
        node = ros.add(FearMonitorNode(context=ros.context, namespace="/cabin"))
        alerts = ros.collect(PassengerAlert, "/cabin/passenger_alert", ALERT_QOS)
        pub = ros.probe.create_publisher(EmotionArray, "/cabin/emotion", RESULT_QOS)
        ros.wait_connected("/cabin/emotion", "/cabin/passenger_alert")
        received = 0

        def send(msg: EmotionArray) -> None:
            nonlocal received
            pub.publish(msg)
            received += 1
            assert ros.spin_until(lambda: node.stats.counts.get("received", 0) == received)

        for case in emotion_cases():
            h = Header(frame_id="fuzz")
            h.stamp.sec, h.stamp.nanosec = case.stamp
            msg = EmotionArray(header=h)
            for i, probs in enumerate(case.probabilities):
                msg.emotions.append(Emotion(face_id=i + 1, probabilities=list(probs)))
            before = node.stats.dropped()
            send(msg)
            assert node.stats.dropped() - before == len(case.probabilities) - case.used, case.name
            # ...and a good frame still updates passenger 1000.
            n = len(alerts)
            good = EmotionArray(header=h)
            good.emotions.append(Emotion(face_id=1000, probabilities=[0.1] * 7))
            send(good)
            assert ros.spin_until(lambda n=n: any(a.face_id == 1000 for a in alerts[n:])), (
                case.name
            )
        drops = {
            k: v for k, v in node.stats.counts.items() if k.startswith("dropped") or k == "errors"
        }
        diagnostics.wait_for("fear_monitor", {"errors": 0, **drops})


def test_bad_parameters_are_refused_and_the_nodes_keep_working(tmp_path):
    with RosHarness() as ros:
        nodes = {
            "camera": ros.add(
                CameraNode(
                    context=ros.context,
                    namespace="/cabin",
                    parameter_overrides=[
                        Parameter("source", value="demo"),
                        Parameter("loop", value=True),
                    ],
                )
            ),
            "face_detector": ros.add(
                FaceDetectorNode(
                    context=ros.context,
                    namespace="/cabin",
                    parameter_overrides=[Parameter("detect_rate_hz", value=0.0)],
                )
            ),
            "emotionaldan": ros.add(
                EmotionalDanNode(
                    context=ros.context,
                    namespace="/cabin",
                    parameter_overrides=[Parameter("backend", value="python:stubs:stub")],
                )
            ),
            "fear_monitor": ros.add(FearMonitorNode(context=ros.context, namespace="/cabin")),
        }
        for node in nodes.values():
            activate(node)
        emotions = ros.collect(EmotionArray, "/cabin/emotion", RESULT_QOS)
        for case in param_cases():
            node = nodes[case.node]
            before = node.get_parameter(case.name).value
            try:
                (result,) = node.set_parameters([Parameter(case.name, value=case.value)])
                refused = not result.successful
                reason = result.reason
            except Exception as exc:  # rclpy refuses some types itself (descriptor checks)
                refused, reason = True, str(exc)
            assert refused, f"{case.node}.{case.name}={case.value!r} accepted"
            assert reason, f"{case.node}.{case.name}: refused without a reason"
            assert node.get_parameter(case.name).value == before
        # The whole graph still runs: the demo footage comes out as emotions.
        n = len(emotions)
        assert ros.spin_until(lambda: len(emotions) >= n + 3, timeout=60)
        for node in nodes.values():
            assert node.stats.counts.get("errors", 0) == 0
