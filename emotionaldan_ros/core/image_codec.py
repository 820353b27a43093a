"""ROS-free conversion between `sensor_msgs/Image` fields and numpy arrays.

pip-installed ROS 2 has no `cv_bridge`, so the nodes convert images here. The functions take and
return plain values (encoding string, sizes, bytes), never messages, so they are testable without
ROS and the nodes stay thin:

    array = image_to_numpy(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                           msg.data)
    bgr = to_bgr8(msg.encoding, array)

Supported encodings (ROS `sensor_msgs/image_encodings` names):

- colour / mono: bgr8, rgb8, bgra8, rgba8, mono8, mono16, bgr16, rgb16, bgra16, rgba16;
- packed YUV 4:2:2: yuv422 / uyvy (byte order U Y0 V Y1), yuv422_yuy2 / yuyv (Y0 U Y1 V);
- generic OpenCV types: {8U, 8S, 16U, 16S, 32S, 32F, 64F} x C{1, 2, 3, 4}, e.g. 8UC3, 16UC1.

`to_bgr8` turns every one of them into BGR uint8 except the two-channel generic types (xxC2,
which have no colour meaning): signed and floating-point images are stretched per frame for the
vision code (see `to_bgr8`).

Bad messages raise `ImageDecodeError` (a `ValueError`) naming the field at fault.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "ImageDecodeError",
    "ImageFields",
    "compressed_format",
    "compressed_image_size",
    "decode_compressed",
    "encode_compressed",
    "encoding_info",
    "image_to_numpy",
    "numpy_to_image",
    "supported_encodings",
    "to_bgr8",
]


class ImageDecodeError(ValueError):
    """An image message (or compressed image) that cannot be turned into pixels."""


@dataclass(frozen=True)
class EncodingInfo:
    """Memory layout of one encoding.

    Attributes:
        dtype: element type (native byte order).
        channels: elements per pixel (2 for packed YUV 4:2:2: one chroma and one luma byte).
    """

    dtype: np.dtype
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        """Bytes one pixel occupies in a row."""
        return self.dtype.itemsize * self.channels


@dataclass(frozen=True)
class ImageFields:
    """The fields of a `sensor_msgs/Image` other than the header.

    Attributes:
        encoding: ROS encoding name.
        height: rows.
        width: columns.
        step: bytes per row.
        is_bigendian: 1 if multi-byte elements are stored big-endian.
        data: the pixels, `step * height` bytes.
    """

    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: int
    data: bytes


_NAMED: dict[str, tuple[str, int]] = {
    "bgr8": ("u1", 3),
    "rgb8": ("u1", 3),
    "bgra8": ("u1", 4),
    "rgba8": ("u1", 4),
    "mono8": ("u1", 1),
    "mono16": ("u2", 1),
    "bgr16": ("u2", 3),
    "rgb16": ("u2", 3),
    "bgra16": ("u2", 4),
    "rgba16": ("u2", 4),
    # Packed 4:2:2, two bytes per pixel; "yuv422" is UYVY in ROS, "yuv422_yuy2" is YUYV.
    "yuv422": ("u1", 2),
    "uyvy": ("u1", 2),
    "yuv422_yuy2": ("u1", 2),
    "yuyv": ("u1", 2),
}
_YUV_ENCODINGS = {
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
}
_CV_DEPTHS = {
    "8U": "u1",
    "8S": "i1",
    "16U": "u2",
    "16S": "i2",
    "32S": "i4",
    "32F": "f4",
    "64F": "f8",
}
_CV_TYPE = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")
# Colour order of each encoding as seen by to_bgr8: generic xxC3 / xxC4 types are taken as
# BGR / BGRA (as cv_bridge does for 8UC3 / 8UC4), xxC1 as gray; xxC2 has no colour meaning.
_GENERIC_TO_BGR = {1: cv2.COLOR_GRAY2BGR, 3: None, 4: cv2.COLOR_BGRA2BGR}
_TO_BGR = {
    "bgr8": None,
    "rgb8": cv2.COLOR_RGB2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
    "mono16": cv2.COLOR_GRAY2BGR,
    "bgr16": None,
    "rgb16": cv2.COLOR_RGB2BGR,
    "bgra16": cv2.COLOR_BGRA2BGR,
    "rgba16": cv2.COLOR_RGBA2BGR,
} | {
    f"{depth}C{channels}": code
    for depth in _CV_DEPTHS
    for channels, code in _GENERIC_TO_BGR.items()
}


def encoding_info(encoding: str) -> EncodingInfo:
    """Layout of a ROS image encoding.

    Raises:
        ImageDecodeError: the encoding is not supported.
    """
    if encoding in _NAMED:
        code, channels = _NAMED[encoding]
        return EncodingInfo(np.dtype(code), channels)
    match = _CV_TYPE.match(encoding)
    if match:
        return EncodingInfo(np.dtype(_CV_DEPTHS[match.group(1)]), int(match.group(2)))
    raise ImageDecodeError(
        f"unsupported image encoding {encoding!r}; supported: {', '.join(sorted(_NAMED))} and "
        "OpenCV types {8U,8S,16U,16S,32S,32F,64F}C{1-4} (e.g. 8UC3, 16UC1)"
    )


def supported_encodings() -> list[str]:
    """Every encoding name that `image_to_numpy` accepts."""
    generic = [f"{depth}C{c}" for depth in _CV_DEPTHS for c in range(1, 5)]
    return sorted(_NAMED) + generic


def to_bgr8_encodings() -> list[str]:
    """Encodings that `to_bgr8` can turn into a BGR uint8 image."""
    return sorted([*_TO_BGR, *_YUV_ENCODINGS])


def _as_byte_array(data: object) -> np.ndarray:
    """View any bytes-like input as a flat uint8 array, without copying where possible."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)  # bytes, bytearray, memoryview, array.array
    except (TypeError, ValueError) as exc:
        raise ImageDecodeError(
            f"image data must be bytes-like (bytes, bytearray, array.array, memoryview or numpy "
            f"array), got {type(data).__name__}: {exc}"
        ) from exc


