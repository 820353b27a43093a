"""Shared plumbing of the cabin nodes: parameters, QoS, diagnostics, latest-wins mailbox, images.

Kept small on purpose: node logic lives in `emotionaldan_ros.core`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from emotionaldan_ros.core.image_codec import (
    compressed_format,
    compressed_image_size,
    decode_compressed,
    encode_compressed,
    image_to_numpy,
    numpy_to_image,
    to_bgr8,
)
from emotionaldan_ros.core.rates import input_rate_problem
from emotionaldan_ros.params import ParamSpec, ParamValue

# Frames: newest wins (depth 1). Subscribers are best effort so that they match any camera
# driver; our publishers are reliable, which matches both reliable and best-effort subscribers.
FRAME_SUB_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
)
FRAME_PUB_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE
)
# Per-frame results are small; a few in flight so that pairing sees every one under load.
RESULT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=4, reliability=ReliabilityPolicy.RELIABLE
)
# Alerts must reach the planner: reliable, and late joiners get the last ones.
ALERT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

T = TypeVar("T")

# Every node that consumes a stream declares this one (its Diagnostics read it each period).
MIN_INPUT_RATE_PARAM = ParamSpec(
    "min_input_rate_hz",
    0.0,
    "Expected minimum input rate: /diagnostics warns below it and reports an error when no "
    "input arrives at all (as diagnostic_updater's frequency status); 0 = no check",
    range=(0.0, 1000.0),
)


# ---------------------------------------------------------------------------------- parameters
class LiveParams(dict):
    """A node's parameter values, kept current after every accepted change.

    The node reads `params[name]` where it uses a value, so a change takes effect there; the
    names changed since the last `take_changes()` tell a worker what to rebuild (a detector
    built with the old `min_face_size`, ...). Updated from the parameter callback, read by the
    worker thread: the change set is guarded by a lock, single values are replaced atomically.
    """

    def __init__(self, values: dict[str, ParamValue]) -> None:
        super().__init__(values)
        self._changed: set[str] = set()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[set[str]], None]] = []

    def on_change(self, listener: Callable[[set[str]], None]) -> None:
        """Call `listener(names)` after each accepted change, once the values are updated."""
        self._listeners.append(listener)

    def changed(self, values: dict[str, ParamValue]) -> None:
        """Record accepted new values (then tell the listeners)."""
        with self._lock:
            self.update(values)
            self._changed |= set(values)
        if values:
            for listener in self._listeners:
                listener(set(values))

    def take_changes(self) -> set[str]:
        """Names changed since the last call (cleared)."""
        with self._lock:
            changed, self._changed = self._changed, set()
        return changed


def _reconfigure_refusal(node: Node, name: str) -> str:
    fqn = node.get_fully_qualified_name()
    return (
        f"{name} is read when the node is configured (it rebuilds the model or its inputs): "
        f"change it while the node is unconfigured: ros2 lifecycle set {fqn} deactivate, "
        f"ros2 lifecycle set {fqn} cleanup, then set it, configure and activate"
    )


def declare_params(
    node: Node,
    specs: Sequence[ParamSpec],
    cross_check: Callable[[dict[str, ParamValue]], str | None] | None = None,
    unconfigured: Callable[[], bool] | None = None,
) -> LiveParams:
    """Declare described, validated parameters; return their values, kept current.

    Every later change is checked with the same rules (and `cross_check` on the would-be set of
    values, for rules between parameters) and refused with the reason. Read-only parameters are
    refused always, `reconfigure` ones unless `unconfigured()` says the lifecycle node is
    unconfigured (never, for a plain node). Accepted values land in the returned `LiveParams`.

    Raises:
        ValueError: a value given at start-up (params file / overrides) breaks its rule.
    """
    by_name = {s.name: s for s in specs}
    values: dict[str, ParamValue] = {}
    for spec in specs:
        desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.range is not None and isinstance(spec.default, float):
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(spec.range[0]), to_value=float(spec.range[1]))
            ]
        elif spec.range is not None and isinstance(spec.default, int):
            desc.integer_range = [
                IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]))
            ]
        if spec.choices:
            desc.additional_constraints = f"one of: {', '.join(spec.choices)}"
        try:
            value = node.declare_parameter(spec.name, spec.default, desc).value
        except InvalidParameterValueException as exc:  # out of the descriptor's range
            raise ValueError(f"{node.get_name()}: bad parameter {spec.name}: {exc}") from exc
        if isinstance(spec.default, float) and isinstance(value, int):
            value = float(value)
        problem = spec.validate(value)
        if problem:
            raise ValueError(f"{node.get_name()}: bad parameter: {problem}")
        values[spec.name] = value
    problem = cross_check(values) if cross_check else None
    if problem:
        raise ValueError(f"{node.get_name()}: bad parameters: {problem}")
    live = LiveParams(values)

    def accepted(params: list[Any]) -> dict[str, ParamValue]:
        out = {}
        for p in params:
            if p.name in by_name:
                value = p.value
                if isinstance(by_name[p.name].default, float) and isinstance(value, int):
                    value = float(value)
                out[p.name] = value
        return out

    def on_set(params: list[Any]) -> SetParametersResult:
        for p in params:
            spec = by_name.get(p.name)
            if spec is None:
                continue
            if spec.read_only:
                return SetParametersResult(successful=False, reason=f"{p.name} is read-only")
            if spec.reconfigure and not (unconfigured is not None and unconfigured()):
                return SetParametersResult(
                    successful=False, reason=_reconfigure_refusal(node, p.name)
                )
            problem = spec.validate(p.value)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        if cross_check:
            candidate = {n: node.get_parameter(n).value for n in by_name}
            candidate.update({p.name: p.value for p in params if p.name in by_name})
            problem = cross_check(candidate)
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        if not post_set:  # rclpy without post-set callbacks (Humble): record it now
            live.changed(accepted(params))
        return SetParametersResult(successful=True)

    post_set = hasattr(node, "add_post_set_parameters_callback")
    node.add_on_set_parameters_callback(on_set)
    if post_set:
        node.add_post_set_parameters_callback(lambda params: live.changed(accepted(params)))
    return live


def set_torch_threads(n: int) -> None:
    """Limit torch's intra-op threads (process-wide); 0 leaves torch's default."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


