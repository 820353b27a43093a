"""record → play → record round trips through rclpy (both storage formats), and CLI signals."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("emotionaldan_msgs.msg")

from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from emotionaldan_ros.bag import msgs  # noqa: E402
from emotionaldan_ros.bag.bagio import BagReader, BagWriter  # noqa: E402
from emotionaldan_ros.bag.play import Player, parse_remaps  # noqa: E402
from emotionaldan_ros.bag.record import Recorder  # noqa: E402
from emotionaldan_ros.bag.rosio import StopFlag  # noqa: E402
from emotionaldan_ros.bag.types import type_hash  # noqa: E402
from emotionaldan_ros.core import labels as L  # noqa: E402

pytestmark = pytest.mark.ros

IMG, GT, EMO = "/cabin/camera/image_raw", "/cabin/ground_truth", "/cabin/emotion"


def _domain() -> int:
    return random.randint(60, 90)


def _source_bag(path, n=8, period_ns=25_000_000):
    """Images, labels and emotion outputs at 40 Hz with distinct stamps and contents."""
    t0 = 1_700_000_000 * 10**9
    with BagWriter(path) as w:
        for topic, msgtype in ((IMG, msgs.IMAGE), (GT, msgs.LABEL), (EMO, msgs.EMOTION_ARRAY)):
            w.add_topic(topic, msgtype)
        for i in range(n):
            stamp = t0 + i * period_ns
            img = np.full((120, 160, 3), i * 20, np.uint8)
            w.write(IMG, stamp, msgs.image(img, stamp, "cabin_camera"))
            w.write(GT, stamp, msgs.label(i % 7, stamp, "cabin_camera", f"frame {i}"))
            probs = np.eye(7, dtype=np.float32)[i % 7]
            w.write(
                EMO,
                stamp + 1000,
                msgs.emotion_array(stamp, "cabin_camera", [((1, 2, 50, 60), probs)], 1.5, "m"),
            )
    return t0


def _contents(path):
    """topic → list of raw messages, and topic → bag times, in order."""
    raws, times = {}, {}
    with BagReader(path) as bag:
        for topic, _, t_ns, raw in bag.messages():
            raws.setdefault(topic, []).append(raw)
            times.setdefault(topic, []).append(t_ns)
    return raws, times


class _Ros:
    def __init__(self):
        self.context = Context()
        rclpy.init(context=self.context, domain_id=_domain())
        self.executor = SingleThreadedExecutor(context=self.context)

    def node(self, name):
        node = Node(name, context=self.context)
        self.executor.add_node(node)
        return node

    def spin_until(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return predicate()

    def close(self):
        self.executor.shutdown()
        rclpy.try_shutdown(context=self.context)


def _play_and_record(src, dst, storage, remap=None, rate=4.0):
    ros = _Ros()
    try:
        player_node, rec_node = ros.node("player"), ros.node("recorder")
        with BagReader(src) as bag:
            player = Player(player_node, bag, remap=remap, rate=rate)
            writer = BagWriter(dst, storage=storage, background=True)
            recorder = Recorder(rec_node, writer)
            want = set(remap.get(t, t) for t in bag.topics) if remap else set(bag.topics)
            assert ros.spin_until(
                lambda: (recorder.discover(), set(recorder.subscriptions))[1] == want
            )
            assert ros.spin_until(lambda: not player.wait_for_subscribers(0.0))
            stop = StopFlag()
            spinner = threading.Thread(
                target=lambda: [
                    ros.executor.spin_once(timeout_sec=0.02)
                    for _ in iter(lambda: stop.event.is_set(), True)
                ]
            )
            spinner.start()
            try:
                stats = player.play()
                total = sum(stats.published.values())
                deadline = time.monotonic() + 10
                while recorder.count < total and time.monotonic() < deadline:
                    time.sleep(0.01)
            finally:
                stop.set()
                spinner.join()
            writer.close()
            return stats, recorder
    finally:
        ros.close()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_record_play_record_keeps_messages_and_stamps(tmp_path, storage):
    src = tmp_path / "src"
    t0 = _source_bag(src)
    first = tmp_path / "first"
    stats, recorder = _play_and_record(src, first, storage)
    assert stats.published == {IMG: 8, GT: 8, EMO: 8} and recorder.count == 24
    second = tmp_path / "second"
    _play_and_record(first, second, storage)

    src_raw, _ = _contents(src)
    for bag in (first, second):
        raw, times = _contents(bag)
        assert raw == src_raw  # byte-identical messages, same order per topic
        with BagReader(bag) as reader:
            assert reader.storage == storage
            stamps = [msgs.stamp_ns(reader.deserialize(r, msgs.IMAGE).header) for r in raw[IMG]]
            label = reader.deserialize(raw[GT][3], msgs.LABEL)
        assert stamps == [t0 + i * 25_000_000 for i in range(8)]
        assert label.label == 3 and label.label_name == L.EMOTIONS_7[3]
        assert times[IMG] == sorted(times[IMG]) and times[IMG][0] > 0  # receive times


def test_play_remap_offset_and_bad_options(tmp_path):
    src = tmp_path / "src"
    _source_bag(src)
    dst = tmp_path / "dst"
    _play_and_record(src, dst, "mcap", remap=parse_remaps([f"{IMG}:=/cabin/replayed"]))
    raw, _ = _contents(dst)
    assert set(raw) == {"/cabin/replayed", GT, EMO} and len(raw["/cabin/replayed"]) == 8
    ros = _Ros()
    try:
        node = ros.node("p")
        with BagReader(src) as bag:
            player = Player(node, bag, topics=[GT], start_offset=0.1, rate=20)
            assert player.play().published == {GT: 4}  # frames at 100, 125, 150, 175 ms
            stop = StopFlag()
            sent = []
            player = Player(
                node,
                bag,
                rate=20,
                on_publish=lambda *a: (sent.append(a), len(sent) == 5 and stop.set()),
            )
            assert sum(player.play(stop).published.values()) == 5  # stops when asked
            stop = StopFlag()
            sent.clear()
            player = Player(
                node,
                bag,
                topics=[GT],
                rate=50,
                loop=True,
                on_publish=lambda *a: (sent.append(a), len(sent) == 19 and stop.set()),
            )
            stats = player.play(stop)
            assert stats.published == {GT: 19} and stats.loops == 3  # 8 + 8 + 3
            with pytest.raises(Exception, match="no topic /nope"):
                Player(node, bag, topics=["/nope"])
            with pytest.raises(Exception, match="rate must be > 0"):
                Player(node, bag, rate=0)
    finally:
        ros.close()
    with pytest.raises(Exception, match="expected OLD:=NEW"):
        parse_remaps(["/a=/b"])


def _env(domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    return env


def _cli(*args):
    return [sys.executable, "-m", "emotionaldan_ros.bag.cli", *args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_record_closes_cleanly_on_signal(tmp_path, sig):
    domain = _domain()
    out = tmp_path / "rec"
    proc = subprocess.Popen(
        _cli("record", "-o", str(out), "/test/*", "--storage", "sqlite3", "--split-size", "200"),
        env=_env(domain),
        stderr=subprocess.PIPE,
        text=True,
    )
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        node = Node("talker", context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        pub = node.create_publisher(String, "/test/chatter", qos)
        deadline = time.monotonic() + 15
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pub.get_subscription_count() == 1, "recorder never subscribed"
        for i in range(20):
            pub.publish(String(data=f"message {i:03d} " + "x" * 40))
        # Stop once the recorder has split at least once (the first file exists from the start,
        # a second one appears when the first reaches 200 bytes).
        while len(list(out.glob("*.db3"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        rclpy.try_shutdown(context=context)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with BagReader(out) as bag:
        files = bag.files
        got = [r for _, _, _, r in bag.messages()]
        count = bag.topics["/test/chatter"].count
    assert len(files) >= 2  # split by size
    assert 1 <= len(got) == count <= 20
    from rclpy.serialization import deserialize_message

    texts = [deserialize_message(r, String).data for r in got]
    assert texts == [f"message {i:03d} " + "x" * 40 for i in range(len(texts))]


def test_cli_play_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    with BagWriter(empty) as w:
        w.add_topic(IMG, msgs.IMAGE)
    res = subprocess.run(
        _cli("play", str(empty)), env=_env(_domain()), capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 1 and "the bag is empty" in res.stderr
    assert "Traceback" not in res.stderr


def test_play_skips_foreign_topics_and_publishes_clock(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosgraph_msgs.msg import Clock

    bag_path = tmp_path / "odd"
    writer = Writer(bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    odd = [
        ("/x", "foo_msgs/msg/Bar", "int32 a\n", "RIHS01_" + "0" * 64, b"\x00\x01\x00\x00" * 2),
        (
            "/p",
            "emotionaldan_msgs/msg/Point2D",
            "float64 x\nfloat64 y\nfloat64 z\n",
            "RIHS01_" + "1" * 64,
            b"\x00\x01\x00\x00" + bytes(24),
        ),
    ]
    for topic, msgtype, msgdef, digest, raw in odd:
        conn = writer.add_connection(topic, msgtype, msgdef=msgdef, rihs01=digest)
        writer.write(conn, 5, raw)
    conn = writer.add_connection(
        "/ok",
        "std_msgs/msg/String",
        msgdef="string data\n",
        rihs01=type_hash("std_msgs/msg/String"),
    )
    for i in range(3):
        writer.write(
            conn, 3_000_000_000 + i * 10_000_000, b"\x00\x01\x00\x00\x02\x00\x00\x00a\x00"
        )
    writer.close()
    ros = _Ros()
    try:
        node = ros.node("p")
        clocks = []
        node.create_subscription(Clock, "/clock", clocks.append, 10)
        with BagReader(bag_path) as bag:
            player = Player(node, bag, clock=True, rate=10)
            assert set(player.stats.skipped) == {"/x", "/p"}
            assert "differs from the installed one" in player.stats.skipped["/p"]
            assert "not installed here" in player.stats.skipped["/x"]
            assert ros.spin_until(lambda: player.clock_pub.get_subscription_count() > 0)
            stats = player.play()
            assert stats.published == {"/ok": 3}
            with pytest.raises(Exception, match="nothing to play"):
                Player(node, bag, topics=["/x", "/p"])
        assert ros.spin_until(lambda: len(clocks) == 3)
        assert [c.clock.sec * 10**9 + c.clock.nanosec for c in clocks] == [
            3_000_000_000 + i * 10_000_000 for i in range(3)
        ]
    finally:
        ros.close()


def test_replay_eval_attach_without_graph_fails_cleanly(tmp_path):
    src = tmp_path / "src"
    _source_bag(src, n=2)
    res = subprocess.run(
        _cli(
            "replay-eval",
            str(src),
            "--attach",
            "--startup-timeout",
            "1",
            "-o",
            str(tmp_path / "r"),
        ),
        env=_env(_domain()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "no graph answered within 1 s" in res.stderr


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_compressed_images_record_and_play(tmp_path, encoding):
    """from-dataset writes CompressedImage on <camera>/compressed; play → record keeps it."""
    import cv2

    from emotionaldan_ros.bag.from_dataset import convert
    from emotionaldan_ros.core.image_codec import decode_compressed

    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (30, 40, 3), np.uint8))
    src = tmp_path / "src"
    convert(folder, src, fmt="folder", encoding=encoding, start_ns=10**18, fps=40)
    topic = f"{IMG}/compressed"
    with BagReader(src) as bag:
        assert bag.topics[topic].msgtype == msgs.COMPRESSED_IMAGE
    dst = tmp_path / "dst"
    stats, recorder = _play_and_record(src, dst, "mcap")
    assert stats.published[topic] == 4 and recorder.count == 8
    raw, _ = _contents(dst)
    assert raw == _contents(src)[0]
    with BagReader(dst) as bag:
        first = bag.deserialize(raw[topic][0], msgs.COMPRESSED_IMAGE)
    pixels = decode_compressed(first.format, first.data)
    assert pixels.shape == (30, 40, 3)
    if encoding == "png":
        assert np.array_equal(pixels, cv2.imread(str(folder / "0.png")))
