"""Frame sources for the camera node (emotionaldan_ros.core.sources)."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core import sources
from emotionaldan_ros.core.sources import (
    DeviceSource,
    FrameSource,
    ImageSequenceSource,
    SourceError,
    VideoFileSource,
    demo_dir,
    open_source,
)


def coded_frame(k: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A frame whose mean grey level encodes k (survives JPEG and video compression)."""
    width, height = size
    return np.full((height, width, 3), 20 + 10 * k, np.uint8)


def level(frame: np.ndarray) -> int:
    return round((float(frame.mean()) - 20) / 10)


@pytest.fixture
def folder(tmp_path):
    """frame_1 … frame_12 as PNG (natural order differs from lexical order)."""
    for k in range(1, 13):
        cv2.imwrite(str(tmp_path / f"frame_{k}.png"), coded_frame(k))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_in_natural_order_then_clean_end(folder):
    with open_source(str(folder)) as source:
        assert isinstance(source, FrameSource) and source.frame_count == 12
        assert source.fps is None
        frames = list(source)
    assert [level(f) for f in frames] == list(range(1, 13))
    assert all(f.dtype == np.uint8 and f.shape == (48, 64, 3) for f in frames)
    assert source.frames_read == 12 and source.skipped == 0
    with pytest.raises(StopIteration):
        next(source)


def test_glob_selects_matching_images(folder):
    cv2.imwrite(str(folder / "other.jpg"), coded_frame(0))
    source = open_source(str(folder / "frame_1*.png"))
    assert [level(f) for f in source] == [1, 10, 11, 12]


def test_loop_restarts_and_resize(folder):
    source = open_source(str(folder / "frame_?.png"), loop=True, size=(32, 24))
    levels = [level(next(source)) for _ in range(20)]
    assert levels == [*range(1, 10), *range(1, 10), 1, 2]
    assert next(source).shape == (24, 32, 3)
    source.close()
    with pytest.raises(StopIteration):
        next(source)


def test_corrupt_images_are_skipped_and_counted(folder, caplog):
    (folder / "frame_3.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # corrupt
    data = cv2.imencode(".jpg", coded_frame(5))[1].tobytes()
    (folder / "frame_5.png").write_bytes(data[: len(data) // 2])  # truncated (jpeg in .png)
    (folder / "frame_7.png").write_bytes(b"")  # empty
    with caplog.at_level(logging.WARNING, logger="emotionaldan_ros.core.sources"):
        source = open_source(str(folder), loop=True)
        levels = [level(next(source)) for _ in range(18)]
    assert levels == [1, 2, 4, 6, 8, 9, 10, 11, 12] * 2
    assert source.skipped == 3  # counted once each, not once per loop
    assert source.frame_count == 9
    assert sum("skipping unreadable image" in r.message for r in caplog.records) == 3


def test_folder_with_only_unreadable_images(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"junk")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(SourceError, match="none of the 2 images could be read"):
        open_source(str(tmp_path))


def test_empty_folder_and_empty_glob(tmp_path):
    with pytest.raises(SourceError, match="has no images"):
        open_source(str(tmp_path))
    with pytest.raises(SourceError, match="no images match"):
        open_source(str(tmp_path / "*.jpg"))


def test_missing_path():
    with pytest.raises(
        SourceError, match=r"no such file or folder: /nonexistent/x\.mp4; use source"
    ):
        open_source("/nonexistent/x.mp4")
    with pytest.raises(SourceError, match="empty source"):
        open_source("  ")


def test_single_image_is_a_still_camera(folder):
    source = open_source(str(folder / "frame_4.png"), loop=True)
    assert [level(next(source)) for _ in range(3)] == [4, 4, 4]
    assert [level(f) for f in open_source(str(folder / "frame_4.png"))] == [4]


def test_missing_device_error_names_alternatives(monkeypatch):
    monkeypatch.setattr(sources, "list_video_devices", lambda: [])
    with pytest.raises(SourceError) as err:
        open_source("/dev/video63")
    assert str(err.value) == (
        "camera device /dev/video63 not found; available: none; "
        "use source:=demo for the bundled footage"
    )
    monkeypatch.setattr(sources, "list_video_devices", lambda: ["/dev/video0", "/dev/video2"])
    with pytest.raises(SourceError, match="/dev/video63 not found; available: /dev/video0, /dev"):
        open_source("63")


def test_device_that_cannot_be_opened(monkeypatch):
    # Pretend the node exists: OpenCV then fails to open it, which must also be a SourceError.
    monkeypatch.setattr(sources, "list_video_devices", lambda: ["/dev/video63"])
    with pytest.raises(SourceError, match="cannot open camera device /dev/video63"):
        DeviceSource("63")


def test_demo_source_yields_frames():
    folder = demo_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (folder / "LICENSE.md").is_file()
    with open_source("demo") as source:
        assert isinstance(source, ImageSequenceSource)
        assert source.name == "demo" and source.fps == manifest["fps"]
        assert source.frame_count == manifest["frames"]
        first = next(source)
        assert first.shape == (manifest["height"], manifest["width"], 3)
        assert first.dtype == np.uint8 and first.std() > 10  # a real picture, not a blank
        count = 1 + sum(1 for _ in source)
    assert count == manifest["frames"] and source.skipped == 0


def test_demo_has_face_and_no_face_segments():
    manifest = json.loads((demo_dir() / "manifest.json").read_text())
    segments = manifest["segments"]
    assert any(not s["faces"] for s in segments) and any(s["faces"] for s in segments)
    covered = sorted(i for s in segments for i in range(s["first"], s["last"] + 1))
    assert covered == list(range(manifest["frames"]))


@pytest.mark.parametrize(("suffix", "fourcc"), [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video_file_round_trip(tmp_path, suffix, fourcc):
    path = tmp_path / f"clip{suffix}"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 12.0, (64, 48))
    assert writer.isOpened()
    for k in range(8):
        writer.write(coded_frame(k))
    writer.release()
    with open_source(str(path)) as source:
        assert isinstance(source, VideoFileSource)
        assert source.fps == pytest.approx(12.0)
        frames = list(source)
    assert [level(f) for f in frames] == list(range(8))
    assert frames[0].shape == (48, 64, 3)
    looped = open_source(str(path), loop=True, size=(32, 24))
    levels = [level(next(looped)) for _ in range(11)]
    looped.close()
    assert levels == [*range(8), 0, 1, 2]


def test_unreadable_video_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(SourceError, match=r"broken\.mp4"):
        open_source(str(bad))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SourceError, match="cannot open video"):
        open_source(str(text))


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (10.5, 10), (10,), "640x480"])
def test_bad_size(folder, size):
    with pytest.raises(ValueError, match="size"):
        open_source(str(folder), size=size)
