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


def security_hint(error: object, environ: dict[str, str] | None = None) -> str:
    """A pointer to docs/security.md when a start-up error comes from SROS2 (else '').

    pip-installed Fast DDS is built without its security plugins: with `ROS_SECURITY_ENABLE=true`
    node creation fails with "This Fast DDS version doesn't have the security libraries".
    """
    env = os.environ if environ is None else environ
    text = str(error).lower()
    if env.get("ROS_SECURITY_ENABLE", "").lower() != "true" or "secur" not in text:
        return ""
    if "security libraries" in text:
        return (
            " (ROS_SECURITY_ENABLE=true, but this Fast DDS has no security plugins: the pip "
            "wheels are built without them; SROS2 needs a ROS 2 install, see docs/security.md)"
        )
    return " (SROS2 keystore or enclave problem: see docs/security.md)"
