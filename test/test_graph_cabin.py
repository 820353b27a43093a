"""The whole graph through `emotionaldan-cabin` on the bundled demo footage (as a user runs it)."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from rosutil import next_domain_id

pytestmark = [pytest.mark.ros, pytest.mark.slow]


HERE = os.path.dirname(os.path.abspath(__file__))


def cabin(*args, **popen):
    # PYTHONPATH: the test stubs (python:stubs:...) import from this folder.
    env = dict(
        os.environ,
        ROS_DOMAIN_ID=str(next_domain_id()),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")]),
    )
    cmd = [sys.executable, "-m", "emotionaldan_ros.cabin", *args]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def test_demo_footage_through_the_real_models(tmp_path):
    out = tmp_path / "frames"
    # 5 fps leaves the 2-core CI machine time to process most frames with the real models.
    proc = cabin("--source", "demo", "--set", "camera.fps=5.0", "--output", str(out), "--quiet")
    log, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, log
    frames = int(re.search(r"frames processed: (\d+)", log).group(1))
    assert frames >= 20, log
    # Most of the demo's faces are smiling: a working recogniser reads "happy" most...
    emotions = re.search(r"emotions: (.*)", log).group(1)
    assert emotions.startswith("happy"), log
    # ...and its last passenger is afraid: fear seen, alert raised, cleared when she leaves.
    assert re.search(r"emotions: .*fear \d+", log), log
    raised = re.search(r"passenger (\d+) shows fear: alert raised \(speed factor 0\.70", log)
    assert raised, log
    assert f"passenger {raised.group(1)} left view: alert cleared" in log
    assert f"fear alerts raised for passengers: [{raised.group(1)}]" in log
    assert "end of stream after 104 frames" in log
    assert len(list(out.glob("frame_*.jpg"))) >= 20


def stub_params(folder):
    """A params file naming the stub recogniser (python: backends come from params files only)."""
    path = folder / "stub.yaml"
    path.write_text("/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n")
    return path


def test_ctrl_c_stops_cleanly_with_summary(tmp_path):
    proc = cabin(
        "--config",
        str(stub_params(tmp_path)),
        "--source",
        "demo",
        "--set",
        "camera.loop=true",
        "--detector",
        "haar",
        cwd=str(tmp_path),
    )
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("frame "):
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "frames processed:" in log and "Traceback" not in log


def test_missing_checkpoint_is_one_clear_error(tmp_path):
    missing = tmp_path / "missing.pt"
    proc = cabin("--no-camera", "--backend", f"checkpoint:{missing}")
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, log
    assert str(missing) in log and "cannot start the graph" in log
    assert "Traceback" not in log


def test_python_backend_from_the_command_line_is_refused(tmp_path):
    # python:MODULE:FACTORY imports and runs code: only a params file may name it.
    for args in (
        ("--backend", "python:stubs:stub"),
        ("--set", "emotionaldan.backend=python:os:getcwd"),
    ):
        proc = cabin("--no-camera", *args, cwd=str(tmp_path))
        log, _ = proc.communicate(timeout=30)
        assert proc.returncode == 2, log
        assert "runs Python code" in log and "params file" in log and "Traceback" not in log


def test_bad_override_rejected():
    proc = cabin("--set", "camera.fps")
    log, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "NODE.PARAM=VALUE" in log
