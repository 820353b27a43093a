"""Face detectors compared: recall, precision, F1 on real photos, and CPU time per 640x480 frame.

Run:  python benchmarks/detectors.py [--repeat 15] [--threads 1 2] [--only haar] [--misses]

Quality is measured on the hand-checked fixtures in test/data/detection/ (11 photos, 28 faces, two
of the photos with no face), at IoU >= 0.5. Speed is the median wall time of `detect()` on
640x480 frames of the bundled demo footage, cycling through frames with and without faces, with
`torch.set_num_threads(n)` and `cv2.setNumThreads(n)` for each n in --threads. Prints a Markdown
table, with the machine description and the command.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from emotionaldan_ros.core.detection import create_detector
from emotionaldan_ros.core.detection.evaluate import detection_metrics, load_boxes
from emotionaldan_ros.core.sources import open_source
from emotionaldan_ros.machine import header

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


CONFIGS = (
    Config("haar"),
    Config("haar", {"max_side": 320}),
    Config("haar", {"cascade": "alt2"}),
    Config("faceapi_tiny", {"input_size": 224}),
    Config("faceapi_tiny", {"input_size": 320}),
    Config("faceapi_tiny"),
    Config("faceapi_tiny", {"input_size": 512}),
    Config("faceapi_ssd"),
)


def load_fixtures() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Fixture images (BGR) and their ground-truth boxes."""
    boxes = load_boxes(FIXTURES / "boxes.json")
    images = {}
    for name in boxes:
        image = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read fixture {FIXTURES / name}")
        images[name] = image
    return images, boxes


def median_ms(detector, frames: list[np.ndarray], repeat: int) -> float:
    """Median milliseconds per `detect()` call over `repeat` passes through `frames`."""
    for frame in frames:  # warm-up (lazy allocations, oneDNN kernels)
        detector.detect(frame)
    times = []
    for _ in range(repeat):
        for frame in frames:
            t0 = time.perf_counter()
            detector.detect(frame)
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="passes over the speed frames")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", help="measure only these detector names")
    parser.add_argument("--misses", action="store_true", help="list missed faces, false hits")
    args = parser.parse_args()
    images, truth = load_fixtures()
    with open_source("demo") as source:
        demo = list(source)
    frames = [demo[i] for i in SPEED_FRAMES]
    configs = [c for c in CONFIGS if not args.only or c.name in args.only]
    ms_cols = " | ".join(f"ms/frame, {n} thr." for n in args.threads)
    rows = [
        "| detector, parameters | recall | precision | F1 | mean IoU | TP / FP / missed | "
        f"{ms_cols} |",
        "|---|---|---|---|---|---|" + "---|" * len(args.threads),
    ]
    notes: list[str] = []
    for config in configs:
        detector = create_detector(config.name, **config.params)
        torch.set_num_threads(1)
        report = detection_metrics({n: detector.detect(im) for n, im in images.items()}, truth)
        t = report.total
        speeds = []
        for threads in args.threads:
            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
            speeds.append(f"{median_ms(detector, frames, args.repeat):.1f}")
        rows.append(
            f"| {config.label} | {t.recall:.3f} | {t.precision:.3f} | {t.f1:.3f} | "
            f"{t.mean_iou:.3f} | {t.true_positives} / {t.false_positives} / {t.misses} | "
            + " | ".join(speeds)
            + " |"
        )
        if args.misses:
            for name, match in report.matches.items():
                if len(match.misses) or len(match.false_positives):
                    notes.append(
                        f"{config.label} {name}: missed gt {match.misses.tolist()}, "
                        f"false detections {match.false_positives.tolist()}"
                    )
    print(header("Face detectors: quality on test/data/detection, CPU time per 640x480 frame"))
    print(
        f"quality: {len(images)} photos, {sum(len(b) for b in truth.values())} faces, IoU >= 0.5;"
        f" speed: median of {args.repeat} passes over demo frames {list(SPEED_FRAMES)}\n"
    )
    print("\n".join(rows))
    if notes:
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    main()
