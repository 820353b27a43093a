"""SIGINT / SIGTERM of `emotionaldan-bag record` at a random moment: a clean, complete bag.

As test_record_sigkill.py, but a polite signal: the recorder must exit 0 and leave a finished
bag (`info` succeeds without `reindex`) holding the first messages published, in order, without
a gap, at least 99 % of those published before the signal. `--soak`: five rounds per signal and
storage.
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


def _record_until_signal(tmp_path, storage: str, sig: signal.Signals, rng: random.Random):
    domain = rng.randint(60, 90)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    bag = tmp_path / f"stopped_{storage}_{sig.name}_{rng.randrange(10**6)}"
    cmd = ["record", "-o", str(bag), "/rel/*", "--storage", storage]
    recorder = subprocess.Popen(
        [sys.executable, "-m", "emotionaldan_ros.bag.cli", *cmd],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
        stop_at = time.monotonic() + rng.uniform(0.5, 4.0)
        next_due = time.monotonic()
        while time.monotonic() < stop_at:
            pub.publish(String(data=f"{published:06d}"))
            published += 1
            next_due += 1.0 / RATE_HZ
            time.sleep(max(0.0, next_due - time.monotonic()))
        recorder.send_signal(sig)
        _, err = recorder.communicate(timeout=30)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait(10)
        rclpy.try_shutdown(context=context)
    return recorder.returncode, err, bag, published


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signalled_recording_is_complete(tmp_path, storage, sig, soak, capsys):
    for _ in range(5 if soak else 1):
        seed = random.randrange(2**32)
        code, err, bag, published = _record_until_signal(
            tmp_path, storage, sig, random.Random(seed)
        )
        assert code == 0, f"status {code} (seed {seed}): {err}"
        assert "Traceback" not in err, err
        assert bag_cli(["info", str(bag)]) == 0, f"unfinished bag (seed {seed})"
        capsys.readouterr()
        with BagReader(bag) as reader:
            numbers = [int(deserialize_message(raw, String).data) for *_, raw in reader.messages()]
        print(f"\n{storage} {sig.name}: kept {len(numbers)} of {published} published")
        assert numbers == list(range(len(numbers))), f"reordered or gap (seed {seed})"
        assert len(numbers) >= 0.99 * published, f"seed {seed}"
