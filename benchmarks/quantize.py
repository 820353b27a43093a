"""int8 trial for the face-api nets on ONNX Runtime: speed and accuracy cost vs float32.

Exports a net as the runtime does (`faceapi/ort.py`), quantises it two ways with ONNX Runtime's
tools: dynamic (weights uint8, activations quantised per run) and static QDQ (calibrated on the
faces of the face-api test fixtures), and runs all three on held-out faces (the tiny detector's
faces in five demo frames). Prints CPU and wall ms per batch of 3 faces (one intra-op thread) and
the landmark difference to float32 in pixels of the 112-px crop (landmark nets) or the largest
probability difference (expression net).

    python benchmarks/quantize.py
    python benchmarks/quantize.py --nets face_landmark_68 --repeat 50
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.benchmarking import header
from emotionaldan_ros.core.detection import create_detector
from emotionaldan_ros.core.faceapi.image import warp_regions
from emotionaldan_ros.core.faceapi.ort import export_net, session_options
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.faceapi.recognizer import face_regions_np
from emotionaldan_ros.core.sources import demo_dir

FIXTURES = Path(__file__).resolve().parents[1] / "test" / "data" / "faceapi"
HELD_OUT_FRAMES = (8, 30, 35, 50, 55)


def _crops(images: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    return np.concatenate(
        [
            warp_regions(img, face_regions_np(boxes, img.shape[1], img.shape[0]), 112, True)
            for img, boxes in images
        ]
    )


def face_sets() -> tuple[np.ndarray, np.ndarray]:
    """(calibration crops, held-out crops), uint8 BGR (N, 112, 112, 3)."""
    ref = json.loads((FIXTURES / "reference.json").read_text())
    cal = []
    for im in ref["images"]:
        boxes = np.array([f["box"] for f in im["faces"]], np.float64)
        boxes[:, 2:] += boxes[:, :2]
        cal.append((cv2.imread(str(FIXTURES / f"{im['name']}.png")), boxes))
    det = create_detector("faceapi_tiny")
    held = []
    for k in HELD_OUT_FRAMES:
        img = cv2.imread(str(demo_dir() / f"frame_{k:04d}.jpg"))
        held.append((img, det.detect(img).boxes.astype(np.float64)))
    return _crops(cal), _crops(held)


def main() -> None:
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", nargs="+", default=["face_landmark_68", "face_expression"])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    print(header("face-api nets: int8 vs float32 on ONNX Runtime"))
    cal, held = face_sets()
    print(f"calibration faces {len(cal)}, held-out faces {len(held)}\n")
    print("| net | variant | CPU ms / 3 faces | wall ms / 3 faces | difference to float32 |")
    print("|---|---|---|---|---|")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"image": cal[i : i + 1]} for i in range(len(cal))])

        def get_next(self) -> dict | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets:
            fp32 = Path(tmp) / f"{name}.onnx"
            fp32.write_bytes(export_net(load_net(name), name, 112))
            paths = {"float32": fp32, "dynamic int8": Path(tmp) / f"{name}_dyn.onnx"}
            quantize_dynamic(str(fp32), str(paths["dynamic int8"]), weight_type=QuantType.QUInt8)
            paths["static int8 (QDQ)"] = Path(tmp) / f"{name}_qdq.onnx"
            quantize_static(
                str(fp32), str(paths["static int8 (QDQ)"]), Reader(), quant_format=QuantFormat.QDQ
            )
            ref = None
            for variant, path in paths.items():
                sess = ort.InferenceSession(
                    str(path), session_options(1), providers=["CPUExecutionProvider"]
                )
                x = held[:3]
                sess.run(None, {"image": x})
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(args.repeat):
                    sess.run(None, {"image": x})
                cpu = (time.process_time() - c0) / args.repeat * 1e3
                wall = (time.perf_counter() - t0) / args.repeat * 1e3
                out = sess.run(None, {"image": held})[0]
                if ref is None:
                    ref, diff = out, "-"
                elif name.startswith("face_landmark"):
                    px = np.abs(out - ref) * 112
                    diff = f"landmarks mean {px.mean():.2f} px, max {px.max():.2f} px"
                else:
                    p, q = (np.exp(v) / np.exp(v).sum(1, keepdims=True) for v in (out, ref))
                    diff = f"probabilities max {np.abs(p - q).max():.3f}"
                print(f"| {name} | {variant} | {cpu:.1f} | {wall:.1f} | {diff} |", flush=True)


if __name__ == "__main__":
    main()
