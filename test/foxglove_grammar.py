"""The rules Foxglove's `@foxglove/rosmsg` applies to a ROS 2 `ros2msg` schema, restated.

Foxglove and Lichtblick decode a topic only if its stored definition parses with those rules:

- the text is split into sections at lines made only of `=` characters;
- the first section is the top-level type; every later one starts with a `MSG: pkg/Type` line
  (two parts: rosbag2 and `rosbags` write `MSG: std_msgs/Header`, not `std_msgs/msg/Header`);
- every other non-empty, non-comment line is a field `type name [default]` or a constant
  `type NAME=value`; `type` is a primitive, `pkg/Type`, `pkg/msg/Type` or a bare `Type` of the
  section's own package, optionally with `[]`, `[N]` or `[<=N]`, and strings may be `<=N`;
- every complex field type must resolve to a section of the same text, matched by its
  `pkg/Type` name: a section named `pkg/msg/Type` is never found, so the schema is rejected.

Written for the tests from Foxglove's documented behaviour (no code of theirs is used).
"""

from __future__ import annotations

import re

PRIMITIVES = {
    "bool",
    "byte",
    "char",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "string",
    "wstring",
}
SEPARATOR = re.compile(r"^=+$", re.MULTILINE)
SECTION_NAME = re.compile(r"^MSG: ([A-Za-z][A-Za-z0-9_]*)/([A-Za-z][A-Za-z0-9_]*)$")
FIELD = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_/]*)(?P<bound><=\d+)?(?P<array>\[(<=)?\d*\])?\s+"
    r"(?P<name>[A-Za-z][A-Za-z0-9_]*)(\s*=\s*(?P<const>.*)|\s+(?P<default>.*))?$"
)


class SchemaError(ValueError):
    """The schema would be rejected by Foxglove."""


def _normalise(typ: str, package: str) -> str:
    parts = typ.split("/")
    if len(parts) == 1:
        return f"{package}/{parts[0]}"
    if len(parts) == 2:
        return typ
    if len(parts) == 3 and parts[1] == "msg":
        return f"{parts[0]}/{parts[2]}"
    raise SchemaError(f"bad type name {typ!r}")


def parse_schema(name: str, text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a ros2msg schema as {pkg/Type: [(field type, field name), ...]}.

    Raises:
        SchemaError: a rule above is broken.
    """
    chunks = SEPARATOR.split(text)
    pkg, _, short = name.partition("/msg/")
    if not short:
        raise SchemaError(f"top-level type {name!r} is not pkg/msg/Type")
    sections: dict[str, tuple[str, list[str]]] = {f"{pkg}/{short}": (pkg, chunks[0].splitlines())}
    for chunk in chunks[1:]:
        lines = chunk.strip("\n").splitlines()
        match = SECTION_NAME.match(lines[0].strip()) if lines else None
        if match is None:
            raise SchemaError(f"section header {lines[:1]!r} is not 'MSG: pkg/Type'")
        sections[f"{match[1]}/{match[2]}"] = (match[1], lines[1:])
    out: dict[str, list[tuple[str, str]]] = {}
    for section, (package, lines) in sections.items():
        fields = []
        for raw in lines:
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = FIELD.match(line)
            if match is None:
                raise SchemaError(f"{section}: cannot parse line {raw!r}")
            if match["const"] is not None:
                continue
            typ = match["type"]
            if typ not in PRIMITIVES:
                typ = _normalise(typ, package)
            fields.append((typ, match["name"]))
        out[section] = fields
    for section, fields in out.items():
        for typ, field in fields:
            if typ not in PRIMITIVES and typ not in out:
                raise SchemaError(f"{section}.{field}: type {typ} has no 'MSG: {typ}' section")
    return out
