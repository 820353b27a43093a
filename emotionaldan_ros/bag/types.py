"""Message types for bags: a `rosbags` typestore that knows `emotionaldan_msgs`.

Definitions come from the `.msg` files (installed `share/<pkg>/msg/` first, then this repository's
`emotionaldan_msgs/msg/`), so the RIHS01 type hashes equal the ones rosidl generates and a real
`ros2 bag info` / `ros2 bag play` accepts our bags. Stored definitions are the full `.msg` texts
(comments included) in rosbag2's `ros2msg` layout: the top-level type first, then every nested
type after a line of 80 `=` and a `MSG: pkg/Type` line (no `/msg/`: what rosbag2's writer and
`rosbags` write, and the only form Foxglove's `@foxglove/rosmsg` parser accepts).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re
import sys
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

MSG_PACKAGE = "emotionaldan_msgs"
SEPARATOR = "=" * 80
# Repository copy of the interface package (used when the package is not installed).
_REPO_MSG_DIR = Path(__file__).resolve().parents[2] / MSG_PACKAGE / "msg"


def base_store() -> Stores:
    """Typestore of ROS 2 Kilted when rosbags knows it, else the newest ROS 2 one it has."""
    if hasattr(Stores, "ROS2_KILTED"):
        return Stores.ROS2_KILTED
    ros2 = [s for s in Stores if s.name.startswith("ROS2_")]
    return ros2[-1]


def ros_distro() -> str:
    """Name of the ROS 2 distro in use, as rosbag2 writes it into `ros_distro`.

    `ROS_DISTRO` when a ROS install is sourced; else the distro of the pip-installed rclpy wheel
    (`ros-kilted-rclpy` → 'kilted'); else the distro of the typestore the bags are written with.
    """
    if distro := os.environ.get("ROS_DISTRO", "").strip():
        return distro
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if match := re.fullmatch(r"ros-([a-z]+)-rclpy", name):
            return match.group(1)
    return base_store().name.removeprefix("ROS2_").lower()


def _share_dirs() -> list[Path]:
    """`share/` folders to look in: the ament prefixes, then this interpreter's prefix."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    out: list[Path] = []
    for prefix in prefixes:
        share = Path(prefix) / "share"
        if share not in out:
            out.append(share)
    return out


def find_msg_file(msgtype: str) -> Path | None:
    """The `.msg` file of a type such as `sensor_msgs/msg/Image`, or None if none is found."""
    pkg, _, name = msgtype.partition("/msg/")
    if not name:
        return None
    for share in _share_dirs():
        path = share / pkg / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    if pkg == MSG_PACKAGE and (_REPO_MSG_DIR / f"{name}.msg").is_file():
        return _REPO_MSG_DIR / f"{name}.msg"
    return None


def package_msg_dir() -> Path:
    """Folder holding the `emotionaldan_msgs` `.msg` files (installed copy preferred).

    Raises:
        FileNotFoundError: neither an installed nor the repository copy exists.
    """
    for share in _share_dirs():
        path = share / MSG_PACKAGE / "msg"
        if any(path.glob("*.msg")):
            return path
    if any(_REPO_MSG_DIR.glob("*.msg")):
        return _REPO_MSG_DIR
    raise FileNotFoundError(f"no .msg files of {MSG_PACKAGE} found (install the package)")


@functools.cache
def get_store() -> Typestore:
    """The shared typestore: the base ROS 2 store plus every `emotionaldan_msgs` type."""
    store = get_typestore(base_store())
    types = {}
    for path in sorted(package_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{MSG_PACKAGE}/msg/{path.stem}"))
    store.register(types)
    return store


def _nested_types(msgtype: str, store: Typestore) -> list[str]:
    """Every type used by `msgtype`'s fields, recursively, depth-first in field order."""
    seen: list[str] = []

    def visit(typ: str) -> None:
        for _, desc in store.fielddefs[typ][1]:
            node, arg = desc
            # Arrays and sequences wrap (element desc, size); names are nested messages.
            if node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
                node, arg = arg[0]
            if node == Nodetype.NAME and arg not in seen:
                seen.append(arg)
                visit(arg)

    visit(msgtype)
    return seen


def _type_text(msgtype: str, store: Typestore) -> str:
    """Full `.msg` text of one type; the typestore's reconstruction if no file is found."""
    path = find_msg_file(msgtype)
    if path is not None:
        return path.read_text()
    text = store.generate_msgdef(msgtype, ros_version=2)[0]
    return text.split(SEPARATOR)[0]


def message_definition(msgtype: str, store: Typestore | None = None) -> str:
    """Complete `ros2msg` definition of `msgtype` as rosbag2 stores it.

    Raises:
        KeyError: the type is unknown to the typestore.
    """
    store = store or get_store()
    if msgtype not in store.fielddefs:
        raise KeyError(msgtype)
    parts = [_type_text(msgtype, store).rstrip("\n")]
    for dep in _nested_types(msgtype, store):
        name = dep.replace("/msg/", "/", 1)  # rosbag2 names dependencies pkg/Type
        parts.append(f"{SEPARATOR}\nMSG: {name}\n{_type_text(dep, store).rstrip(chr(10))}")
    return "\n".join(parts) + "\n"


def split_definition(msgdef: str, msgtype: str) -> dict[str, str]:
    """Inverse of `message_definition`: type name → its `.msg` text (trailing newline stripped)."""
    chunks = msgdef.split(SEPARATOR + "\n")
    out = {msgtype: chunks[0].rstrip("\n")}
    for chunk in chunks[1:]:
        header, _, body = chunk.partition("\n")
        name = header.removeprefix("MSG: ").strip()
        if "/msg/" not in name and "/" in name:
            pkg, _, short = name.partition("/")
            name = f"{pkg}/msg/{short}"
        out[name] = body.rstrip("\n")
    return out


def type_hash(msgtype: str, store: Typestore | None = None) -> str:
    """RIHS01 hash of a type, equal to the one rosidl generates."""
    return (store or get_store()).hash_rihs01(msgtype)


def ensure_type(msgtype: str, store: Typestore | None = None) -> bool:
    """Register a type (and its nested types) from its installed `.msg` file if needed.

    Returns:
        True when the typestore knows the type afterwards.
    """
    store = store or get_store()
    if msgtype in store.fielddefs:
        return True
    path = find_msg_file(msgtype)
    if path is None:
        return False
    try:
        types = get_types_from_msg(path.read_text(), msgtype)
    except Exception:  # a .msg this parser cannot read: treat as unknown
        return False
    for _, desc in types[msgtype][1]:
        node, arg = desc
        if node in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            node, arg = arg[0]
        if node == Nodetype.NAME and not ensure_type(arg, store):
            return False
    store.register(types)
    return True
