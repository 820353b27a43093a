"""rclpy helpers shared by record, play and live replay-eval (the only ROS-dependent part)."""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable
from typing import Any

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from emotionaldan_ros.graph import known_qos

# Subscriptions: deep queues so that a burst is written, not dropped.
RECORD_DEPTH = 100
# Player publishers are reliable: a reliable publisher matches reliable and best-effort
# subscribers alike (the cabin nodes subscribe to frames best effort, depth 1).
PLAY_DEPTH = 10


def message_class(msgtype: str) -> type | None:
    """The rclpy message class of `pkg/msg/Type`, or None when it is not importable."""
    pkg, _, name = msgtype.partition("/msg/")
    if not pkg or not name:
        return None
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        return None


def subscription_qos(node: Node, topic: str) -> QoSProfile:
    """QoS that receives from every current publisher of `topic` (as `ros2 bag record` does).

    Reliable only if every publisher is reliable, transient-local only if every publisher is.
    """
    infos = node.get_publishers_info_by_topic(topic)
    reliable = bool(infos) and all(
        i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos
    )
    latched = bool(infos) and all(
        i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos
    )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=RECORD_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def _time(duration: Duration) -> QosTime:
    sec, nsec = divmod(duration.nanoseconds, 1_000_000_000)
    return QosTime(sec=sec, nsec=nsec)


def offered_qos(node: Node, topic: str) -> list[Qos]:
    """The publishers' QoS of `topic`, as stored in bag metadata.

    Stored as discovered (rosbag2 does the same). Discovery does not carry the history depth
    (it reports history 'unknown', depth 0): for the cabin graph's own topics the depth its
    nodes really use is filled in (`graph.TOPIC_QOS`); other topics keep 'unknown' / 0.
    """
    out = []
    for info in node.get_publishers_info_by_topic(topic):
        q = info.qos_profile
        history, depth = QosHistory(int(q.history)), int(q.depth)
        known = known_qos(topic)
        if history == QosHistory.UNKNOWN and known is not None:
            history, depth = QosHistory.KEEP_LAST, known.depth
        out.append(
            Qos(
                history=history,
                depth=depth,
                reliability=QosReliability(int(q.reliability)),
                durability=QosDurability(int(q.durability)),
                deadline=_time(q.deadline),
                lifespan=_time(q.lifespan),
                liveliness=QosLiveliness(int(q.liveliness)),  # same numbering as rclpy
                liveliness_lease_duration=_time(q.liveliness_lease_duration),
                avoid_ros_namespace_conventions=bool(q.avoid_ros_namespace_conventions),
            )
        )
    return out


def publisher_qos(stored: list[Qos]) -> QoSProfile:
    """Player QoS: reliable; transient-local when every recorded publisher was."""
    latched = bool(stored) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in stored)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=PLAY_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def stored_reliability(stored: list[Qos]) -> str:
    """'reliable', 'best_effort' or '' for a topic's stored QoS (for messages)."""
    if not stored:
        return ""
    return "reliable" if stored[0].reliability == QosReliability.RELIABLE else "best_effort"


class StopFlag:
    """Set by SIGINT / SIGTERM (handlers installed by `install`), polled by loops."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None

    def install(self) -> Callable[[], None]:
        """Install handlers in the main thread; returns a function that restores the old ones."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, _frame: Any) -> None:
            self.signal = signum
            self.event.set()

        for s in old:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in old.items():
                signal.signal(s, h)

        return restore

    def __bool__(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        """Ask loops to stop."""
        self.event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` s, waking early when stopped; True when stopped."""
        return self.event.wait(timeout)
