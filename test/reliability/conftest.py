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
