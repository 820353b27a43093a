"""Shared test set-up: ROS environment defaults before any rclpy context exists."""

import os
import sys
from pathlib import Path

from emotionaldan_ros.rosenv import apply_ros_defaults

apply_ros_defaults()
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Helper modules of the tests (stubs, ROS harness) import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the core tests that need torch import it themselves
    pass
