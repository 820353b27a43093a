"""Every command line of the README's `bash` blocks runs here, so the docs cannot drift.

Commands run in README order, from a scratch folder that links the repository's files (so
`config/cabin.yaml` resolves) and holds the inputs the README names (`drive.mp4`, `frames/`,
`photo.jpg`, ...). A command passes when it exits 0, or when it is still running after its bound
and then stops cleanly on SIGINT (Ctrl-C), as the README promises. Commands that cannot run on
this machine are listed in SKIPS with the reason; anything else added to the README is run.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DIR = Path(__file__).resolve().parent
BOUND_S = 40.0  # per command; the graph commands load their models within it on 2 busy CPUs

# (pattern, reason): README commands that cannot run here.
SKIPS = [
    (r"^scripts/setup\.sh", "set-up itself (it installs the venv these tests run in)"),
    (
        r"^(mkdir -p ~/cabin_ws|cd ~/cabin_ws|rosdep |colcon |source install/|ros2 )",
        "needs a ROS install",
    ),
    (r"/dev/video", "needs a camera"),
    (r"/data/", "needs a licensed dataset"),
    (r"^torchrun ", "needs a dataset and GPUs"),
    (r"checkpoint[: ]runs/|--checkpoint runs/", "needs a trained checkpoint"),
    (r"ckplus_bag", "uses the CK+ bag of a skipped command"),
    (r"train_smoke\.yaml", "trains for minutes (test_train_cli.py runs the smoke training)"),
    (r"^npm pack ", "downloads from the npm registry"),
    (r"train_fe\.yaml", "needs the facial_expressions cache (emotionaldan-cache on /data/)"),
    (r"checkpoint:emotionaldan_lite_fe", "runs the file exported by a skipped command"),
]
# Commands that record the graph need one running (the camera-less machine plays the demo).
NEEDS_GRAPH = re.compile(r"^emotionaldan-bag record")
# Shorter bounds for commands that run until stopped (a recording grows ~14 MB/s).
BOUNDS_S = [(r"^emotionaldan-bag record", 6.0), (r"--loop|--no-camera|camera\.loop=true", 15.0)]


def readme_commands() -> list[str]:
    """Command lines of the README's ```bash blocks (continuations joined, comments dropped)."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(_strip_comment(line).split())
            if line:
                commands.append(line)
    return commands


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a `#` after a blank, outside quotes)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPS if re.search(pattern, command)), None)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Scratch folder: the repository's files linked in, plus the inputs the README names."""
    work = tmp_path_factory.mktemp("readme")
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv", "out"):
            (work / entry.name).symlink_to(entry)
    (work / "stub.yaml").write_text(
        "/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n"
    )
    demo = sorted((ROOT / "emotionaldan_ros" / "assets" / "demo").glob("*.jpg"))
    (work / "frames").mkdir()
    for path in demo[:6]:
        shutil.copy(path, work / "frames" / path.name)
    first = cv2.imread(str(demo[0]))
    writer = cv2.VideoWriter(
        str(work / "drive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, first.shape[1::-1]
    )
    for path in demo[:10]:
        writer.write(cv2.imread(str(path)))
    writer.release()
    shutil.copy(ROOT / "test" / "data" / "detection" / "sample1.jpg", work / "photo.jpg")
    (work / "more").mkdir()
    cv2.imwrite(str(work / "more" / "a.png"), cv2.imread(str(ROOT / "test/data/model/takeo.png")))
    return work


@pytest.fixture(scope="module")
def env():
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(random.randint(91, 101)),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONPATH=os.pathsep.join([str(TEST_DIR), env.get("PYTHONPATH", "")]),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


@pytest.fixture(scope="module")
def graph(workdir, env):
    """A cabin graph on the demo footage in a loop (for the recording commands)."""
    procs = []

    def start() -> None:
        if not procs:
            cmd = (
                "emotionaldan-cabin --source demo --set camera.loop=true --detector haar "
                "--config stub.yaml --quiet"  # python: backends come from params files only
            )
            procs.append(_popen(cmd, workdir, env))
            _wait_for_output(int(env["ROS_DOMAIN_ID"]), procs[0])

    yield start
    for proc in procs:
        _stop(proc)


def _wait_for_output(domain: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Return once the graph publishes /cabin/emotion (its models are loaded, frames flow)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.nodes.common import RESULT_QOS

    context = Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        node = Node("readme_probe", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        got: list = []
        node.create_subscription(EmotionArray, "/cabin/emotion", got.append, RESULT_QOS)
        deadline = time.monotonic() + timeout
        while not got and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        assert got, "the demo graph for the recording commands never published /cabin/emotion"
    finally:
        rclpy.try_shutdown(context=context)


def _popen(command: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    """Ctrl-C the command's process group; its output."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"did not stop within {timeout:g} s of Ctrl-C:\n{out[-3000:]}")
    return out


def test_readme_commands_are_found_and_classified():
    commands = readme_commands()
    assert "emotionaldan-cabin --source drive.mp4 --set camera.fps=30" in commands
    assert any(skip_reason(c) is None for c in commands)
    assert all(" #" not in c for c in commands)


@pytest.mark.slow
@pytest.mark.ros
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command, workdir, env, graph):
    reason = skip_reason(command)
    if reason:
        pytest.skip(reason)
    if NEEDS_GRAPH.search(command):
        graph()  # the recorder picks the graph's topics up as they appear
    bound = next((b for pattern, b in BOUNDS_S if re.search(pattern, command)), BOUND_S)
    proc = _popen(command, workdir, env)
    deadline = time.monotonic() + bound
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    running = proc.poll() is None
    out = _stop(proc)
    assert "Traceback" not in out, out[-3000:]
    ok = (0, 130) if running else (0,)
    assert proc.returncode in ok, f"exit {proc.returncode} of: {command}\n{out[-3000:]}"