def image_to_numpy(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: int | bool,
    data: bytes | bytearray | memoryview | np.ndarray | object,
) -> np.ndarray:
    """Turn the fields of a `sensor_msgs/Image` into a numpy array.

    The result is a view of `data` whenever the byte order is native (row padding is skipped
    through strides, so padded rows are not copied either); big-endian 16/32/64-bit data on a
    little-endian host is byte-swapped into a new array. A view of read-only input (`bytes`) is
    read-only: copy it before drawing on it.

    Args:
        encoding: ROS encoding name (see the module docstring).
        height: rows.
        width: columns.
        step: bytes per row, at least `width * bytes_per_pixel`.
        is_bigendian: whether multi-byte elements are stored big-endian.
        data: the pixels; rclpy gives `array.array('B')`.

    Returns:
        (H, W) for one-channel encodings, else (H, W, C) in native byte order; packed YUV 4:2:2
        gives (H, W, 2) uint8 as stored.

    Raises:
        ImageDecodeError: unsupported encoding, empty image, `step` too small, data size not
            `step * height`, odd width for YUV 4:2:2.
    """
    info = encoding_info(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"empty image: {width}x{height} ({encoding})")
    row_bytes = width * info.bytes_per_pixel
    if step < row_bytes:
        raise ImageDecodeError(
            f"step {step} < width {width} x {info.bytes_per_pixel} bytes per pixel = {row_bytes} "
            f"({encoding})"
        )
    if encoding in _YUV_ENCODINGS and width % 2:
        raise ImageDecodeError(f"{encoding} packs pixel pairs; width must be even, got {width}")
    buf = _as_byte_array(data)
    if buf.size != step * height:
        problem = "truncated" if buf.size < step * height else "too long"
        raise ImageDecodeError(
            f"image data {problem}: {buf.size} bytes, expected step {step} x height {height} = "
            f"{step * height} ({encoding} {width}x{height})"
        )
    order = ">" if is_bigendian else "<"
    dtype = info.dtype.newbyteorder(order) if info.dtype.itemsize > 1 else info.dtype
    shape: tuple[int, ...] = (height, width, info.channels)
    strides: tuple[int, ...] = (step, info.bytes_per_pixel, info.dtype.itemsize)
    if info.channels == 1:
        shape, strides = shape[:2], strides[:2]
    array = np.ndarray(shape, dtype=dtype, buffer=buf, strides=strides)
    if not dtype.isnative:
        array = array.astype(info.dtype)  # byte swap (a copy) into native order
    return array


