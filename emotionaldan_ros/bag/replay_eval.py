"""`replay-eval`: score the cabin graph's `/cabin/emotion` against a labelled bag.

Two modes:
- live (default): start the graph (`emotionaldan-cabin --no-camera`, or `--graph-cmd`), or use a
  running one (`--attach`); play the bag's images with their original timing and stamps; collect
  `/cabin/emotion`; latency = receive time of an output − publish time of its image (one clock,
  this process).
- `--offline`: the bag already holds `/cabin/emotion` (recorded with the images): no graph runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from emotionaldan_ros.bag.report import write_report
from emotionaldan_ros.bag.scoring import load_offline, score


def evaluate_offline(
    bag: str | Path,
    out: str | Path,
    image_topic: str = "/cabin/camera/image_raw",
    label_topic: str = "/cabin/ground_truth",
    emotion_topic: str = "/cabin/emotion",
    surprise: str = "positive",
) -> dict[str, Any]:
    """Score a bag that holds images (or labels) and recorded outputs; write the report.

    Raises:
        BagError: unreadable bag or missing topics.
    """
    data = load_offline(bag, image_topic, label_topic, emotion_topic)
    report = {"bag": str(bag), "mode": "offline", **score(data, surprise)}
    write_report(report, out)
    return report


def summary_line(report: dict[str, Any]) -> str:
    """One line for the terminal."""
    rec = report["recognition"]
    lat = report["latency_ms"]
    acc = "n/a" if not rec else f"{rec['accuracy']:.3f} (3-class {rec['valence_accuracy']:.3f})"
    p50 = "n/a" if lat["p50"] is None else f"{lat['p50']:.1f}/{lat['p95']:.1f}/{lat['p99']:.1f} ms"
    return (
        f"frames {report['frames']}, dropped {report['dropped_frames']}, accuracy {acc}, "
        f"latency p50/p95/p99 {p50}"
    )


def run_replay_eval(args: argparse.Namespace) -> int:
    """CLI handler."""
    if args.offline:
        report = evaluate_offline(
            args.bag,
            args.out,
            args.image_topic,
            args.label_topic,
            args.emotion_topic,
            args.surprise,
        )
    else:
        from emotionaldan_ros.bag.live import evaluate_live

        report = evaluate_live(args)
    for warning in report["warnings"]:
        print(f"warning: {warning}")
    print(summary_line(report))
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0
