"""`record`: write raw messages of chosen topics to a rosbag2 bag (mcap default, or sqlite3).

Topics are matched by name or glob pattern (default `/cabin/*`) and picked up as they appear
(the graph is scanned every `--discovery-period`, 0.1 s; the bag folder, its first storage file
and `metadata.yaml` exist from the start). Messages are taken serialised (`raw=True`: no
decode/encode) and stamped with the node clock at receipt, like `ros2 bag record`. SIGINT /
SIGTERM / --duration / --max-messages all end in a clean close (indexes and metadata written);
after SIGKILL or a power loss, `emotionaldan-bag reindex` salvages what was written (see
`bag/writer.py`).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from emotionaldan_ros.bag.bagio import BagWriter
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.rosio import StopFlag, message_class, offered_qos, subscription_qos
from emotionaldan_ros.bag.types import ensure_type, type_hash

DEFAULT_PATTERNS = ("/cabin/*",)


class Recorder:
    """Subscribes to matching topics on `node` and writes what arrives to `writer`."""

    def __init__(
        self,
        node: Node,
        writer: BagWriter,
        patterns: Sequence[str] = DEFAULT_PATTERNS,
        exclude: Sequence[str] = (),
        all_topics: bool = False,
    ) -> None:
        self.node = node
        self.writer = writer
        self.patterns = list(patterns) or list(DEFAULT_PATTERNS)
        self.exclude = list(exclude)
        self.all_topics = all_topics
        self.count = 0
        self.subscriptions: dict[str, object] = {}
        self.skipped: dict[str, str] = {}
        self.warnings: list[str] = []

    def wanted(self, topic: str) -> bool:
        """Whether a topic name is selected."""
        if any(fnmatch.fnmatchcase(topic, p) for p in self.exclude):
            return False
        return self.all_topics or any(fnmatch.fnmatchcase(topic, p) for p in self.patterns)

    def discover(self) -> list[str]:
        """Subscribe to matching topics that appeared since the last call; returns new ones."""
        new = []
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self.subscriptions or topic in self.skipped or not self.wanted(topic):
                continue
            if not self.node.get_publishers_info_by_topic(topic):
                continue  # only subscribers so far: QoS unknown, wait for a publisher
            reason = self._subscribe(topic, types)
            if reason:
                self.skipped[topic] = reason
                self.warnings.append(f"not recording {topic}: {reason}")
                print(f"warning: not recording {topic}: {reason}", file=sys.stderr)
            else:
                new.append(topic)
        return new

    def _subscribe(self, topic: str, types: list[str]) -> str | None:
        if len(types) != 1:
            return f"several types on one topic ({', '.join(types)})"
        msgtype = types[0]
        cls = message_class(msgtype)
        if cls is None or not ensure_type(msgtype):
            return f"message type {msgtype} is not installed here"
        hashes = {
            str(i.topic_type_hash)
            for i in self.node.get_publishers_info_by_topic(topic)
            if str(i.topic_type_hash).startswith("RIHS01_")
        }
        if hashes and hashes != {type_hash(msgtype)}:
            return f"publisher type hash of {msgtype} differs from the local definition"
        self.writer.add_topic(topic, msgtype, offered_qos(self.node, topic))
        qos = subscription_qos(self.node, topic)

        def on_message(raw: bytes, topic: str = topic) -> None:
            self.writer.write(topic, self.node.get_clock().now().nanoseconds, raw)
            self.count += 1

        self.subscriptions[topic] = self.node.create_subscription(
            cls, topic, on_message, qos, raw=True
        )
        return None


def default_output() -> Path:
    """`cabin_YYYY_MM_DD-HH_MM_SS` in the working directory (rosbag2's naming)."""
    return Path(datetime.now().strftime("cabin_%Y_%m_%d-%H_%M_%S"))


def run_record(args: argparse.Namespace) -> int:
    """CLI handler: record until a signal, --duration or --max-messages."""
    from emotionaldan_ros.rosenv import apply_ros_defaults

    apply_ros_defaults()
    out = args.output or default_output()
    writer = BagWriter(out, args.storage, args.split_size, args.split_duration, background=True)
    stop = StopFlag()
    restore = stop.install()
    context = Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        node = Node("emotionaldan_bag_recorder", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        recorder = Recorder(node, writer, args.topics, args.exclude, args.all)
        print(f"recording to {out} ({args.storage}); Ctrl-C to stop", file=sys.stderr)
        start = time.monotonic()
        next_scan = 0.0
        while not stop:
            now = time.monotonic()
            if now >= next_scan:
                for topic in recorder.discover():
                    print(f"subscribed to {topic}", file=sys.stderr)
                next_scan = now + args.discovery_period
            # spin_once runs one callback: drain what is ready before the next scan.
            until = time.monotonic() + args.discovery_period
            while time.monotonic() < until and not stop:
                executor.spin_once(timeout_sec=min(0.02, args.discovery_period))
            if args.duration and now - start >= args.duration:
                break
            if args.max_messages and recorder.count >= args.max_messages:
                break
    finally:
        writer.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        restore()
    counts = ", ".join(f"{t} {n}" for t, n in writer.counts.items()) or "no topics"
    print(f"wrote {sum(writer.counts.values())} messages to {out} ({counts})", file=sys.stderr)
    if not writer.counts:
        raise BagError(f"no topic matching {' '.join(recorder.patterns)} was seen; {out} is empty")
    return 0
