r"""`emotionaldan-train`: train EmotionalDAN (or a baseline) from a YAML config.

Examples::

    emotionaldan-train --config config/train_smoke.yaml
    emotionaldan-train --config config/train_emotionaldan.yaml \
        --set data.train.0.root=/data/AffectNet --set data.val.0.root=/data/AffectNet
    emotionaldan-train --config config/train_emotionaldan.yaml --resume      # continue out_dir
    torchrun --nproc_per_node 4 -m emotionaldan_ros.cli.train --config ...   # multi-GPU (DDP)

Precedence: built-in defaults < config file < shortcut flags (--out-dir, --model, ...) <
`--set key=value` (YAML values, dotted keys, list items by index: `phases.1.epochs=5`). The
resolved config is saved as `<out_dir>/config.yaml`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from emotionaldan_ros.training.config import load_config
from emotionaldan_ros.training.train import train


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        prog="emotionaldan-train",
        description="Train EmotionalDAN / DAN / CNN baselines (stage-wise, joint loss).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument("--config", type=Path, help="YAML config (see config/train_emotionaldan.yaml)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option, e.g. --set optim.lr=1e-4 (repeatable)",
    )
    p.add_argument("--out-dir", help="output folder (config key out_dir)")
    p.add_argument("--model", help="model name: emotionaldan, emotionaldan_lite, dan, cnn2, cnn5")
    p.add_argument(
        "--train", action="append", metavar="NAME:ROOT", help="training set (repeatable)"
    )
    p.add_argument("--val", action="append", metavar="NAME:ROOT", help="validation set")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int, help="data loader worker processes")
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="PATH",
        help="continue from PATH (last_state.pt or its folder); no PATH: the run's out_dir",
    )
    p.add_argument("--print-config", action="store_true", help="print the resolved config, exit")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    return p


def _shortcuts(args: argparse.Namespace) -> list[str]:
    out = []
    for flag, key in (
        ("out_dir", "out_dir"),
        ("model", "model.name"),
        ("device", "device"),
        ("batch_size", "data.batch_size"),
        ("workers", "data.num_workers"),
        ("seed", "seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    if args.train:
        out.append(f"data.train={json.dumps(args.train)}")
    if args.val:
        out.append(f"data.val={json.dumps(args.val)}")
    if args.no_progress:
        out.append("progress=false")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, [*_shortcuts(args), *args.overrides])
    except (FileNotFoundError, ValueError) as exc:
        print(f"emotionaldan-train: config error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        return 0
    resume = None
    if args.resume is not None:
        resume = Path(args.resume) if args.resume else Path(cfg["out_dir"])
    try:
        summary = train(cfg, resume=resume)
    except (FileNotFoundError, ValueError) as exc:
        print(f"emotionaldan-train: error: {exc}", file=sys.stderr)
        return 1
    if summary["world_size"] == 1 or _rank() == 0:
        print(json.dumps(summary, indent=1, default=float))
    return 0


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


if __name__ == "__main__":
    sys.exit(main())
