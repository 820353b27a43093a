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
