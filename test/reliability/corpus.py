"""Fuzz corpus of test/reliability: bad images, faces, emotions and parameters (deterministic).

Every case is plain data (no rclpy import here) with what the graph must do with it:

- `ImageCase`: the fields of a `sensor_msgs/Image` (or, with `compressed`, a `CompressedImage`
  format and data). `usable` cases are odd but valid images that a node must process (a result
  message for that frame); the others must be dropped and counted as `dropped_bad_image`.
- `FacesCase`: the face boxes of a `Faces` message for a 320x240 frame, and how many of them the
  EmotionalDAN node must keep (the others are counted drops: `dropped_bad_roi`, ...).
- `EmotionCase`: an `EmotionArray` payload for the fear monitor, and how many faces it must use.
- `ParamCase`: a runtime parameter change that must be refused with a reason.

`python test/reliability/corpus.py` prints the corpus as a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

U32_MAX = 2**32 - 1
GOOD_SIZE = (240, 320)  # height, width of the frames the faces and emotions refer to


@dataclass(frozen=True)
class ImageCase:
    """One image message.

    Attributes:
        name: short identifier (test ids, reports).
        encoding: `Image.encoding` (or `CompressedImage.format` when `compressed`).
        height: rows.
        width: columns.
        step: bytes per row.
        data: the bytes.
        is_bigendian: `Image.is_bigendian` (uint8 on the wire).
        usable: a valid image the node must process; False: must be dropped and counted.
        compressed: a `sensor_msgs/CompressedImage` (only `encoding` = format and `data` matter).
    """

    name: str
    encoding: str
    height: int
    width: int
    step: int
    data: bytes
    is_bigendian: int = 0
    usable: bool = False
    compressed: bool = False


def _dense(name: str, array: np.ndarray, encoding: str, **kw: object) -> ImageCase:
    """A consistent message of `array` (dense rows, native little-endian order)."""
    h, w = array.shape[:2]
    step = array.strides[0] if array.flags.c_contiguous else w * array[0, 0].nbytes
    data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return ImageCase(name, encoding, h, w, int(step), data, **kw)  # type: ignore[arg-type]


def _noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def image_cases() -> list[ImageCase]:
    """Malformed and odd images, deterministic."""
    h, w = GOOD_SIZE
    good = np.full((h, w, 3), 128, np.uint8)
    row = w * 3
    raw = good.tobytes()
    floats = np.random.default_rng(1).standard_normal((48, 64)).astype(np.float32)
    floats[0, :8] = [np.nan, np.inf, -np.inf, np.nan, 1e30, -1e30, 0.0, np.nan]
    big16 = (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 13).astype(">u2")
    padded = np.zeros((h, row + 7), np.uint8)
    padded[:, :row] = good.reshape(h, row)
    jpeg = cv2.imencode(".jpg", good)[1].tobytes()
    png = cv2.imencode(".png", good)[1].tobytes()
    bad = [
        ImageCase("truncated", "bgr8", h, w, row, raw[:100]),
        ImageCase("one_byte_short", "bgr8", h, w, row, raw[:-1]),
        ImageCase("too_long", "bgr8", h, w, row, raw + b"\0"),
        ImageCase("step_smaller_than_row", "bgr8", h, w, 10, raw[: 10 * h]),
        ImageCase("step_zero", "bgr8", h, w, 0, b""),
        ImageCase("zero_width", "bgr8", h, 0, 0, b""),
        ImageCase("zero_height", "bgr8", 0, w, row, b""),
        ImageCase("empty_0x0", "bgr8", 0, 0, 0, b""),
        ImageCase("empty_encoding", "", h, w, row, raw),
        ImageCase("unknown_encoding", "bgr9", h, w, row, raw),
        ImageCase("non_ascii_encoding", "bgr8\u00e9", h, w, row, raw),
        ImageCase("encoding_case", "BGR8", h, w, row, raw),
        ImageCase("wrong_encoding_for_size", "32FC4", h, w, row, raw),
        ImageCase("two_channel", "16UC2", 8, 8, 32, bytes(256)),
        ImageCase("yuv422_odd_width", "yuv422", 4, 5, 10, bytes(40)),
        ImageCase("huge_dims_tiny_data", "bgr8", U32_MAX, U32_MAX, U32_MAX, raw[:64]),
        ImageCase("step_overflow", "mono8", 2, 2, U32_MAX, bytes(4)),
        ImageCase("width_overflow", "bgr8", 1, 2**31, 2**31, bytes(64)),
        ImageCase("jpeg_empty", "jpeg", 0, 0, 0, b"", compressed=True),
        ImageCase("jpeg_garbage", "jpeg", 0, 0, 0, bytes(range(256)) * 8, compressed=True),
        ImageCase("jpeg_truncated", "jpeg", 0, 0, 0, jpeg[: len(jpeg) // 3], compressed=True),
        ImageCase("jpeg_magic_only", "jpeg", 0, 0, 0, b"\xff\xd8\xff", compressed=True),
        ImageCase("png_labelled_jpeg", "jpeg", 0, 0, 0, png, compressed=True),
        ImageCase("png_truncated", "png", 0, 0, 0, png[: len(png) // 2], compressed=True),
        ImageCase("compressed_depth", "16UC1; compressedDepth", 0, 0, 0, png, compressed=True),
        ImageCase("unknown_format", "webp", 0, 0, 0, jpeg, compressed=True),
        ImageCase("empty_format", "", 0, 0, 0, jpeg, compressed=True),
    ]
    usable = [
        _dense("tall_1x10000", np.full((10000, 1, 3), 90, np.uint8), "bgr8", usable=True),
        _dense("wide_10000x1", np.full((1, 10000, 3), 90, np.uint8), "bgr8", usable=True),
        _dense("strip_5x4000", _noise((5, 4000, 3), 2), "bgr8", usable=True),
        _dense("one_pixel", np.zeros((1, 1, 3), np.uint8), "bgr8", usable=True),
        _dense("two_by_two_mono", np.zeros((2, 2), np.uint8), "mono8", usable=True),
        _dense("noise_bgr8", _noise((h, w, 3), 3), "bgr8", usable=True),
        _dense("all_white_rgb8", np.full((h, w, 3), 255, np.uint8), "rgb8", usable=True),
        _dense("bgra8", _noise((48, 64, 4), 4), "bgra8", usable=True),
        ImageCase("padded_rows", "bgr8", h, w, row + 7, padded.tobytes(), usable=True),
        ImageCase("bgr8_bigendian_flag", "bgr8", h, w, row, raw, is_bigendian=255, usable=True),
        ImageCase(
            "mono16_bigendian", "mono16", 48, 64, 128, big16.tobytes(), is_bigendian=1, usable=True
        ),
        _dense("float32_nan_inf", floats, "32FC1", usable=True),
        _dense(
            "float64_colour",
            floats.astype(np.float64)[..., None].repeat(3, 2),
            "64FC3",
            usable=True,
        ),
        _dense(
            "signed8",
            (_noise((48, 64), 5).astype(np.int16) - 128).astype(np.int8),
            "8SC1",
            usable=True,
        ),
        _dense("signed32_constant", np.full((48, 64), -7, np.int32), "32SC1", usable=True),
        _dense("yuyv", _noise((48, 64, 2), 6), "yuyv", usable=True),
        ImageCase(
            "jpeg_format_string",
            "bgr8; jpeg compressed bgr8",
            0,
            0,
            0,
            jpeg,
            usable=True,
            compressed=True,
        ),
        ImageCase("png", "png", 0, 0, 0, png, usable=True, compressed=True),
    ]
    return bad + usable


@dataclass(frozen=True)
class FacesCase:
    """The faces of one `Faces` message for a 320x240 frame.

    Attributes:
        name: short identifier.
        faces: (id, x_offset, y_offset, width, height, score) per face.
        kept: how many faces the EmotionalDAN node must turn into emotions.
        drop_keys: drop counters that must grow (by the number of faces not kept).
    """

    name: str
    faces: tuple[tuple[int, int, int, int, int, float], ...]
    kept: int
    drop_keys: tuple[str, ...] = field(default=())


def faces_cases() -> list[FacesCase]:
    """Bad face boxes and scores."""
    ok = (1, 40, 40, 60, 60, 0.9)
    return [
        FacesCase("no_faces", (), 0),
        FacesCase("outside_image", ((1, 1000, 1000, 50, 50, 0.9), ok), 1, ("dropped_bad_roi",)),
        FacesCase(
            "zero_area",
            ((1, 10, 10, 0, 40, 0.9), (2, 10, 10, 40, 0, 0.9)),
            0,
            ("dropped_bad_roi",),
        ),
        FacesCase("one_pixel_box", ((1, 10, 10, 1, 1, 0.9),), 0, ("dropped_bad_roi",)),
        FacesCase(
            "max_offsets", ((1, U32_MAX, U32_MAX, U32_MAX, U32_MAX, 0.9),), 0, ("dropped_bad_roi",)
        ),
        FacesCase("huge_box_clipped", ((1, 0, 0, U32_MAX, U32_MAX, 0.9),), 1),
        FacesCase("partly_outside", ((1, 300, 200, 100, 100, 0.9),), 1),
        FacesCase("duplicate_ids", ((7, 20, 20, 50, 50, 0.9), (7, 150, 20, 50, 50, 0.8)), 2),
        FacesCase("max_id", ((U32_MAX, 20, 20, 50, 50, 0.9),), 1),
    ]


@dataclass(frozen=True)
class EmotionCase:
    """One `EmotionArray` for the fear monitor.

    Attributes:
        name: short identifier.
        probabilities: per face, the `probabilities` array.
        used: how many faces update a passenger (the others are counted drops).
        stamp: header stamp (sec, nanosec).
    """

    name: str
    probabilities: tuple[tuple[float, ...], ...]
    used: int
    stamp: tuple[int, int] = (100, 0)


def emotion_cases() -> list[EmotionCase]:
    """Malformed emotions: short or empty probabilities, NaN, inf, out of [0, 1], many faces."""
    fine = (0.1, 0.1, 0.1, 0.1, 0.5, 0.05, 0.05)
    nan, inf = math.nan, math.inf
    return [
        EmotionCase("empty_array", (), 0),
        EmotionCase("no_probabilities", ((),), 0),
        EmotionCase("too_short", ((0.5, 0.5, 0.0),), 0),
        EmotionCase("nan_fear", ((0.1, 0.1, 0.1, 0.1, nan, 0.1, 0.1),), 0),
        EmotionCase("inf_fear", ((0.1, 0.1, 0.1, 0.1, inf, 0.1, 0.1),), 0),
        EmotionCase("negative_fear", ((0.1, 0.1, 0.1, 0.1, -0.5, 0.1, 0.1),), 0),
        EmotionCase("fear_above_one", ((0.1, 0.1, 0.1, 0.1, 3.0, 0.1, 0.1),), 0),
        EmotionCase("eight_classes", ((*fine, 0.0),), 1),
        EmotionCase("many_faces", (fine,) * 200, 200),
        EmotionCase("zero_stamp", (fine,), 1, stamp=(0, 0)),
        EmotionCase("far_future_stamp", (fine,), 1, stamp=(2**31 - 1, 999_999_999)),
    ]


@dataclass(frozen=True)
class ParamCase:
    """A runtime parameter change that must be refused.

    Attributes:
        node: graph node name.
        name: parameter.
        value: the refused value.
    """

    node: str
    name: str
    value: object


def param_cases() -> list[ParamCase]:
    """Wrong types, out of range, NaN / inf, unknown choices and read-only parameters."""
    nan, inf = math.nan, math.inf
    return [
        ParamCase("camera", "fps", -1.0),
        ParamCase("camera", "fps", nan),
        ParamCase("camera", "fps", inf),
        ParamCase("camera", "fps", "fast"),
        ParamCase("camera", "width", -5),
        ParamCase("camera", "jpeg_quality", 0),
        ParamCase("camera", "source", "/dev/video9"),  # read-only
        ParamCase("face_detector", "min_face_size", 0),
        ParamCase("face_detector", "max_faces", 10**6),
        ParamCase("face_detector", "score_threshold", nan),
        ParamCase("face_detector", "score_threshold", 1.5),
        ParamCase("face_detector", "track_iou", "high"),
        ParamCase("face_detector", "detector", "nope"),
        ParamCase("face_detector", "min_input_rate_hz", -inf),
        ParamCase("emotionaldan", "pair_cache_size", 0),
        ParamCase("emotionaldan", "pair_cache_size", 1.5),
        ParamCase("emotionaldan", "publish_landmarks", "yes"),
        ParamCase("emotionaldan", "backend", "python:os:system"),
        ParamCase("emotionaldan", "surprise_valence", "maybe"),
        ParamCase("fear_monitor", "enter_threshold", 2.0),
        ParamCase("fear_monitor", "exit_threshold", 0.9),  # above enter_threshold
        ParamCase("fear_monitor", "smoothing_tau_s", nan),
        ParamCase("fear_monitor", "fear_speed_factor", 0.0),
    ]


def _print() -> None:
    for case in image_cases():
        kind = "CompressedImage" if case.compressed else "Image"
        verdict = "processed" if case.usable else "dropped"
        print(f"image    {case.name:<26} {kind:<15} {case.encoding[:26]!r:<28} {verdict}")
    for case in faces_cases():
        print(f"faces    {case.name:<26} {len(case.faces)} faces, {case.kept} kept")
    for case in emotion_cases():
        print(f"emotion  {case.name:<26} {len(case.probabilities)} faces, {case.used} used")
    for case in param_cases():
        print(f"param    {case.node}.{case.name} = {case.value!r}: refused")


if __name__ == "__main__":
    _print()
