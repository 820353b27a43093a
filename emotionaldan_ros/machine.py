"""Describe the machine a benchmark ran on (printed with every figure)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(packages: tuple[str, ...] = ("torch", "numpy", "opencv-python-headless")) -> dict:
    """CPU, cores, load, Python and package versions as a flat dict."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }
    for name in packages:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info


def describe_line(packages: tuple[str, ...] = ("torch", "numpy", "opencv-python-headless")) -> str:
    """`describe()` as one printable line."""
    return ", ".join(f"{k} {v}" for k, v in describe(packages).items())


def header(title: str) -> str:
    """Benchmark header: title, machine line, and the command that produced it."""
    machine = describe_line()
    command = " ".join([os.path.relpath(sys.argv[0]) if sys.argv else "", *sys.argv[1:]])
    return f"# {title}\nmachine: {machine}\ncommand: python {command}"
