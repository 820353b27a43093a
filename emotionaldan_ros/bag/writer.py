"""Writing rosbag2 bags (mcap or sqlite3) as rosbag2 itself writes them, and crash-safe.

One bag is a folder with `metadata.yaml` and one or more storage files `<name>_<i>.mcap` /
`.db3` (a new one per `--split-size` / `--split-duration`). Compared with rosbag2's own writer:

- stored definitions, RIHS01 hashes, `topic_type_hash` channel metadata, the `rosbag2` metadata
  record, QoS profiles and `ros_distro` are the same (see `bag/mcap.py`, `bag/types.py`);
- `metadata.yaml` is written as soon as the bag is opened and again at every split and at close
  (rosbag2 does the same), so a killed recording is still recognisable as a bag;
- what has been handed to `write` reaches the operating system as soon as the writer has no
  other message waiting (mcap: the pending chunk is written out; sqlite3: the transaction is
  committed), and is fsynced at least once a second. A SIGKILL therefore loses at most the
  messages still queued, and `emotionaldan-bag reindex` (bag/reindex.py) makes the rest a
  complete bag again.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2.metadata import dump_qos_v9

from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.mcap import McapWriter
from emotionaldan_ros.bag.types import ensure_type, message_definition, ros_distro, type_hash

STORAGES = ("mcap", "sqlite3")
SUFFIX = {"mcap": ".mcap", "sqlite3": ".db3"}
BAG_VERSION = 9  # rosbag2's metadata version since Jazzy
FSYNC_PERIOD_S = 1.0
INFINITE = QosTime(sec=9223372036, nsec=854775807)  # how rosbag2 writes an infinite duration


def make_qos(
    reliable: bool = True,
    transient_local: bool = False,
    depth: int = 10,
    history: QosHistory = QosHistory.KEEP_LAST,
) -> Qos:
    """A QoS profile record as stored in bag metadata (infinite deadline / lifespan / lease)."""
    return Qos(
        history=history,
        depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=INFINITE,
        lifespan=INFINITE,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=INFINITE,
        avoid_ros_namespace_conventions=False,
    )


def qos_yaml(qos: list[Qos]) -> str:
    """QoS profiles as the YAML text rosbag2 stores in MCAP channels and sqlite3 topics."""
    return yaml.safe_dump(dump_qos_v9(qos), sort_keys=False).strip()


@dataclass
class _Topic:
    name: str
    msgtype: str
    qos: list[Qos]
    count: int = 0
    digest: str = ""  # stored type hash; '' = this installation's

    @property
    def type_hash(self) -> str:
        return self.digest or type_hash(self.msgtype)


@dataclass
class _FileStats:
    path: str
    start: int = 2**63 - 1
    end: int = 0
    count: int = 0

    def add(self, t_ns: int) -> None:
        self.start, self.end = min(self.start, t_ns), max(self.end, t_ns)
        self.count += 1


class _McapPart:
    """One `.mcap` storage file."""

    def __init__(self, path: Path) -> None:
        from emotionaldan_ros import __version__

        self.mcap = McapWriter(path, f"emotionaldan-ros {__version__}", ros_distro())
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}

    def add(self, topic: _Topic) -> None:
        schema = self._schemas.get(topic.msgtype)
        if schema is None:
            schema = self.mcap.add_schema(
                topic.msgtype, "ros2msg", message_definition(topic.msgtype)
            )
            self._schemas[topic.msgtype] = schema
        self._channels[topic.name] = self.mcap.add_channel(
            topic.name,
            schema,
            {
                "offered_qos_profiles": qos_yaml(topic.qos),
                "topic_type_hash": type_hash(topic.msgtype),
            },
        )

    def write(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        self.mcap.write(self._channels[topic], t_ns, raw)

    def flush(self) -> None:
        self.mcap.flush()

    def sync(self) -> None:
        self.mcap.sync()

    def close(self, metadata: str) -> None:
        self.mcap.close(metadata)


_SQLITE_SCHEMA = """
CREATE TABLE schema(schema_version INTEGER PRIMARY KEY, ros_distro TEXT NOT NULL);
CREATE TABLE metadata(id INTEGER PRIMARY KEY, metadata_version INTEGER NOT NULL,
                      metadata TEXT NOT NULL);
CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
                    serialization_format TEXT NOT NULL, offered_qos_profiles TEXT NOT NULL,
                    type_description_hash TEXT NOT NULL);
CREATE TABLE message_definitions(id INTEGER PRIMARY KEY, topic_type TEXT NOT NULL,
                                 encoding TEXT NOT NULL, encoded_message_definition TEXT NOT NULL,
                                 type_description_hash TEXT NOT NULL);
CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL,
                      timestamp INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX timestamp_idx ON messages (timestamp ASC);
"""


class _Sqlite3Part:
    """One `.db3` storage file in rosbag2's schema version 4."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise BagError(f"{path} exists already; not overwriting")
        self.conn = sqlite3.connect(path, check_same_thread=True)
        self.conn.executescript(_SQLITE_SCHEMA)
        self.conn.execute("INSERT INTO schema VALUES (4, ?)", (ros_distro(),))
        self.conn.commit()
        self._ids: dict[str, int] = {}
        self._types: set[str] = set()

    def add(self, topic: _Topic) -> None:
        digest = type_hash(topic.msgtype)
        if topic.msgtype not in self._types:
            self.conn.execute(
                "INSERT INTO message_definitions (topic_type, encoding, "
                "encoded_message_definition, type_description_hash) VALUES (?, ?, ?, ?)",
                (topic.msgtype, "ros2msg", message_definition(topic.msgtype), digest),
            )
            self._types.add(topic.msgtype)
        cur = self.conn.execute(
            "INSERT INTO topics (name, type, serialization_format, offered_qos_profiles, "
            "type_description_hash) VALUES (?, ?, 'cdr', ?, ?)",
            (topic.name, topic.msgtype, qos_yaml(topic.qos), digest),
        )
        self._ids[topic.name] = int(cur.lastrowid or 0)
        self.conn.commit()

    def write(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        self.conn.execute(
            "INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)",
            (self._ids[topic], t_ns, bytes(raw)),
        )

    def flush(self) -> None:
        self.conn.commit()

    def sync(self) -> None:
        self.conn.commit()  # sqlite fsyncs on commit

    def close(self, metadata: str) -> None:
        self.conn.execute(
            "INSERT INTO metadata (metadata_version, metadata) VALUES (?, ?)",
            (BAG_VERSION, metadata),
        )
        self.conn.commit()
        self.conn.close()


def bag_metadata(storage: str, topics: list[_Topic], files: list[_FileStats]) -> dict[str, Any]:
    """`rosbag2_bagfile_information` of a bag, in rosbag2's version-9 layout."""
    used = [f for f in files if f.count]
    start = min((f.start for f in used), default=0)
    end = max((f.end for f in used), default=0)
    return {
        "version": BAG_VERSION,
        "storage_identifier": storage,
        "duration": {"nanoseconds": end - start},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(f.count for f in files),
        "topics_with_message_count": [
            {
                "topic_metadata": {
                    "name": t.name,
                    "type": t.msgtype,
                    "serialization_format": "cdr",
                    "offered_qos_profiles": dump_qos_v9(t.qos),
                    "type_description_hash": t.type_hash,
                },
                "message_count": t.count,
            }
            for t in topics
        ],
        "compression_format": "",
        "compression_mode": "",
        "relative_file_paths": [f.path for f in files],
        "files": [
            {
                "path": f.path,
                "starting_time": {"nanoseconds_since_epoch": f.start if f.count else 0},
                "duration": {"nanoseconds": f.end - f.start if f.count else 0},
                "message_count": f.count,
            }
            for f in files
        ],
        "custom_data": None,
        "ros_distro": ros_distro(),
    }


def write_metadata(folder: Path, info: dict[str, Any]) -> None:
    """Write `metadata.yaml` atomically (a crash leaves the old or the new one, never half)."""
    tmp = folder / "metadata.yaml.tmp"
    tmp.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}, sort_keys=False))
    tmp.replace(folder / "metadata.yaml")


def _dump(info: dict[str, Any]) -> str:
    return yaml.safe_dump(info, sort_keys=False).strip()


