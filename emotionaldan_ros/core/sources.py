"""Frame sources for the camera node: V4L2 devices, video files, image folders/globs, demo footage.

`open_source(spec)` picks the source from a string, as a user types it on the command line:

- `"demo"`: the bundled footage (`emotionaldan_ros/assets/demo`, 10 frames/s, see its LICENSE.md);
- `"0"`, `"2"`: a V4L2 device index; `"/dev/video0"`, `"/dev/v4l/by-id/..."`: a device path;
- a folder: every image in it (jpg, jpeg, png, bmp, tif, tiff, webp, pgm, ppm), in natural order
  (`frame_2` before `frame_10`);
- a glob such as `"frames/*.jpg"`: the matching images, natural order;
- an image file: that one image (a still "camera", useful with `loop=True`);
- any other file: a video read with OpenCV's FFmpeg backend (mp4, avi, mkv, ...);
- a URL (`rtsp://`, `http://`, ...): a network stream through FFmpeg.

Every source is an iterator of (H, W, 3) BGR uint8 frames with `name`, `fps` (native rate if
known), `frame_count` (if known), `skipped` (unreadable images passed over), `close()` and
context-manager support. The first frame is read when the source opens, so a missing device, an
unreadable file or a folder with no readable image fails at once with `SourceError`.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "DeviceSource",
    "FrameSource",
    "ImageSequenceSource",
    "SourceError",
    "VideoFileSource",
    "demo_dir",
    "list_video_devices",
    "open_source",
]

LOG = logging.getLogger(__name__)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
)
DEMO_HINT = "use source:=demo for the bundled footage"
# Consecutive failed reads after which a live camera counts as lost.
DEVICE_MAX_FAILED_READS = 5


class SourceError(RuntimeError):
    """A frame source that cannot be opened or read."""


class FrameSource(ABC, Iterator[np.ndarray]):
    """Iterator of BGR uint8 frames.

    Subclasses implement `_read` (next raw frame or None at the end), `_rewind` (restart for
    `loop`) and `_release`; they call `_prime()` at the end of `__init__`.

    Attributes:
        name: human-readable description ("demo", "camera /dev/video0", a path).
        fps: native frame rate if the source knows one, else None.
        frame_count: frames per pass if known (files, folders), else None.
        loop: restart at the end of files and folders (ignored by devices).
        size: (width, height) every frame is resized to, or None for native size.
        frames_read: frames delivered so far.
        skipped: unreadable images passed over (folders and globs).
    """

    def __init__(
        self, name: str, loop: bool, size: tuple[int, int] | None, fps: float | None = None
    ) -> None:
        self.name = name
        self.loop = bool(loop)
        self.size = _check_size(size)
        self.fps = fps if fps is not None and math.isfinite(fps) and fps > 0 else None
        self.frame_count: int | None = None
        self.frames_read = 0
        self.skipped = 0
        self._pending: np.ndarray | None = None
        self._closed = False
        self._ended = False

    @abstractmethod
    def _read(self) -> np.ndarray | None:
        """The next frame, or None at the end of the stream."""

    def _rewind(self) -> bool:
        """Go back to the first frame; False if this source cannot."""
        return False

    def _release(self) -> None:
        """Free OS resources."""

    def _prime(self) -> None:
        """Read the first frame now, so that an unusable source fails at open time."""
        frame = self._read()
        if frame is None:
            self._release()
            raise SourceError(f"{self.name}: no frame could be read")
        self._pending = frame

    def __next__(self) -> np.ndarray:
        if self._closed or self._ended:
            raise StopIteration
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            frame = self._read()
            if frame is None and self.loop and self._rewind():
                frame = self._read()
        if frame is None:
            self._ended = True
            raise StopIteration
        self.frames_read += 1
        return self._fit(frame)

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if self.size is not None and (frame.shape[1], frame.shape[0]) != self.size:
            shrink = frame.shape[1] > self.size[0]
            frame = cv2.resize(
                frame, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        return frame

    def close(self) -> None:
        """Release the source; iteration then stops."""
        if not self._closed:
            self._closed = True
            self._pending = None
            self._release()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fps={self.fps}, loop={self.loop})"


class ImageSequenceSource(FrameSource):
    """Images from a list of files, in the given order; unreadable ones are skipped and counted.

    Args:
        paths: image files.
        name: description for logs.
        loop: start again after the last image.
        size: (width, height) to resize to, or None.
        fps: nominal rate, if the sequence has one (the demo footage does).
    """

    def __init__(
        self,
        paths: list[Path],
        name: str,
        loop: bool = False,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__(name, loop, size, fps)
        if not paths:
            raise SourceError(f"{name}: no images")
        self._paths = list(paths)
        self._index = 0
        self.frame_count = len(self._paths)
        self._prime()

    def _read(self) -> np.ndarray | None:
        while self._index < len(self._paths):
            path = self._paths[self._index]
            frame = _imread(path)
            if frame is not None:
                self._index += 1
                return frame
            # Drop it so that a looping sequence does not count the same file again.
            del self._paths[self._index]
            self.skipped += 1
            self.frame_count = len(self._paths)
            LOG.warning("%s: skipping unreadable image %s (%d skipped)", self.name, path,
                        self.skipped)  # fmt: skip
        if not self._paths:
            raise SourceError(f"{self.name}: none of the {self.skipped} images could be read")
        return None

    def _rewind(self) -> bool:
        self._index = 0
        return bool(self._paths)


class _CaptureSource(FrameSource):
    """Common part of OpenCV VideoCapture sources."""

    _capture: cv2.VideoCapture | None = None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class VideoFileSource(_CaptureSource):
    """A video file (or stream URL) decoded by OpenCV/FFmpeg.

    Args:
        path: the file or URL.
        loop: reopen at the end (files only).
        size: (width, height) to resize to, or None.
    """

    def __init__(self, path: str, loop: bool = False, size: tuple[int, int] | None = None) -> None:
        super().__init__(path, loop, size)
        self._path = path
        self._capture = self._open()
        self.fps = _positive(self._capture.get(cv2.CAP_PROP_FPS))
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if count and count > 0 and math.isfinite(count) else None
        try:
            self._prime()
        except SourceError:
            raise SourceError(f"video {path}: opened but no frame could be decoded") from None

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self._path, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open video {self._path}: not a video OpenCV can decode")
        return capture

    def _read(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, frame = self._capture.read()
        return frame if ok and frame is not None and frame.size else None

    def _rewind(self) -> bool:
        if "://" in self._path:
            return False  # a live stream has no start to go back to
        self._release()
        self._capture = self._open()
        return True


class DeviceSource(_CaptureSource):
    """A V4L2 camera.

    Args:
        device: index ("0") or path ("/dev/video0").
        size: (width, height): requested from the driver and enforced by resizing; or None.
        fps: rate to request from the driver, or None for its default.
    """

    def __init__(
        self, device: str, size: tuple[int, int] | None = None, fps: float | None = None
    ) -> None:
        path = f"/dev/video{device}" if device.isdigit() else device
        super().__init__(f"camera {path}", False, size)
        available = list_video_devices()
        if sys.platform.startswith("linux") and path not in available and not Path(path).exists():
            listed = ", ".join(available) if available else "none"
            raise SourceError(f"camera device {path} not found; available: {listed}; {DEMO_HINT}")
        target: int | str = int(device) if device.isdigit() else path
        capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot open camera device {path} (busy, no permission, or not a capture "
                f"device?); {DEMO_HINT}"
            )
        self._capture = capture
        if self.size is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if fps:
            capture.set(cv2.CAP_PROP_FPS, float(fps))
        self.fps = _positive(capture.get(cv2.CAP_PROP_FPS))
        self._failed = 0
        try:
            self._prime()
        except SourceError:
            raise SourceError(f"camera device {path} opened but delivered no frame") from None

    def _read(self) -> np.ndarray | None:
        while self._capture is not None:
            ok, frame = self._capture.read()
            if ok and frame is not None and frame.size:
                self._failed = 0
                return frame
            self._failed += 1
            if self._failed >= DEVICE_MAX_FAILED_READS:
                if self.frames_read == 0 and self._pending is None:
                    return None  # during open: reported by _prime
                raise SourceError(
                    f"{self.name}: {self._failed} reads failed in a row (unplugged?)"
                )
        return None


def demo_dir() -> Path:
    """Folder of the bundled demo footage."""
    return Path(str(resources.files("emotionaldan_ros") / "assets" / "demo"))


def list_video_devices() -> list[str]:
    """V4L2 capture device nodes present on this machine (`/dev/video*`), natural order."""
    return sorted(glob.glob("/dev/video*"), key=_natural_key)


def open_source(spec: str, loop: bool = False, size: tuple[int, int] | None = None) -> FrameSource:
    """Open a frame source from a user string (see the module docstring for the forms).

    Args:
        spec: "demo", a device index or path, a folder, a glob, an image, a video file or a URL.
        loop: restart files, folders and the demo at their end (devices ignore it).
        size: (width, height) every frame is resized to, or None for native size.

    Raises:
        SourceError: nothing usable at `spec`, with what was wrong and what to try instead.
        ValueError: a bad `size`.
    """
    size = _check_size(size)
    spec = str(spec).strip()
    if not spec:
        raise SourceError(f"empty source; {DEMO_HINT}")
    if spec == "demo":
        return _open_demo(loop, size)
    if spec.isdigit() or spec.startswith("/dev/"):
        return DeviceSource(spec, size)
    if "://" in spec:
        return VideoFileSource(spec, loop, size)
    path = Path(spec).expanduser()
    if path.is_dir():
        images = _images_in(path.glob("*"))
        if not images:
            raise SourceError(
                f"folder {path} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return ImageSequenceSource(images, str(path), loop, size)
    if glob.has_magic(spec):
        matches = [Path(p) for p in glob.glob(str(path))]
        images = _images_in(matches)
        if not images:
            raise SourceError(f"no images match {spec!r} ({len(matches)} files matched)")
        return ImageSequenceSource(images, spec, loop, size)
    if not path.exists():
        raise SourceError(f"no such file or folder: {spec}; {DEMO_HINT}")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSequenceSource([path], str(path), loop, size)
    return VideoFileSource(str(path), loop, size)


def _open_demo(loop: bool, size: tuple[int, int] | None) -> ImageSequenceSource:
    folder = demo_dir()
    frames = sorted(folder.glob("frame_*.jpg"), key=lambda p: _natural_key(p.name))
    if not frames:
        raise SourceError(f"demo footage missing: no frame_*.jpg in {folder} (broken install?)")
    fps = None
    manifest = folder / "manifest.json"
    if manifest.is_file():
        fps = float(json.loads(manifest.read_text()).get("fps", 0)) or None
    return ImageSequenceSource(frames, "demo", loop, size, fps)


def _images_in(paths: object) -> list[Path]:
    files = [p for p in paths if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: _natural_key(str(p)))


def _natural_key(text: str) -> list[object]:
    """Sort key where digit runs compare as numbers: frame_2 < frame_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _imread(path: Path) -> np.ndarray | None:
    """Read an image as BGR (None if unreadable); works with non-ASCII paths."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _positive(value: float) -> float | None:
    return float(value) if value and math.isfinite(value) and value > 0 else None


def _check_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if width <= 0 or height <= 0 or (width, height) != tuple(size):
        raise ValueError(f"size must be two positive integers (width, height), got {size!r}")
    return width, height
