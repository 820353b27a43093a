#!/usr/bin/env python3
"""Build and install emotionaldan_msgs into the active virtual environment (pip-installed ROS).

The ROS 2 wheels ship rosidl CMake exports that hard-code the wheel builder's Python and numpy
include directories; they are rewritten to this interpreter's before the CMake build (DESIGN §4).
On a real ROS install use `colcon build` instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parents[1]
# The builder's paths look like /opt/python/cp311-cp311/include/python3.11 and
# /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include.
_PY_INCLUDE = re.compile(r"/opt/python/[^/\s\"';]+/include/python3\.\d+")
_NP_INCLUDE = re.compile(r"/opt/python/[^\s\"';]+/site-packages/numpy/(?:_core|core)/include")


def fix_rosidl_exports(prefix: Path) -> int:
    """Rewrite the builder's include dirs in the rosidl CMake exports; return files changed."""
    py_inc = sysconfig.get_paths()["include"]
    np_inc = numpy.get_include()
    changed = 0
    for path in prefix.glob("share/*/cmake/*.cmake"):
        text = path.read_text()
        new = _NP_INCLUDE.sub(np_inc, _PY_INCLUDE.sub(py_inc, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def main() -> int:
    """Build, install, and report; returns the exit status."""
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix):
        print("build_msgs: run inside the project's virtual environment", file=sys.stderr)
        return 2
    n = fix_rosidl_exports(prefix)
    if n:
        print(f"build_msgs: fixed include paths in {n} rosidl CMake files")
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix), CMAKE_PREFIX_PATH=str(prefix))
    build = ROOT / "build" / "msgs"
    cmds = [
        [
            "cmake",
            "-S",
            str(ROOT / "emotionaldan_msgs"),
            "-B",
            str(build),
            f"-DCMAKE_INSTALL_PREFIX={prefix}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        ["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)],
        ["cmake", "--install", str(build)],
    ]
    for cmd in cmds:
        res = subprocess.run(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if res.returncode:
            print(res.stdout[-6000:], file=sys.stderr)
            print(f"build_msgs: failed: {' '.join(cmd)}", file=sys.stderr)
            return res.returncode
    print("build_msgs: emotionaldan_msgs installed into", prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
