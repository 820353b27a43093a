"""Live replay-eval: play a bag's images through a running cabin graph and collect its outputs.

The graph is started here (`python -m emotionaldan_ros.cabin --no-camera --quiet`, with
`--config` / `--set` passed through, or any `--graph-cmd`) or found already running (`--attach`).
Its output goes to `<out>/graph.log`. Frames keep their recorded stamps, so every
`/cabin/emotion` matches its frame exactly; latency = receive time of the output − publish time of
its image, both read from this process's monotonic clock.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from emotionaldan_ros.bag.bagio import BagReader
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.play import Player
from emotionaldan_ros.bag.report import write_report
from emotionaldan_ros.bag.rosio import StopFlag, subscription_qos
from emotionaldan_ros.bag.scoring import (
    EvalData,
    output_from_msg,
    raw_header_stamp,
    read_truth,
    score,
)


def graph_command(args: argparse.Namespace) -> list[str]:
    """The command that starts the graph for this run."""
    if args.graph_cmd:
        return shlex.split(args.graph_cmd)
    cmd = [sys.executable, "-m", "emotionaldan_ros.cabin", "--no-camera", "--quiet"]
    if args.config:
        cmd += ["--config", str(args.config)]
    for item in args.set:
        cmd += ["--set", item]
    return cmd


class _Graph:
    """The graph subprocess (its own process group, so that it is stopped with its children)."""

    def __init__(self, cmd: list[str], log_path: Path) -> None:
        self.cmd = cmd
        self.log_path = log_path
        self._log = log_path.open("w")
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as err:
            self._log.close()
            raise BagError(f"cannot start the graph ({shlex.join(cmd)}): {err}") from None

    def check_alive(self) -> None:
        """Raise if the graph has exited.

        Raises:
            BagError: with the exit status and the last lines of its log.
        """
        rc = self.proc.poll()
        if rc is not None:
            self._log.flush()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise BagError(
                f"the graph exited with status {rc} ({shlex.join(self.cmd)}); "
                f"last lines of {self.log_path}: {' | '.join(tail) or '(empty)'}"
            )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT, then SIGKILL after `timeout` s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log.close()


def _wait(predicate: Any, timeout: float, stop: StopFlag, graph: _Graph | None) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if graph is not None:
            graph.check_alive()
        if stop or time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def evaluate_live(args: argparse.Namespace) -> dict[str, Any]:
    """Run one live evaluation and write its report (see the module docstring).

    Raises:
        BagError: unusable bag, a graph that does not start or answer, or an interrupted run.
    """
    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.rosenv import apply_ros_defaults

    apply_ros_defaults()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stop = StopFlag()
    restore = stop.install()
    graph: _Graph | None = None
    context = Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    spinner: threading.Thread | None = None
    done = threading.Event()
    try:
        with BagReader(args.bag) as bag:
            bag.require_topic(args.image_topic)
            data = EvalData()
            data.frames, data.truth = read_truth(bag, args.image_topic, args.label_topic)
            data.warnings += bag.warnings
            data.latency_source = "live: receive time of the output − publish time of its image"
            frame_set = set(data.frames)
            published: dict[int, int] = {}

            node = Node("emotionaldan_replay_eval", context=context)
            executor.add_node(node)

            def on_publish(_topic: str, raw: bytes, t_ns: int) -> None:
                published.setdefault(raw_header_stamp(raw), t_ns)

            player = Player(node, bag, [args.image_topic], rate=args.rate, on_publish=on_publish)
            if not args.attach:
                graph = _Graph(graph_command(args), out / "graph.log")
            image_pub = player.publishers[args.image_topic]
            ready = _wait(
                lambda: (
                    image_pub.get_subscription_count() > 0
                    and node.count_publishers(args.emotion_topic) > 0
                ),
                args.startup_timeout,
                stop,
                graph,
            )
            if stop:
                raise BagError("interrupted")
            if not ready:
                raise BagError(
                    f"no graph answered within {args.startup_timeout:g} s: nobody subscribes to "
                    f"{args.image_topic} or publishes {args.emotion_topic}"
                    + (f" (graph log: {out / 'graph.log'})" if graph else "")
                )

            def on_emotion(msg: Any) -> None:
                received = time.monotonic_ns()
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                if stamp not in frame_set:
                    data.unmatched += 1
                    return
                sent = published.get(stamp)
                latency = (received - sent) / 1e6 if sent is not None else float("nan")
                data.add_output(stamp, output_from_msg(msg, latency))
                if len(data.outputs) == len(frame_set):
                    done.set()

            qos = subscription_qos(node, args.emotion_topic)
            sub = node.create_subscription(EmotionArray, args.emotion_topic, on_emotion, qos)
            spinner = threading.Thread(target=lambda: _spin(executor, stop), daemon=True)
            spinner.start()
            if not _wait(lambda: sub.get_publisher_count() > 0, 10.0, stop, graph):
                raise BagError(f"cannot connect to {args.emotion_topic}")
            print(f"playing {len(data.frames)} frames at rate {args.rate:g}", file=sys.stderr)
            player.play(stop)
            if stop:
                raise BagError("interrupted")
            done.wait(args.settle)  # late outputs: return as soon as every frame has one
            if graph is not None:
                graph.check_alive()
    finally:
        stop.set()
        if spinner is not None:
            spinner.join(5)
        if graph is not None:
            graph.stop()
        executor.shutdown()
        rclpy.try_shutdown(context=context)
        restore()
    report = {
        "bag": str(args.bag),
        "mode": "attached" if args.attach else "live",
        "graph_command": None if graph is None else shlex.join(graph.cmd),
        "rate": args.rate,
        **score(data, args.surprise),
    }
    write_report(report, out)
    return report


def _spin(executor: SingleThreadedExecutor, stop: StopFlag) -> None:
    while not stop:
        executor.spin_once(timeout_sec=0.05)
