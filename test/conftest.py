"""Shared test set-up: ROS environment defaults before any rclpy context exists."""

import os
import sys
from pathlib import Path

import pytest
import torch

from emotionaldan_ros.rosenv import apply_ros_defaults

apply_ros_defaults()
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Helper modules of the tests (stubs, ROS harness) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """One torch thread per test: the 2-core CI machine runs tests and nodes side by side, and
    a test that changes the count (nodes do, through torch_threads) must not leak it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_addoption(parser):
    """`--soak`: the long mode of test/reliability (many signal rounds, a 10-minute soak)."""
    group = parser.getgroup("reliability", "test/reliability")
    group.addoption(
        "--soak",
        action="store_true",
        help="long reliability runs: signal storms, the 10-minute soak of the looping demo",
    )
    group.addoption(
        "--soak-minutes",
        type=float,
        default=10.0,
        help="length of the demo soak with --soak (default 10)",
    )
