"""Expected-rate check of a node's input, after diagnostic_updater's frequency status.

ROS-free so it is tested on numbers; `nodes/common.Diagnostics` applies it every period with
the node's `min_input_rate_hz` parameter (0 disables it).
"""

from __future__ import annotations

from typing import Literal

Level = Literal["warn", "error"]
GRACE_S = 1.0  # no verdict until the node has been running this long


def input_rate_problem(
    events: int, window_s: float, min_rate_hz: float
) -> tuple[Level, str] | None:
    """Why an input rate is not acceptable, or None.

    Args:
        events: inputs received during the window.
        window_s: length of the window, s (shorter than the full one right after start).
        min_rate_hz: the expected minimum rate; 0 or less disables the check.

    Returns:
        ('error', ...) when nothing arrived at all (diagnostic_updater: "No events recorded"),
        ('warn', ...) when the rate is below the minimum, None when it is met or not judged yet.
    """
    if min_rate_hz <= 0 or window_s < GRACE_S:
        return None
    if events == 0:
        return "error", f"no input for {window_s:.1f} s (expected >= {min_rate_hz:g} Hz)"
    rate = events / window_s
    if rate < min_rate_hz:
        return "warn", f"input rate {rate:.2f} Hz below the expected {min_rate_hz:g} Hz"
    return None
