"""sensor_msgs/Image ↔ numpy conversion (emotionaldan_ros.core.image_codec)."""

from __future__ import annotations

import array
import sys

import numpy as np
import pytest

from emotionaldan_ros.core.image_codec import (
    ImageDecodeError,
    compressed_format,
    compressed_image_size,
    decode_compressed,
    encode_compressed,
    encoding_info,
    image_to_numpy,
    numpy_to_image,
    supported_encodings,
    to_bgr8,
    to_bgr8_encodings,
)

RNG = np.random.default_rng(7)
REQUIRED = [
    "bgr8", "rgb8", "mono8", "bgra8", "rgba8", "mono16", "16UC1", "8UC1", "8UC3",
    "yuv422", "yuv422_yuy2", "yuyv",
]  # fmt: skip


def random_image(encoding: str, height: int = 5, width: int = 6) -> np.ndarray:
    info = encoding_info(encoding)
    shape = (height, width) if info.channels == 1 else (height, width, info.channels)
    if info.dtype.kind == "f":
        return RNG.standard_normal(shape).astype(info.dtype)
    limits = np.iinfo(info.dtype)
    return RNG.integers(limits.min, limits.max, size=shape, endpoint=True, dtype=info.dtype)


def pad_rows(data: bytes, height: int, step: int, pad: int) -> bytes:
    """Re-pack dense rows with `pad` garbage bytes after each row."""
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    padded = np.full((height, step + pad), 0xAB, np.uint8)
    padded[:, :step] = rows
    return padded.tobytes()


def as_input(data: bytes, kind: str) -> object:
    return {
        "bytes": lambda: data,
        "bytearray": lambda: bytearray(data),
        "array": lambda: array.array("B", data),
        "memoryview": lambda: memoryview(data),
        "numpy": lambda: np.frombuffer(data, np.uint8).copy(),
    }[kind]()


def test_required_encodings_are_supported():
    assert set(REQUIRED) <= set(supported_encodings())
    assert set(REQUIRED) <= set(to_bgr8_encodings())


@pytest.mark.parametrize("encoding", supported_encodings())
@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize("big", [False, True])
def test_round_trip_every_encoding(encoding, pad, big):
    image = random_image(encoding, 5, 6)
    fields = numpy_to_image(image, encoding, is_bigendian=big)
    info = encoding_info(encoding)
    assert fields.step == 6 * info.bytes_per_pixel
    assert len(fields.data) == fields.step * fields.height
    data = pad_rows(fields.data, fields.height, fields.step, pad)
    out = image_to_numpy(encoding, 5, 6, fields.step + pad, fields.is_bigendian, data)
    assert out.shape == image.shape
    assert out.dtype == info.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "array", "memoryview", "numpy"])
def test_every_data_container(kind):
    image = random_image("bgr8", 4, 3)
    data = pad_rows(image.tobytes(), 4, 9, 3)
    out = image_to_numpy("bgr8", 4, 3, 12, 0, as_input(data, kind))
    np.testing.assert_array_equal(out, image)


def test_zero_copy_view_with_padding():
    image = random_image("rgb8", 4, 3)
    buf = bytearray(pad_rows(image.tobytes(), 4, 9, 7))
    out = image_to_numpy("rgb8", 4, 3, 16, 0, buf)
    assert np.shares_memory(out, np.frombuffer(buf, np.uint8))
    buf[0] ^= 0xFF  # a view sees the change
    assert out[0, 0, 0] == image[0, 0, 0] ^ 0xFF


def test_rclpy_style_array_input_is_a_view():
    data = array.array("B", random_image("mono8", 3, 4).tobytes())
    out = image_to_numpy("mono8", 3, 4, 4, 0, data)
    assert np.shares_memory(out, np.frombuffer(data, np.uint8))


def test_read_only_input_gives_read_only_view():
    out = image_to_numpy("mono8", 2, 2, 2, 0, bytes(4))
    assert not out.flags.writeable


def test_big_endian_mono16_byte_order_is_honoured():
    # Independent of numpy_to_image: write the bytes by hand.
    values = [0x0102, 0xFF00, 0x00FF, 0xABCD]
    big = b"".join(v.to_bytes(2, "big") for v in values)
    little = b"".join(v.to_bytes(2, "little") for v in values)
    for data, flag in ((big, 1), (little, 0), (big, True)):
        out = image_to_numpy("mono16", 2, 2, 4, flag, data)
        assert out.tolist() == [[0x0102, 0xFF00], [0x00FF, 0xABCD]]
    # Swapped flag gives the swapped values: the flag is really read.
    assert image_to_numpy("mono16", 2, 2, 4, 0, big)[0, 0] == 0x0201


