"""Node parameter declarations, kept ROS-free so that configs and docs can be checked without ROS.

Each node lists its parameters once as `ParamSpec`s; `nodes/common.py` declares them on the rclpy
node (with descriptions and ranges) and validates every later change with the same rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ParamValue = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter.

    Attributes:
        name: parameter name.
        default: default value; its type is the parameter's type.
        description: one line for `ros2 param describe` and the README.
        range: inclusive (low, high) for numbers.
        choices: allowed values for strings.
        check: extra rule returning an error message or None.
        read_only: changing it at run time is refused (needs a process restart).
        reconfigure: read when a lifecycle node is configured (it rebuilds a model or the
            subscriptions): a change is accepted only while the node is unconfigured and takes
            effect at the next configure / activate. Every other parameter takes effect at run
            time (the node applies it; see nodes/common.py `LiveParams`).
    """

    name: str
    default: ParamValue
    description: str
    range: tuple[float, float] | None = None
    choices: Sequence[str] | None = None
    check: Callable[[ParamValue], str | None] | None = None
    read_only: bool = False
    reconfigure: bool = False

    def validate(self, value: object) -> str | None:
        """Return why `value` is not acceptable, or None."""
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            return f"{self.name} must be {kind.__name__}, got {type(value).__name__} {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.range is not None and not self.range[0] <= value <= self.range[1]:  # type: ignore[operator]
            return f"{self.name} must be in [{self.range[0]}, {self.range[1]}], got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
        return self.check(value) if self.check else None


def defaults(specs: Sequence[ParamSpec]) -> dict[str, ParamValue]:
    """{name: default} of a spec list."""
    return {s.name: s.default for s in specs}
