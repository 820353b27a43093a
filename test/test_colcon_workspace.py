"""The README's colcon workspace command finds and builds both packages (pip ROS stands in
for a ROS install: AMENT_PREFIX_PATH points at the venv)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLCON = Path(sys.prefix, "bin", "colcon")


def copy_checkout(dest: Path) -> Path:
    """The tracked files only, like a fresh clone into a workspace's src/."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_colcon_list_needs_both_base_paths(tmp_path):
    repo = copy_checkout(tmp_path / "src" / "emotionaldan-ros")
    res = subprocess.run(
        [str(COLCON), "list", "--base-paths", str(repo)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "emotionaldan_msgs" not in res.stdout  # why the README names both paths
    res = subprocess.run(
        [str(COLCON), "list", "--base-paths", str(repo), str(repo / "emotionaldan_msgs")],
        capture_output=True,
        text=True,
        check=True,
    )
    names = sorted(line.split()[0] for line in res.stdout.splitlines())
    assert names == ["emotionaldan_msgs", "emotionaldan_ros"]


@pytest.mark.slow
def test_colcon_build_installs_nodes_launch_and_messages(tmp_path):
    copy_checkout(tmp_path / "src" / "emotionaldan-ros")
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, CMAKE_PREFIX_PATH=sys.prefix)
    res = subprocess.run(
        [
            str(COLCON),
            "build",
            "--base-paths",
            "src/emotionaldan-ros",
            "src/emotionaldan-ros/emotionaldan_msgs",
            "--cmake-args",
            "-DBUILD_TESTING=OFF",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    install = tmp_path / "install"
    lib = install / "emotionaldan_ros" / "lib" / "emotionaldan_ros"
    for exe in (
        "camera_node",
        "face_detector_node",
        "emotionaldan_node",
        "fear_monitor_node",
        "emotionaldan-cabin",
    ):
        assert (lib / exe).exists(), exe
    share = install / "emotionaldan_ros" / "share" / "emotionaldan_ros"
    assert (share / "launch" / "cabin.launch.py").exists()
    assert (share / "config" / "cabin.yaml").exists()
    assert list((install / "emotionaldan_msgs").rglob("_emotion_array.py"))
