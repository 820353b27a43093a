"""Turn a labelled image set, an image folder or a video into an evaluation bag.

Every frame becomes a `sensor_msgs/Image` (bgr8 or mono8) on the camera topic, or a
`sensor_msgs/CompressedImage` (jpeg or png) on `<camera topic>/compressed`, and its ground
truth an `EmotionLabel` with the same stamp and frame_id on the ground-truth topic. Stamps are
synthetic: `start + i / fps`. The bag time of each message equals its stamp, so `play` paces the
frames at `fps`. Labelled datasets are read with the project's loaders (`core.data`), which map
every dataset's codes onto the DESIGN §2 class order.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagWriter, make_qos
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.core import labels as L

IMAGE_TOPIC = "/cabin/camera/image_raw"
LABEL_TOPIC = "/cabin/ground_truth"
ENCODINGS = ("bgr8", "mono8", "jpeg", "png")
FORMATS = ("auto", "folder", "classes", "csv", "ckplus", "jaffe", "video")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


@dataclass
class Frame:
    """One frame to write: a loader of its pixels plus its ground truth."""

    load: Callable[[], np.ndarray]  # BGR uint8 or gray pixels, read lazily
    label: int = -1
    source: str = ""
    box: np.ndarray | None = None
    landmarks: np.ndarray | None = None


@dataclass
class ConversionResult:
    """What `convert` wrote."""

    bag: Path
    frames: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    fps: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        counts = ", ".join(f"{k} {v}" for k, v in self.labels.items()) or "none"
        text = f"wrote {self.frames} frames at {self.fps:g} fps to {self.bag} (labels: {counts})"
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        return text


def detect_format(source: Path) -> str:
    """Guess the source layout: video file, CSV, CK+ tree, JAFFE folder, class folders, folder."""
    if source.is_file():
        if source.suffix.lower() == ".csv":
            return "csv"
        if source.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        raise BagError(f"{source}: not a CSV list or a video ({', '.join(VIDEO_SUFFIXES)})")
    if not source.is_dir():
        raise BagError(f"{source}: no such file or folder")
    if (source / "cohn-kanade-images").is_dir():
        return "ckplus"
    from emotionaldan_ros.core.data.folder import class_index
    from emotionaldan_ros.core.data.jaffe import jaffe_label

    if any(p.is_dir() and class_index(p.name, 8) is not None for p in source.iterdir()):
        return "classes"
    if any(p.is_file() and jaffe_label(p) is not None for p in source.iterdir()):
        return "jaffe"
    return "folder"


def _read(path: Path) -> np.ndarray:
    from emotionaldan_ros.core.data.sample import read_image

    return read_image(path)


def _dataset_frames(
    fmt: str, source: Path, num_classes: int, peak_frames: int, allow_outside_root: bool
) -> tuple[list[Frame], dict[str, int]]:
    """Frames of a labelled dataset read by `core.data`, and the loader's drop counts."""
    from emotionaldan_ros.core.data import load_dataset

    spec: dict[str, object] = {"name": {"classes": "folder"}.get(fmt, fmt), "root": str(source)}
    if fmt == "ckplus":
        spec["peak_frames"] = peak_frames
    if fmt == "csv":
        spec["allow_outside_root"] = allow_outside_root
    try:
        samples = load_dataset(spec, num_classes=num_classes)
    except (OSError, ValueError) as err:
        raise BagError(f"{source}: cannot read as {fmt}: {err}") from None
    frames = [
        Frame(lambda p=s.image: _read(p), s.label, f"{samples.name}:{s.image}", s.box, s.landmarks)
        for s in samples.samples
    ]
    return frames, dict(samples.dropped)


def _folder_frames(source: Path, label: int) -> Iterator[Frame]:
    from emotionaldan_ros.core.data.sample import list_images

    images = list_images(source)
    if not images:
        raise BagError(f"{source}: no images found")
    for path in images:
        yield Frame(lambda p=path: _read(p), label, f"folder:{path}")


def _video_frames(source: Path, label: int, every: int) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise BagError(f"{source}: cannot open video")
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % every == 0:
                yield Frame(lambda f=frame: f, label, f"video:{source.name}#{index}")
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise BagError(f"{source}: video has no readable frames")