def test_big_endian_output_bytes():
    fields = numpy_to_image(np.array([[0x0102]], np.uint16), "mono16", is_bigendian=True)
    assert fields.data == b"\x01\x02" and fields.is_bigendian == 1
    fields = numpy_to_image(np.array([[0x0102]], np.uint16), "mono16", is_bigendian=False)
    assert fields.data == b"\x02\x01" and fields.is_bigendian == 0
    assert numpy_to_image(np.zeros((1, 1), np.uint16), "16UC1").is_bigendian == int(
        sys.byteorder == "big"
    )


def test_big_endian_padded_odd_step():
    # step not a multiple of the element size: unaligned rows still decode.
    image = random_image("mono16", 3, 4)
    fields = numpy_to_image(image, "mono16", is_bigendian=True)
    data = pad_rows(fields.data, 3, 8, 1)
    np.testing.assert_array_equal(image_to_numpy("mono16", 3, 4, 9, 1, data), image)


# --- rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bayer_rggb8", 2, 2, 2, 0, bytes(4)), "unsupported image encoding 'bayer_rggb8'"),
        (("", 2, 2, 2, 0, bytes(4)), "unsupported image encoding"),
        (("bgr8", 2, 2, 5, 0, bytes(10)), "step 5 < width 2 x 3"),
        (("mono16", 2, 4, 6, 0, bytes(12)), "step 6 < width 4 x 2"),
        (("bgr8", 2, 2, 6, 0, bytes(11)), "truncated: 11 bytes, expected step 6 x height 2"),
        (("bgr8", 2, 2, 6, 0, bytes(13)), "too long: 13 bytes"),
        (("bgr8", 0, 0, 0, 0, b""), "empty image: 0x0"),
        (("mono8", 3, 0, 0, 0, b""), "empty image: 0x3"),
        (("mono8", 0, 3, 3, 0, b""), "empty image: 3x0"),
        (("yuv422", 2, 3, 6, 0, bytes(12)), "width must be even, got 3"),
        (("yuyv", 2, 3, 6, 0, bytes(12)), "width must be even"),
        (("mono8", 2, 2, 2, 0, [0, 0, 0, 0]), "must be bytes-like"),
    ],
)
def test_rejects_inconsistent_messages(args, message):
    with pytest.raises(ImageDecodeError, match=message.replace("(", r"\(")):
        image_to_numpy(*args)


def test_decode_error_is_a_value_error():
    assert issubclass(ImageDecodeError, ValueError)


@pytest.mark.parametrize(
    ("image", "encoding", "message"),
    [
        (np.zeros((2, 2, 3), np.uint8), "mono8", "1 channel"),
        (np.zeros((2, 2), np.uint8), "bgr8", "3 channel"),
        (np.zeros((2, 2, 3), np.float32), "bgr8", "dtype uint8"),
        (np.zeros((2, 2), np.uint8), "mono16", "dtype uint16"),
        (np.zeros((0, 2, 3), np.uint8), "bgr8", "empty image"),
        (np.zeros((2, 3, 2), np.uint8), "yuv422", "even"),
        (np.zeros((2,), np.uint8), "mono8", "shape"),
        (np.zeros((2, 2), np.uint8), "nope8", "unsupported"),
    ],
)
def test_numpy_to_image_rejects_mismatch(image, encoding, message):
    with pytest.raises(ImageDecodeError, match=message):
        numpy_to_image(image, encoding)


# --- to_bgr8 ----------------------------------------------------------------------------------


def test_to_bgr8_colour_orders():
    bgr = random_image("bgr8", 4, 6)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    alpha = RNG.integers(0, 255, (4, 6, 1), dtype=np.uint8)
    assert to_bgr8("bgr8", bgr) is bgr
    np.testing.assert_array_equal(to_bgr8("8UC3", bgr), bgr)
    np.testing.assert_array_equal(to_bgr8("rgb8", rgb), bgr)
    np.testing.assert_array_equal(to_bgr8("bgra8", np.concatenate([bgr, alpha], 2)), bgr)
    np.testing.assert_array_equal(to_bgr8("rgba8", np.concatenate([rgb, alpha], 2)), bgr)
    gray = bgr[..., 0].copy()
    for encoding in ("mono8", "8UC1"):
        out = to_bgr8(encoding, gray)
        assert out.shape == (4, 6, 3) and out.dtype == np.uint8
        for c in range(3):
            np.testing.assert_array_equal(out[..., c], gray)


def test_to_bgr8_from_padded_message():
    # The usual node path: padded rgb8 message → view → BGR.
    bgr = random_image("bgr8", 3, 5)
    fields = numpy_to_image(np.ascontiguousarray(bgr[..., ::-1]), "rgb8")
    data = array.array("B", pad_rows(fields.data, 3, fields.step, 4))
    view = image_to_numpy("rgb8", 3, 5, fields.step + 4, 0, data)
    np.testing.assert_array_equal(to_bgr8("rgb8", view), bgr)


