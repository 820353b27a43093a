"""Bags read by independent tools: the `mcap` + `mcap-ros2-support` readers, Foxglove's schema
rules (test/foxglove_grammar.py), rosbag2's metadata conventions (distro, type hashes, QoS)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from foxglove_grammar import SchemaError, parse_schema
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagReader, BagWriter
from emotionaldan_ros.bag.types import message_definition, ros_distro, type_hash

REPO_MSG_DIR = Path(__file__).resolve().parents[1] / "emotionaldan_msgs" / "msg"
GRAPH_TYPES = [
    *sorted(f"emotionaldan_msgs/msg/{p.stem}" for p in REPO_MSG_DIR.glob("*.msg")),
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CompressedImage",
    "sensor_msgs/msg/CameraInfo",
    "diagnostic_msgs/msg/DiagnosticArray",
    "rosgraph_msgs/msg/Clock",
]


@pytest.mark.parametrize("msgtype", GRAPH_TYPES)
def test_stored_definitions_parse_the_way_foxglove_does(msgtype):
    sections = parse_schema(msgtype, message_definition(msgtype))
    assert msgtype.replace("/msg/", "/") in sections


def test_foxglove_rules_reject_the_old_separator():
    """The restated rules catch what issue 8.2 reported, so the test above means something."""
    text = message_definition("sensor_msgs/msg/Image").replace(
        "MSG: std_msgs/Header", "MSG: std_msgs/msg/Header"
    )
    with pytest.raises(SchemaError, match="MSG: pkg/Type"):
        parse_schema("sensor_msgs/msg/Image", text)


def _decoded(path: Path) -> tuple[dict, list]:
    """Summary and every decoded message of each .mcap file of a bag, with the mcap library."""
    out = []
    summaries = {}
    for file in sorted(path.glob("*.mcap")):
        with file.open("rb") as fh:
            reader = make_reader(fh, decoder_factories=[DecoderFactory()])
            summaries[file.name] = (
                reader.get_header(),
                reader.get_summary(),
                {m.name: m.metadata for m in reader.iter_metadata()},
            )
            for _, channel, message, decoded in reader.iter_decoded_messages():
                out.append((channel.topic, message.log_time, decoded))
    return summaries, out


def _check_rosbag2_conventions(bag: Path, topics: dict[str, str]) -> None:
    summaries, _ = _decoded(bag)
    for header, summary, metadata in summaries.values():
        assert header.profile == "ros2"
        assert metadata["rosbag2"]["ROS_DISTRO"] == ros_distro() != "rosbags"
        stored = yaml.safe_load(metadata["rosbag2"]["serialized_metadata"])
        assert stored["ros_distro"] == ros_distro()
        for channel in summary.channels.values():
            schema = summary.schemas[channel.schema_id]
            assert channel.message_encoding == "cdr" and schema.encoding == "ros2msg"
            assert channel.metadata["topic_type_hash"] == type_hash(topics[channel.topic])
            assert yaml.safe_load(channel.metadata["offered_qos_profiles"])
            parse_schema(schema.name, schema.data.decode())
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["ros_distro"] == ros_distro()


def test_bag_written_here_decodes_with_the_mcap_reader(tmp_path):
    bag = tmp_path / "bag"
    topics = {
        "/cabin/camera/image_raw": msgs.IMAGE,
        "/cabin/ground_truth": msgs.LABEL,
        "/cabin/emotion": msgs.EMOTION_ARRAY,
    }
    with BagWriter(bag, background=True) as writer:
        for topic, msgtype in topics.items():
            writer.add_topic(topic, msgtype)
        for i in range(6):
            t = 1_700_000_000_000_000_000 + i * 50_000_000
            writer.write(
                "/cabin/camera/image_raw", t, msgs.image(np.full((6, 8, 3), i, np.uint8), t, "c")
            )
            writer.write("/cabin/ground_truth", t, msgs.label(i % 7, t, "c", f"#{i}"))
            probs = np.eye(7, dtype=np.float32)[i % 7]
            writer.write(
                "/cabin/emotion", t + 1, msgs.emotion_array(t, "c", [((1, 2, 30, 40), probs)])
            )
    _check_rosbag2_conventions(bag, topics)
    _, decoded = _decoded(bag)
    assert len(decoded) == 18
    images = [d for topic, _, d in decoded if topic == "/cabin/camera/image_raw"]
    assert [bytes(im.data)[0] for im in images] == list(range(6))
    emotions = [d for topic, _, d in decoded if topic == "/cabin/emotion"]
    assert [e.emotions[0].label for e in emotions] == [i % 7 for i in range(6)]
    assert all(e.emotions[0].roi.width == 29 for e in emotions)


# --------------------------------------------------------------------------- with rclpy
rclpy = pytest.importorskip("rclpy")
pytest.importorskip("emotionaldan_msgs.msg")


def _domain() -> int:
    return random.randint(60, 90)


@pytest.mark.ros
def test_recorded_qos_is_what_the_publishers_offer(tmp_path):
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String

    from emotionaldan_msgs.msg import Faces, PassengerAlert
    from emotionaldan_ros.bag.record import Recorder
    from emotionaldan_ros.nodes.common import ALERT_QOS, RESULT_QOS

    context = Context()
    rclpy.init(context=context, domain_id=_domain())
    executor = SingleThreadedExecutor(context=context)
    try:
        talker = Node("talker", namespace="/cabin", context=context)
        talker.create_publisher(PassengerAlert, "passenger_alert", ALERT_QOS)
        talker.create_publisher(Faces, "faces", RESULT_QOS)
        other = QoSProfile(depth=7, reliability=ReliabilityPolicy.BEST_EFFORT)
        talker.create_publisher(String, "/cabin/other", other)
        rec = Node("recorder", context=context)
        executor.add_node(talker)
        executor.add_node(rec)
        writer = BagWriter(tmp_path / "bag", background=True)
        recorder = Recorder(rec, writer)
        want = {"/cabin/passenger_alert", "/cabin/faces", "/cabin/other"}
        deadline = time.monotonic() + 15
        while set(recorder.subscriptions) != want and time.monotonic() < deadline:
            recorder.discover()
            executor.spin_once(timeout_sec=0.05)
        assert set(recorder.subscriptions) == want
        writer.close()
    finally:
        executor.shutdown()
        rclpy.try_shutdown(context=context)
    with BagReader(tmp_path / "bag") as bag:
        qos = {name: t.qos[0] for name, t in bag.topics.items()}
    alert, faces = qos["/cabin/passenger_alert"], qos["/cabin/faces"]
    unknown = qos["/cabin/other"]
    assert (alert.depth, alert.history.name, alert.durability.name) == (
        10,
        "KEEP_LAST",
        "TRANSIENT_LOCAL",
    )
    assert (faces.depth, faces.reliability.name) == (4, "RELIABLE")
    # Not one of the graph's topics: stored as discovery reports it, like rosbag2 does.
    assert (unknown.history.name, unknown.depth, unknown.reliability.name) == (
        "UNKNOWN",
        0,
        "BEST_EFFORT",
    )


def test_known_topic_qos_table_matches_the_nodes():
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from emotionaldan_ros.graph import TOPIC_QOS
    from emotionaldan_ros.nodes import common

    used = {
        "camera/image_raw": common.FRAME_PUB_QOS,
        "camera/image_raw/compressed": common.FRAME_PUB_QOS,
        "camera/camera_info": common.FRAME_PUB_QOS,
        "faces": common.RESULT_QOS,
        "emotion": common.RESULT_QOS,
        "landmarks": common.RESULT_QOS,
        "debug_image": common.FRAME_PUB_QOS,
        "passenger_alert": common.ALERT_QOS,
    }
    assert set(TOPIC_QOS) == set(used)
    for topic, profile in used.items():
        known = TOPIC_QOS[topic]
        assert known.depth == profile.depth, topic
        assert known.reliable == (profile.reliability == ReliabilityPolicy.RELIABLE), topic
        assert known.transient_local == (profile.durability == DurabilityPolicy.TRANSIENT_LOCAL), (
            topic
        )


@pytest.mark.slow
@pytest.mark.ros
def test_bag_recorded_from_the_demo_decodes_completely(tmp_path):
    """The cabin demo graph, recorded by the CLI, read back by the mcap reader: every message
    of every topic decodes and every schema passes Foxglove's rules."""
    import os

    env = dict(os.environ, ROS_DOMAIN_ID=str(_domain()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    bag = tmp_path / "demo"
    params = tmp_path / "stub.yaml"
    params.write_text("/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n")
    record = subprocess.Popen(
        [sys.executable, "-m", "emotionaldan_ros.bag.cli", "record", "-o", str(bag), "-a"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    graph = subprocess.run(
        [
            sys.executable,
            "-m",
            "emotionaldan_ros.cabin",
            "--source",
            "demo",
            "--detector",
            "haar",
            "--config",  # python: backends come from a params file only
            str(params),
            "--set",
            "emotionaldan.publish_debug_image=true",
            "--set",
            "camera.publish_compressed=true",
            "--max-frames",
            "15",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    record.send_signal(2)
    _, err = record.communicate(timeout=60)
    assert graph.returncode == 0, graph.stderr[-2000:]
    assert record.returncode == 0, err
    with BagReader(bag) as reader:
        topics = {name: t.msgtype for name, t in reader.topics.items()}
        counts = {name: t.count for name, t in reader.topics.items()}
    for topic in (
        "/cabin/camera/image_raw",
        "/cabin/camera/image_raw/compressed",
        "/cabin/camera/camera_info",
        "/cabin/faces",
        "/cabin/emotion",
        "/cabin/landmarks",
        "/cabin/debug_image",
        "/diagnostics",
    ):
        assert counts.get(topic, 0) > 0, f"{topic} not recorded: {counts}"
    _check_rosbag2_conventions(bag, topics)
    _, decoded = _decoded(bag)
    assert len(decoded) == sum(counts.values())
    by_topic: dict[str, list] = {}
    for topic, _, msg in decoded:
        by_topic.setdefault(topic, []).append(msg)
    assert all(m.header.frame_id for m in by_topic["/cabin/emotion"])
    info = by_topic["/cabin/camera/camera_info"][0]
    assert info.width > 0 and len(info.p) == 12 and list(info.r) == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert info.header.frame_id == "cabin_camera_optical_frame"
    packed = by_topic["/cabin/camera/image_raw/compressed"][0]
    assert packed.format.endswith("jpeg compressed bgr8") and bytes(packed.data[:2]) == b"\xff\xd8"
