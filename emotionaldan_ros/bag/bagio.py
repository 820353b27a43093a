"""Reading rosbag2 bags (mcap or sqlite3) with `rosbags`, without ROS; writing is in `writer`.

`BagReader` turns every failure of the underlying library (missing or corrupt metadata, truncated
storage files, unknown types) into a `BagError` with a one-line message, resolves message types
from the bag's own stored definitions (so bags from other distros still decode) and reports
definitions whose hash differs from this installation's. A recording that was killed before it
closed is recognised and named as such, with the `emotionaldan-bag reindex` command that
salvages it. `BagWriter` and `make_qos` are re-exported from `writer` for the callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rosbags.interfaces import MessageDefinitionFormat, Qos
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.types import get_store, type_hash
from emotionaldan_ros.bag.writer import STORAGES, BagWriter, make_qos

__all__ = ["STORAGES", "BagError", "BagReader", "BagWriter", "TopicInfo", "make_qos"]


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
        self._refuse_unfinished()
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

    def _refuse_unfinished(self) -> None:
        """Name a killed recording as such, with the command that salvages it.

        Raises:
            BagError: a storage file was not closed by its writer.
        """
        from emotionaldan_ros.bag.reindex import is_unfinished

        try:
            files = self.files
        except Exception:  # unreadable metadata: the reader reports it
            return
        cut = [f.name for f in files if f.is_file() and is_unfinished(f)]
        if cut:
            where = self.path if self.path.is_dir() else self.path.parent
            raise BagError(
                f"{self.path}: the recording was not closed ({', '.join(cut)} has no end: "
                f"killed or power lost?); `emotionaldan-bag reindex {where}` salvages every "
                "complete message"
            )

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
        meta = yaml.safe_load((self.path / "metadata.yaml").read_text())
        return str(meta["rosbag2_bagfile_information"]["storage_identifier"])

    @property
    def files(self) -> list[Path]:
        """Storage files of the bag, in recording order."""
        if self.path.is_file():
            return [self.path]
        meta = yaml.safe_load((self.path / "metadata.yaml").read_text())
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


def _msg(err: BaseException) -> str:
    """One-line text of an exception."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."
