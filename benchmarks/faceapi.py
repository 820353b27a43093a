"""Converted face-api nets: agreement with the original TF.js outputs, and speed on this machine.

Run:  python benchmarks/faceapi.py [--repeat 20] [--threads 1]
Prints (1) the max absolute differences between the PyTorch port and the stored reference
outputs of the original runtime (test/data/faceapi/reference.json) and (2) median / p95 latency
of each detector per image and of the recogniser per face (batch of 1 and of 4 faces), with the
machine, library versions and torch thread count.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from emotionaldan_ros.benchmarking import describe_line, time_ms
from emotionaldan_ros.core.faceapi.detect import detect_ssd, detect_tiny
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.faceapi.recognizer import FACEAPI_TO_DESIGN, FaceApiRecognizer

DATA = Path(__file__).resolve().parents[1] / "test" / "data" / "faceapi"


def machine() -> str:
    return f"{describe_line()}, {torch.get_num_threads()} torch thread(s)"


def _xyxy(xywh) -> np.ndarray:
    b = np.asarray(xywh, np.float64).reshape(-1, 4).copy()
    b[:, 2:] += b[:, :2]
    return b


def reference_diffs() -> dict[str, float]:
    """Max |PyTorch - TF.js| over all fixture images, per output."""
    ref = json.loads((DATA / "reference.json").read_text())
    tiny, ssd = load_net("tiny_face_detector"), load_net("ssd_mobilenetv1")
    recs = {
        m: FaceApiRecognizer(landmark_model=m, expression_crop="box")
        for m in ("face_landmark_68", "face_landmark_68_tiny")
    }
    chain = FaceApiRecognizer()  # expression_crop="landmarks", face-api's chained API
    diffs: dict[str, float] = {}

    def upd(key: str, a, b) -> None:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise AssertionError(f"{key}: shape {a.shape} vs reference {b.shape}")
        diffs[key] = max(diffs.get(key, 0.0), float(np.abs(a - b).max()) if a.size else 0.0)

    for im in ref["images"]:
        image = cv2.imread(str(DATA / f"{im['name']}.png"))
        for size, block in im["tiny_face_detector"].items():
            boxes, scores = detect_tiny(
                tiny, image, int(size), ref["params"]["tiny_score_threshold"]
            )
            upd("tiny detector boxes (px)", boxes, _xyxy([d["box"] for d in block["detections"]]))
            upd("tiny detector scores", scores, [d["score"] for d in block["detections"]])
        block = im["ssd_mobilenetv1"]
        boxes, scores = detect_ssd(ssd, image, ref["params"]["ssd_min_confidence"])
        upd("SSD boxes (px)", boxes, _xyxy([d["box"] for d in block["detections"]]))
        upd("SSD scores", scores, [d["score"] for d in block["detections"]])
        faces = im["faces"]
        boxes = _xyxy([f["box"] for f in faces])
        for model, key in (
            ("face_landmark_68", "landmarks_68"),
            ("face_landmark_68_tiny", "landmarks_68_tiny"),
        ):
            pred = recs[model].predict(image, boxes)
            upd(f"{model} landmarks (px)", pred.landmarks, [f[key] for f in faces])
        expected = np.array([f["expressions"] for f in faces])[:, list(FACEAPI_TO_DESIGN)]
        upd("expression probabilities (box crop)", pred.probs, expected)
        chained = im.get("pipeline", [])
        if chained:
            boxes = _xyxy([r["box"] for r in chained])
            pred = chain.predict(image, boxes)
            expected = np.array([r["expressions"] for r in chained])[:, list(FACEAPI_TO_DESIGN)]
            # face-api's chained landmarks sit at the unfloored box origin (see the test).
            frac = (boxes[:, :2] - np.floor(boxes[:, :2]))[:, None, :]
            upd(
                "chained landmarks (px)",
                pred.landmarks + frac,
                [r["landmarks_68"] for r in chained],
            )
            upd("expression probabilities (landmark crop)", pred.probs, expected)
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    print("\nmax |PyTorch - TF.js| on the reference fixtures:")
    for key, value in reference_diffs().items():
        print(f"  {key:42s} {value:.2e}")

    image = cv2.imread(str(DATA / "sample1_crop.png"))
    big = cv2.resize(image, (1280, 750))
    tiny, ssd = load_net("tiny_face_detector"), load_net("ssd_mobilenetv1")
    rows = []
    for size in (416, 320, 224):
        rows.append(
            (
                f"faceapi_tiny {size} (512x300 image)",
                *time_ms(lambda s=size: detect_tiny(tiny, image, s), args.repeat),
            )
        )
    rows.append(
        (
            "faceapi_tiny 416 (1280x750 image)",
            *time_ms(lambda: detect_tiny(tiny, big, 416), args.repeat),
        )
    )
    rows.append(
        ("faceapi_ssd 512 (512x300 image)", *time_ms(lambda: detect_ssd(ssd, image), args.repeat))
    )
    rows.append(
        ("faceapi_ssd 512 (1280x750 image)", *time_ms(lambda: detect_ssd(ssd, big), args.repeat))
    )
    ref = json.loads((DATA / "reference.json").read_text())
    boxes = _xyxy([f["box"] for f in ref["images"][0]["faces"]])[:4]
    for model, crop in (
        ("face_landmark_68", "landmarks"),
        ("face_landmark_68", "box"),
        ("face_landmark_68_tiny", "landmarks"),
    ):
        rec = FaceApiRecognizer(landmark_model=model, expression_crop=crop)
        model = f"{model}, expression_crop={crop}"
        med1, p951 = time_ms(lambda r=rec: r.predict(image, boxes[:1]), args.repeat)
        med4, p954 = time_ms(lambda r=rec: r.predict(image, boxes), args.repeat)
        rows.append((f"recogniser {model}, 1 face", med1, p951))
        rows.append((f"recogniser {model}, 4 faces (per face)", med4 / 4, p954 / 4))
    print(f"\nlatency (ms), {args.repeat} runs after a warm-up:")
    print(f"  {'operation':70s} {'median':>8s} {'p95':>8s}")
    for name, med, p95 in rows:
        print(f"  {name:70s} {med:8.1f} {p95:8.1f}")
    print(
        "\ncommand: python benchmarks/faceapi.py "
        + f"--repeat {args.repeat} --threads {args.threads}"
    )


if __name__ == "__main__":
    main()
