"""Fear monitor node: per-passenger smoothed fear, hysteresis, and a speed recommendation."""

from __future__ import annotations

import dataclasses

from rclpy.node import Node

from emotionaldan_msgs.msg import EmotionArray, PassengerAlert
from emotionaldan_ros.core.fear import FearMonitor, FearParams, PassengerState
from emotionaldan_ros.core.labels import FEAR
from emotionaldan_ros.nodes.common import (
    ALERT_QOS,
    MIN_INPUT_RATE_PARAM,
    RESULT_QOS,
    Diagnostics,
    Stats,
    declare_params,
)
from emotionaldan_ros.nodes.messages import alert_message
from emotionaldan_ros.nodes.runtime import run_single
from emotionaldan_ros.params import ParamSpec

_DEFAULTS = FearParams()
PARAMS = (
    ParamSpec(
        "smoothing_tau_s",
        _DEFAULTS.smoothing_tau_s,
        "Time constant of the fear-level moving average, s",
        range=(0.0, 60.0),
    ),
    ParamSpec(
        "enter_threshold", _DEFAULTS.enter_threshold, "Fear level to enter fear", (0.0, 1.0)
    ),
    ParamSpec("exit_threshold", _DEFAULTS.exit_threshold, "Fear level to leave fear", (0.0, 1.0)),
    ParamSpec(
        "enter_min_duration_s",
        _DEFAULTS.enter_min_duration_s,
        "Time above enter_threshold before fear is declared, s",
        range=(0.0, 60.0),
    ),
    ParamSpec(
        "exit_min_duration_s",
        _DEFAULTS.exit_min_duration_s,
        "Time below exit_threshold before fear is cleared, s",
        range=(0.0, 60.0),
    ),
    ParamSpec(
        "fear_speed_factor",
        _DEFAULTS.fear_speed_factor,
        "Recommended speed factor while a passenger is afraid",
        range=(0.01, 1.0),
    ),
    ParamSpec(
        "leave_timeout_s",
        _DEFAULTS.leave_timeout_s,
        "A passenger unseen this long has left; the alert is cleared, s",
        range=(0.01, 600.0),
    ),
    MIN_INPUT_RATE_PARAM,
)


class FearMonitorNode(Node):
    """Subscribes `emotion`; publishes `passenger_alert` (reliable) per passenger."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("fear_monitor", **kwargs)
        values = declare_params(self, PARAMS, cross_check=_fear_params_problem)
        self.monitor = FearMonitor(FearParams(**_fear_values(values)))
        self.add_post_set_parameters_callback(self._params_changed)
        self.stats = Stats()
        self.diagnostics = Diagnostics(self, self.stats)
        self.alert_pub = self.create_publisher(PassengerAlert, "passenger_alert", ALERT_QOS)
        self.create_subscription(EmotionArray, "emotion", self.emotion_callback, RESULT_QOS)

    def emotion_callback(self, msg: EmotionArray) -> None:
        """Update every passenger seen in this frame (and clear those who left)."""
        self.stats.count("received")
        probs = {}
        for e in msg.emotions:
            if len(e.probabilities) <= FEAR:
                self.stats.count("dropped_bad_emotion")
                continue
            probs[e.face_id] = float(e.probabilities[FEAR])
        before, restarts = self.monitor.rejected, self.monitor.restarts
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        for state in self.monitor.update(stamp, probs):
            self.alert_pub.publish(alert_message(msg.header, state))
            self.stats.count("published")
            self._log_change(state)
        if self.monitor.restarts > restarts:
            self.stats.count("stream_restarts")
            self.get_logger().info("emotion stamps jumped back: stream restarted, alerts cleared")
        if self.monitor.rejected > before:
            self.stats.count("dropped_nan", self.monitor.rejected - before)
            self.get_logger().warning(
                "ignored NaN / out-of-range fear probabilities", throttle_duration_sec=5.0
            )

    def _log_change(self, state: PassengerState) -> None:
        """One log line when a passenger's alert is raised or cleared, or the passenger leaves."""
        if not state.present:
            cleared = ": alert cleared" if state.changed else ""
            self.get_logger().info(f"passenger {state.face_id} left view{cleared}")
        elif state.changed and state.fear:
            self.get_logger().info(
                f"passenger {state.face_id} shows fear: alert raised "
                f"(speed factor {state.speed_factor:.2f} for the planner)"
            )
        elif state.changed:
            self.get_logger().info(f"passenger {state.face_id} calm again: alert cleared")

    def _params_changed(self, params: list) -> None:
        # Accepted changes (validated in declare_params) retune the monitor; tracks are kept.
        values = dataclasses.asdict(self.monitor.params)
        values.update({p.name: float(p.value) for p in params if p.name in values})
        self.monitor.params = FearParams(**values)


def _fear_values(values: dict) -> dict:
    """The parameters that are FearParams fields (not the node's diagnostics settings)."""
    fields = {f.name for f in dataclasses.fields(FearParams)}
    return {k: v for k, v in values.items() if k in fields}


def _fear_params_problem(values: dict) -> str | None:
    """Cross-parameter rules (exit below enter, ...) of FearParams, as one message."""
    try:
        FearParams(**{k: float(v) for k, v in _fear_values(values).items()})
    except ValueError as exc:
        return str(exc)
    return None


def main(args: list[str] | None = None) -> None:
    """Run the fear monitor."""
    run_single(FearMonitorNode, args)


if __name__ == "__main__":
    main()