def test_to_bgr8_mono16_scaling():
    values = np.array([[0, 257, 65535, 32896]], np.uint16)
    for encoding in ("mono16", "16UC1"):
        out = to_bgr8(encoding, values)
        assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
        assert out[0, :, 0].tolist() == [0, 1, 255, 128]
    # A 12-bit camera: minmax stretches its range onto 0..255.
    tw = np.array([[100, 4095], [2098, 100]], np.uint16)  # 2098: just above mid-range
    out = to_bgr8("mono16", tw, scale16="minmax")
    assert out[..., 1].tolist() == [[0, 255], [128, 0]]
    assert to_bgr8("mono16", np.full((2, 2), 9, np.uint16), scale16="minmax").max() == 0
    with pytest.raises(ValueError, match="scale16"):
        to_bgr8("mono16", tw, scale16="log")


def test_to_bgr8_rgb16():
    rgb16 = np.zeros((1, 1, 3), np.uint16)
    rgb16[0, 0] = [65535, 0, 257]
    assert to_bgr8("rgb16", rgb16)[0, 0].tolist() == [1, 0, 255]


def _bt601_yuv(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Studio-range BT.601 (what cameras send as YUV 4:2:2)."""
    b, g, r = bgr
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    return round(y), round(u), round(v)


@pytest.mark.parametrize("colour", [(0, 0, 255), (255, 0, 0), (40, 200, 90), (128, 128, 128)])
def test_to_bgr8_yuv422_byte_orders(colour):
    # Pack a uniform colour by hand in both byte orders (BT.601), then decode through the codec.
    y, u, v = _bt601_yuv(colour)
    height, width = 2, 4
    uyvy = bytes([u, y, v, y] * (height * width // 2))
    yuyv = bytes([y, u, y, v] * (height * width // 2))
    for encoding, data in (
        ("yuv422", uyvy),
        ("uyvy", uyvy),
        ("yuyv", yuyv),
        ("yuv422_yuy2", yuyv),
    ):
        packed = image_to_numpy(encoding, height, width, width * 2, 0, data)
        assert packed.shape == (height, width, 2)
        out = to_bgr8(encoding, packed)
        assert out.shape == (height, width, 3)
        assert np.abs(out.astype(int) - np.array(colour)).max() <= 3, (encoding, out[0, 0])
    if colour[0] != colour[2]:  # the wrong byte order gives a different colour
        wrong = to_bgr8("yuyv", image_to_numpy("yuyv", height, width, width * 2, 0, uyvy))
        assert np.abs(wrong.astype(int) - np.array(colour)).max() > 20


def test_every_listed_encoding_but_two_channel_converts_to_bgr8():
    # Listed as supported means usable by the nodes: each one decodes to BGR uint8.
    for encoding in supported_encodings():
        image = random_image(encoding, 4, 6)
        if encoding.endswith("C2"):
            with pytest.raises(ImageDecodeError, match="two-channel"):
                to_bgr8(encoding, image)
            assert encoding not in to_bgr8_encodings()
            continue
        out = to_bgr8(encoding, image)
        assert out.shape == (4, 6, 3) and out.dtype == np.uint8, encoding
        assert encoding in to_bgr8_encodings()


@pytest.mark.parametrize("encoding", ["32FC1", "64FC1", "8SC1", "16SC1", "32SC1"])
def test_to_bgr8_stretches_signed_and_float_per_frame(encoding):
    dtype = encoding_info(encoding).dtype
    lo, hi = (-2.5, 7.5) if dtype.kind == "f" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    values = np.array([[lo, hi], [(lo + hi) / 2, lo]]).astype(dtype)
    out = to_bgr8(encoding, values)
    assert out[..., 0].tolist() == [[0, 255], [128, 0]] and (out[..., 1] == out[..., 0]).all()
    assert to_bgr8(encoding, np.full((2, 2), lo, dtype)).max() == 0  # constant frame: black


def test_to_bgr8_float_nan_and_inf_become_black_and_do_not_set_the_range():
    depth = np.array([[0.5, np.nan], [np.inf, 1.5]], np.float32)
    out = to_bgr8("32FC1", depth)[..., 0]
    assert out.tolist() == [[0, 0], [0, 255]]
    assert to_bgr8("32FC1", np.full((2, 2), np.nan, np.float32)).max() == 0


def test_to_bgr8_float_colour_keeps_channel_balance():
    bgr = np.array([[[0.0, 0.5, 1.0]]], np.float32)
    assert to_bgr8("32FC3", bgr)[0, 0].tolist() == [0, 128, 255]
    bgra = np.array([[[1.0, 0.0, 0.0, 9.0]]], np.float64)  # alpha is not part of the range
    assert to_bgr8("64FC4", bgra)[0, 0].tolist() == [255, 0, 0]


def test_to_bgr8_rejects():
    with pytest.raises(ImageDecodeError, match="cannot convert 32FC2 to bgr8"):
        to_bgr8("32FC2", np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ImageDecodeError, match="does not match encoding bgr8"):
        to_bgr8("bgr8", np.zeros((2, 2), np.uint8))
    with pytest.raises(ImageDecodeError, match="does not match encoding mono8"):
        to_bgr8("mono8", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ImageDecodeError, match="even"):
        to_bgr8("yuv422", np.zeros((2, 3, 2), np.uint8))


# --- compressed -------------------------------------------------------------------------------


def smooth_image(height: int = 48, width: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 4 % 256, yy * 5 % 256, (xx + yy) * 2 % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["jpeg", "jpg", "bgr8; jpeg compressed bgr8"])
def test_jpeg_round_trip(fmt):
    image = smooth_image()
    data = encode_compressed(image, fmt, quality=95)
    assert data[:2] == b"\xff\xd8"
    for container in (
        data,
        bytearray(data),
        array.array("B", data),
        np.frombuffer(data, np.uint8),
    ):
        out = decode_compressed(fmt, container)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - image).mean() < 3


def test_png_round_trip_is_lossless():
    image = smooth_image()
    data = encode_compressed(image, "png")
    np.testing.assert_array_equal(decode_compressed("rgb8; png compressed bgr8", data), image)
    gray = image[..., 1].copy()
    out = decode_compressed("png", encode_compressed(gray, "png", png_level=9))
    np.testing.assert_array_equal(out[..., 2], gray)


def test_compressed_format_string():
    assert compressed_format() == "bgr8; jpeg compressed bgr8"
    assert compressed_format("png", "rgb8") == "rgb8; png compressed bgr8"


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_truncated_jpeg_is_rejected(keep):
    data = encode_compressed(smooth_image(), "jpeg")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated jpeg"):
        decode_compressed("jpeg", data[: int(len(data) * keep)])


def test_truncated_png_is_rejected():
    data = encode_compressed(smooth_image(), "png")
    with pytest.raises(ImageDecodeError, match="corrupt or truncated png"):
        decode_compressed("png", data[: len(data) // 2])


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("jpeg", b"", "empty jpeg"),
        ("jpeg", b"\xff\xd8\xff" + bytes(RNG.integers(0, 255, 300, dtype=np.uint8)), "corrupt"),
        ("jpeg", b"GIF89a" + bytes(50), "not jpeg"),
        ("png", b"\xff\xd8\xff\xe0" + bytes(50), "not png"),
        ("bmp", b"BM" + bytes(50), "unsupported compressed format 'bmp'"),
        ("16UC1; compressedDepth png", b"\x89PNG", "compressedDepth"),
    ],
)
def test_bad_compressed_data_is_rejected(fmt, data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_compressed(fmt, data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bgr": np.zeros((4, 4, 3), np.float32)}, "uint8"),
        ({"bgr": np.zeros((4, 4, 4), np.uint8)}, r"\(H, W, 3\)"),
        ({"bgr": np.zeros((0, 4, 3), np.uint8)}, "empty"),
        ({"bgr": np.zeros((4, 4, 3), np.uint8), "quality": 0}, "quality"),
        ({"bgr": np.zeros((4, 4, 3), np.uint8), "fmt": "png", "png_level": 10}, "png_level"),
        ({"bgr": np.zeros((4, 4, 3), np.uint8), "fmt": "webp"}, "unsupported"),
    ],
)
def test_encode_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        encode_compressed(**kwargs)


@pytest.mark.parametrize("shape", [(48, 64, 3), (1, 833, 3), (700, 3, 3)])
@pytest.mark.parametrize("kind", ["jpeg", "jpeg_progressive", "png"])
def test_compressed_image_size_reads_the_header_without_decoding(shape, kind):
    import cv2

    image = np.zeros(shape, np.uint8)
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if kind == "jpeg_progressive" else []
    data = cv2.imencode(".png" if kind == "png" else ".jpg", image, flags)[1].tobytes()
    fmt = "png" if kind == "png" else "bgr8; jpeg compressed bgr8"
    assert compressed_image_size(fmt, data) == (shape[1], shape[0])
    assert compressed_image_size(fmt, array.array("B", data)) == (shape[1], shape[0])


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("jpeg", b""),
        ("jpeg", b"\xff\xd8\xff"),
        ("jpeg", b"\xff\xd8\xff\xda\x00\x02"),  # scan before any frame header
        ("jpeg", b"\xff\xd8\x00\x00\x00\x00"),
        ("png", b"\x89PNG\r\n\x1a\n"),
        ("png", b"not a png at all, but long enough"),
        ("webp", b"RIFF...."),
    ],
)
def test_compressed_image_size_unknown_is_none(fmt, data):
    assert compressed_image_size(fmt, data) is None
