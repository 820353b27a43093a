"""`emotionaldan-cabin --use-sim-time`: the graph's clock follows /clock (bag play --clock)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_cabin_nodes_follow_clock_with_use_sim_time(tmp_path):
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile
    from rosgraph_msgs.msg import Clock

    domain = random.randint(60, 90)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    params = tmp_path / "stub.yaml"
    params.write_text("/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n")
    graph = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emotionaldan_ros.cabin",
            "--no-camera",
            "--use-sim-time",
            "--detector",
            "haar",
            "--config",  # python: backends come from a params file only
            str(params),
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    stamps: dict[str, int] = {}
    try:
        node = Node("clock_source", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        clock = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))

        def on_diag(msg):
            for status in msg.status:
                stamps[status.name] = msg.header.stamp.sec

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
        sim_sec = 1_000
        deadline = time.monotonic() + 90
        wanted = {"/cabin/face_detector", "/cabin/emotionaldan", "/cabin/fear_monitor"}

        def done() -> bool:
            got = {n.split(": ", 1)[-1] for n, s in stamps.items() if s >= 1_000}
            return wanted <= got

        while not done() and time.monotonic() < deadline and graph.poll() is None:
            clock.publish(Clock(clock=Time(sec=sim_sec)))
            sim_sec += 1  # diagnostics timers run on the simulated clock too
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.02)
        assert done(), f"diagnostic stamps: {stamps}"
        # Wall-clock stamps would be ~1.8e9 s: every node's clock is the bag's.
        assert all(s < 10_000 for n, s in stamps.items() if n.split(": ", 1)[-1] in wanted)
    finally:
        rclpy.try_shutdown(context=context)
        if graph.poll() is None:
            graph.send_signal(signal.SIGINT)
        out, _ = graph.communicate(timeout=30)
    assert graph.returncode == 0, out[-2000:]
