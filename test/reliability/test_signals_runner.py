"""SIGINT / SIGTERM / SIGKILL of `emotionaldan-cabin` at random moments.

Ctrl-C and SIGTERM, during start-up or while frames flow, must end the process with status 0,
the summary and no traceback (it used to abort with status 134: `RCLError: failed to create
timer: the given context is not valid`, `terminate called without an active exception`). After
a SIGKILL, a new graph on the same domain must start and run normally (nothing stale left).
Default: one round per signal and phase, on the stub recogniser and Haar; `--soak`: ten rounds
each, the real models included. The moments are random; a failure prints its seed.
"""

from __future__ import annotations

import random
import re
import signal

import pytest

from .runner import Cabin, params_file

pytestmark = [pytest.mark.ros, pytest.mark.slow]

START_TIMEOUT_S = 120.0  # the real models load in a few seconds; a loaded CI machine is slower
EXIT_TIMEOUT_S = 30.0
ABORT_MARKS = ("Traceback", "terminate called", "RCLError", "cannot start the graph")


def _domain(rng: random.Random) -> int:
    return rng.randint(91, 99)  # apart from rosutil's 1..59 and the bag tests' 60..90


def _rounds(soak: bool) -> int:
    return 10 if soak else 1


def _check_clean_stop(cabin: Cabin, code: int | None, sig: signal.Signals, seed: int) -> None:
    log = cabin.log
    where = f"(seed {seed}, {sig.name})\n{log[-3000:]}"
    assert code is not None, f"hung after {sig.name} {where}"
    assert code == 0, f"exit status {code} {where}"
    assert "frames processed:" in log, f"no summary {where}"
    assert f"stopped by {sig.name}" in log, where
    assert not any(mark in log for mark in ABORT_MARKS), where


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("phase", ["start-up", "steady"])
def test_stop_signal_at_a_random_moment_exits_0_with_summary(tmp_path, sig, phase, soak):
    rounds = _rounds(soak)
    for k in range(rounds):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        real = soak and k % 2 == 1  # the soak alternates stubs and the real models
        cabin = Cabin(
            "--config", str(params_file(tmp_path, real_models=real)),
            domain=_domain(rng), cwd=tmp_path,
        )  # fmt: skip
        try:
            if phase == "start-up":
                # After the interpreter is up (its first ~0.2 s of imports are Python's own),
                # somewhere in loading the nodes and models.
                assert cabin.alive_for(rng.uniform(0.5, 3.0)), cabin.log
            else:
                assert cabin.wait_for_line("frame ", START_TIMEOUT_S), cabin.log
                assert cabin.alive_for(rng.uniform(0.0, 2.0)), cabin.log
            cabin.signal(sig)
            _check_clean_stop(cabin, cabin.finish(EXIT_TIMEOUT_S), sig, seed)
        finally:
            cabin.close()


def test_impatient_second_ctrl_c_still_stops_cleanly(tmp_path, soak):
    # Once stopping, more Ctrl-C only wait for the (bounded) clean-up: same clean exit.
    for _ in range(_rounds(soak)):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        cabin = Cabin("--config", str(params_file(tmp_path)), domain=_domain(rng), cwd=tmp_path)
        try:
            assert cabin.wait_for_line("frame ", START_TIMEOUT_S), cabin.log
            cabin.signal(signal.SIGINT)
            if cabin.alive_for(rng.uniform(0.0, 0.3)):
                cabin.signal(signal.SIGINT)
            _check_clean_stop(cabin, cabin.finish(EXIT_TIMEOUT_S), signal.SIGINT, seed)
        finally:
            cabin.close()


def test_sigkilled_runner_leaves_nothing_that_stops_the_next_one(tmp_path, soak):
    for _ in range(_rounds(soak)):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        domain = _domain(rng)
        killed = Cabin("--config", str(params_file(tmp_path)), domain=domain, cwd=tmp_path)
        try:
            if rng.random() < 0.5:
                assert killed.alive_for(rng.uniform(0.5, 3.0)), killed.log
            else:
                assert killed.wait_for_line("frame ", START_TIMEOUT_S), killed.log
                assert killed.alive_for(rng.uniform(0.0, 2.0)), killed.log
            killed.signal(signal.SIGKILL)
            assert killed.finish(EXIT_TIMEOUT_S) == -signal.SIGKILL
        finally:
            killed.close()
        # Same domain, same shared-memory transport: the next graph runs as if nothing happened.
        after = Cabin(
            "--config", str(params_file(tmp_path)), "--max-frames", "5", "--quiet",
            domain=domain, cwd=tmp_path,
        )  # fmt: skip
        try:
            code = after.finish(START_TIMEOUT_S)
            assert code == 0, f"status {code} (seed {seed})\n{after.log[-3000:]}"
            frames = re.search(r"frames processed: (\d+)", after.log)
            assert frames and int(frames.group(1)) >= 5, after.log[-3000:]
        finally:
            after.close()


@pytest.mark.parametrize(
    ("module", "ros_args"),
    [
        ("camera", ["-p", "source:=demo", "-p", "loop:=true"]),
        ("face_detector", ["-p", "detector:=haar"]),
        ("fear_monitor", []),
    ],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_node_executable_stops_cleanly(tmp_path, module, ros_args, sig, soak):
    # What `ros2 launch` does at its end (SIGINT, then SIGTERM) and what Ctrl-C does to
    # `ros2 run`: status 0, no traceback, at any moment after the interpreter is up.
    for _ in range(_rounds(soak)):
        seed = random.randrange(2**32)
        rng = random.Random(seed)
        node = Cabin(
            "--ros-args", "-r", "__ns:=/cabin", *ros_args,
            module=f"emotionaldan_ros.nodes.{module}", domain=_domain(rng), cwd=tmp_path,
        )  # fmt: skip
        try:
            assert node.alive_for(rng.uniform(0.8, 4.0)), node.log
            node.signal(sig)
            code = node.finish(EXIT_TIMEOUT_S)
            where = f"(seed {seed})\n{node.log[-3000:]}"
            assert code == 0, f"status {code} {where}"
            assert not any(mark in node.log for mark in ABORT_MARKS), where
        finally:
            node.close()
