"""Example planner: how a driving stack would use `/cabin/passenger_alert`.

It keeps the latest alert of every passenger and prints the speed it would drive at: the
planned speed times the most cautious passenger's factor. Replace the print with your planner.
"""

from __future__ import annotations

from rclpy.node import Node

from emotionaldan_msgs.msg import PassengerAlert
from emotionaldan_ros.nodes.common import ALERT_QOS
from emotionaldan_ros.nodes.runtime import run_single


class ExamplePlanner(Node):
    """Prints a speed decision on every passenger alert."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("example_planner", **kwargs)
        self.planned_speed = self.declare_parameter("planned_speed_kmh", 50.0).value
        self.alerts: dict[int, PassengerAlert] = {}
        self.create_subscription(PassengerAlert, "passenger_alert", self.alert_callback, ALERT_QOS)

    def speed_factor(self) -> float:
        """Factor of the most cautious present passenger (1.0 with nobody afraid)."""
        return min((a.speed_factor for a in self.alerts.values()), default=1.0)

    def alert_callback(self, msg: PassengerAlert) -> None:
        """Update the passenger's alert and print the decision when it changes."""
        old = self.speed_factor()
        if msg.present:
            self.alerts[msg.face_id] = msg
        else:
            self.alerts.pop(msg.face_id, None)
        new = self.speed_factor()
        if new != old:
            who = ", ".join(f"#{a.face_id}: {a.reason}" for a in self.alerts.values() if a.fear)
            self.get_logger().info(
                f"speed {self.planned_speed * new:.0f} km/h (factor {new:.2f})"
                + (f" because passenger {who}" if who else ": all passengers calm")
            )


def main(args: list[str] | None = None) -> None:
    """Run the example planner."""
    run_single(ExamplePlanner, args)


if __name__ == "__main__":
    main()
