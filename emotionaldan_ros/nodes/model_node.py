"""Base of the nodes that run a model: lifecycle, latest-wins worker, image decoding, stats.

`on_configure` loads the model (a failure is logged and the transition fails), `on_activate`
opens the subscriptions and starts the worker thread, `on_deactivate` stops both, `on_cleanup`
frees the model. Subclasses implement `load`, `subscribe`, `process` and `unload`, and
`apply_params` for parameters that change at run time.

Parameters: `reconfigure` ones (the model, engine, threads, transport) can only change while the
node is unconfigured and are read by the next configure; every other one takes effect at run
time: values are read from the live `self.params`, and the worker hands the names changed since
the last frame to `apply_params` before it processes the next one (so only the worker thread
rebuilds what the model uses).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image

from emotionaldan_ros.core.image_codec import ImageDecodeError
from emotionaldan_ros.nodes.common import (
    MIN_INPUT_RATE_PARAM,
    Diagnostics,
    LatestSlot,
    Stats,
    Worker,
    declare_params,
    image_msg_size,
    image_msg_to_bgr,
    set_torch_threads,
)
from emotionaldan_ros.params import ParamSpec

# Parameters every model node has (appended to each node's own list).
MODEL_NODE_PARAMS = (
    ParamSpec(
        "engine",
        "onnxruntime",
        "Inference engine of the shipped nets: 'onnxruntime' (fast on CPU) or 'torch' (PyTorch "
        "eager: the fallback, and the engine for CUDA devices)",
        choices=("onnxruntime", "torch"),
        reconfigure=True,
    ),
    ParamSpec(
        "inference_threads",
        1,
        "ONNX Runtime intra-op threads per net (0 = one per core); 1 lets the detector and the "
        "recogniser run side by side on a 2-core machine (docs/realtime.md)",
        range=(0, 64),
        reconfigure=True,
    ),
    ParamSpec(
        "torch_threads",
        1,
        "CPU threads torch may use in this process (engine 'torch'; 0 = torch's default); the "
        "detector and the recogniser each run in their own worker thread",
        range=(0, 256),
        reconfigure=True,
    ),
    ParamSpec(
        "image_transport",
        "raw",
        "Images in: 'raw' (sensor_msgs/Image on camera/image_raw) or 'compressed' "
        "(CompressedImage, jpeg/png, on camera/image_raw/compressed)",
        choices=("raw", "compressed"),
        reconfigure=True,
    ),
    ParamSpec(
        "max_image_pixels",
        8_388_608,
        "Images with more pixels (width x height) are dropped before decoding "
        "(dropped_too_large): bounds the memory and time of one frame; 8388608 = 4096 x 2048, "
        "4K UHD fits",
        range=(1, 268_435_456),
    ),
    MIN_INPUT_RATE_PARAM,
    ParamSpec(
        "autostart",
        True,
        "The executable configures and activates the node itself at start; false leaves the "
        "transitions to a lifecycle manager (the launch file: LifecycleNode autostart)",
        read_only=True,
    ),
)


class ModelNode(LifecycleNode):
    """A lifecycle node whose worker thread processes the newest input with a model."""

    def __init__(self, node_name: str, params: Sequence[ParamSpec], **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)
        self.stats = Stats()
        self.diagnostics = Diagnostics(self, self.stats)
        self.diagnostics.state = "unconfigured"
        self.params = declare_params(
            self, params, unconfigured=lambda: self.diagnostics.state == "unconfigured"
        )
        self._slot: LatestSlot = LatestSlot()
        self._subs: list[Subscription] = []
        self._worker: Worker | None = None

    # -- to implement -------------------------------------------------------------------------
    def load(self) -> None:
        """Build the model and the publishers; raise with a clear message on failure."""
        raise NotImplementedError

    def subscribe(self) -> list[Subscription]:
        """Create the input subscriptions (their callbacks end in `offer`)."""
        raise NotImplementedError

    def process(self, item: object) -> None:
        """Handle one input in the worker thread."""
        raise NotImplementedError

    def unload(self) -> None:
        """Free the model and the publishers."""
        raise NotImplementedError

    def apply_params(self, names: set[str]) -> None:
        """Apply parameters changed at run time (worker thread, before the next input).

        Values are already in `self.params`; override to rebuild what was built from them.
        """

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model; a missing or corrupt model fails the transition with a clear log."""
        set_torch_threads(self.params["torch_threads"])
        self.params.take_changes()  # load() reads every current value
        try:
            self.load()
        except Exception as exc:
            self.get_logger().error(str(exc))
            return TransitionCallbackReturn.FAILURE
        self.diagnostics.state = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker and the subscriptions."""
        # inputs that may wait for the worker (nodes with a `queue_depth` parameter; else 1)
        self._slot = LatestSlot(int(self.params.get("queue_depth", 1)))
        nice = int(self.params.get("worker_nice", 0))
        self._worker = Worker(self, self._slot, self._process, self.stats, nice=nice)
        self._subs = self.subscribe()
        self.diagnostics.state = "running"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop processing."""
        self.close()
        self.diagnostics.state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model."""
        self.unload()
        self.diagnostics.state = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def _process(self, item: object) -> None:
        changed = self.params.take_changes()
        if changed:
            self.apply_params(changed)
        self.process(item)

    # -- helpers for subclasses ---------------------------------------------------------------
    def offer(self, item: object) -> None:
        """Hand an input to the worker; one it had not taken yet is a counted drop."""
        if self._slot.put(item):
            self.stats.count("dropped_overrun")

    def decode(self, msg: Image) -> np.ndarray | None:
        """BGR pixels of an image message, or None (counted, logged) when it is unusable."""
        size = image_msg_size(msg)
        limit = self.params["max_image_pixels"]
        if size is not None and size[0] * size[1] > limit:
            self.stats.count("dropped_too_large")
            self.get_logger().warning(
                f"dropped a {size[0]}x{size[1]} image: more than max_image_pixels ({limit})",
                throttle_duration_sec=5.0,
            )
            return None
        try:
            return image_msg_to_bgr(msg)
        except ImageDecodeError as exc:
            self.stats.count("dropped_bad_image")
            self.get_logger().warning(f"dropped image: {exc}", throttle_duration_sec=5.0)
            return None

    def close(self) -> None:
        """Stop the worker and the subscriptions."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
