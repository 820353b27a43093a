"""emotionaldan-distill end to end on two real photos: targets, a few steps, report, checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from emotionaldan_ros.cli.distill import main
from emotionaldan_ros.core.checkpoint import read_header

FIXTURES = Path(__file__).parent / "data" / "detection"


def test_distill_cli_small_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = {
        "data_root": str(FIXTURES),
        "targets": str(tmp_path / "targets.npz"),
        "output": str(tmp_path / "student.safetensors"),
        "teacher": {"landmark_model": "face_landmark_68_tiny", "detectors": ["faceapi_tiny"]},
        "train": {
            "model": "emotionaldan_lite",
            "model_kwargs": {"num_stages": 1},
            "batch_size": 4,
            "eval_every": 2,
            "threads": 1,
        },
        "augment": {"rotate_deg": 5},
        "photos": [
            {"path": "sample6_small.jpg", "split": "train", "origin": "o", "licence": "MIT"},
            {"path": "astronaut.jpg", "split": "val"},
            {"path": "sample3.jpg", "split": "test"},
        ],
    }
    path = tmp_path / "distill.yaml"
    path.write_text(yaml.safe_dump(cfg))
    report = tmp_path / "report.json"
    assert main(["--config", str(path), "--steps", "2", "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["split"]["test"]["photos"] == ["sample3.jpg"] and r["split"]["test"]["faces"] >= 3
    ssd = r["test"]["faceapi_tiny"]
    assert 0.0 <= ssd["top1_agreement"] <= 1.0 and ssd["nme_vs_teacher"] > 0
    assert r["verdict"]["ship_as"] == "experimental"  # 2 steps cannot reach the bar
    assert 0.0 <= r["test"]["constant_baseline"]["top1_agreement"] <= 1.0
    header = read_header(tmp_path / "student.safetensors")
    assert header["meta"]["verdict"]["ship_as"] == "experimental"
    # The cached targets are reused, and the config's split is applied to them.
    cfg["photos"][2]["split"] = "val"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(path), "--targets-only", "--report", str(report)]) == 0
    # Another photo list than the cache was built from is refused.
    cfg["photos"] = cfg["photos"][:2]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(SystemExit, match="rebuild-targets"):
        main(["--config", str(path), "--targets-only"])
