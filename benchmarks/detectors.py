"""Face detectors compared: recall and precision per viewing condition, CPU time per 640x480 frame.

Run:  python benchmarks/detectors.py [--repeat 15] [--threads 1] [--only blazeface haar]
          [--yunet PATH.onnx] [--misses] [--box-style]

Quality is measured on the hand-checked photos of test/data/detection/ (14 photos, 33 faces,
two photos without a face) and on the hard conditions made from them by
`emotionaldan_ros.core.detection.conditions` (gray, IR-like, side light, close-up crops, IR
close-ups, photos shrunk to 48/64/96 px faces), at IoU >= 0.5, with ignore regions for faces
cut by a crop. Speed is the median time of `detect()` on 640x480 frames of the bundled demo
footage, cycling through frames with and without faces, with torch and OpenCV (and each
detector's ONNX Runtime session) on n threads for each n in --threads, the detectors taking
turns (see `time_interleaved`). `--repeat 0` skips the speed part. Prints Markdown tables with
the machine description and the command: totals and speed, then recall / precision per
condition, then where each detector's boxes sit relative to Haar's and the crop margin / shift
(`core.alignment`) that would give its boxes the crop that the recogniser is tuned for.
`--yunet` adds OpenCV's YuNet with a model file you supply (none ships, see docs/detectors.md).
`--box-style` prints the BlazeFace box-style constants (`blazeface.BOX_STYLE`) measured anew.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from emotionaldan_ros.benchmarking import header
from emotionaldan_ros.core.alignment import DEFAULT_MARGIN, DEFAULT_SHIFT
from emotionaldan_ros.core.detection import create_detector
from emotionaldan_ros.core.detection.conditions import (
    CONDITIONS,
    Sample,
    load_photos,
    make_conditions,
)
from emotionaldan_ros.core.detection.evaluate import DetectionReport, detection_metrics
from emotionaldan_ros.core.sources import open_source

FIXTURES = Path(__file__).resolve().parents[1] / "test" / "data" / "detection"
# Demo frames cycled for the speed figure: 3 faces, 5 faces, 1 face, and two with none.
SPEED_FRAMES = (25, 50, 8, 17, 63)


@dataclass(frozen=True)
class Config:
    """One detector setting to measure."""

    name: str
    params: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        text = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"`{self.name}` {text or '(defaults)'}"


# min_face_size 20 for all: the set has faces down to 24 px (shrunk photos), and the node's
# default (24) is what the cabin runs with.
CONFIGS = (
    Config("haar", {"min_face_size": 20}),
    Config("haar", {"cascade": "alt2", "min_face_size": 20}),
    Config("faceapi_tiny", {"input_size": 320, "min_face_size": 20}),
    Config("faceapi_tiny", {"min_face_size": 20}),
    Config("faceapi_tiny", {"input_size": 512, "min_face_size": 20}),
    Config("faceapi_ssd", {"min_face_size": 20}),
    Config("blazeface_short", {"min_face_size": 20}),
    Config("blazeface_full", {"min_face_size": 20}),
    Config("blazeface", {"min_face_size": 20}),
)


def evaluate(detector, conditions: dict[str, list[Sample]]) -> tuple[dict, dict]:
    """Per condition: the detection report, and the detections by sample name."""
    reports, found = {}, {}
    for condition, samples in conditions.items():
        dets = {s.name: detector.detect(s.image) for s in samples}
        reports[condition] = detection_metrics(
            dets, {s.name: s.boxes for s in samples}, ignore={s.name: s.ignore for s in samples}
        )
        found[condition] = dets
    return reports, found


def pooled(reports: dict[str, DetectionReport]) -> tuple[int, int, int, float]:
    """TP, FP, misses and mean IoU summed over the conditions."""
    tp = sum(r.total.true_positives for r in reports.values())
    fp = sum(r.total.false_positives for r in reports.values())
    fn = sum(r.total.misses for r in reports.values())
    ious = [
        r.total.mean_iou * r.total.true_positives
        for r in reports.values()
        if r.total.true_positives
    ]
    return tp, fp, fn, float(np.sum(ious) / max(tp, 1))


def box_style(conditions: dict[str, list[Sample]]) -> str:
    """BlazeFace BOX_STYLE constants: medians of hand-checked box / net box over level faces.

    Faces whose eye line is within 10 degrees of level (so the roll correction does not enter),
    matched to a net box at IoU >= 0.3, on the `photo` and `closeup` conditions.
    """
    from emotionaldan_ros.core.detection.blazeface import BlazeFaceNet, eye_roll
    from emotionaldan_ros.core.detection.evaluate import match_detections

    lines = ["\nBlazeFace box style (hand-checked box / net box, level faces):\n"]
    for variant in ("full_range", "short_range"):
        net = BlazeFaceNet(variant)
        rows = []
        for condition in ("photo", "closeup"):
            for s in conditions[condition]:
                boxes, keypoints, _ = net.detect(s.image, 0.5, 0.3)
                level = np.abs(eye_roll(keypoints)) < np.radians(10) if len(boxes) else []
                m = match_detections(boxes, s.boxes, iou=0.3)
                for p, g in m.pairs:
                    if not level[p]:
                        continue
                    b, t = boxes[p], s.boxes[g]
                    bw, bh = b[2] - b[0], b[3] - b[1]
                    rows.append(
                        (
                            (t[2] - t[0]) / bw,
                            (t[3] - t[1]) / bh,
                            ((t[0] + t[2]) - (b[0] + b[2])) / 2 / bw,
                            ((t[1] + t[3]) - (b[1] + b[3])) / 2 / bh,
                        )
                    )
        w, h, dx, dy = np.median(np.array(rows), axis=0)
        lines.append(
            f"{variant}: {len(rows)} faces, BoxStyle({w:.3f}, {h:.3f}, {dx:.3f}, {dy:.3f})"
        )
    return "\n".join(lines)


def time_interleaved(
    detectors: list, frames: list[np.ndarray], repeat: int
) -> list[tuple[float, float, float]]:
    """Per detector: median wall ms, best-case wall ms and median CPU ms per frame.

    The detectors take turns pass after pass, so that a burst of load from other processes on
    a shared machine hits them all alike. The best case is each frame's fastest pass, averaged
    over the frames: close to the cost on an idle machine. CPU time (all threads of this
    process) does not count the time spent waiting for a core either.
    """
    for detector in detectors:  # warm-up (lazy allocations, oneDNN kernels)
        for frame in frames:
            detector.detect(frame)
    wall = np.zeros((len(detectors), repeat, len(frames)))
    cpu = np.zeros_like(wall)
    for r in range(repeat):
        for i, detector in enumerate(detectors):
            for j, frame in enumerate(frames):
                w0, c0 = time.perf_counter(), time.process_time()
                detector.detect(frame)
                wall[i, r, j] = time.perf_counter() - w0
                cpu[i, r, j] = time.process_time() - c0
    return [
        (1e3 * np.median(w), 1e3 * w.min(axis=0).mean(), 1e3 * np.median(c))
        for w, c in zip(wall, cpu, strict=True)
    ]


def box_geometry(configs: list[Config], found: list[dict], reports: list) -> str:
    """How each detector's boxes sit relative to Haar's, on the faces both found.

    The recogniser's crop (`core.alignment`: margin, shift) is tuned for Haar boxes. The margin
    and shift printed here give another detector's boxes the same crop as Haar's defaults:
    side · (1 + 2·margin) = haar side · (1 + 2·DEFAULT_MARGIN), and the crop centre lands
    DEFAULT_SHIFT haar sides below the Haar box centre. Medians over the faces.
    """
    lines = [
        "\nbox geometry relative to `haar` (defaults) on the faces both found; margin / shift "
        f"that reproduce the Haar crop (DEFAULT_MARGIN {DEFAULT_MARGIN}, DEFAULT_SHIFT "
        f"{DEFAULT_SHIFT}):\n",
        "| detector, parameters | faces | side / haar side | dx / haar side | dy / haar side "
        "| box h / w | margin | shift |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def geometry(box: np.ndarray) -> tuple[float, float, float, float]:
        w, h = box[2] - box[0], box[3] - box[1]
        return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(w, h), h / w

    def matched(i: int) -> dict[tuple[str, int], np.ndarray]:
        out = {}
        for name, match in reports[i].matches.items():
            for p, g in match.pairs:
                out[name, int(g)] = found[i][name].boxes[p].astype(np.float64)
        return out

    ref = matched(0)
    for i, config in enumerate(configs[1:], start=1):
        other = matched(i)
        keys = sorted(set(ref) & set(other))
        if not keys:
            continue
        rows = []
        for key in keys:
            rx, ry, rs, _ = geometry(ref[key])
            ox, oy, os_, aspect = geometry(other[key])
            rows.append((os_ / rs, (ox - rx) / rs, (oy - ry) / rs, aspect))
        ratio, dx, dy, aspect = np.median(np.array(rows), axis=0)
        margin = ((1 + 2 * DEFAULT_MARGIN) / ratio - 1) / 2
        shift = (DEFAULT_SHIFT - dy) / ratio
        lines.append(
            f"| {config.label} | {len(keys)} | {ratio:.3f} | {dx:+.3f} | {dy:+.3f} | "
            f"{aspect:.2f} | {margin:.3f} | {shift:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="passes over the speed frames")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--only", nargs="+", help="measure only these detector names")
    parser.add_argument("--yunet", type=Path, help="YuNet ONNX file to measure as `yunet`")
    parser.add_argument("--misses", action="store_true", help="list missed faces, false hits")
    parser.add_argument("--box-style", action="store_true", help="measure BlazeFace BOX_STYLE")
    args = parser.parse_args()
    images, truth = load_photos(FIXTURES)
    conditions = make_conditions(images, truth)
    if args.box_style:
        print(box_style(conditions))
        return
    with open_source("demo") as source:
        demo = list(source)
    frames = [demo[i] for i in SPEED_FRAMES]
    configs = list(CONFIGS)
    if args.yunet:
        configs.append(Config("yunet", {"model_path": str(args.yunet), "min_face_size": 20}))
    configs = [c for c in configs if not args.only or c.name in args.only]

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    detectors = [create_detector(c.name, **c.params) for c in configs]
    results = [evaluate(d, conditions) for d in detectors]
    speeds = {}
    for threads in args.threads if args.repeat > 0 else []:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        timed = [create_detector(c.name, **c.params, **_threads(c.name, threads)) for c in configs]
        speeds[threads] = time_interleaved(timed, frames, args.repeat)

    print(
        header(
            "Face detectors: quality per condition on test/data/detection, time per 640x480 frame"
        )
    )
    counts = ", ".join(
        f"{c} {len(s)} images / {sum(len(x.boxes) for x in s)} faces"
        for c, s in conditions.items()
    )
    print(
        f"quality: {counts}; match at IoU >= 0.5. speed: {args.repeat} interleaved passes over "
        f"demo frames {list(SPEED_FRAMES)}; wall ms median (best case), CPU ms median; n thr. = "
        "torch, OpenCV and ONNX Runtime threads\n"
    )
    cols = "".join(f" CPU ms, {n} thr. | wall ms, {n} thr. |" for n in speeds)
    print(
        f"| detector, parameters | recall | precision | F1 | mean IoU | TP / FP / missed |{cols}"
    )
    print("|---|---|---|---|---|---|" + "---|---|" * len(speeds))
    for i, (config, (reports, _)) in enumerate(zip(configs, results, strict=True)):
        tp, fp, fn, iou = pooled(reports)
        recall, precision = tp / max(tp + fn, 1), tp / max(tp + fp, 1)
        f1 = 2 * recall * precision / max(recall + precision, 1e-9)
        cells = "".join(
            f" {speeds[n][i][2]:.1f} | {speeds[n][i][0]:.1f} ({speeds[n][i][1]:.1f}) |"
            for n in speeds
        )
        print(
            f"| {config.label} | {recall:.3f} | {precision:.3f} | {f1:.3f} | {iou:.3f} | "
            f"{tp} / {fp} / {fn} |{cells}"
        )
    print("\nrecall / precision per condition:\n")
    print("| detector, parameters | " + " | ".join(CONDITIONS) + " |")
    print("|---|" + "---|" * len(CONDITIONS))
    for config, (reports, _) in zip(configs, results, strict=True):
        cells = " | ".join(
            f"{reports[c].total.recall:.2f} / {reports[c].total.precision:.2f}" for c in CONDITIONS
        )
        print(f"| {config.label} | {cells} |")
    if configs[0].name == "haar":
        photo = [(r["photo"], f["photo"]) for r, f in results]
        print(box_geometry(configs, [f for _, f in photo], [r for r, _ in photo]))
    if args.misses:
        print()
        for config, (reports, _) in zip(configs, results, strict=True):
            for condition, report in reports.items():
                for name, match in report.matches.items():
                    if len(match.misses) or len(match.false_positives):
                        print(
                            f"{config.label} [{condition}] {name}: missed faces "
                            f"{match.misses.tolist()}, false detections "
                            f"{match.false_positives.tolist()}"
                        )


def _threads(name: str, threads: int) -> dict:
    """ONNX Runtime thread count for the detectors that run on it."""
    return {"num_threads": threads} if name.startswith(("blazeface", "yunet")) else {}


if __name__ == "__main__":
    main()
