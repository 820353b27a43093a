"""`emotionaldan-analyze`: faces, landmarks and emotions of image files, without ROS.

emotionaldan-analyze photo.jpg more/*.png --json out.json --overlay out/
emotionaldan-analyze photo.jpg --detector faceapi_ssd --backend checkpoint:runs/best.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from emotionaldan_ros.core.backends import DEFAULT_BACKEND
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR, list_detectors
from emotionaldan_ros.core.overlay import draw_faces
from emotionaldan_ros.core.pipeline import FacePipeline


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(prog="emotionaldan-analyze", description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+", type=Path, help="image files")
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list_detectors())
    model = ap.add_mutually_exclusive_group()
    model.add_argument("--backend", default=DEFAULT_BACKEND, help="recogniser backend spec")
    model.add_argument("--checkpoint", type=Path, help="EmotionalDAN checkpoint (.pt)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="write per-image, per-face results here")
    ap.add_argument("--overlay", type=Path, help="save annotated images into this folder")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 if any image could not be read)."""
    args = parse_args(argv)
    backend = f"checkpoint:{args.checkpoint}" if args.checkpoint else args.backend
    try:
        pipeline = FacePipeline(args.detector, backend, args.device)
    except Exception as exc:  # missing weights, bad spec: one clear line
        print(f"emotionaldan-analyze: {exc}", file=sys.stderr)
        return 2
    if args.overlay:
        args.overlay.mkdir(parents=True, exist_ok=True)
    results, failed = {}, 0
    print(
        f"{'image':<32} {'face':>4}  {'box (x1,y1,x2,y2)':<24} {'emotion':<9} {'conf':>5}  valence"
    )
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            print(f"{path!s:<32} cannot read image (missing, corrupt or not an image)")
            failed += 1
            continue
        analysis = pipeline.analyze(image)
        faces = analysis.to_json()
        results[str(path)] = {"width": image.shape[1], "height": image.shape[0], "faces": faces}
        if not faces:
            print(f"{path!s:<32} {'-':>4}  no face found")
        for i, face in enumerate(faces):
            box = ",".join(f"{v:.0f}" for v in face["box"])
            print(
                f"{path!s:<32} {i:>4}  {box:<24} {face['label']:<9} "
                f"{face['confidence']:>5.2f}  {face['valence']}"
            )
        if args.overlay:
            pred = analysis.prediction
            drawn = draw_faces(image, pred.boxes, pred.probs, pred.classes, pred.landmarks)
            cv2.imwrite(str(args.overlay / f"{path.stem}_overlay.jpg"), drawn)
    if args.json:
        meta = {
            "detector": args.detector,
            "backend": pipeline.recognizer.name,
            "classes": list(pipeline.recognizer.classes),
        }
        args.json.write_text(json.dumps({"meta": meta, "images": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
