r"""`emotionaldan-eval`: cross-database evaluation of checkpoints / backends.

Examples::

    emotionaldan-eval --checkpoint runs/emotionaldan/best.pt --checkpoint runs/cnn5/best.pt \
        --dataset ckplus:/data/CK+ --dataset jaffe:/data/jaffe --dataset ised:/data/ISED \
        --out reports/cross_db
    emotionaldan-eval --backend faceapi --dataset jaffe:/data/jaffe --out reports/faceapi
    # the training protocol: val people + cross-database cache sets, same faces for all models
    emotionaldan-eval --protocol config/train_fe.yaml --checkpoint runs/fe_lite/best.pt \
        --teacher faceapi --teacher fer --out reports/fe_protocol
    # the full pipeline: detector on the original photos, a missed face counts as wrong
    emotionaldan-eval --backend faceapi --box-source pipeline --detector faceapi_tiny \
        --dataset "legend:/data/facial_expressions?subset=movies" --out reports/fe_pipeline

Writes `report.md` (accuracy tables in the layout of the paper's Tables 1 and 2, per-class recall,
macro-F1, landmark NME), `report.json` and confusion-matrix PNGs to `--out`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from emotionaldan_ros.core.data.dataset import BOX_SOURCES
from emotionaldan_ros.core.evaluate import run_evaluation, write_report
from emotionaldan_ros.core.weights import WeightsError


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        prog="emotionaldan-eval",
        description="Cross-database emotion recognition evaluation (paper Tables 1 and 2).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument(
        "--checkpoint", action="append", default=[], help="model checkpoint (repeatable)"
    )
    p.add_argument(
        "--backend",
        action="append",
        default=[],
        help="other recogniser spec: faceapi, python:MODULE:FACTORY (repeatable)",
    )
    p.add_argument(
        "--teacher",
        action="append",
        default=[],
        choices=("faceapi", "fer"),
        help="with --protocol: score a teacher from its cached predictions (repeatable)",
    )
    p.add_argument(
        "--protocol",
        type=Path,
        help="training config: evaluate on its validation people and data.test cache sets "
        "instead of --dataset",
    )
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        metavar="NAME:ROOT",
        help="test set, e.g. ckplus:/data/CK+ or jaffe:/data/jaffe?num_classes=7 (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--num-classes", type=int, default=7, choices=(7, 8))
    p.add_argument(
        "--box-source",
        default="detector_first",
        choices=BOX_SOURCES,
        help="where face boxes come from when a test set has none: detector_first (default: "
        "landmarks only where the detector finds no face), auto (landmarks first), pipeline "
        "(the detector alone, as a passenger gets it: a missed face counts as wrong), or one "
        "source alone",
    )
    p.add_argument("--detector", default="haar", help="face detector for images without boxes")
    p.add_argument(
        "--surprise",
        default="positive",
        choices=("positive", "negative", "neutral"),
        help="valence of surprise in the 3-class table",
    )
    p.add_argument("--limit", type=int, help="evaluate at most N faces per test set")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.protocol:
        return _protocol(args)
    models = [*(f"checkpoint:{c}" for c in args.checkpoint), *args.backend]
    if not models:
        print("emotionaldan-eval: give at least one --checkpoint or --backend", file=sys.stderr)
        return 2
    if not args.dataset:
        print("emotionaldan-eval: give --dataset (or --protocol)", file=sys.stderr)
        return 2
    try:
        report = run_evaluation(
            models,
            args.dataset,
            num_classes=args.num_classes,
            box_source=args.box_source,
            detector=args.detector if args.detector.lower() != "none" else None,
            surprise=args.surprise,
            limit=args.limit,
            device=args.device,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError, WeightsError) as exc:
        print(f"emotionaldan-eval: error: {exc}", file=sys.stderr)
        return 1
    path = write_report(report, args.out)
    print(path.read_text().split("## Per pair")[0].rstrip())
    print(f"\nreport: {path}")
    return 0


def _protocol(args: argparse.Namespace) -> int:
    from emotionaldan_ros.training.config import load_config
    from emotionaldan_ros.training.protocol import TEACHER_PREFIX, evaluate_protocol

    models = [*args.checkpoint, *(TEACHER_PREFIX + t for t in args.teacher)]
    if not models or args.backend or args.dataset:
        print(
            "emotionaldan-eval: --protocol takes --checkpoint / --teacher models only",
            file=sys.stderr,
        )
        return 2
    try:
        report = evaluate_protocol(models, load_config(args.protocol), args.surprise)
    except (FileNotFoundError, ValueError, WeightsError) as exc:
        print(f"emotionaldan-eval: error: {exc}", file=sys.stderr)
        return 1
    path = write_report(report, args.out)
    print(path.read_text().split("## Per pair")[0].rstrip())
    print(f"\nreport: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
