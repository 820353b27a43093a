"""A recording killed with SIGKILL at a random moment keeps ≥ 99 % of what was published.

`emotionaldan-bag record` runs as a subprocess; this test publishes numbered messages at 50 Hz
(reliable, as the cabin graph does), SIGKILLs the recorder after a random 2-5 s, checks that
`info` names the bag as unfinished, runs `emotionaldan-bag reindex`, and counts: the salvaged
messages must be the first ones published, in order, with no gap, and at least 99 % of all
messages published before the kill (in-flight messages included, so this bounds the loss from
below). Each run prints its figure (`pytest test/reliability -s`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from emotionaldan_ros.bag.bagio import BagReader  # noqa: E402
from emotionaldan_ros.bag.cli import main as bag_cli  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ = 50.0
PAYLOAD = "x" * 200


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "emotionaldan_ros.bag.cli", *args]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_sigkilled_recording_is_salvaged(tmp_path, storage, capsys):
    domain = random.randint(60, 90)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    bag = tmp_path / "killed"
    recorder = subprocess.Popen(
        _cli("record", "-o", str(bag), "/rel/*", "--storage", storage),
        env=env,
        stderr=subprocess.DEVNULL,
    )
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    published = 0
    try:
        node = Node("talker", context=context)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        pub = node.create_publisher(String, "/rel/numbers", qos)
        deadline = time.monotonic() + 20
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pub.get_subscription_count() == 1, "recorder never subscribed"
        kill_at = time.monotonic() + random.uniform(2.0, 5.0)
        next_due = time.monotonic()
        while time.monotonic() < kill_at:
            pub.publish(String(data=f"{published:06d} {PAYLOAD}"))
            published += 1
            next_due += 1.0 / RATE_HZ
            time.sleep(max(0.0, next_due - time.monotonic()))
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
        rclpy.try_shutdown(context=context)

    assert bag_cli(["info", str(bag)]) == 1
    assert "reindex" in capsys.readouterr().err  # the error names the way out
    assert bag_cli(["reindex", str(bag)]) == 0
    capsys.readouterr()
    with BagReader(bag) as reader:
        numbers = [
            int(deserialize_message(raw, String).data.split()[0])
            for _, _, _, raw in reader.messages()
        ]
        assert reader.topics["/rel/numbers"].count == len(numbers)
    kept = len(numbers) / published
    print(f"\n{storage}: kept {len(numbers)} of {published} published ({kept:.1%})")
    assert numbers == list(range(len(numbers)))  # a prefix: nothing reordered or skipped
    assert kept >= 0.99
