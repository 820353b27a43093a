"""Run `emotionaldan-cabin` as a user does, in a subprocess, and read its output while it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from emotionaldan_ros.graph import default_config

TEST_DIR = Path(__file__).resolve().parents[1]


def _default_sigint() -> None:
    # A shell that starts pytest in the background gives it SIGINT ignored, and children
    # inherit that: the runner must see Ctrl-C as a terminal sends it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def params_file(folder: Path, real_models: bool = False, **sections: dict) -> Path:
    """The shipped params file, with the stub recogniser and Haar unless `real_models`.

    The backend goes through the params file: `python:` backends are code execution and are
    only accepted from there (README, "Security").
    """
    data = yaml.safe_load(default_config().read_text())
    p = {name.rsplit("/", 1)[-1]: body["ros__parameters"] for name, body in data.items()}
    if not real_models:
        p["emotionaldan"]["backend"] = "python:stubs:stub"
        p["face_detector"]["detector"] = "haar"
    p["camera"].update(source="demo", loop=True, fps=10.0)
    for node, values in sections.items():
        p[node].update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump({f"/**/{k}": {"ros__parameters": v} for k, v in p.items()}))
    return path


class Cabin:
    """`python -m emotionaldan_ros.cabin ...` (or another module) with its output collected."""

    def __init__(
        self,
        *args: str,
        domain: int,
        cwd: Path,
        module: str = "emotionaldan_ros.cabin",
        environ: dict[str, str] | None = None,
    ) -> None:
        env = dict(
            os.environ if environ is None else environ,
            ROS_DOMAIN_ID=str(domain),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join([str(TEST_DIR), os.environ.get("PYTHONPATH", "")]),
        )
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_default_sigint,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        """Everything printed so far."""
        return "".join(self.lines)

    def wait_for_line(self, prefix: str, timeout: float) -> bool:
        """Wait (bounded) until a line starting with `prefix` was printed; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith(prefix) for line in self.lines):
                return True
            if self.proc.poll() is not None:
                self._reader.join(2.0)
                return any(line.startswith(prefix) for line in self.lines)
            time.sleep(0.05)
        return False

    def alive_for(self, seconds: float) -> bool:
        """Let it run `seconds` (the random moment of a signal); False if it exited meanwhile."""
        try:
            self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return True
        return False

    def signal(self, sig: int) -> None:
        """Send a signal (as Ctrl-C / kill would)."""
        self.proc.send_signal(sig)

    def finish(self, timeout: float) -> int | None:
        """Wait for the exit; returns the status, or None after killing a hung process."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            code = None
        self._reader.join(5.0)
        return code

    def close(self) -> None:
        """Make sure nothing is left running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
