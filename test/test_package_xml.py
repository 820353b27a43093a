"""package.xml declares, by rosdep key, every third-party module the code imports at run time."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top-level module → rosdep key (keys as in the rosdistro rosdep database).
ROSDEP_KEYS = {
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "builtin_interfaces": "builtin_interfaces",
    "ament_index_python": "ament_index_python",
    "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs",
    "geometry_msgs": "geometry_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "lifecycle_msgs": "lifecycle_msgs",
    "rosgraph_msgs": "rosgraph_msgs",
    "tf2_msgs": "tf2_msgs",
    "emotionaldan_msgs": "emotionaldan_msgs",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "torch": "python3-torch",
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "onnxruntime": "python3-onnxruntime-pip",
    "rosbags": "python3-rosbags-pip",
}
# Imported, but without a rosdep key: the README says how to get them.
NO_KEY = {"safetensors", "onnx"}
# Imported only when present, or already brought by another dependency.
OPTIONAL = {
    "hri_msgs": "optional ROS4HRI output (used when importable)",
    "backports": "backports.zstd comes with rosbags (Python < 3.14)",
    "compression": "standard library from Python 3.14",
    "tflite": "conversion-time only (emotionaldan-convert-blazeface), from pip; README says so",
}


def imported_modules() -> set[str]:
    """Top-level names of every import in the package and the launch file (AST, all scopes)."""
    files = [*(ROOT / "emotionaldan_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py")]
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "emotionaldan_ros"}


def declared(tag: str) -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for e in root.iter(tag)}


def test_every_import_has_an_exec_depend_or_is_documented():
    imports = imported_modules()
    unknown = imports - set(ROSDEP_KEYS) - NO_KEY - set(OPTIONAL)
    assert not unknown, f"imports with no rosdep mapping in this test: {sorted(unknown)}"
    exec_depends = declared("exec_depend") | declared("depend")
    missing = {ROSDEP_KEYS[m] for m in imports & set(ROSDEP_KEYS)} - exec_depends
    assert not missing, f"package.xml lacks exec_depend {sorted(missing)}"
    readme = (ROOT / "README.md").read_text()
    for module in NO_KEY & imports:
        assert f"`{module}`" in readme, f"README does not say how to install {module}"


def test_declared_keys_are_used_and_urls_present():
    used = {ROSDEP_KEYS[m] for m in imported_modules() if m in ROSDEP_KEYS}
    assert declared("exec_depend") - used == set(), "exec_depend on something nothing imports"
    root = ET.parse(ROOT / "package.xml").getroot()
    assert {u.get("type") for u in root.iter("url")} == {"website", "repository", "bugtracker"}
