"""Options of the reliability suite: fast by default, long with `--soak`."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def soak(request) -> bool:
    """True with `--soak`: tests run their long variant."""
    return bool(request.config.getoption("--soak"))


@pytest.fixture(scope="session")
def soak_minutes(request) -> float:
    """Length of the demo soak with `--soak` (`--soak-minutes`, default 10)."""
    return float(request.config.getoption("--soak-minutes"))


def pytest_collection_modifyitems(config, items):
    """With --soak, the suite's tests may run far longer than the default 300 s timeout."""
    if not config.getoption("--soak"):
        return
    limit = 900 + 90 * float(config.getoption("--soak-minutes"))
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.timeout(limit))
