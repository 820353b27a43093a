"""`info`: what a bag holds (topics, types, counts, duration, storage), like `ros2 bag info`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from emotionaldan_ros.bag.bagio import BagReader


def bag_info(path: str | Path) -> dict[str, Any]:
    """Summary of a bag as a JSON-able dict.

    Raises:
        BagError: the bag cannot be opened.
    """
    with BagReader(path) as bag:
        files = bag.files
        return {
            "path": str(bag.path),
            "storage": bag.storage,
            "files": [p.name for p in files],
            "size_bytes": sum(p.stat().st_size for p in files),
            "messages": bag.message_count,
            "start_ns": bag.start_ns,
            "end_ns": bag.end_ns,
            "duration_s": bag.duration_s,
            "topics": [
                {
                    "name": t.name,
                    "type": t.msgtype,
                    "count": t.count,
                    "hash": t.digest,
                    "status": t.status,
                    "reliability": t.qos[0].reliability.name.lower() if t.qos else "",
                }
                for t in sorted(bag.topics.values(), key=lambda t: t.name)
            ],
            "warnings": list(bag.warnings),
        }


def _time(ns: int) -> str:
    stamp = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds")
    return f"{stamp} ({ns / 1e9:.9f})"


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of `bag_info`."""
    size = info["size_bytes"]
    lines = [
        f"Bag:          {info['path']}",
        f"Storage:      {info['storage']} ({', '.join(info['files'])})",
        f"Size:         {size / 1e6:.2f} MB",
        f"Messages:     {info['messages']}",
        f"Duration:     {info['duration_s']:.3f} s",
    ]
    if info["messages"]:
        lines += [
            f"Start:        {_time(info['start_ns'])}",
            f"End:          {_time(info['end_ns'])}",
        ]
    lines.append("Topics:")
    width = max((len(t["name"]) for t in info["topics"]), default=0)
    for t in info["topics"]:
        note = "" if t["status"] == "ok" else f"  [{t['status']}]"
        lines.append(f"  {t['name']:<{width}}  {t['count']:>8}  {t['type']}{note}")
    if not info["topics"]:
        lines.append("  (none)")
    lines += [f"warning: {w}" for w in info["warnings"]]
    return "\n".join(lines)
