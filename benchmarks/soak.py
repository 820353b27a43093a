"""Soak of the looping demo: RSS growth per minute, threads and open files of emotionaldan-cabin.

    python benchmarks/soak.py [--minutes 10] [--warmup 60] [--stub] [--json soak.json]

Runs `emotionaldan-cabin --source demo --set camera.loop=true --quiet` (the real default models;
`--stub`: the stub recogniser and Haar, from test/), samples /proc/<pid> every second, ends
with Ctrl-C (SIGINT) and prints a table per minute, the RSS slope after the warm-up (least
squares, MB/min, MB = 10^6 bytes), the thread and file-descriptor ranges, CPU and wall time,
the frames processed and the exit status. Target (issue 10): growth < 1 MB/min after warm-up
over a 10-minute soak.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from emotionaldan_ros.benchmarking import header
from emotionaldan_ros.soak import soak_cabin

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds left out of the slope")
    ap.add_argument("--stub", action="store_true", help="stub recogniser + Haar (test/stubs.py)")
    ap.add_argument("--json", type=Path, help="also write the samples here")
    args = ap.parse_args()
    cabin = ["--source", "demo", "--set", "camera.loop=true", "--quiet"]
    env = dict(os.environ)
    if args.stub:
        cabin += ["--detector", "haar"]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "test"), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as tmp:
        if args.stub:  # python: backends come from a params file only (README, Security)
            params = Path(tmp) / "params.yaml"
            params.write_text(
                "/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n"
            )
            cabin += ["--config", str(params)]
        print(header("soak of the looping demo (emotionaldan-cabin)"), flush=True)
        report = soak_cabin(cabin, args.minutes * 60.0, args.warmup, env=env, cwd=tmp)
    print(" ".join(["cabin:", *report.command[1:]]))
    print(report.table())
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": report.command,
                    "warmup_s": report.warmup_s,
                    "rss_growth_mb_per_min": report.rss_growth_mb_per_min,
                    "exit_code": report.exit_code,
                    "frames": report.frames,
                    "samples": [asdict(s) for s in report.samples],
                },
                indent=1,
            )
        )
    return 0 if report.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
