"""`emotionaldan-cabin`: start the whole cabin graph in one process on pip-installed rclpy.

The same node list (`graph.CABIN_NODES`) and the same YAML parameter file as
`launch/cabin.launch.py`; use that launch file on a full ROS 2 install.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from emotionaldan_ros.graph import (
    DEFAULT_EXECUTOR,
    DEFAULT_NAMESPACE,
    EXECUTORS,
    cabin_nodes,
    code_execution_problem,
    default_config,
)
from emotionaldan_ros.rosenv import apply_ros_defaults, security_hint
from emotionaldan_ros.stopping import StopRequest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of emotionaldan-cabin."""
    ap = argparse.ArgumentParser(
        prog="emotionaldan-cabin",
        description="Run camera → face detector → EmotionalDAN → fear monitor in one process.",
    )
    ap.add_argument("--config", type=Path, help="ROS 2 params file (default: config/cabin.yaml)")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="override one parameter, e.g. --set camera.fps=30 (repeatable)",
    )
    ap.add_argument("--source", help="shortcut for --set camera.source=...")
    ap.add_argument("--backend", help="shortcut for --set emotionaldan.backend=...")
    ap.add_argument("--detector", help="shortcut for --set face_detector.detector=...")
    ap.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="graph namespace (/cabin)")
    ap.add_argument(
        "--no-camera", action="store_true", help="no camera node (frames come from a bag player)"
    )
    ap.add_argument(
        "--output", type=Path, help="write annotated frames here (default: none; demo: out/demo)"
    )
    ap.add_argument("--max-frames", type=int, default=0, help="stop after N processed frames")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    ap.add_argument("--quiet", action="store_true", help="no live line per frame")
    ap.add_argument(
        "--use-sim-time",
        action="store_true",
        help="every node follows /clock (frames from `emotionaldan-bag play --clock`)",
    )
    ap.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=DEFAULT_EXECUTOR,
        help=f"rclpy executor of the graph (default {DEFAULT_EXECUTOR}; docs/realtime.md)",
    )
    return ap.parse_args(argv)


# Parameters every rclpy node has besides the ones it declares.
BUILTIN_PARAMS = {"use_sim_time": False}


def override_value(node: str, param: str, raw: str) -> Any:
    """The value of `--set NODE.PARAM=RAW`, in the type the node declares for PARAM.

    YAML reads `30` as an int, but `camera.fps` is a double and rclpy refuses an int for it
    ("expecting type 'DOUBLE'"): integers become floats for float parameters, and string
    parameters take the text as written (`camera.source=0` is the string "0").
    Unknown nodes and their parameters are passed through as YAML.

    Raises:
        ValueError: the node does not have that parameter, or the value has the wrong type.
    """
    from emotionaldan_ros.graph import declared_params

    value = yaml.safe_load(raw)
    specs = declared_params(node)
    if specs is None:
        return value
    default = specs[param].default if param in specs else BUILTIN_PARAMS.get(param)
    if default is None:
        known = ", ".join(sorted([*specs, *BUILTIN_PARAMS]))
        raise ValueError(f"{node} has no parameter {param!r} (it has: {known})")
    kind = type(default)
    if kind is str:
        return raw
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if type(value) is not kind:
        name = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise ValueError(f"--set {node}.{param}={raw}: expected {name}")
    return value


