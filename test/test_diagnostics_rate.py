"""Expected input-rate bounds on /diagnostics (diagnostic_updater's frequency status)."""

import numpy as np
import pytest

from emotionaldan_ros.core.rates import input_rate_problem


def test_rate_verdicts():
    assert input_rate_problem(50, 5.0, 0.0) is None  # check disabled
    assert input_rate_problem(0, 0.5, 10.0) is None  # too early to judge
    assert input_rate_problem(50, 5.0, 10.0) is None  # 10 Hz meets 10 Hz
    level, text = input_rate_problem(20, 5.0, 10.0)
    assert level == "warn" and "4.00 Hz below the expected 10 Hz" in text
    level, text = input_rate_problem(0, 5.0, 10.0)
    assert level == "error" and "no input for 5.0 s" in text


rclpy = pytest.importorskip("rclpy")


@pytest.mark.ros
def test_detector_diagnostics_report_missing_and_slow_input():
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from rclpy.parameter import Parameter
    from rosutil import RosHarness
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, bgr_to_image_msg
    from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
    from emotionaldan_ros.nodes.runtime import activate

    with RosHarness() as ros:
        node = ros.add(
            FaceDetectorNode(
                context=ros.context,
                namespace="/cabin",
                parameter_overrides=[
                    Parameter("detector", value="haar"),
                    Parameter("min_input_rate_hz", value=500.0),
                ],
            )
        )
        activate(node)
        statuses = []
        ros.probe.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: statuses.extend(m.status), 10
        )
        pub = ros.probe.create_publisher(Image, "/cabin/camera/image_raw", FRAME_PUB_QOS)

        def seen(level: int, text: str) -> bool:
            return any(s.level == level and text in s.message for s in statuses)

        assert ros.spin_until(lambda: seen(DiagnosticStatus.ERROR, "no input"), timeout=15)
        values = {kv.key: kv.value for kv in statuses[-1].values}
        assert values["min_input_rate_hz"] == "500"
        ros.wait_connected("/cabin/camera/image_raw")
        frame = np.zeros((60, 80, 3), np.uint8)
        pub.publish(bgr_to_image_msg(frame, Header(frame_id="c")))
        assert ros.spin_until(lambda: node.stats.counts.get("received", 0) >= 1)
        assert ros.spin_until(
            lambda: seen(DiagnosticStatus.WARN, "below the expected 500 Hz"), timeout=15
        )
        # The bound is a parameter: 0 turns the check off at run time.
        node.set_parameters([Parameter("min_input_rate_hz", value=0.0)])
        statuses.clear()
        assert ros.spin_until(lambda: seen(DiagnosticStatus.OK, "ok"), timeout=15)
