"""`reindex`: make a recording that was killed (SIGKILL, power loss) a complete bag again.

A killed `record` leaves `metadata.yaml` as written at the last split (no or stale counts) and a
last storage file without its end: an MCAP without summary and footer (possibly cut inside a
record), or an sqlite3 database without its `metadata` row (its last transaction is rolled back
by SQLite when the file is opened). `reindex_bag` salvages every complete message: an unfinished
MCAP file is rewritten from the records `bag.mcap.scan` can read (messages of a chunk cut short
are lost, the chunks before it are kept), a database keeps what was committed, and
`metadata.yaml` is rebuilt from what is really in the files. Like `ros2 bag reindex`, it works
on the bag folder in place.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rosbags.rosbag2.metadata import parse_qos

from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.mcap import MAGIC, McapFormatError, McapWriter, ScanResult, scan
from emotionaldan_ros.bag.types import ros_distro
from emotionaldan_ros.bag.writer import (
    BAG_VERSION,
    _FileStats,
    _Topic,
    bag_metadata,
    write_metadata,
)


@dataclass
class FileReport:
    """What reindexing did to one storage file."""

    name: str
    messages: int = 0
    rewritten: bool = False
    problem: str = ""


@dataclass
class ReindexReport:
    """What `reindex_bag` found and wrote."""

    path: Path
    storage: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Messages in the bag after reindexing."""
        return sum(f.messages for f in self.files)

    def summary(self) -> str:
        """One line per file plus a total, for the CLI."""
        lines = []
        for f in self.files:
            state = f"rewritten ({f.problem})" if f.rewritten else (f.problem or "complete")
            lines.append(f"{f.name}: {f.messages} messages, {state}")
        lines.append(f"{self.path}: metadata.yaml rebuilt, {self.messages} messages")
        return "\n".join(lines)


def _storage_files(folder: Path) -> tuple[str, list[Path]]:
    """The storage format and files of a bag folder, in split order (`name_0`, `name_1`, ...)."""

    def order(p: Path) -> tuple[int, str]:
        match = re.search(r"_(\d+)$", p.stem)
        return (int(match.group(1)) if match else -1, p.name)

    for storage, suffix in (("mcap", ".mcap"), ("sqlite3", ".db3")):
        files = sorted((p for p in folder.glob(f"*{suffix}") if p.is_file()), key=order)
        if files:
            return storage, files
    raise BagError(f"{folder}: no .mcap or .db3 file to reindex")


def is_unfinished(path: Path) -> bool:
    """Whether a storage file was not closed by its writer (killed recording).

    MCAP: no closing magic at the end. sqlite3: the `metadata` table that rosbag2 (Iron and
    later) and this project fill at close exists but is empty.
    """
    if path.suffix == ".mcap":
        with path.open("rb") as fh:
            head = fh.read(len(MAGIC))
            fh.seek(max(0, path.stat().st_size - len(MAGIC)))
            return head == MAGIC and fh.read() != MAGIC
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "metadata" not in tables:
                return False
            return conn.execute("SELECT COUNT(*) FROM metadata").fetchone()[0] == 0
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # not a database we can judge: let the reader report it


def _qos(text: str) -> list:
    try:
        loaded = yaml.safe_load(text) if text else []
        return parse_qos(loaded) if loaded else []
    except Exception:  # damaged QoS text: keep the topic, drop the profile
        return []


def _reindex_mcap(path: Path, topics: dict[str, _Topic]) -> tuple[FileReport, _FileStats]:
    report, stats = FileReport(path.name), _FileStats(path.name)
    result = ScanResult()
    try:
        messages = list(scan(path, result))
    except McapFormatError as err:
        raise BagError(str(err)) from None
    for channel in result.channels.values():
        schema = result.schemas.get(channel.schema_id)
        name = schema.name if schema else ""
        if channel.topic not in topics:
            topics[channel.topic] = _Topic(
                channel.topic,
                name,
                _qos(channel.metadata.get("offered_qos_profiles", "")),
                digest=channel.metadata.get("topic_type_hash", ""),
            )
    for channel, t_ns, _ in messages:
        stats.add(t_ns)
        topics[channel.topic].count += 1
    report.messages = stats.count
    if result.complete:
        return report, stats
    report.problem = result.problem
    report.rewritten = True
    tmp = path.with_name(path.name + ".reindex")
    tmp.unlink(missing_ok=True)
    distro = result.metadata.get("rosbag2", {}).get("ROS_DISTRO") or ros_distro()
    out = McapWriter(tmp, "emotionaldan-ros reindex", distro)
    schema_ids = {
        sid: out.add_schema(s.name, s.encoding, s.data.decode())
        for sid, s in result.schemas.items()
    }
    channel_ids = {
        cid: out.add_channel(c.topic, schema_ids.get(c.schema_id, 0), c.metadata, c.encoding)
        for cid, c in result.channels.items()
    }
    for channel, t_ns, data in messages:
        out.write(channel_ids[channel.id], t_ns, data)
    out.close(yaml.safe_dump({"reindexed": True}).strip())
    tmp.replace(path)
    return report, stats


def _reindex_sqlite3(path: Path, topics: dict[str, _Topic]) -> tuple[FileReport, _FileStats]:
    report, stats = FileReport(path.name), _FileStats(path.name)
    try:
        conn = sqlite3.connect(path)  # opening rolls back a transaction cut by the crash
        try:
            rows = conn.execute(
                "SELECT id, name, type, offered_qos_profiles, type_description_hash FROM topics"
            ).fetchall()
            names = {}
            for tid, name, msgtype, qos, digest in rows:
                names[tid] = name
                topics.setdefault(name, _Topic(name, msgtype, _qos(qos), digest=digest or ""))
            for tid, count, first, last in conn.execute(
                "SELECT topic_id, COUNT(*), MIN(timestamp), MAX(timestamp) FROM messages "
                "GROUP BY topic_id"
            ):
                topics[names[tid]].count += count
                stats.count += count
                stats.start, stats.end = min(stats.start, first), max(stats.end, last)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "metadata" in tables and not conn.execute("SELECT 1 FROM metadata").fetchone():
                report.rewritten, report.problem = True, "not closed by its writer"
                conn.execute(
                    "INSERT INTO metadata (metadata_version, metadata) VALUES (?, ?)",
                    (BAG_VERSION, yaml.safe_dump({"reindexed": True}).strip()),
                )
                conn.commit()
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise BagError(f"{path}: not a readable rosbag2 database: {err}") from None
    report.messages = stats.count
    return report, stats


def reindex_bag(path: str | Path) -> ReindexReport:
    """Salvage a bag folder in place (see the module docstring).

    Raises:
        BagError: not a bag folder, or a storage file that is not a bag file at all.
    """
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise BagError(f"{path}: no such bag folder")
    storage, files = _storage_files(folder)
    report = ReindexReport(folder, storage)
    topics: dict[str, _Topic] = {}
    stats = []
    for file in files:
        fn = _reindex_mcap if storage == "mcap" else _reindex_sqlite3
        file_report, file_stats = fn(file, topics)
        report.files.append(file_report)
        stats.append(file_stats)
    write_metadata(folder, bag_metadata(storage, list(topics.values()), stats))
    return report
