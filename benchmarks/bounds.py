"""Cost of one oversized input to the EmotionalDAN node, with and without issue 10's bounds.

    python benchmarks/bounds.py [--faces 500] [--cap 16]

The shipped recogniser (`faceapi`, its default engine) on one 640x480 frame with `--faces`
boxes (all of them, as the node did before `max_faces_per_frame`) and with the `--cap` it now
keeps. Wall and CPU time of one call, one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emotionaldan_ros.benchmarking import header


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=500)
    ap.add_argument("--cap", type=int, default=16)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from emotionaldan_ros.core.backends import create_recognizer

    print(header("bounds: one oversized input to the EmotionalDAN node"))
    rec = create_recognizer("faceapi", threads=1)
    frame = np.full((480, 640, 3), 120, np.uint8)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (args.faces, 2)) * [560, 400]
    boxes = np.concatenate([xy, xy + 80], axis=1).clip(0, [640, 480, 640, 480])
    rec.predict(frame, boxes[:2])  # warm-up
    for n in (args.faces, args.cap):
        wall, cpu = timed(lambda n=n: rec.predict(frame, boxes[:n]))
        print(f"faces {n:4d}: wall {wall * 1e3:8.1f} ms, CPU {cpu * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