def numpy_to_image(
    array: np.ndarray, encoding: str, is_bigendian: bool | None = None
) -> ImageFields:
    """Pack a numpy image into `sensor_msgs/Image` fields (dense rows: `step = width * bpp`).

    Args:
        array: (H, W) or (H, W, C) image whose dtype and channel count match `encoding`.
        encoding: ROS encoding name.
        is_bigendian: byte order of the written data; None means the host's.

    Returns:
        The fields; assign them to a message (`msg.data = fields.data` works for rclpy).

    Raises:
        ImageDecodeError: unsupported encoding, empty image, or an array that does not match the
            encoding (dtype, channels, odd YUV width).
    """
    info = encoding_info(encoding)
    array = np.asarray(array)
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3:
        channels = array.shape[2]
    else:
        raise ImageDecodeError(f"image array must be (H, W) or (H, W, C), got shape {array.shape}")
    if channels != info.channels:
        raise ImageDecodeError(
            f"{encoding} needs {info.channels} channel(s), array has {channels} "
            f"(shape {array.shape})"
        )
    if array.dtype.base.newbyteorder("=") != info.dtype:
        raise ImageDecodeError(f"{encoding} needs dtype {info.dtype}, array has {array.dtype}")
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageDecodeError(f"empty image: {width}x{height} ({encoding})")
    if encoding in _YUV_ENCODINGS and width % 2:
        raise ImageDecodeError(f"{encoding} packs pixel pairs; width must be even, got {width}")
    big = sys.byteorder == "big" if is_bigendian is None else bool(is_bigendian)
    out = array.astype(info.dtype.newbyteorder(">" if big else "<"), copy=False)
    return ImageFields(
        encoding=encoding,
        height=int(height),
        width=int(width),
        step=int(width * info.bytes_per_pixel),
        is_bigendian=int(big),
        data=np.ascontiguousarray(out).tobytes(),
    )


def to_bgr8(
    encoding: str, array: np.ndarray, scale16: Literal["full", "minmax"] = "full"
) -> np.ndarray:
    """Convert an image from `image_to_numpy` into (H, W, 3) BGR uint8 for the vision code.

    bgr8 / 8UC3 input is returned as is (no copy; it may be read-only). 16-bit unsigned input is
    scaled to 8 bits: `"full"` maps 0..65535 onto 0..255 (stable across frames), `"minmax"`
    stretches each frame's own range (for IR / depth-like cameras that use only a few bits).
    Signed (8S, 16S, 32S) and floating-point (32F, 64F) input has no fixed range: each frame's
    finite values are stretched onto 0..255 (all channels together, so colours keep their
    balance; alpha is left out), NaN and infinite pixels become 0, a constant frame becomes
    black. Alpha is dropped.

    Raises:
        ImageDecodeError: a two-channel generic type (e.g. 16SC2, no colour meaning), or an array
            whose shape does not match the encoding.
    """
    info = encoding_info(encoding)
    expected = 2 if info.channels == 1 else 3
    if array.ndim != expected or (expected == 3 and array.shape[2] != info.channels):
        raise ImageDecodeError(f"array of shape {array.shape} does not match encoding {encoding}")
    if encoding in _YUV_ENCODINGS:
        if array.shape[1] % 2:
            raise ImageDecodeError(f"{encoding} width must be even, got {array.shape[1]}")
        return cv2.cvtColor(np.ascontiguousarray(array), _YUV_ENCODINGS[encoding])
    if encoding not in _TO_BGR:  # only the xxC2 generic types are left
        raise ImageDecodeError(
            f"cannot convert {encoding} to bgr8: two-channel images have no colour meaning; "
            f"convertible: {', '.join(to_bgr8_encodings())}"
        )
    if array.dtype == np.uint16:
        array = _scale16(array, scale16)
    code = _TO_BGR[encoding]
    if array.dtype not in (np.uint8, np.uint16):  # signed or floating point: 4 channels = BGRA
        if code == cv2.COLOR_BGRA2BGR:
            array, code = array[..., :3], None  # alpha does not take part in the stretch
        array = _stretch(array)
    if code is None:
        return array
    return cv2.cvtColor(np.ascontiguousarray(array), code)


def _scale16(array: np.ndarray, mode: str) -> np.ndarray:
    """16-bit → 8-bit, see `to_bgr8`."""
    if mode == "full":
        # x / 257 maps 65535 → 255 exactly, rounded to nearest (never a tie for integer x).
        return cv2.convertScaleAbs(array, alpha=1.0 / 257.0)
    if mode == "minmax":
        lo, hi = int(array.min()), int(array.max())
        if hi == lo:
            return np.zeros(array.shape, np.uint8)
        scaled = (array.astype(np.float32) - lo) * (255.0 / (hi - lo))
        return np.rint(scaled).astype(np.uint8)
    raise ValueError(f"scale16 must be 'full' or 'minmax', got {mode!r}")


def _stretch(array: np.ndarray) -> np.ndarray:
    """Finite values of a signed / float image onto 0..255 (min → 0, max → 255); others → 0."""
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(array.shape, np.uint8)
    lo, hi = values[finite].min(), values[finite].max()
    if hi == lo:
        return np.zeros(array.shape, np.uint8)
    scaled = np.where(finite, (values - lo) * (255.0 / (hi - lo)), 0.0)
    return np.rint(scaled).astype(np.uint8)


