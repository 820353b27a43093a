"""The machine line every benchmark prints (emotionaldan_ros.benchmarking)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotionaldan_ros import benchmarking


def test_cpu_features_lists_only_known_flags_in_cpuinfo(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    fake.write_text("model name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512f amx_tile xsave\n")
    real_path = Path

    def path(arg, *rest):
        return fake if str(arg) == "/proc/cpuinfo" else real_path(arg, *rest)

    monkeypatch.setattr(benchmarking, "Path", path)
    assert benchmarking.cpu_features() == "avx2 avx512f amx_tile"
    assert benchmarking.cpu_model() == "Some CPU"
    fake.write_text("flags\t\t: fpu sse\n")
    assert benchmarking.cpu_features().startswith("none of avx2/")


def test_cpu_features_unreadable(monkeypatch, tmp_path):
    monkeypatch.setattr(benchmarking, "Path", lambda *_: tmp_path / "missing")
    assert benchmarking.cpu_features() == "unknown"


@pytest.mark.parametrize("key", ["cpu", "isa", "cores", "load_avg_1m", "python"])
def test_machine_line_names_the_machine(key):
    assert f"{key} " in benchmarking.describe_line()
