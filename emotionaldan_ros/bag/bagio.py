"""Reading and writing rosbag2 bags (mcap or sqlite3) with `rosbags`, without ROS.

`BagReader` turns every failure of the underlying library (missing or corrupt metadata, truncated
storage files, unknown types) into a `BagError` with a one-line message, resolves message types
from the bag's own stored definitions (so bags from other distros still decode) and reports
definitions whose hash differs from this installation's. `BagWriter` stores the full `.msg`
definitions and rosidl-equal type hashes, and can split a recording into several storage files
of one bag (`<name>_0.mcap`, `<name>_1.mcap`, ... listed in one `metadata.yaml`, like rosbag2).
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rosbags.interfaces import (
    MessageDefinitionFormat,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore
from ruamel.yaml import YAML

from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.types import ensure_type, get_store, message_definition, type_hash

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
_SUFFIX = {"mcap": ".mcap", "sqlite3": ".db3"}


@dataclass
class TopicInfo:
    """One topic of a bag.

    Attributes:
        name: topic name.
        msgtype: message type, e.g. `sensor_msgs/msg/Image`.
        count: number of messages.
        digest: stored RIHS01 type hash ('' in bags older than Iron).
        qos: offered QoS profiles stored with the topic.
        status: 'ok'; 'mismatch' (the stored definition differs from this installation's, the
            bag's own definition is used to decode); 'foreign' (a type this installation does not
            know, decoded with the bag's definition); 'unknown' (no definition anywhere).
    """

    name: str
    msgtype: str
    count: int
    digest: str
    qos: list[Qos] = field(default_factory=list)
    status: str = "ok"


def make_qos(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> Qos:
    """A QoS profile record as stored in bag metadata."""
    zero = QosTime(sec=0, nsec=0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


def _parse_definition(msgtype: str, fmt: MessageDefinitionFormat, data: str) -> dict[str, Any]:
    """Types declared by one stored definition (msg or idl layout)."""
    if fmt == MessageDefinitionFormat.MSG:
        return dict(get_types_from_msg(data, msgtype))
    types: dict[str, Any] = {}
    sep = "=" * 80 + "\n"
    for chunk in data.split(sep) if data.startswith(sep) else [data]:
        if chunk.strip():
            types.update(
                get_types_from_idl(chunk.split("\n", 1)[1] if chunk.startswith("IDL:") else chunk)
            )
    return types


class BagReader:
    """Read-only view of one rosbag2 bag (folder with metadata.yaml, or a .mcap/.db3 file).

    Use as a context manager. Problems that do not stop reading (type hash mismatches, unknown
    types, topics without messages) are collected in `warnings`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        self._reader: Reader | None = None
        self.topics: dict[str, TopicInfo] = {}
        self.store: Typestore = get_store()

    def __enter__(self) -> BagReader:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Open the bag and resolve its types.

        Raises:
            BagError: the path is not a bag, or the bag is unreadable.
        """
        path = self.path
        if not path.exists():
            raise BagError(f"{path}: no such bag")
        if path.is_dir() and not (path / "metadata.yaml").exists():
            raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml in the folder)")
        try:
            reader = Reader(path)
            reader.open()
        except BagError:
            raise
        except Exception as err:
            raise BagError(
                f"{path}: unreadable bag (corrupt or truncated?): {_msg(err)}"
            ) from None
        self._reader = reader
        self._resolve_types()

    def close(self) -> None:
        """Close the storage files."""
        if self._reader is not None and self._reader.is_open:
            self._reader.close()
        self._reader = None

    @property
    def reader(self) -> Reader:
        """The open rosbags reader."""
        if self._reader is None:
            raise BagError(f"{self.path}: bag is not open")
        return self._reader

    @property
    def storage(self) -> str:
        """Storage format: 'mcap' or 'sqlite3'."""
        if self.path.is_file():
            return "mcap" if self.path.suffix == ".mcap" else "sqlite3"
        meta = YAML(typ="safe").load((self.path / "metadata.yaml").read_text())
        return str(meta["rosbag2_bagfile_information"]["storage_identifier"])

    @property
    def files(self) -> list[Path]:
        """Storage files of the bag, in recording order."""
        if self.path.is_file():
            return [self.path]
        meta = YAML(typ="safe").load((self.path / "metadata.yaml").read_text())
        names = meta["rosbag2_bagfile_information"]["relative_file_paths"]
        return [self.path / Path(name).name for name in names]

    @property
    def message_count(self) -> int:
        """Messages in the bag (all topics)."""
        return sum(t.count for t in self.topics.values())

    @property
    def start_ns(self) -> int:
        """Receive time of the first message in ns (0 for an empty bag)."""
        return self.reader.start_time if self.message_count else 0

    @property
    def end_ns(self) -> int:
        """Receive time of the last message in ns (0 for an empty bag)."""
        return self.reader.end_time - 1 if self.message_count else 0

    @property
    def duration_s(self) -> float:
        """Time between the first and the last message in seconds."""
        return (self.end_ns - self.start_ns) / 1e9 if self.message_count else 0.0

    def _resolve_types(self) -> None:
        """Build a per-bag typestore: the bag's own definitions over this installation's."""
        local = get_store()
        bag_types: dict[str, Any] = {}
        defined: set[str] = set()
        for conn in self.reader.connections:
            if (
                conn.msgdef.format == MessageDefinitionFormat.NONE
                or not conn.msgdef.data.strip()
                or conn.msgtype in defined
            ):
                continue
            try:
                types = _parse_definition(conn.msgtype, conn.msgdef.format, conn.msgdef.data)
            except Exception as err:
                self.warnings.append(
                    f"topic {conn.topic}: stored definition of {conn.msgtype} does not parse "
                    f"({_msg(err)}); using this installation's"
                )
                continue
            defined.add(conn.msgtype)
            for name, fields in types.items():
                bag_types.setdefault(name, fields)
        merged = dict(local.fielddefs)
        merged.update(bag_types)
        store = get_typestore(Stores.EMPTY)
        try:
            store.register(merged)
        except Exception as err:
            self.warnings.append(
                f"stored definitions conflict ({_msg(err)}); using this installation's"
            )
            store = local
        self.store = store

        for conn in self.reader.connections:
            info = self.topics.get(conn.topic)
            if info is None:
                info = TopicInfo(conn.topic, conn.msgtype, 0, conn.digest or "", [])
                info.qos = list(getattr(conn.ext, "offered_qos_profiles", []) or [])
                self.topics[conn.topic] = info
            info.count += conn.msgcount
            if conn.msgtype not in store.fielddefs:
                info.status = "unknown"
            elif conn.msgtype not in local.fielddefs:
                info.status = "foreign"
            elif (
                conn.digest
                and conn.msgtype in local.fielddefs
                and conn.digest != type_hash(conn.msgtype, local)
            ):
                info.status = "mismatch"
        for info in self.topics.values():
            if info.status == "unknown":
                self.warnings.append(
                    f"topic {info.name}: unknown message type {info.msgtype} "
                    f"({info.count} messages cannot be decoded or played)"
                )
            elif info.status == "foreign":
                self.warnings.append(
                    f"topic {info.name}: {info.msgtype} is not known here; its {info.count} "
                    "messages are decoded with the bag's own definition"
                )
            elif info.status == "mismatch":
                self.warnings.append(
                    f"topic {info.name}: {info.msgtype} has type hash {info.digest[:19]}… which "
                    f"differs from this installation's (bag from another distro or version?); "
                    f"{info.count} messages are decoded with the bag's own definition and "
                    "not played"
                )

    def require_topic(self, topic: str) -> TopicInfo:
        """The topic's info.

        Raises:
            BagError: the topic is absent or has no messages.
        """
        info = self.topics.get(topic)
        if info is None:
            have = ", ".join(sorted(self.topics)) or "none"
            raise BagError(f"{self.path}: no topic {topic} in the bag (topics: {have})")
        if info.count == 0:
            raise BagError(f"{self.path}: topic {topic} has no messages")
        return info

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[tuple[str, str, int, bytes]]:
        """Messages in receive-time order as (topic, msgtype, time_ns, raw CDR).

        Raises:
            BagError: the storage is truncated or corrupt (after yielding what was readable).
        """
        wanted = set(topics) if topics is not None else None
        conns = [c for c in self.reader.connections if wanted is None or c.topic in wanted]
        if not conns:
            return
        count = 0
        try:
            for conn, t_ns, raw in self.reader.messages(conns, start_ns, stop_ns):
                count += 1
                yield conn.topic, conn.msgtype, t_ns, bytes(raw)
        except BagError:
            raise
        except Exception as err:
            raise BagError(
                f"{self.path}: bag is truncated or corrupt after {count} messages: {_msg(err)}"
            ) from None

    def deserialize(self, raw: bytes, msgtype: str) -> Any:
        """Decode one CDR message with the bag's types.

        Raises:
            BagError: the type is unknown or the data does not match it.
        """
        if msgtype not in self.store.fielddefs:
            raise BagError(f"unknown message type {msgtype}")
        try:
            return self.store.deserialize_cdr(raw, msgtype)
        except Exception as err:
            raise BagError(f"cannot decode a {msgtype} message: {_msg(err)}") from None


class BagWriter:
    """Write a rosbag2 bag; optionally split into several storage files by size or duration.

    Use as a context manager (or call `close`): a bag is only complete after `close`. With
    `background=True` one worker thread owns the storage (sqlite3 connections are bound to one
    thread) and `write` may be called from any thread, e.g. subscription callbacks; a bounded
    queue between them absorbs bursts while the disk catches up.
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
        self.split = self.split_bytes > 0 or self.split_ns > 0
        self._topics: dict[str, tuple[str, list[Qos]]] = {}
        self._writer: Writer | None = None
        self._conns: dict[str, Any] = {}
        self._part = -1
        self._part_bytes = 0
        self._part_start = 0
        self._parts: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self._closed = False
        if self.split:
            self.path.mkdir(parents=True)
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] | None = None
        self._error: BaseException | None = None
        self._worker: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(self.QUEUE_SIZE)
            self._worker = threading.Thread(target=self._work, name="bag-writer", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        assert self._queue is not None
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    item[0](*item[1])
                except BaseException as err:  # re-raised in the caller's thread by close()
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

    def add_topic(self, topic: str, msgtype: str, qos: list[Qos] | None = None) -> None:
        """Declare a topic before writing to it.

        Raises:
            BagError: the type is unknown to the typestore.
        """
        if topic in self._topics:
            return
        if not ensure_type(msgtype):
            raise BagError(f"topic {topic}: unknown message type {msgtype} (no .msg file found)")
        self._topics[topic] = (msgtype, list(qos or [make_qos()]))
        self.counts[topic] = 0
        self._run(self._add_connection_if_open, topic)

    def _add_connection_if_open(self, topic: str) -> None:
        if self._writer is not None:
            self._add_connection(topic)

    def _add_connection(self, topic: str) -> None:
        msgtype, qos = self._topics[topic]
        assert self._writer is not None
        self._conns[topic] = self._writer.add_connection(
            topic,
            msgtype,
            msgdef=message_definition(msgtype),
            rihs01=type_hash(msgtype),
            offered_qos_profiles=qos,
        )

    def _open_part(self, t_ns: int) -> None:
        self._part += 1
        target = self.path / f"{self.path.name}_{self._part}" if self.split else self.path
        self._writer = Writer(
            target, version=Writer.VERSION_LATEST, storage_plugin=STORAGES[self.storage]
        )
        self._writer.open()
        self._conns = {}
        for topic in list(self._topics):  # add_topic may run in another thread
            self._add_connection(topic)
        self._part_bytes = 0
        self._part_start = t_ns

    def _close_part(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        if not self.split:
            return
        # Move the part's storage file up into the bag folder, keep its metadata for the summary.
        part_dir = writer.path
        src = part_dir / f"{part_dir.name}{_SUFFIX[self.storage]}"
        dst = self.path / src.name
        src.replace(dst)
        meta = YAML(typ="safe").load((part_dir / "metadata.yaml").read_text())
        self._parts.append(meta["rosbag2_bagfile_information"])
        shutil.rmtree(part_dir)

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

    def _write(self, topic: str, t_ns: int, raw: bytes | memoryview) -> None:
        if self._writer is None:
            self._open_part(t_ns)
        elif self.split and (
            (self.split_bytes and self._part_bytes >= self.split_bytes)
            or (self.split_ns and t_ns - self._part_start >= self.split_ns)
        ):
            self._close_part()
            self._open_part(t_ns)
        assert self._writer is not None
        self._writer.write(self._conns[topic], t_ns, raw)
        self._part_bytes += len(raw)
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes indexes and metadata.yaml); idempotent."""
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

    def _finish(self) -> None:
        if self._writer is None and not self._parts:
            # Nothing written: still produce a valid empty bag with the declared topics.
            self._open_part(0)
        self._close_part()
        if self.split:
            self._write_split_metadata()

    def _write_split_metadata(self) -> None:
        first = self._parts[0]
        starts = [
            p["starting_time"]["nanoseconds_since_epoch"]
            for p in self._parts
            if p["message_count"]
        ]
        ends = [
            p["starting_time"]["nanoseconds_since_epoch"] + p["duration"]["nanoseconds"]
            for p in self._parts
            if p["message_count"]
        ]
        start = min(starts) if starts else 0
        topics = []
        for entry in first["topics_with_message_count"]:
            name = entry["topic_metadata"]["name"]
            topics.append(
                {"topic_metadata": entry["topic_metadata"], "message_count": self.counts[name]}
            )
        meta = dict(first)
        meta.update(
            relative_file_paths=[p["relative_file_paths"][0] for p in self._parts],
            files=[f for p in self._parts for f in p["files"]],
            starting_time={"nanoseconds_since_epoch": start},
            duration={"nanoseconds": (max(ends) - start) if ends else 0},
            message_count=sum(self.counts.values()),
            topics_with_message_count=topics,
        )
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        with (self.path / "metadata.yaml").open("w") as fh:
            yaml.dump({"rosbag2_bagfile_information": meta}, fh)


def _msg(err: BaseException) -> str:
    """One-line text of an exception."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."
