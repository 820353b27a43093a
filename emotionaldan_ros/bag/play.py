"""`play`: publish a bag's raw messages with their original timing.

Messages go out serialised as stored (no decode), in receive-time order, paced by their bag
times divided by `rate`; headers are untouched, so outputs of the graph carry the bag's stamps.
Publishers are reliable (matching reliable and best-effort subscribers); transient-local where the
recorded publishers were. Topics whose type is not installed here, or whose stored type hash
differs from the installed one, are skipped with a warning and a count.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.signals import SignalHandlerOptions

from emotionaldan_ros.bag.bagio import BagReader
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.rosio import StopFlag, message_class, publisher_qos


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """['/a:=/b', ...] → {'/a': '/b'}.

    Raises:
        BagError: an item is not OLD:=NEW.
    """
    out = {}
    for item in items:
        old, sep, new = item.partition(":=")
        if not sep or not old or not new:
            raise BagError(f"bad remap {item!r}: expected OLD:=NEW")
        out[old] = new
    return out


@dataclass
class PlayStats:
    """What a play run did."""

    published: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    loops: int = 0
    wall_s: float = 0.0


class Player:
    """Publishes the messages of an open bag on `node`.

    Args:
        node: node that owns the publishers.
        bag: open bag.
        topics: only these bag topics (None: all playable ones).
        remap: bag topic → published topic.
        rate: speed factor (2.0 = twice as fast).
        loop: start again at the end until stopped.
        start_offset: skip the first seconds of the bag.
        clock: publish the bag time on /clock before every message.
        on_publish: called with (bag topic, raw message, monotonic ns) right after publishing.

    Raises:
        BagError: bad options, or no requested topic can be played.
    """

    def __init__(
        self,
        node: Node,
        bag: BagReader,
        topics: Sequence[str] | None = None,
        remap: dict[str, str] | None = None,
        rate: float = 1.0,
        loop: bool = False,
        start_offset: float = 0.0,
        clock: bool = False,
        on_publish: Callable[[str, bytes, int], None] | None = None,
    ) -> None:
        if rate <= 0:
            raise BagError(f"rate must be > 0, got {rate}")
        if start_offset < 0:
            raise BagError(f"start offset must be >= 0, got {start_offset}")
        self.node, self.bag, self.rate, self.loop = node, bag, rate, loop
        self.start_ns = bag.start_ns + int(start_offset * 1e9)
        self.on_publish = on_publish
        self.stats = PlayStats()
        remap = remap or {}
        wanted = list(bag.topics) if topics is None else list(topics)
        if missing := [t for t in wanted if t not in bag.topics]:
            raise BagError(
                f"{bag.path}: no topic {', '.join(missing)} in the bag "
                f"(topics: {', '.join(sorted(bag.topics)) or 'none'})"
            )
        self.publishers: dict[str, object] = {}
        for topic in wanted:
            info = bag.topics[topic]
            cls = message_class(info.msgtype)
            if info.status in ("unknown", "mismatch") or cls is None:
                why = (
                    "its type hash differs from the installed one"
                    if info.status == "mismatch"
                    else "the type is not installed here"
                )
                self.stats.skipped[topic] = f"{info.msgtype}: {why} ({info.count} messages)"
                continue
            qos = publisher_qos(info.qos)
            self.publishers[topic] = node.create_publisher(cls, remap.get(topic, topic), qos)
            self.stats.published[topic] = 0
        if not self.publishers:
            raise BagError(
                f"{bag.path}: nothing to play ({'; '.join(self.stats.skipped.values())})"
            )
        self.clock_pub = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self.clock_pub = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))

    def wait_for_subscribers(self, timeout: float, stop: StopFlag | None = None) -> list[str]:
        """Wait up to `timeout` s until every publisher has a subscriber; returns those without."""
        deadline = time.monotonic() + timeout
        while True:
            lonely = [t for t, p in self.publishers.items() if p.get_subscription_count() == 0]
            if not lonely or time.monotonic() >= deadline or (stop is not None and stop):
                return lonely
            time.sleep(0.02)

    def _publish_clock(self, t_ns: int) -> None:
        from builtin_interfaces.msg import Time
        from rosgraph_msgs.msg import Clock

        sec, nsec = divmod(t_ns, 1_000_000_000)
        self.clock_pub.publish(Clock(clock=Time(sec=sec, nanosec=nsec)))

    def play(self, stop: StopFlag | None = None) -> PlayStats:
        """Publish until the end of the bag (or forever with loop) or until `stop` is set."""
        stop = StopFlag() if stop is None else stop  # (an unset flag is falsy)
        begin = time.monotonic()
        while not stop:
            wall0 = time.monotonic_ns()
            for topic, _, t_ns, raw in self.bag.messages(list(self.publishers), self.start_ns):
                due = wall0 + (t_ns - self.start_ns) / self.rate
                while (delay := (due - time.monotonic_ns()) / 1e9) > 0:
                    if stop.wait(min(delay, 0.1)):
                        break
                if stop:
                    break
                if self.clock_pub is not None:
                    self._publish_clock(t_ns)
                self.publishers[topic].publish(raw)
                if self.on_publish is not None:
                    self.on_publish(topic, raw, time.monotonic_ns())
                self.stats.published[topic] += 1
            self.stats.loops += 1
            if not self.loop:
                break
        self.stats.wall_s = time.monotonic() - begin
        return self.stats


def run_play(args: argparse.Namespace) -> int:
    """CLI handler."""
    from emotionaldan_ros.rosenv import apply_ros_defaults

    apply_ros_defaults()
    remap = parse_remaps(args.remap)
    stop = StopFlag()
    restore = stop.install()
    context = Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        with BagReader(args.bag) as bag:
            for warning in bag.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            if bag.message_count == 0:
                raise BagError(f"{args.bag}: the bag is empty")
            node = Node("emotionaldan_bag_player", context=context)
            player = Player(
                node, bag, args.topics, remap, args.rate, args.loop, args.start_offset, args.clock
            )
            for topic, why in player.stats.skipped.items():
                print(f"warning: not playing {topic}: {why}", file=sys.stderr)
            if args.wait_subscribers > 0:
                for topic in player.wait_for_subscribers(args.wait_subscribers, stop):
                    print(f"warning: {topic} has no subscriber, playing anyway", file=sys.stderr)
            stats = player.play(stop)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        restore()
    total = sum(stats.published.values())
    print(f"published {total} messages in {stats.wall_s:.2f} s", file=sys.stderr)
    return 0