class BagWriter:
    """Write a rosbag2 bag; optionally split into several storage files by size or duration.

    Use as a context manager (or call `close`). With `background=True` one worker thread owns
    the storage (sqlite3 connections are bound to one thread) and `write` may be called from
    any thread, e.g. subscription callbacks; a bounded queue between them absorbs bursts while
    the disk catches up. The bag folder, its first storage file and `metadata.yaml` exist as
    soon as the writer is created.
    """

    QUEUE_SIZE = 256

    def __init__(
        self,
        path: str | Path,
        storage: str = "mcap",
        split_bytes: int = 0,
        split_seconds: float = 0.0,
        background: bool = False,
    ) -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}: use one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; not overwriting")
        self.storage = storage
        self.split_bytes = int(split_bytes)
        self.split_ns = int(split_seconds * 1e9)
        self._topics: dict[str, _Topic] = {}
        self._files: list[_FileStats] = []
        self._part: _McapPart | _Sqlite3Part | None = None
        self._part_bytes = 0
        self._part_start: int | None = None
        self._last_sync = time.monotonic()
        self._closed = False
        self.path.mkdir(parents=True)
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] | None = None
        self._error: BaseException | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(self.QUEUE_SIZE)
            self._worker = threading.Thread(target=self._work, name="bag-writer", daemon=True)
            self._worker.start()
        self._run(self._open_part)

    @property
    def counts(self) -> dict[str, int]:
        """Messages written per topic."""
        return {name: t.count for name, t in self._topics.items()}

    # -- threading ----------------------------------------------------------------------------
    def _work(self) -> None:
        assert self._queue is not None
        while True:
            try:
                item = self._queue.get(timeout=FSYNC_PERIOD_S)
            except queue.Empty:
                self._guarded(self._sync)
                continue
            if item is None:
                return
            self._guarded(*item)
            if self._queue.empty():  # idle: hand what was written to the OS now
                self._guarded(self._flush)

    def _guarded(self, fn: Callable[..., None], args: tuple[Any, ...] = ()) -> None:
        if self._error is None:
            try:
                fn(*args)
            except BaseException as err:  # re-raised in the caller's thread
                self._error = err

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        """Call now, or hand to the worker thread in background mode."""
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        if self._queue is None:
            fn(*args)
        else:
            self._queue.put((fn, args))

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API ----------------------------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str, qos: list[Qos] | None = None) -> None:
        """Declare a topic before writing to it.

        Raises:
            BagError: the type is unknown to the typestore.
        """
        if topic in self._topics:
            return
        if not ensure_type(msgtype):
            raise BagError(f"topic {topic}: unknown message type {msgtype} (no .msg file found)")
        self._topics[topic] = _Topic(topic, msgtype, list(qos or [make_qos()]))
        self._run(self._add_to_part, topic)

    def write(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        """Append one serialised message with its receive time in ns.

        Raises:
            BagError: the topic was not declared or the writer is closed.
        """
        if self._closed:
            raise BagError(f"{self.path}: bag writer is closed")
        if topic not in self._topics:
            raise BagError(f"topic {topic} was not added to the bag")
        self._run(self._write, topic, t_ns, raw)

    def close(self) -> None:
        """Finish the bag (indexes, summary and final metadata.yaml); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._queue is None or self._worker is None:
            self._finish()
            return
        # Finish even after an earlier write error, so that what was written stays readable.
        self._error, error = None, self._error
        self._queue.put((self._finish, ()))
        self._queue.put(None)
        self._worker.join()
        if error or self._error:
            raise error or self._error  # type: ignore[misc]

    # -- storage (worker thread in background mode) -------------------------------------------
    def _open_part(self) -> None:
        name = f"{self.path.name}_{len(self._files)}{SUFFIX[self.storage]}"
        cls = _McapPart if self.storage == "mcap" else _Sqlite3Part
        self._part = cls(self.path / name)
        self._files.append(_FileStats(name))
        for topic in list(self._topics.values()):  # add_topic may run in another thread
            self._part.add(topic)
        self._part_bytes = 0
        self._part_start = None
        self._write_metadata()

    def _add_to_part(self, topic: str) -> None:
        assert self._part is not None
        self._part.add(self._topics[topic])
        self._write_metadata()

    def _write(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        if self._part_start is None:
            self._part_start = t_ns
        elif (self.split_bytes and self._part_bytes >= self.split_bytes) or (
            self.split_ns and t_ns - self._part_start >= self.split_ns
        ):
            self._close_part()
            self._open_part()
            self._part_start = t_ns
        assert self._part is not None
        self._part.write(topic, t_ns, raw)
        self._files[-1].add(t_ns)
        self._topics[topic].count += 1
        self._part_bytes += len(raw)

    def _flush(self) -> None:
        if self._part is not None:
            self._part.flush()
            if time.monotonic() - self._last_sync >= FSYNC_PERIOD_S:
                self._sync()

    def _sync(self) -> None:
        if self._part is not None:
            self._part.sync()
        self._last_sync = time.monotonic()

    def _metadata(self) -> dict[str, Any]:
        return bag_metadata(self.storage, list(self._topics.values()), self._files)

    def _write_metadata(self) -> None:
        write_metadata(self.path, self._metadata())

    def _close_part(self) -> None:
        part, self._part = self._part, None
        if part is not None:
            part.close(_dump(self._metadata()))

    def _finish(self) -> None:
        self._close_part()
        self._write_metadata()
