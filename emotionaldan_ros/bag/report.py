"""Write a replay-eval report: report.json, report.md and confusion-matrix PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from emotionaldan_ros.bag.scoring import MIN_IOU
from emotionaldan_ros.core.labels import VALENCES


def confusion_png(
    cm: np.ndarray, names: list[str] | tuple[str, ...], title: str, path: Path
) -> None:
    """Save a confusion matrix (rows: truth, columns: prediction) with counts and row shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.int64)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.75 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            color = "white" if share[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color=color,
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _f(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if pct else f"{value:.2f}"


def _matrix_md(cm: list[list[int]], names: list[str] | tuple[str, ...]) -> list[str]:
    lines = ["| truth \\ predicted | " + " | ".join(names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    for name, row in zip(names, cm, strict=True):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The Markdown text of a report."""
    rec = report["recognition"]
    det = report["detection"]
    lat = report["latency_ms"]
    proc = report["processing_time_ms"]
    lines = [
        f"# Replay evaluation: `{report.get('bag', '')}`",
        "",
        f"Mode: **{report.get('mode', '')}**. "
        f"Model(s): {', '.join(report['models']) or 'unknown'}."
        f" Valence mapping: {rec['valence_mapping'] if rec else report['surprise']}.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames (labelled) | {report['frames']} ({report['labelled_frames']}) |",
        f"| frames with an output (with ≥ 1 face) | {report['frames_with_output']} "
        f"({det['frames_with_any_face']}) |",
        f"| dropped frames (no output) | {report['dropped_frames']} "
        f"({_f(report['dropped_rate'], True)}) |",
        f"| detection rate (labelled face found / labelled frames with output) | "
        f"{_f(det['rate'], True)} ({det['labelled_face_found']}/"
        f"{det['labelled_frames_with_output']}) |",
        f"| {len(report['classes'])}-class accuracy (face found) | "
        f"{_f(rec and rec['accuracy'], True)} (n = {rec['n'] if rec else 0}) |",
        f"| 3-class accuracy (face found) | {_f(rec and rec['valence_accuracy'], True)} |",
        f"| macro-F1 ({len(report['classes'])} / 3 classes) | {_f(rec and rec['macro_f1'])} / "
        f"{_f(rec and rec['valence_macro_f1'])} |",
        f"| end-to-end accuracy, misses and drops count wrong (7 / 3 classes) | "
        f"{_f(report['end_to_end']['accuracy'], True)} / "
        f"{_f(report['end_to_end']['valence_accuracy'], True)} |",
        f"| latency p50 / p95 / p99 (ms) | {_f(lat['p50'])} / {_f(lat['p95'])} / "
        f"{_f(lat['p99'])} (n = {lat['n']}) |",
        f"| emotion-node processing p50 / p95 (ms) | {_f(proc['p50'])} / {_f(proc['p95'])} |",
        "",
        f"Latency: {lat['source']}.",
        "",
    ]
    if rec:
        lines += ["## Per-class recall", "", "| class | recall |", "|---|---|"]
        lines += [f"| {k} | {_f(v, True)} |" for k, v in rec["per_class_recall"].items()]
        k = len(report["classes"])
        lines += ["", f"## Confusion matrix ({k} classes)", ""]
        lines += _matrix_md(rec["confusion"], report["classes"])
        lines += [
            "",
            f"![confusion](confusion_{k}.png)",
            "",
            "## Confusion matrix (3 classes)",
            "",
        ]
        lines += _matrix_md(rec["valence_confusion"], VALENCES)
        lines += ["", "![confusion](confusion_3.png)", ""]
    lines += [
        "## How frames were scored",
        "",
        "Outputs are matched to frames by exact header stamp. With several faces in a labelled "
        f"frame, the face overlapping the labelled box best (IoU ≥ {MIN_IOU}) is scored, else the "
        "largest face. Recognition figures count frames where the labelled face was found; "
        "end-to-end accuracy counts missed and dropped frames as wrong.",
        "",
    ]
    if report["warnings"]:
        lines += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and (with labels) confusion_7.png / confusion_3.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown(report))
    rec = report["recognition"]
    if rec:
        k = len(report["classes"])
        paths.append(out / f"confusion_{k}.png")
        confusion_png(np.array(rec["confusion"]), report["classes"], f"{k} classes", paths[-1])
        paths.append(out / "confusion_3.png")
        confusion_png(np.array(rec["valence_confusion"]), VALENCES, "3 classes", paths[-1])
    return paths
