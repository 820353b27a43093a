"""emotionaldan-train / emotionaldan-eval end to end on tiny synthetic data, config handling and
resume (the DDP run is in test_train_ddp.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from emotionaldan_ros.cli import evaluate as eval_cli
from emotionaldan_ros.cli import train as train_cli
from emotionaldan_ros.core.checkpoint import load_checkpoint
from emotionaldan_ros.core.mean_shape import load_default_mean_shape
from emotionaldan_ros.training.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _tiny_config(tmp_path: Path, **extra: object) -> Path:
    """A config that trains a 1/8-width 2-stage EmotionalDAN for a few steps."""
    cfg = {
        "seed": 5,
        "out_dir": str(tmp_path / "run"),
        "device": "cpu",
        "progress": False,
        "model": {"name": "emotionaldan_lite", "num_stages": 2, "width": 0.125, "dropout": 0.1},
        "data": {
            "train": [
                {"name": "synthetic", "root": str(tmp_path / "syn_train"), "n_per_class": 2}
            ],
            "val": [
                {
                    "name": "synthetic",
                    "root": str(tmp_path / "syn_val"),
                    "n_per_class": 1,
                    "seed": 9,
                }
            ],
            "batch_size": 4,
            "num_workers": 0,
            "detector": None,
        },
        "optim": {"lr": 1e-3, "schedule": "cosine"},
        "phases": [
            {"stages": 1, "loss": "landmarks", "epochs": 1},
            {"stages": 2, "freeze": 1, "loss": "joint", "epochs": 1},
        ],
        "max_steps_per_epoch": 2,
        **extra,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_precedence_and_errors(tmp_path: Path, capsys) -> None:
    path = _tiny_config(tmp_path)
    cfg = load_config(path, ["optim.lr=0.5", "phases.1.epochs=3", "model.width=0.25"])
    assert cfg["optim"]["lr"] == 0.5 and cfg["phases"][1]["epochs"] == 3
    assert cfg["model"]["width"] == 0.25 and cfg["loss"] == {"alpha": 0.4, "beta": 0.6}
    with pytest.raises(ValueError, match=r"unknown option 'optim\.lrr'"):
        load_config(path, ["optim.lrr=1"])
    with pytest.raises(ValueError, match=r"phases\[0\]\.loss"):
        load_config(path, ["phases.0.loss=pixels"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(path, ["optim.lr"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimiser: {lr: 1}\n")
    with pytest.raises(ValueError, match="unknown config option 'optimiser'"):
        load_config(bad)
    assert train_cli.main(["--config", str(bad)]) == 2
    assert "unknown config option" in capsys.readouterr().err
    assert train_cli.main(["--config", str(path), "--batch-size", "3", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["batch_size"] == 3


def test_train_checkpoint_eval_end_to_end(tmp_path: Path, capsys) -> None:
    path = _tiny_config(tmp_path)
    assert train_cli.main(["--config", str(path)]) == 0
    run = tmp_path / "run"
    summary = json.loads("{" + capsys.readouterr().out.split("\n{", 1)[1])
    assert summary["finished"] and summary["epochs"] == 2
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [h["loss_kind"] for h in history] == ["landmarks", "joint"]
    assert "accuracy" in history[1]["val"] and "nme" in history[0]["val"]
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["width"] == 0.125 and saved["loss"]["alpha"] == 0.4
    model, header = load_checkpoint(run / "best.pt")
    assert header["classes"][0] == "neutral" and len(header["classes"]) == 7
    assert header["meta"]["label_map"]["6"] == "anger"
    assert "surprise→positive" in header["meta"]["valence_mapping"]
    assert header["meta"]["metrics"]["val"]["accuracy"] is not None
    assert header["config"]["phases"][1]["freeze"] == 1
    # the mean shape was recomputed from the training landmarks, not the shipped default
    s0 = model.mean_shape.numpy()
    assert s0.shape == (68, 2) and not np.allclose(s0, load_default_mean_shape(), atol=0.05)
    # evaluate it through the CLI on the held-out synthetic set
    out = tmp_path / "report"
    spec = f"synthetic:{tmp_path / 'syn_val'}?n_per_class=1&seed=9"
    code = eval_cli.main(
        ["--checkpoint", str(run / "best.pt"), "--dataset", spec, "--out", str(out),
         "--detector", "none", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    (res,) = report["results"]
    assert res["n"] == 7 and res["box_sources"] == {"dataset": 7}
    assert 0.0 <= res["accuracy"] <= 1.0 and res["n_landmarks"] == 7
    assert res["nme_interocular"] > 0
    md = (out / "report.md").read_text()
    assert "| run/best |" in md and "3 classes (paper Table 2 layout)" in md
    assert (out / res["confusion_png"]).read_bytes()[:4] == b"\x89PNG"
    assert eval_cli.main(["--checkpoint", str(tmp_path / "nope.pt"), "--dataset", spec,
                          "--out", str(out)]) == 1  # fmt: skip


def test_resume_continues_exactly(tmp_path: Path) -> None:
    path = _tiny_config(tmp_path)
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    assert train_cli.main(["--config", str(path), "--out-dir", str(straight)]) == 0
    assert (
        train_cli.main(
            ["--config", str(path), "--out-dir", str(parts), "--set", "stop_after_epochs=1"]
        )
        == 0
    )
    state = torch.load(parts / "last_state.pt", weights_only=True)
    assert state["progress"]["epoch"] == 1 and state["progress"]["phase"] == 1
    assert not (parts / "best.pt").exists()  # stopped inside the run
    assert train_cli.main(["--config", str(path), "--out-dir", str(parts), "--resume"]) == 0
    a, _ = load_checkpoint(straight / "last.pt")
    b, _ = load_checkpoint(parts / "last.pt")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    lines = (parts / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert train_cli.main(["--config", str(path), "--resume", str(tmp_path / "none")]) == 1


def test_shipped_configs_validate() -> None:
    paper = load_config(REPO / "config" / "train_emotionaldan.yaml")
    assert paper["loss"] == {"alpha": 0.4, "beta": 0.6} and paper["optim"]["name"] == "adam"
    assert [p["loss"] for p in paper["phases"]] == ["landmarks", "joint"]
    assert paper["data"]["train"][0]["name"] == "affectnet"
    smoke = load_config(REPO / "config" / "train_smoke.yaml")
    assert all(d["name"] == "synthetic" for d in smoke["data"]["train"])


def test_balanced_sampler_equalises_classes_per_rank_and_epoch() -> None:
    from emotionaldan_ros.training.data import BalancedSampler

    labels = np.array([1] * 90 + [2] * 9 + [6] * 1 + [-1] * 10)
    s = BalancedSampler(labels, seed=3)
    draws = []
    for epoch in range(20):
        s.set_epoch(epoch)
        draws.append(labels[list(s)])
    draws = np.concatenate(draws)
    freq = {c: np.mean(draws == c) for c in (1, 2, 6, -1)}
    assert all(0.2 < f < 0.3 for f in freq.values()), freq  # 4 groups: ≈ 0.25 each
    assert list(s) == list(s) and len(s) == len(labels)
    s.set_epoch(1)
    first = list(s)
    s.set_epoch(0)
    assert first != list(s)
    r0, r1 = BalancedSampler(labels, 3, 0, 2), BalancedSampler(labels, 3, 1, 2)
    assert len(r0) == 55 and list(r0) != list(r1)


def test_init_from_copies_matching_weights(tmp_path: Path) -> None:
    from emotionaldan_ros.core.checkpoint import save_checkpoint
    from emotionaldan_ros.core.model import create_model
    from emotionaldan_ros.training.optim import init_weights

    torch.manual_seed(0)
    dan = create_model("dan", width=0.125)
    save_checkpoint(tmp_path / "dan.pt", dan, {}, {"classes": []})
    torch.manual_seed(1)
    model = create_model("emotionaldan_lite", width=0.125)
    head = model.head.weight.detach().clone()
    n = init_weights(model, tmp_path / "dan.pt")
    assert n == len(dan.state_dict()) - 1  # everything but the mean shape
    for k, v in dan.state_dict().items():
        if k != "mean_shape":
            assert torch.equal(model.state_dict()[k], v), k
    assert torch.equal(model.head.weight, head)
    with pytest.raises(ValueError, match="no tensor matches"):
        init_weights(create_model("cnn2"), tmp_path / "dan.pt")


def test_mixed_precision_path_runs(tmp_path: Path) -> None:
    """The autocast branch (bf16 on GPUs) through the DAN connection layers, exercised on CPU."""
    from emotionaldan_ros.training.data import build_datasets, make_loader
    from emotionaldan_ros.training.loop import train_one_epoch, validate
    from emotionaldan_ros.training.optim import build_model, check_phases
    from emotionaldan_ros.training.runtime import Runtime
    from emotionaldan_ros.training.train import _prepare_phase

    cfg = load_config(_tiny_config(tmp_path), ["max_steps_per_epoch=1"])
    rt = Runtime(torch.device("cpu"), amp_dtype=torch.bfloat16)
    train_ds, val_ds, _ = build_datasets(cfg)
    model = build_model(cfg, None)
    loader = make_loader(train_ds, cfg, rt, train=True)
    for phase in check_phases(cfg, model):
        wrapped, optimizer, _ = _prepare_phase(model, phase, cfg, rt)
        stats = train_one_epoch(wrapped, loader, optimizer, phase, cfg, rt)
        assert np.isfinite(stats["loss"]) and np.isfinite(stats["nme"])
    val = validate(model, make_loader(val_ds, cfg, rt, train=False), phase, cfg, rt)
    assert np.isfinite(val["loss"]) and 0.0 <= val["accuracy"] <= 1.0
