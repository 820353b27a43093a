"""Soak of a running process: RSS, threads and open files over time, growth after warm-up.

Linux only (reads `/proc/<pid>`). Used by `benchmarks/soak.py` (the looping demo for minutes)
and by `test/reliability/test_soak.py`:

    report = soak_cabin(["--source", "demo", "--set", "camera.loop=true"], seconds=600)
    print(report.table())
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcessSample:
    """One look at a process.

    Attributes:
        t_s: seconds since the process started (monotonic clock of the observer).
        rss_mb: resident set size, MB (10^6 bytes; `VmRSS`).
        threads: thread count.
        fds: open file descriptors.
        cpu_s: user + system CPU time so far, s.
    """

    t_s: float
    rss_mb: float
    threads: int
    fds: int
    cpu_s: float


def sample(pid: int, t_s: float) -> ProcessSample:
    """Read /proc/<pid> once.

    Raises:
        OSError: the process is gone (or /proc is not there).
    """
    proc = Path("/proc") / str(pid)
    status = (proc / "status").read_text()
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    fds = len(os.listdir(proc / "fd"))
    # Fields after the command name (which may hold spaces) in /proc/<pid>/stat: utime is 14th.
    stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(stat[11]) + int(stat[12])) / _CLOCK_TICKS
    return ProcessSample(t_s, rss_kb * 1024 / 1e6, threads, fds, cpu_s)


def slope_per_minute(times_s: list[float], values: list[float]) -> float:
    """Least-squares slope of `values` against time, per minute (0 with fewer than 2 points)."""
    if len(times_s) < 2 or max(times_s) == min(times_s):
        return 0.0
    return float(np.polyfit(np.asarray(times_s), np.asarray(values), 1)[0]) * 60.0


@dataclass
class SoakReport:
    """What a soak saw.

    Attributes:
        command: the command line that ran.
        warmup_s: samples before this are excluded from the growth figures.
        samples: every sample, in order.
        exit_code: the process's status after the final SIGINT (None: it had to be killed).
        output: what it printed.
    """

    command: list[str]
    warmup_s: float
    samples: list[ProcessSample] = field(default_factory=list)
    exit_code: int | None = None
    output: str = ""

    @property
    def steady(self) -> list[ProcessSample]:
        """Samples after the warm-up."""
        return [s for s in self.samples if s.t_s >= self.warmup_s]

    @property
    def rss_growth_mb_per_min(self) -> float:
        """Slope of RSS after the warm-up, MB per minute."""
        steady = self.steady
        return slope_per_minute([s.t_s for s in steady], [s.rss_mb for s in steady])

    def span(self, attr: str) -> tuple[float, float]:
        """(min, max) of a sample attribute after the warm-up."""
        values = [getattr(s, attr) for s in self.steady] or [float("nan")]
        return min(values), max(values)

    @property
    def frames(self) -> int:
        """Frames processed, from the runner's summary (0 when absent)."""
        match = re.search(r"frames processed: (\d+)", self.output)
        return int(match.group(1)) if match else 0

    def table(self, every_s: float = 60.0) -> str:
        """Markdown table: one row per `every_s` of run time, then the growth figures."""
        rows = ["| t (s) | RSS (MB) | threads | open fds | CPU (s) |", "|---|---|---|---|---|"]
        next_t = 0.0
        for s in self.samples:
            if s.t_s >= next_t or s is self.samples[-1]:
                rows.append(
                    f"| {s.t_s:.0f} | {s.rss_mb:.1f} | {s.threads} | {s.fds} | {s.cpu_s:.1f} |"
                )
                next_t = s.t_s + every_s
        last = self.samples[-1] if self.samples else None
        rss_lo, rss_hi = self.span("rss_mb")
        thr_lo, thr_hi = self.span("threads")
        fd_lo, fd_hi = self.span("fds")
        rows += [
            "",
            f"after {self.warmup_s:.0f} s of warm-up: RSS growth "
            f"{self.rss_growth_mb_per_min:+.2f} MB/min (least squares; range {rss_lo:.1f}-"
            f"{rss_hi:.1f} MB), threads {thr_lo:.0f}-{thr_hi:.0f}, open fds {fd_lo:.0f}-"
            f"{fd_hi:.0f}",
            f"wall {last.t_s if last else 0:.0f} s, CPU {last.cpu_s if last else 0:.0f} s, "
            f"frames processed {self.frames}, exit status {self.exit_code}",
        ]
        return "\n".join(rows)


def soak_cabin(
    cabin_args: list[str],
    seconds: float,
    warmup_s: float = 60.0,
    period_s: float = 1.0,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
) -> SoakReport:
    """Run `python -m emotionaldan_ros.cabin *cabin_args` for `seconds`, sampling it.

    The run ends with SIGINT (as Ctrl-C) and waits up to 60 s for the summary. A process that
    exits on its own before `seconds` ends the soak early (its status is reported).
    """
    command = [sys.executable, "-m", "emotionaldan_ros.cabin", *cabin_args]
    report = SoakReport(command, warmup_s)
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a full pipe would block it
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        start = time.monotonic()
        try:
            next_t = start
            while time.monotonic() - start < seconds and proc.poll() is None:
                try:
                    report.samples.append(sample(proc.pid, time.monotonic() - start))
                except OSError:
                    break  # exited between poll and read
                next_t += period_s
                with contextlib.suppress(subprocess.TimeoutExpired):  # the sampling period
                    proc.wait(max(0.0, next_t - time.monotonic()))
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            report.exit_code = proc.wait(60)
        except subprocess.TimeoutExpired:
            report.exit_code = None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.seek(0)
            report.output = log.read()
    return report
