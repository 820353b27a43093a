"""A small MCAP writer and a salvaging scanner, written from the MCAP specification.

The writer produces the layout rosbag2's MCAP storage produces (profile `ros2`, `ros2msg`
schemas, `cdr` channels whose metadata holds `offered_qos_profiles` and `topic_type_hash`, a
`rosbag2` metadata record with `serialized_metadata` and `ROS_DISTRO`, chunk and message
indexes, statistics and summary offsets), so `ros2 bag`, Foxglove / Lichtblick, the `mcap`
libraries and `rosbags` all read it.

It is also written to survive SIGKILL or power loss: schemas and channels go into the data
section outside any chunk, and the pending chunk is written out (and the file flushed to the
operating system) whenever `flush` is called, which the bag writer does as soon as it has no
message waiting, at least every `max_chunk_age_s`. A killed recording is then a valid MCAP up to
its last complete chunk; `scan` reads such a file record by record and stops cleanly at the
first incomplete or corrupt one, which is what `emotionaldan-bag reindex` uses.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAGIC = b"\x89MCAP0\r\n"

OP_HEADER = 0x01
OP_FOOTER = 0x02
OP_SCHEMA = 0x03
OP_CHANNEL = 0x04
OP_MESSAGE = 0x05
OP_CHUNK = 0x06
OP_MESSAGE_INDEX = 0x07
OP_CHUNK_INDEX = 0x08
OP_STATISTICS = 0x0B
OP_METADATA = 0x0C
OP_METADATA_INDEX = 0x0D
OP_SUMMARY_OFFSET = 0x0E
OP_DATA_END = 0x0F

# A chunk is written out when it reaches this size (rosbag2's default chunk size is 768 KiB).
CHUNK_BYTES = 768 * 1024


class McapFormatError(ValueError):
    """The bytes are not a readable MCAP record stream."""


# ------------------------------------------------------------------------------ serialisation
def _u16(v: int) -> bytes:
    return struct.pack("<H", v)


def _u32(v: int) -> bytes:
    return struct.pack("<I", v)


def _u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def _str(text: str) -> bytes:
    raw = text.encode()
    return _u32(len(raw)) + raw


def _map_str(values: dict[str, str]) -> bytes:
    body = b"".join(_str(k) + _str(v) for k, v in values.items())
    return _u32(len(body)) + body


def _record(op: int, body: bytes) -> bytes:
    return bytes([op]) + _u64(len(body)) + body


@dataclass
class _Chunk:
    start: int = 2**64 - 1
    end: int = 0
    data: io.BytesIO = field(default_factory=io.BytesIO)
    index: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    opened: float = 0.0


class McapWriter:
    """Writes one MCAP file (see the module docstring).

    Args:
        path: file to create (must not exist).
        library: written into the header record.
        ros_distro: written into the `rosbag2` metadata record.
        max_chunk_age_s: `flush_if_due` writes the pending chunk out once it is this old.
    """

    def __init__(
        self, path: Path, library: str, ros_distro: str, max_chunk_age_s: float = 0.1
    ) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = self.path.open("xb")
        self.ros_distro = ros_distro
        self.max_chunk_age_s = max_chunk_age_s
        self._schemas: dict[int, bytes] = {}
        self._channels: dict[int, bytes] = {}
        self._chunk_indexes: list[bytes] = []
        self._counts: dict[int, int] = {}
        self._chunk = _Chunk()
        self.message_start = 2**64 - 1
        self.message_end = 0
        self._fh.write(MAGIC + _record(OP_HEADER, _str("ros2") + _str(library)))
        self._fh.flush()

    @property
    def message_count(self) -> int:
        """Messages written so far."""
        return sum(self._counts.values())

    def add_schema(self, name: str, encoding: str, data: str) -> int:
        """Declare a message type; returns its schema id."""
        schema_id = len(self._schemas) + 1
        raw = data.encode()
        record = _record(
            OP_SCHEMA, _u16(schema_id) + _str(name) + _str(encoding) + _u32(len(raw)) + raw
        )
        self._schemas[schema_id] = record
        self._write_outside_chunk(record)
        return schema_id

    def add_channel(
        self, topic: str, schema_id: int, metadata: dict[str, str], encoding: str = "cdr"
    ) -> int:
        """Declare a topic; returns its channel id."""
        channel_id = len(self._channels) + 1
        record = _record(
            OP_CHANNEL,
            _u16(channel_id) + _u16(schema_id) + _str(topic) + _str(encoding) + _map_str(metadata),
        )
        self._channels[channel_id] = record
        self._counts[channel_id] = 0
        self._write_outside_chunk(record)
        return channel_id

    def _write_outside_chunk(self, record: bytes) -> None:
        # Records of the data section may not sit inside a chunk's span: close it first.
        self.flush()
        self._fh.write(record)
        self._fh.flush()

    def write(self, channel_id: int, log_time: int, data: bytes | memoryview) -> None:
        """Append one message (log time = publish time = `log_time`, ns)."""
        chunk = self._chunk
        if not chunk.index:
            chunk.opened = time.monotonic()
        offset = chunk.data.tell()
        chunk.data.write(
            _record(
                OP_MESSAGE, _u16(channel_id) + _u32(0) + _u64(log_time) + _u64(log_time) + data
            )
        )
        chunk.index.setdefault(channel_id, []).append((log_time, offset))
        chunk.start, chunk.end = min(chunk.start, log_time), max(chunk.end, log_time)
        self._counts[channel_id] += 1
        self.message_start = min(self.message_start, log_time)
        self.message_end = max(self.message_end, log_time)
        if chunk.data.tell() >= CHUNK_BYTES:
            self.flush()

    def flush_if_due(self) -> None:
        """Write the pending chunk out if it is older than `max_chunk_age_s`."""
        if self._chunk.index and time.monotonic() - self._chunk.opened >= self.max_chunk_age_s:
            self.flush()

    def flush(self) -> None:
        """Write the pending chunk with its message indexes and hand it to the OS."""
        chunk = self._chunk
        if not chunk.index:
            return
        self._chunk = _Chunk()
        records = chunk.data.getvalue()
        start = self._fh.tell()
        self._fh.write(
            _record(
                OP_CHUNK,
                _u64(chunk.start)
                + _u64(chunk.end)
                + _u64(len(records))
                + _u32(zlib.crc32(records))
                + _str("")
                + _u64(len(records))
                + records,
            )
        )
        chunk_length = self._fh.tell() - start
        offsets: dict[int, int] = {}
        for channel_id, entries in sorted(chunk.index.items()):
            offsets[channel_id] = self._fh.tell()
            body = b"".join(_u64(t) + _u64(o) for t, o in entries)
            self._fh.write(_record(OP_MESSAGE_INDEX, _u16(channel_id) + _u32(len(body)) + body))
        index_length = self._fh.tell() - start - chunk_length
        offset_map = b"".join(_u16(c) + _u64(o) for c, o in offsets.items())
        self._chunk_indexes.append(
            _record(
                OP_CHUNK_INDEX,
                _u64(chunk.start)
                + _u64(chunk.end)
                + _u64(start)
                + _u64(chunk_length)
                + _u32(len(offset_map))
                + offset_map
                + _u64(index_length)
                + _str("")
                + _u64(len(records))
                + _u64(len(records)),
            )
        )
        self._fh.flush()

    def sync(self) -> None:
        """Flush and fsync (power-loss safety for what was written so far)."""
        self.flush()
        os.fsync(self._fh.fileno())

    def close(self, serialized_metadata: str) -> None:
        """Write the last chunk, the rosbag2 metadata record, the summary and the footer."""
        self.flush()
        fh = self._fh
        metadata_start = fh.tell()
        fh.write(
            _record(
                OP_METADATA,
                _str("rosbag2")
                + _map_str(
                    {"serialized_metadata": serialized_metadata, "ROS_DISTRO": self.ros_distro}
                ),
            )
        )
        metadata_length = fh.tell() - metadata_start
        fh.write(_record(OP_DATA_END, _u32(0)))
        summary_start = fh.tell()
        groups: list[tuple[int, int, int]] = []
        for op, records in (
            (OP_SCHEMA, list(self._schemas.values())),
            (OP_CHANNEL, list(self._channels.values())),
            (OP_CHUNK_INDEX, self._chunk_indexes),
        ):
            if records:
                begin = fh.tell()
                fh.write(b"".join(records))
                groups.append((op, begin, fh.tell() - begin))
        begin = fh.tell()
        fh.write(
            _record(
                OP_METADATA_INDEX, _u64(metadata_start) + _u64(metadata_length) + _str("rosbag2")
            )
        )
        groups.append((OP_METADATA_INDEX, begin, fh.tell() - begin))
        begin = fh.tell()
        counts = b"".join(_u16(c) + _u64(n) for c, n in sorted(self._counts.items()))
        empty = self.message_count == 0
        fh.write(
            _record(
                OP_STATISTICS,
                _u64(self.message_count)
                + _u16(len(self._schemas))
                + _u32(len(self._channels))
                + _u32(0)
                + _u32(1)
                + _u32(len(self._chunk_indexes))
                + _u64(0 if empty else self.message_start)
                + _u64(0 if empty else self.message_end)
                + _u32(len(counts))
                + counts,
            )
        )
        groups.append((OP_STATISTICS, begin, fh.tell() - begin))
        summary_offset_start = fh.tell()
        for op, begin, length in groups:
            fh.write(_record(OP_SUMMARY_OFFSET, bytes([op]) + _u64(begin) + _u64(length)))
        fh.write(_record(OP_FOOTER, _u64(summary_start) + _u64(summary_offset_start) + _u32(0)))
        fh.write(MAGIC)
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()

    def abort(self) -> None:
        """Close the file as it is (a crash-like end, for tests and error paths)."""
        self._fh.close()


# ---------------------------------------------------------------------------------- scanning
@dataclass
class Schema:
    """A schema record."""

    id: int
    name: str
    encoding: str
    data: bytes


@dataclass
class Channel:
    """A channel record."""

    id: int
    schema_id: int
    topic: str
    encoding: str
    metadata: dict[str, str]


@dataclass
class ScanResult:
    """What `scan` found: records up to the first damaged one.

    Attributes:
        schemas: schema id → schema.
        channels: channel id → channel.
        complete: the file ended with a footer and the closing magic.
        problem: why scanning stopped early ('' when the file is complete).
        valid_bytes: bytes of the file that held complete records.
        metadata: name → map of the metadata records read.
    """

    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    complete: bool = False
    problem: str = ""
    valid_bytes: int = 0
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)


class _Cursor:
    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        self.data, self.pos = memoryview(data), pos

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise McapFormatError("record runs past its end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u32())).decode()

    def string_map(self) -> dict[str, str]:
        sub = _Cursor(self.take(self.u32()))
        out = {}
        while sub.pos < len(sub.data):
            key = sub.string()
            out[key] = sub.string()
        return out


def _decompress(compression: str, data: memoryview, size: int) -> bytes:
    if compression == "":
        return bytes(data)
    if compression == "zstd":
        try:
            from compression import zstd  # Python 3.14
        except ImportError:
            from backports import zstd  # a dependency of rosbags
        return zstd.decompress(bytes(data))
    raise McapFormatError(f"unsupported chunk compression {compression!r}")


def scan(path: Path, result: ScanResult | None = None) -> Iterator[tuple[Channel, int, bytes]]:
    """Messages of an MCAP file in file order, as (channel, log time ns, data).

    Stops without raising at the first incomplete or corrupt record (a file cut by a crash);
    `result` then says where and why. Chunks whose CRC does not match are not used.

    Raises:
        McapFormatError: the file does not start like an MCAP file.
    """
    result = ScanResult() if result is None else result
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise McapFormatError(f"{path}: not an MCAP file (bad magic)")
    top = _Cursor(data, len(MAGIC))
    result.valid_bytes = top.pos
    while top.pos < len(data):
        try:
            op = top.take(1)[0]
            body = top.take(top.u64())
        except McapFormatError:
            result.problem = f"incomplete record at byte {result.valid_bytes}"
            return
        if op == OP_FOOTER:
            result.complete = data[top.pos :] == MAGIC
            result.valid_bytes = top.pos
            if not result.complete:
                result.problem = "footer not followed by the closing magic"
            return
        try:
            if op == OP_CHUNK:
                yield from _scan_chunk(body, result)
            else:
                message = _scan_record(op, body, result)
                if message is not None:
                    yield message
        except (McapFormatError, UnicodeDecodeError, struct.error) as err:
            result.problem = f"corrupt record at byte {result.valid_bytes}: {err}"
            return
        result.valid_bytes = top.pos
    result.problem = "no footer (the recording did not finish)"


def _scan_chunk(body: memoryview, result: ScanResult) -> Iterator[tuple[Channel, int, bytes]]:
    cur = _Cursor(body)
    cur.u64(), cur.u64()
    size, crc = cur.u64(), cur.u32()
    compression = cur.string()
    records = _decompress(compression, cur.take(cur.u64()), size)
    if len(records) != size or (crc and zlib.crc32(records) != crc):
        raise McapFormatError("chunk size or CRC mismatch")
    # Parse the whole chunk before yielding, so a damaged chunk yields nothing at all.
    inner = _Cursor(records)
    found = []
    while inner.pos < len(records):
        op = inner.take(1)[0]
        message = _scan_record(op, inner.take(inner.u64()), result)
        if message is not None:
            found.append(message)
    yield from found


def _scan_record(
    op: int, body: memoryview, result: ScanResult
) -> tuple[Channel, int, bytes] | None:
    cur = _Cursor(body)
    if op == OP_SCHEMA:
        schema_id, name, encoding = cur.u16(), cur.string(), cur.string()
        result.schemas[schema_id] = Schema(schema_id, name, encoding, bytes(cur.take(cur.u32())))
    elif op == OP_CHANNEL:
        channel_id, schema_id = cur.u16(), cur.u16()
        topic, encoding = cur.string(), cur.string()
        result.channels[channel_id] = Channel(
            channel_id, schema_id, topic, encoding, cur.string_map()
        )
    elif op == OP_MESSAGE:
        channel_id, _, log_time, _ = cur.u16(), cur.u32(), cur.u64(), cur.u64()
        channel = result.channels.get(channel_id)
        if channel is None:
            raise McapFormatError(f"message on undeclared channel {channel_id}")
        return channel, log_time, bytes(body[cur.pos :])
    elif op == OP_METADATA:
        name = cur.string()
        result.metadata[name] = cur.string_map()
    return None