def video_fps(source: Path) -> float:
    """Frame rate stored in a video file (0 when unknown)."""
    cap = cv2.VideoCapture(str(source))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return float(fps) if np.isfinite(fps) and fps > 0 else 0.0


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'640x480' → (640, 480).

    Raises:
        BagError: malformed size.
    """
    if not text:
        return None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) <= 0 or int(h) <= 0:
        raise BagError(f"bad size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480")
    return int(w), int(h)


def convert(
    source: str | Path,
    out: str | Path,
    fmt: str = "auto",
    fps: float = 0.0,
    storage: str = "mcap",
    label: str | None = None,
    frame_id: str = "cabin_camera_optical_frame",
    start_ns: int | None = None,
    resize: tuple[int, int] | None = None,
    encoding: str = "bgr8",
    num_classes: int = 7,
    peak_frames: int = 1,
    video_every: int = 1,
    image_topic: str = IMAGE_TOPIC,
    label_topic: str = LABEL_TOPIC,
    allow_outside_root: bool = False,
) -> ConversionResult:
    """Write a bag of images plus ground-truth labels.

    Args:
        source: class-folder tree, CSV list, CK+ root, JAFFE folder, image folder or video file.
        out: bag folder to create (must not exist).
        fmt: one of FORMATS ("auto" guesses).
        fps: frame rate of the synthetic stamps; 0 = the video's own rate, else 10.
        storage: "mcap" or "sqlite3".
        label: class name given to every frame of an unlabelled folder or video.
        frame_id: frame_id of images and labels.
        start_ns: stamp of the first frame (default: now).
        resize: (width, height) to resize every frame to.
        encoding: "bgr8" or "mono8" (Image), "jpeg" or "png" (CompressedImage on
            `<image_topic>/compressed`, image_transport's naming).
        num_classes: 7 (contempt dropped) or 8.
        peak_frames: CK+: last frames of a sequence labelled with its emotion.
        video_every: keep every n-th video frame.
        image_topic: camera topic.
        label_topic: ground-truth topic.
        allow_outside_root: CSV lists may name images outside the CSV's folder (else those
            rows are skipped and counted).

    Raises:
        BagError: unusable source, options or output path.
    """
    source, out = Path(source).expanduser(), Path(out).expanduser()
    if fmt not in FORMATS:
        raise BagError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if encoding not in ENCODINGS:
        raise BagError(f"unsupported encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    compressed = encoding in ("jpeg", "png")
    if compressed:
        image_topic = f"{image_topic}/compressed"
    if video_every < 1:
        raise BagError("--every must be >= 1")
    fmt = detect_format(source) if fmt == "auto" else fmt
    const = -1
    if label is not None:
        from emotionaldan_ros.core.data.folder import class_index

        idx = class_index(label, num_classes)
        if idx is None:
            raise BagError(
                f"unknown label {label!r}: use one of {', '.join(L.emotion_names(num_classes))}"
            )
        const = idx
    if fps <= 0:
        fps = (video_fps(source) / video_every if fmt == "video" else 0.0) or 10.0
    dropped: dict[str, int] = {}
    frames: Iterable[Frame]
    if fmt == "video":
        frames = _video_frames(source, const, video_every)
    elif fmt == "folder":
        if not source.is_dir():
            raise BagError(f"{source}: not a folder")
        frames = _folder_frames(source, const)
    else:
        frames, dropped = _dataset_frames(
            fmt, source, num_classes, peak_frames, allow_outside_root
        )

    period = round(1e9 / fps)
    stamp = int(time.time() * 1e9) if start_ns is None else int(start_ns)
    result = ConversionResult(out, fps=fps)
    counts: Counter[str] = Counter()
    skipped: Counter[str] = Counter(dropped)
    qos = [make_qos(reliable=True, depth=10)]
    writer = BagWriter(out, storage=storage)
    try:
        writer.add_topic(image_topic, msgs.COMPRESSED_IMAGE if compressed else msgs.IMAGE, qos)
        writer.add_topic(label_topic, msgs.LABEL, qos)
        for frame in frames:
            try:
                array = frame.load()
            except (OSError, ValueError) as err:
                skipped[f"unreadable image ({type(err).__name__})"] += 1
                continue
            array, box, lms = _prepare(array, frame, resize, encoding)
            raw = (
                msgs.compressed_image(array, stamp, frame_id, encoding)
                if compressed
                else msgs.image(array, stamp, frame_id, encoding)
            )
            writer.write(image_topic, stamp, raw)
            writer.write(
                label_topic,
                stamp,
                msgs.label(frame.label, stamp, frame_id, frame.source, box, lms),
            )
            counts["unknown" if frame.label < 0 else L.EMOTIONS_8[frame.label]] += 1
            result.frames += 1
            stamp += period
    finally:
        writer.close()
    if result.frames == 0:
        raise BagError(f"{source}: no frame could be read (bag {out} is empty)")
    result.labels = dict(sorted(counts.items()))
    result.skipped = dict(skipped)
    return result


def _prepare(
    array: np.ndarray, frame: Frame, resize: tuple[int, int] | None, encoding: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Convert to the output encoding and size; scale the box and landmarks with the image."""
    if array.ndim == 2:
        array = cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    box = None if frame.box is None else np.asarray(frame.box, np.float32).copy()
    lms = None if frame.landmarks is None else np.asarray(frame.landmarks, np.float32).copy()
    if resize is not None:
        h, w = array.shape[:2]
        sx, sy = resize[0] / w, resize[1] / h
        array = cv2.resize(array, resize, interpolation=cv2.INTER_AREA)
        if box is not None:
            box *= np.array([sx, sy, sx, sy], np.float32)
        if lms is not None:
            lms *= np.array([sx, sy], np.float32)
    if encoding == "mono8":
        array = cv2.cvtColor(array, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(array), box, lms
