"""Build and serialise the messages the bag tools write, with `rosbags` (no rclpy needed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emotionaldan_ros.bag.types import get_store
from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.image_codec import compressed_format, encode_compressed, numpy_to_image

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
LABEL = "emotionaldan_msgs/msg/EmotionLabel"
EMOTION_ARRAY = "emotionaldan_msgs/msg/EmotionArray"
UNKNOWN_LABEL = 255


def _t(name: str) -> Any:
    return get_store().types[name]


def header(stamp_ns: int, frame_id: str) -> Any:
    """A `std_msgs/Header` with the stamp split into sec / nanosec."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return _t("std_msgs/msg/Header")(
        stamp=_t("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def stamp_ns(hdr: Any) -> int:
    """Nanoseconds of a header's stamp (the key used to match outputs to frames)."""
    return int(hdr.stamp.sec) * 1_000_000_000 + int(hdr.stamp.nanosec)


def roi(box: Sequence[float] | None) -> Any:
    """A `sensor_msgs/RegionOfInterest` from an x1, y1, x2, y2 box (all zeros for None)."""
    if box is None:
        x = y = w = h = 0
    else:
        x1, y1, x2, y2 = (float(v) for v in box)
        x, y = max(0, round(x1)), max(0, round(y1))
        w, h = max(0, round(x2) - x), max(0, round(y2) - y)
    return _t("sensor_msgs/msg/RegionOfInterest")(
        x_offset=x, y_offset=y, height=h, width=w, do_rectify=False
    )


def points(landmarks: np.ndarray | None) -> list[Any]:
    """`Point2D[]` from an (N, 2) array (empty for None)."""
    if landmarks is None:
        return []
    point = _t("emotionaldan_msgs/msg/Point2D")
    return [point(x=float(x), y=float(y)) for x, y in np.asarray(landmarks, np.float32)]


def image(array: np.ndarray, stamp: int, frame_id: str, encoding: str = "bgr8") -> bytes:
    """Serialised `sensor_msgs/Image` of a numpy image."""
    fields = numpy_to_image(array, encoding)
    msg = _t(IMAGE)(
        header=header(stamp, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
        data=np.frombuffer(fields.data, dtype=np.uint8),
    )
    return bytes(get_store().serialize_cdr(msg, IMAGE))


def compressed_image(
    array: np.ndarray, stamp: int, frame_id: str, fmt: str = "jpeg", quality: int = 90
) -> bytes:
    """Serialised `sensor_msgs/CompressedImage` (jpeg or png) of a BGR or gray image."""
    msg = _t(COMPRESSED_IMAGE)(
        header=header(stamp, frame_id),
        format=compressed_format(fmt, "mono8" if array.ndim == 2 else "bgr8"),
        data=np.frombuffer(encode_compressed(array, fmt, quality=quality), dtype=np.uint8),
    )
    return bytes(get_store().serialize_cdr(msg, COMPRESSED_IMAGE))


def label(
    label_index: int,
    stamp: int,
    frame_id: str,
    source: str = "",
    box: Sequence[float] | None = None,
    landmarks: np.ndarray | None = None,
) -> bytes:
    """Serialised `EmotionLabel`; `label_index` < 0 or 255 means unknown."""
    idx = UNKNOWN_LABEL if label_index < 0 or label_index >= len(L.EMOTIONS_8) else label_index
    name = "unknown" if idx == UNKNOWN_LABEL else L.EMOTIONS_8[idx]
    msg = _t(LABEL)(
        header=header(stamp, frame_id),
        label=idx,
        label_name=name,
        source=source,
        roi=roi(box),
        landmarks=points(landmarks),
    )
    return bytes(get_store().serialize_cdr(msg, LABEL))


def emotion_array(
    stamp: int,
    frame_id: str,
    faces: Sequence[tuple[Sequence[float], np.ndarray]],
    processing_time_ms: float = 0.0,
    model: str = "",
    surprise: str = "positive",
) -> bytes:
    """Serialised `EmotionArray` from (box, class probabilities) per face (tests, fixtures)."""
    emotions = []
    for box, probs in faces:
        probs = np.asarray(probs, dtype=np.float32)
        names = L.emotion_names(len(probs))
        vprobs = L.to_valence_probs(probs, L.valence_map(names, surprise))
        best, vbest = int(probs.argmax()), int(vprobs.argmax())
        emotions.append(
            _t("emotionaldan_msgs/msg/Emotion")(
                face_id=len(emotions),
                roi=roi(box),
                detection_score=1.0,
                label=best,
                label_name=names[best],
                probabilities=probs,
                confidence=float(probs[best]),
                valence=vbest,
                valence_name=L.VALENCES[vbest],
                valence_probabilities=vprobs.astype(np.float32),
                landmarks=[],
            )
        )
    msg = _t(EMOTION_ARRAY)(
        header=header(stamp, frame_id),
        emotions=emotions,
        processing_time_ms=float(processing_time_ms),
        model=model,
    )
    return bytes(get_store().serialize_cdr(msg, EMOTION_ARRAY))