# ------------------------------------------------------------------------------------ mailbox
class LatestSlot(Generic[T]):
    """Bounded, thread-safe mailbox: the newest items win, the oldest untaken one is dropped.

    Callbacks only `put`; a worker thread `take`s (oldest first), so a slow model never backs up
    DDS queues. `capacity` 1 is "latest wins"; 2 lets one slow item (a frame that overlapped a
    detection) pass without costing the next frame, while latency stays bounded to one item.
    """

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._closed = False
        self.overwritten = 0

    def put(self, item: T) -> bool:
        """Store `item`; return True if the oldest untaken item was dropped to make room."""
        with self._cond:
            replaced = len(self._items) >= self._capacity
            if replaced:
                self._items.popleft()
            self.overwritten += replaced
            self._items.append(item)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for the oldest item (None on timeout or after close)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Wake the worker for shutdown."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._closed


def lower_thread_priority(increment: int) -> bool:
    """Raise the calling thread's nice value by `increment` (Linux: nice is per thread).

    Lets a worker whose results are not on the per-frame path (the face detector: faces are
    tracked in between) yield the CPU to the one that is, on a busy machine; with spare cores it
    changes nothing. Raising nice needs no privileges. Returns False where unsupported.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except (AttributeError, OSError):  # not Linux, or refused: run at the normal priority
        return False
    return True


class Worker:
    """A daemon thread that processes items from a LatestSlot until stopped.

    An exception in `handle` is counted as an error and logged; the thread goes on with the next
    item. Once the node's context is shut down (Ctrl-C), the thread ends quietly.
    """

    def __init__(
        self, node: Node, slot: LatestSlot, handle: Any, stats: Stats, nice: int = 0
    ) -> None:
        self.slot = slot
        self._node = node
        self._handle = handle
        self._stats = stats
        self._nice = nice
        self._thread = threading.Thread(target=self._run, name=node.get_name(), daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._nice:
            lower_thread_priority(self._nice)
        while not self.slot.closed:
            item = self.slot.take(timeout=0.2)
            if item is None:
                continue
            try:
                self._handle(item)
            except Exception as exc:
                if not self._node.context.ok():
                    return  # shutting down: publishers are gone
                self._stats.count("errors")
                self._node.get_logger().error(
                    f"processing failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0
                )

    def stop(self) -> None:
        """Stop and join the thread."""
        self.slot.close()
        self._thread.join(timeout=5.0)


# -------------------------------------------------------------------------------- diagnostics
class Stats:
    """Counters and rolling windows reported on /diagnostics."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self.counts: dict[str, int] = {}
        self._events: dict[str, deque[float]] = {}
        self._latency_ms: deque[float] = deque(maxlen=200)
        self._lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        """Add to a counter (received, published, dropped_*, errors, ...)."""
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + n
            self._events.setdefault(key, deque(maxlen=1000)).extend([time.monotonic()] * n)

    def latency(self, ms: float) -> None:
        """Record one processing latency."""
        with self._lock:
            self._latency_ms.append(ms)

    def rate(self, key: str) -> float:
        """Events per second over the window."""
        return self.events(key, self.window_s) / self.window_s

    def events(self, key: str, window_s: float) -> int:
        """Events of `key` in the last `window_s` seconds."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for t in self._events.get(key, ()) if now - t <= window_s)

    def latency_ms(self) -> tuple[float, float]:
        """(median, p95) of recent latencies, NaN when none."""
        with self._lock:
            if not self._latency_ms:
                return float("nan"), float("nan")
            arr = np.asarray(self._latency_ms)
        return float(np.median(arr)), float(np.percentile(arr, 95))

    def dropped(self) -> int:
        """All drops (counters named dropped_*)."""
        return sum(v for k, v in self.counts.items() if k.startswith("dropped"))


class Diagnostics:
    """Publishes one DiagnosticStatus for a node on /diagnostics at a fixed period."""

    def __init__(self, node: Node, stats: Stats, period_s: float = 1.0) -> None:
        self._node = node
        self._stats = stats
        self._running_since = time.monotonic()
        self._state = "running"
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.publish)

    @property
    def state(self) -> str:
        """'running', or why not ('unconfigured', 'inactive', 'end of stream', ...)."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value == "running" and self._state != "running":
            self._running_since = time.monotonic()  # the rate window restarts
        self._state = value

    def _min_input_rate_hz(self) -> float:
        name = MIN_INPUT_RATE_PARAM.name
        if not self._node.has_parameter(name):
            return 0.0
        return float(self._node.get_parameter(name).value)  # may change at run time

    def _rate_problem(self) -> tuple[str, str] | None:
        minimum = self._min_input_rate_hz()
        window = min(self._stats.window_s, time.monotonic() - self._running_since)
        return input_rate_problem(self._stats.events("received", window), window, minimum)

    def publish(self) -> None:
        """Send the current counters, rates and latency."""
        s = self._stats
        p50, p95 = s.latency_ms()
        status = DiagnosticStatus()
        status.name = f"emotionaldan_ros: {self._node.get_fully_qualified_name()}"
        status.hardware_id = "cabin"
        errors = s.counts.get("errors", 0)
        rate = self._rate_problem() if self.state == "running" else None
        if self.state != "running":
            status.level, status.message = DiagnosticStatus.WARN, self.state
        elif rate is not None and rate[0] == "error":
            status.level, status.message = DiagnosticStatus.ERROR, rate[1]
        elif errors:
            status.level, status.message = DiagnosticStatus.WARN, f"{errors} errors"
        elif rate is not None:
            status.level, status.message = DiagnosticStatus.WARN, rate[1]
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
        values = {
            "input_rate_hz": f"{s.rate('received'):.2f}",
            "min_input_rate_hz": f"{self._min_input_rate_hz():g}",
            "output_rate_hz": f"{s.rate('published'):.2f}",
            "latency_p50_ms": f"{p50:.1f}",
            "latency_p95_ms": f"{p95:.1f}",
            "dropped": str(s.dropped()),
            "state": self.state,
        } | {k: str(v) for k, v in sorted(s.counts.items())}
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = [status]
        self._pub.publish(msg)


