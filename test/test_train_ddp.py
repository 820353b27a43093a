"""A 2-process `torchrun` DistributedDataParallel training run on CPU (gloo backend)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_train_cli import REPO, _tiny_config

from emotionaldan_ros.core.checkpoint import load_checkpoint


def test_ddp_two_processes_gloo(tmp_path: Path) -> None:
    path = _tiny_config(tmp_path, stop_after_epochs=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--standalone", "-m", "emotionaldan_ros.cli.train", "--config", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"world_size": 2' in proc.stdout
    run = tmp_path / "run"
    history = (run / "history.jsonl").read_text().splitlines()
    assert len(history) == 2  # written by rank 0 only
    _, header = load_checkpoint(run / "best.pt")
    assert header["meta"]["progress"]["epoch"] == 2
