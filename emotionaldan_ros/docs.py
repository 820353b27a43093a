"""Generate the README's "ROS API" parameter tables from the nodes' declarations.

`python -m emotionaldan_ros.docs` prints them; a test checks the README holds exactly this text,
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import importlib

from emotionaldan_ros.graph import CABIN_NODES, HRI_BRIDGE


def param_tables() -> str:
    """Markdown: one parameter table per node of the graph (and the optional ROS4HRI bridge)."""
    parts = []
    for spec in (*CABIN_NODES, HRI_BRIDGE):
        module = importlib.import_module(spec.factory.split(":")[0])
        rows = ["| parameter | default | description |", "|---|---|---|"]
        for p in module.PARAMS:
            rule = ""
            if p.range is not None:
                rule = f" Range [{p.range[0]}, {p.range[1]}]."
            elif p.choices:
                rule = f" One of: {', '.join(p.choices)}."
            if p.read_only:
                rule += " Read-only at run time."
            elif p.reconfigure:
                rule += " Settable while the node is unconfigured (read at configure)."
            default = str(p.default).lower() if isinstance(p.default, bool) else p.default
            shown = f"`{default}`" if default != "" else "''"
            rows.append(f"| `{p.name}` | {shown} | {p.description}.{rule} |")
        parts.append(
            f"**{spec.name}** (`{spec.executable}`): {spec.summary}\n\n" + "\n".join(rows)
        )
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(param_tables())