_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _compressed_kind(fmt: str) -> str:
    """'jpeg' or 'png' from a `CompressedImage.format` ('jpeg', 'bgr8; jpeg compressed bgr8')."""
    text = fmt.lower()
    if "compresseddepth" in text:
        raise ImageDecodeError(f"compressedDepth images are not supported (format {fmt!r})")
    if "png" in text:
        return "png"
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    raise ImageDecodeError(f"unsupported compressed format {fmt!r}; supported: jpeg, png")


# JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4 / C8 / CC are not frames.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def compressed_image_size(
    fmt: str, data: bytes | bytearray | memoryview | np.ndarray
) -> tuple[int, int] | None:
    """(width, height) a jpeg / png will decode to, read from its header without decoding.

    Lets a node refuse an oversized frame before OpenCV allocates it. None when the header cannot
    be read (unknown format, truncated or corrupt data: `decode_compressed` then says why).
    """
    try:
        kind = _compressed_kind(fmt)
    except ImageDecodeError:
        return None
    buf = _as_byte_array(data)
    if kind == "png":
        if buf.size < 24 or buf[:8].tobytes() != _PNG_MAGIC or buf[12:16].tobytes() != b"IHDR":
            return None
        return int.from_bytes(buf[16:20], "big"), int.from_bytes(buf[20:24], "big")
    if buf.size < 4 or buf[:3].tobytes() != _JPEG_MAGIC:
        return None
    i = 2
    while i + 4 <= buf.size:
        if buf[i] != 0xFF:
            return None
        marker = int(buf[i + 1])
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        length = int.from_bytes(buf[i + 2 : i + 4], "big")
        if marker in _JPEG_SOF:
            if i + 9 > buf.size:
                return None
            height = int.from_bytes(buf[i + 5 : i + 7], "big")
            width = int.from_bytes(buf[i + 7 : i + 9], "big")
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG
            return None
        i += 2 + length
    return None


def decode_compressed(fmt: str, data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Decode a `sensor_msgs/CompressedImage` (jpeg or png) into (H, W, 3) BGR uint8.

    Args:
        fmt: the message's `format` field ("jpeg", "png", "bgr8; jpeg compressed bgr8", ...).
        data: the compressed bytes.

    Raises:
        ImageDecodeError: unknown format, empty/corrupt/truncated data, or data of another
            format than `fmt` says.
    """
    kind = _compressed_kind(fmt)
    buf = _as_byte_array(data)
    if buf.size == 0:
        raise ImageDecodeError(f"empty {kind} data")
    head = buf[:8].tobytes()
    magic = _JPEG_MAGIC if kind == "jpeg" else _PNG_MAGIC
    if not head.startswith(magic):
        raise ImageDecodeError(
            f"data is not {kind} (format {fmt!r}): starts with {head[:8].hex()}, "
            f"expected {magic.hex()}"
        )
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"corrupt or truncated {kind} data ({buf.size} bytes)")
    return image


def encode_compressed(
    bgr: np.ndarray, fmt: str = "jpeg", quality: int = 90, png_level: int = 3
) -> bytes:
    """Encode a BGR (or grayscale) uint8 image as jpeg or png bytes.

    Args:
        bgr: (H, W, 3) BGR or (H, W) gray uint8 image.
        fmt: "jpeg"/"jpg" or "png" (or an image_transport format string).
        quality: JPEG quality 1..100 (ignored for png).
        png_level: PNG compression level 0..9 (ignored for jpeg).

    Raises:
        ValueError: bad image or parameters.
    """
    kind = _compressed_kind(fmt)
    bgr = np.asarray(bgr)
    if bgr.dtype != np.uint8 or not (bgr.ndim == 2 or (bgr.ndim == 3 and bgr.shape[2] == 3)):
        raise ValueError(f"expected (H, W, 3) or (H, W) uint8, got {bgr.dtype} {bgr.shape}")
    if bgr.shape[0] == 0 or bgr.shape[1] == 0:
        raise ValueError(f"cannot encode an empty image of shape {bgr.shape}")
    if kind == "jpeg":
        if not 1 <= quality <= 100:
            raise ValueError(f"jpeg quality must be in 1..100, got {quality}")
        ok, out = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        if not 0 <= png_level <= 9:
            raise ValueError(f"png_level must be in 0..9, got {png_level}")
        ok, out = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    if not ok:
        raise ValueError(f"OpenCV failed to encode a {bgr.shape} image as {kind}")
    return out.tobytes()


def compressed_format(fmt: str = "jpeg", encoding: str = "bgr8") -> str:
    """The `CompressedImage.format` image_transport writes, e.g. "bgr8; jpeg compressed bgr8"."""
    kind = _compressed_kind(fmt)
    return f"{encoding}; {kind} compressed bgr8"
