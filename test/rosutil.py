"""A small rclpy harness for node tests: private context and domain, bounded waits."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

# Domain ids 1..59 for these tests (other test files use 60-90); spread by pid so parallel
# runs on one machine don't hear each other.
_ids = itertools.count((os.getpid() % 20) * 3)


def next_domain_id() -> int:
    return 1 + next(_ids) % 59


class RosHarness:
    """Context manager: an rclpy context, an executor and a probe node."""

    def __init__(self, params: list[str] | None = None) -> None:
        self.context = Context()
        args = ["--ros-args", *params] if params else None
        rclpy.init(args=args, context=self.context, domain_id=next_domain_id())
        self.executor = SingleThreadedExecutor(context=self.context)
        self.probe = Node("probe", namespace="/cabin", context=self.context)
        self.executor.add_node(self.probe)
        self.nodes: list[Node] = [self.probe]

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def collect(self, msg_type: type, topic: str, qos) -> list:
        got: list = []
        self.probe.create_subscription(msg_type, topic, got.append, qos)
        return got

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def wait_for_subscribers(self, publisher, count: int = 1, timeout: float = 10.0) -> None:
        assert self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout), (
            f"no subscriber on {publisher.topic_name}"
        )

    def wait_connected(self, *topics: str, timeout: float = 10.0) -> None:
        """Wait until every topic has a publisher and a subscriber in the graph, then let
        discovery settle on both sides (a best-effort reader drops data from a writer it has
        not matched yet)."""

        def ready() -> bool:
            return all(
                self.probe.count_publishers(t) >= 1 and self.probe.count_subscribers(t) >= 1
                for t in topics
            )

        assert self.spin_until(ready, timeout), f"topics not connected: {topics}"
        self.spin_until(lambda: False, timeout=0.3)

    def __enter__(self) -> RosHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        for node in reversed(self.nodes):
            close = getattr(node, "close", None)
            if close:
                close()
        self.executor.shutdown()  # before destroying nodes, so no callback runs on a dead one
        for node in reversed(self.nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
