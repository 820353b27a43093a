"""Cost of the perception I/O pieces per 640x480 frame: image conversion, JPEG/PNG, Haar, tracker.

Run:  python benchmarks/perception_io.py [--repeat 200] [--threads 1]
Prints median and p95 per operation, with the machine and library versions.
"""

from __future__ import annotations

import argparse
import array
import sys

import cv2
import numpy as np

from emotionaldan_ros.benchmarking import describe_line, time_ms
from emotionaldan_ros.core.detection.haar import HaarDetector
from emotionaldan_ros.core.detection.tracker import IouTracker
from emotionaldan_ros.core.image_codec import (
    decode_compressed,
    encode_compressed,
    image_to_numpy,
    numpy_to_image,
    to_bgr8,
)
from emotionaldan_ros.core.sources import open_source


def machine() -> str:
    return describe_line(("numpy", "opencv-python-headless"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    frames = list(open_source("demo"))
    bgr = frames[25]
    results: list[tuple[str, float, float]] = []

    def add(name, fn, repeat=args.repeat):
        results.append((name, *time_ms(fn, repeat)))

    for encoding in ("bgr8", "rgb8", "mono16", "yuv422"):
        if encoding == "bgr8":
            image = bgr
        elif encoding == "rgb8":
            image = np.ascontiguousarray(bgr[..., ::-1])
        elif encoding == "mono16":
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
        else:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_UYVY)
        fields = numpy_to_image(image, encoding, is_bigendian=encoding == "mono16")
        data = array.array("B", fields.data)  # what rclpy hands a callback

        def decode(f=fields, d=data):
            return to_bgr8(
                f.encoding,
                image_to_numpy(f.encoding, f.height, f.width, f.step, f.is_bigendian, d),
            )

        label = f"{encoding}{' big-endian' if fields.is_bigendian else ''}"
        add(f"Image({label}) -> BGR", decode)
    add("BGR -> Image fields (bgr8)", lambda: numpy_to_image(bgr, "bgr8"))
    jpeg = encode_compressed(bgr, "jpeg", 90)
    add("JPEG q90 encode", lambda: encode_compressed(bgr, "jpeg", 90))
    add("JPEG decode", lambda: decode_compressed("jpeg", jpeg))
    png = encode_compressed(bgr, "png")
    add("PNG (level 3) encode", lambda: encode_compressed(bgr, "png"))
    add("PNG decode", lambda: decode_compressed("png", png))
    print(f"sizes: raw {bgr.nbytes} B, JPEG q90 {len(jpeg)} B, PNG level 3 {len(png)} B")
    it = iter(range(10**9))

    def next_frame() -> np.ndarray:
        return frames[next(it) % len(frames)]

    for label, kwargs in (("default params", {}), ("max_side=320", {"max_side": 320})):
        detector = HaarDetector(**kwargs)
        add(f"Haar detect ({label})", lambda d=detector: d.detect(next_frame()), 60)
    tracker = IouTracker()
    boxes = np.array([[100, 100, 200, 200], [300, 120, 380, 200], [450, 90, 560, 200]], float)
    add("IouTracker.update, 3 faces", lambda: tracker.update(boxes + np.random.rand(3, 4)))

    print(f"machine: {machine()}; cv2 threads {cv2.getNumThreads()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"frame: 640x480 demo footage; repeats: {args.repeat} (Haar: 60 over all demo frames)")
    print(f"{'operation':40s} {'median ms':>10s} {'p95 ms':>10s}")
    for name, p50, p95 in results:
        print(f"{name:40s} {p50:10.3f} {p95:10.3f}")


if __name__ == "__main__":
    main()