# ------------------------------------------------------------------------------------- images
def stamp_ns(header: Header) -> int:
    """Integer nanosecond key of a header stamp (exact pairing key)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def image_msg_to_bgr(msg: Image | CompressedImage) -> np.ndarray:
    """Decode a sensor_msgs/Image or CompressedImage (jpeg/png) into BGR uint8.

    Raises:
        ImageDecodeError: a message that does not hold a usable image.
    """
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, msg.data)
    array = image_to_numpy(
        msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data
    )
    return to_bgr8(msg.encoding, array)


def image_msg_size(msg: Image | CompressedImage) -> tuple[int, int] | None:
    """(width, height) an image message holds, read before decoding it.

    None for a compressed image whose header cannot be read (decoding then reports why).
    """
    if isinstance(msg, CompressedImage):
        return compressed_image_size(msg.format, msg.data)
    return int(msg.width), int(msg.height)


def bgr_to_image_msg(bgr: np.ndarray, header: Header) -> Image:
    """Encode a BGR uint8 array as a bgr8 sensor_msgs/Image with `header`."""
    fields = numpy_to_image(bgr, "bgr8")
    msg = Image()
    msg.header = header
    msg.height, msg.width = fields.height, fields.width
    msg.encoding, msg.is_bigendian, msg.step = fields.encoding, fields.is_bigendian, fields.step
    msg.data = fields.data
    return msg


# Transports, as image_transport names them: `raw` on the base topic, `compressed` (jpeg/png)
# on `<base>/compressed`.
IMAGE_TRANSPORTS = ("raw", "compressed")


def image_topic(base: str, transport: str) -> str:
    """The topic a transport uses for a base image topic (image_transport's naming)."""
    if transport not in IMAGE_TRANSPORTS:
        raise ValueError(f"unknown image transport {transport!r}: use one of {IMAGE_TRANSPORTS}")
    return base if transport == "raw" else f"{base}/{transport}"


def image_subscription(
    node: Node,
    callback: Callable[[Any], None],
    transport: str,
    qos: QoSProfile,
    base: str = "camera/image_raw",
) -> Any:
    """Subscribe to `base` (Image) or `base/compressed` (CompressedImage) by transport.

    Callbacks get either message type; `image_msg_to_bgr` decodes both to the same BGR array.
    """
    msg_type = Image if transport == "raw" else CompressedImage
    return node.create_subscription(msg_type, image_topic(base, transport), callback, qos)


def bgr_to_compressed_msg(
    bgr: np.ndarray, header: Header, fmt: str = "jpeg", quality: int = 90
) -> CompressedImage:
    """Encode a BGR uint8 array as a CompressedImage the way image_transport's plugin does."""
    msg = CompressedImage()
    msg.header = header
    msg.format = compressed_format(fmt)
    msg.data = encode_compressed(bgr, fmt, quality=quality)
    return msg
