"""Shared pieces of the benchmark scripts: machine description and a small timer."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np


def _cpuinfo_field(*names: str) -> str | None:
    """The value of the first /proc/cpuinfo line starting with one of `names` (None: none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(names):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (or platform's guess)."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


# Vector extensions that change CPU inference speed by large factors (oneDNN / ONNX Runtime pick
# kernels by them): two VMs that both call themselves "Intel(R) Xeon(R) Processor" can differ here.
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "neon", "asimd")


def cpu_features() -> str:
    """The `_ISA_FLAGS` this CPU has, from /proc/cpuinfo ("unknown" where it cannot be read)."""
    flags = _cpuinfo_field("flags", "Features")
    if flags is None:
        return "unknown"
    have = set(flags.split())
    return " ".join(f for f in _ISA_FLAGS if f in have) or "none of " + "/".join(_ISA_FLAGS)


def describe(packages: tuple[str, ...] = ("torch", "numpy", "opencv-python-headless")) -> dict:
    """CPU, cores, load, Python and package versions as a flat dict."""
    info: dict[str, object] = {
        "cpu": cpu_model(),
        "isa": cpu_features(),
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


def time_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and 95th-percentile wall time of `fn()` in ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, float(np.percentile(times, 95)) * 1e3
