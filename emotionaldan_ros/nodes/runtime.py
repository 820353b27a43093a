"""`main()` helpers shared by the node executables, and the executor every runner uses.

The executor only runs callbacks that copy a message into a node's mailbox (model work happens in
the nodes' worker threads), so one thread is enough, and more threads only contend for the GIL
with the workers: `graph.DEFAULT_EXECUTOR` was chosen by `benchmarks/pipeline.py`
(docs/realtime.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from emotionaldan_ros.graph import DEFAULT_EXECUTOR, EXECUTORS
from emotionaldan_ros.rosenv import apply_ros_defaults, security_hint
from emotionaldan_ros.stopping import StopRequest


def make_executor(kind: str = DEFAULT_EXECUTOR, context: Context | None = None) -> Executor:
    """An rclpy executor by name.

    Args:
        kind: "single" (SingleThreadedExecutor, the default) or "multi" (MultiThreadedExecutor
            with 4 threads, the previous release's).
        context: the rclpy context (default: the global one).

    Raises:
        ValueError: unknown kind.
    """
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=4, context=context)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {kind!r}")


def run_single(
    factory: Callable[[], Node],
    args: list[str] | None = None,
    done: Callable[[Node], bool] | None = None,
) -> None:
    """Create one node and spin it until Ctrl-C / SIGTERM, shutdown, or `done(node)` is true.

    A node that cannot start (bad parameter, missing model, missing camera) logs one clear line
    and the process exits with status 1 instead of a traceback. Ctrl-C and SIGTERM (what
    `ros2 launch` sends at its end) stop the loop, then the node, cleanly (status 0).
    """
    apply_ros_defaults()
    # The signals are ours (emotionaldan_ros.stopping): rclpy's handler would shut the context
    # down under the spinning executor.
    stop = StopRequest(keep_after_stop=True).install()
    node = None
    code = 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)  # keystore errors
        node = factory()
        executor = make_executor()
        executor.add_node(node)
        while not stop.requested and rclpy.ok() and not (done and done(node)):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as exc:  # start-up errors: one readable line, not a traceback
        if node is not None:
            raise
        name = getattr(factory, "__name__", "node")
        print(f"[{name}] cannot start: {exc}{security_hint(exc)}", file=sys.stderr)
        code = 1
    finally:
        stop.repeat_interrupts = False  # stopping is bounded: more Ctrl-C must not cut it short
        if node is not None:
            close = getattr(node, "close", None)
            if close:
                close()
            node.destroy_node()
        rclpy.try_shutdown(uninstall_handlers=False)  # the signals are ours, not rclpy's
        stop.restore()
    if code:
        sys.exit(code)


def activate(node: Node) -> None:
    """Drive a lifecycle node to active (configure + activate); raise if a transition fails.

    Plain nodes are left alone, so one code path starts every node of the graph.
    """
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    if not isinstance(node, LifecycleNode):
        return
    for step in (node.trigger_configure, node.trigger_activate):
        result = step()
        if result != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(
                f"{node.get_name()}: {step.__name__.removeprefix('trigger_')} failed "
                "(see the error above)"
            )


def run_lifecycle(factory: Callable[[], Node], args: list[str] | None = None) -> None:
    """Like run_single, for lifecycle nodes: activated at start when their `autostart` is true."""

    def build() -> Node:
        node = factory()
        try:
            if node.get_parameter("autostart").value:
                activate(node)
        except RuntimeError:
            node.destroy_node()
            raise
        return node

    build.__name__ = getattr(factory, "__name__", "node")
    run_single(build, args)
