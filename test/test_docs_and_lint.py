"""Docs stay in sync with the code, and the tree is ruff-clean (the ament linters' role)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emotionaldan_ros.docs import param_tables

ROOT = Path(__file__).resolve().parents[1]


def test_readme_param_tables_are_generated_from_the_nodes():
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- param-tables:start.*?-->\n(.*)\n<!-- param-tables:end -->", readme, re.S
    )
    assert block, "README lost its param-tables markers"
    assert block.group(1).strip() == param_tables().strip(), (
        "README parameter tables are stale: paste `python -m emotionaldan_ros.docs`"
    )


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/setup.sh demo" in readme and "scripts/setup.sh test" in readme
    assert "setup.sh test" in (ROOT / ".ci/run").read_text()


@pytest.mark.skipif(
    shutil.which("ruff") is None and not Path(sys.prefix, "bin/ruff").exists(),
    reason="ruff not installed",
)
@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff_clean(args):
    ruff = shutil.which("ruff") or str(Path(sys.prefix, "bin/ruff"))
    res = subprocess.run([ruff, *args, "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