def merged_params(
    config: Path, overrides: list[str], use_sim_time: bool = False
) -> dict[str, Any]:
    """Load a params file and apply NODE.PARAM=VALUE overrides (see `override_value`).

    Raises:
        ValueError: a malformed params file or override.
    """
    data = yaml.safe_load(config.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{config}: not a ROS 2 params file (top level must be a mapping)")
    for item in overrides:
        key, eq, raw = item.partition("=")
        node, dot, param = key.partition(".")
        if not (eq and dot and node and param):
            raise ValueError(f"bad override {item!r}: expected NODE.PARAM=VALUE")
        problem = code_execution_problem(node, param, raw)
        if problem:
            raise ValueError(problem)
        section = next((k for k in data if k.rsplit("/", 1)[-1] == node), None)
        if section is None:
            section = f"/**/{node}"
            data[section] = {"ros__parameters": {}}
        data[section].setdefault("ros__parameters", {})[param] = override_value(node, param, raw)
    if use_sim_time:  # every node of the process, the monitor included
        data.setdefault("/**", {}).setdefault("ros__parameters", {})["use_sim_time"] = True
    return data


class Graph:
    """The nodes of one cabin graph plus the executor that spins them."""

    def __init__(
        self, args: argparse.Namespace, params_file: Path, stop: StopRequest | None = None
    ) -> None:
        """Start the nodes; a stop requested meanwhile ends start-up early (`interrupted`)."""
        import rclpy
        from rclpy.signals import SignalHandlerOptions

        from emotionaldan_ros.nodes.monitor import CabinMonitor
        from emotionaldan_ros.nodes.runtime import activate, make_executor

        # The signals are the runner's (emotionaldan_ros.stopping): rclpy's handler would shut
        # the context down under the running executor.
        rclpy.init(
            args=["--ros-args", "--params-file", str(params_file)],
            signal_handler_options=SignalHandlerOptions.NO,
        )
        self.nodes: list = []
        self.camera = None
        self.interrupted = False
        # One executor thread: callbacks only hand messages to the model nodes' workers.
        self.executor = make_executor(getattr(args, "executor", None) or DEFAULT_EXECUTOR)
        try:
            # The monitor first, so that a stop during start-up still has a summary to print.
            self.monitor = CabinMonitor(args.output, live=not args.quiet, namespace=args.namespace)
            self.nodes.append(self.monitor)
            # The camera starts last, so no frame is published before the models are loaded.
            specs = sorted(
                cabin_nodes(camera=not args.no_camera), key=lambda s: s.name == "camera"
            )
            for spec in specs:
                if stop is not None and stop.requested:
                    self.interrupted = True
                    break
                node = spec.load()(namespace=args.namespace)
                self.nodes.append(node)
                activate(node)
                if spec.name == "camera":
                    self.camera = node
            self.monitor.restart_clock()  # fps and idle time count from here, not from imports
        except BaseException:  # a second Ctrl-C (KeyboardInterrupt) too: nothing left running
            self.close()
            raise
        for node in self.nodes:
            self.executor.add_node(node)

    def drained(self, idle_s: float = 2.0) -> bool:
        """The camera has ended and the last frames went through (or nothing came for idle_s)."""
        if self.camera is None or not self.camera.finished:
            return False
        idle = time.monotonic() - self.monitor.last_emotion_time
        return self.monitor.frames >= self.camera.published or idle > idle_s

    def close(self) -> None:
        """Stop the executor and the workers, destroy the nodes, then shut rclpy down."""
        import rclpy

        # No callback may run on a node being destroyed: the executor's threads finish first.
        # A multi-threaded executor's pool is drained before `shutdown`, which destroys the
        # executor's guard condition before it joins the pool: a callback still queued then
        # fails on it ("cannot use Destroyable because destruction was requested").
        pool = getattr(self.executor, "_executor", None)
        if isinstance(pool, concurrent.futures.Executor):
            pool.shutdown(wait=True)
        self.executor.shutdown(timeout_sec=5.0)
        for node in reversed(self.nodes):
            close = getattr(node, "close", None)
            if close:
                close()
            node.destroy_node()
        self.nodes = []
        rclpy.try_shutdown(uninstall_handlers=False)  # the signals are ours, not rclpy's


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    with StopRequest(
        keep_after_stop=True
    ) as stop:  # Ctrl-C / SIGTERM from here on: a clean stop with the summary
        return _run(parse_args(argv), stop)


def _run(args: argparse.Namespace, stop: StopRequest) -> int:
    overrides = list(args.overrides)
    for flag, key in (
        ("source", "camera.source"),
        ("backend", "emotionaldan.backend"),
        ("detector", "face_detector.detector"),
    ):
        if getattr(args, flag):
            overrides.append(f"{key}={getattr(args, flag)}")
    try:
        params = merged_params(args.config or default_config(), overrides, args.use_sim_time)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"emotionaldan-cabin: {exc}", file=sys.stderr)
        return 2
    applied = apply_ros_defaults()
    if applied:
        print("emotionaldan-cabin: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="cabin-params-") as f:
        yaml.safe_dump(params, f)
        f.flush()
        try:
            graph = Graph(args, Path(f.name), stop)
        except KeyboardInterrupt:  # Ctrl-C twice during start-up: the graph is already closed
            print("emotionaldan-cabin: interrupted during start-up", file=sys.stderr)
            return 130
        except Exception as exc:  # bad parameter, missing model or camera: one clear line
            hint = security_hint(exc)
            print(f"emotionaldan-cabin: cannot start the graph: {exc}{hint}", file=sys.stderr)
            return 1
    from rclpy.executors import ExternalShutdownException

    start = time.monotonic()
    try:
        while not stop.requested and not graph.drained():
            graph.executor.spin_once(timeout_sec=0.05)
            if args.max_frames and graph.monitor.frames >= args.max_frames:
                break
            if args.duration and time.monotonic() - start > args.duration:
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.repeat_interrupts = False  # stopping is bounded: more Ctrl-C must not cut it short
        summary = graph.monitor.summary()
        graph.close()  # also when the loop failed: a process left with live rclpy aborts at exit
    if stop.requested:
        when = " during start-up" if graph.interrupted else ""
        summary = f"stopped by {stop.name}{when}\n{summary}"
    print("\n" + summary, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
