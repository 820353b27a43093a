"""Soak of the looping demo through `emotionaldan-cabin` (real default models).

Default: ~25 s, a smoke run of the measurement (threads and open files must not change after
the warm-up, Ctrl-C ends it with the summary). `--soak`: `--soak-minutes` (10) with 60 s of
warm-up, asserting issue 10's target: RSS growth < 1 MB/min. Both print the report (`-s`); the
figures in docs/reliability.md come from `python benchmarks/soak.py`, the same code.
"""

from __future__ import annotations

import os
import random

import pytest

from emotionaldan_ros.soak import soak_cabin

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_looping_demo_soak(tmp_path, soak, soak_minutes):
    seconds, warmup = (soak_minutes * 60.0, 60.0) if soak else (25.0, 15.0)
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(91, 99)))
    report = soak_cabin(
        ["--source", "demo", "--set", "camera.loop=true", "--quiet"],
        seconds=seconds,
        warmup_s=warmup,
        env=env,
        cwd=tmp_path,
    )
    print("\n" + report.table(every_s=60.0 if soak else 5.0))
    assert report.exit_code == 0, report.output[-3000:]
    assert "stopped by SIGINT" in report.output and report.frames > 0, report.output[-3000:]
    assert report.steady, "no sample after the warm-up: start-up took the whole run"
    threads, fds = report.span("threads"), report.span("fds")
    assert threads[1] - threads[0] <= 1, f"threads changed after warm-up: {threads}"
    assert fds[1] - fds[0] <= 1, f"open files changed after warm-up: {fds}"
    if soak:
        assert report.rss_growth_mb_per_min < 1.0, report.table()
