"""Fear monitor and example planner nodes in a real rclpy graph."""

import pytest
from rclpy.parameter import Parameter
from rosutil import RosHarness
from std_msgs.msg import Header

from emotionaldan_msgs.msg import Emotion, EmotionArray, PassengerAlert
from emotionaldan_ros.nodes.common import ALERT_QOS, RESULT_QOS
from emotionaldan_ros.nodes.example_planner import ExamplePlanner
from emotionaldan_ros.nodes.fear_monitor import FearMonitorNode

pytestmark = pytest.mark.ros

FAST = [
    Parameter("smoothing_tau_s", value=0.0),
    Parameter("enter_min_duration_s", value=0.2),
    Parameter("exit_min_duration_s", value=0.2),
    Parameter("leave_timeout_s", value=0.5),
]


def frame(t: float, *faces: tuple[int, float]) -> EmotionArray:
    h = Header(frame_id="cabin_camera")
    h.stamp.sec, h.stamp.nanosec = int(t), round((t % 1) * 1e9)
    msg = EmotionArray(header=h)
    for face_id, fear in faces:
        probs = [(1 - fear) / 6] * 7
        probs[Emotion.FEAR] = fear
        msg.emotions.append(Emotion(face_id=face_id, probabilities=probs))
    return msg


def test_alerts_follow_fear_with_hysteresis_and_clear_on_leave():
    with RosHarness() as ros:
        node = ros.add(
            FearMonitorNode(context=ros.context, namespace="/cabin", parameter_overrides=FAST)
        )
        planner = ros.add(ExamplePlanner(context=ros.context, namespace="/cabin"))
        alerts = ros.collect(PassengerAlert, "/cabin/passenger_alert", ALERT_QOS)
        pub = ros.probe.create_publisher(EmotionArray, "/cabin/emotion", RESULT_QOS)
        ros.wait_connected("/cabin/emotion", "/cabin/passenger_alert")
        script = [frame(100 + 0.1 * k, (4, 0.9), (5, 0.05)) for k in range(5)]
        script += [frame(100.5 + 0.1 * k, (5, 0.05)) for k in range(8)]  # 4 leaves view
        for i, msg in enumerate(script):  # one frame at a time, each processed before the next
            pub.publish(msg)
            assert ros.spin_until(lambda i=i: node.stats.counts.get("received", 0) >= i + 1)
        assert ros.spin_until(lambda: any(not a.present for a in alerts))
        p4 = [a for a in alerts if a.face_id == 4]
        # fear entered after 0.2 s above threshold (3rd frame of 4), with the frame's stamp
        assert [a.fear for a in p4 if a.present] == [False, False, True, True, True]
        assert p4[2].header.stamp.sec == 100 and p4[2].header.frame_id == "cabin_camera"
        assert p4[2].speed_factor == pytest.approx(0.7)
        assert p4[-1].present is False and p4[-1].speed_factor == 1.0
        assert not any(a.fear for a in alerts if a.face_id == 5)
        assert ros.spin_until(lambda: planner.speed_factor() == 1.0 and 4 not in planner.alerts)


def test_malformed_emotions_counted():
    with RosHarness() as ros:
        node = ros.add(FearMonitorNode(context=ros.context, namespace="/cabin"))
        pub = ros.probe.create_publisher(EmotionArray, "/cabin/emotion", RESULT_QOS)
        ros.wait_connected("/cabin/emotion")
        msg = frame(1.0, (1, float("nan")))
        msg.emotions.append(Emotion(face_id=2, probabilities=[0.5, 0.5]))  # too few classes
        pub.publish(msg)
        assert ros.spin_until(lambda: node.stats.counts.get("received") == 1)
        assert node.stats.counts["dropped_bad_emotion"] == 1
        assert node.stats.counts["dropped_nan"] == 1
        assert node.monitor.passengers == []


def test_bad_parameters_rejected_at_declare_and_set():
    with RosHarness() as ros:
        with pytest.raises(ValueError, match=r"exit_threshold .* must be below enter_threshold"):
            FearMonitorNode(
                context=ros.context, parameter_overrides=[Parameter("exit_threshold", value=0.8)]
            )
        node = ros.add(FearMonitorNode(context=ros.context))
        res = node.set_parameters([Parameter("enter_threshold", value=0.2)])[0]
        assert not res.successful and "below enter_threshold" in res.reason
        res = node.set_parameters([Parameter("enter_threshold", value=1.7)])[0]
        assert not res.successful
        assert node.set_parameters([Parameter("enter_threshold", value=0.8)])[0].successful
        assert node.monitor.params.enter_threshold == 0.8


def test_alert_changes_are_logged_once_each():
    with RosHarness() as ros:
        node = ros.add(
            FearMonitorNode(context=ros.context, namespace="/cabin", parameter_overrides=FAST)
        )
        lines: list[str] = []

        class Log:
            def info(self, text: str) -> None:
                lines.append(text)

        node.get_logger = Log  # type: ignore[method-assign]
        # Passenger 3: calm, afraid (raised once, however long), calm (cleared), afraid, gone.
        # Passenger 5, always calm, leaves too: no alert to clear.
        fear = [0.1] + [0.9] * 4 + [0.05] * 4 + [0.9] * 4
        for k, prob in enumerate(fear):
            node.emotion_callback(frame(100 + 0.1 * k, (3, prob), (5, 0.05)))
        for k in range(len(fear), len(fear) + 8):
            node.emotion_callback(frame(100 + 0.1 * k))
        assert lines == [
            "passenger 3 shows fear: alert raised (speed factor 0.70 for the planner)",
            "passenger 3 calm again: alert cleared",
            "passenger 3 shows fear: alert raised (speed factor 0.70 for the planner)",
            "passenger 3 left view: alert cleared",
            "passenger 5 left view",
        ]
