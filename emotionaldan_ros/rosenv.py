"""Environment defaults for running the graph on one machine (set before rclpy.init)."""

from __future__ import annotations

import os
from pathlib import Path

FASTDDS_PROFILE = Path(__file__).resolve().parent / "assets" / "fastdds.xml"


def apply_ros_defaults(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Set the shipped Fast DDS profile and localhost-only discovery unless already set.

    Returns the variables that were set (already-set ones are left alone, so users override them
    by exporting their own values).
    """
    env = os.environ if environ is None else environ
    wanted = {
        "FASTDDS_DEFAULT_PROFILES_FILE": str(FASTDDS_PROFILE),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    applied = {k: v for k, v in wanted.items() if not env.get(k)}
    env.update(applied)
    return applied
