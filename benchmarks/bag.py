"""Bag throughput for 640x480 bgr8 frames: storage write/read, and record/play through ROS 2.

    python benchmarks/bag.py [--frames 300] [--storages mcap sqlite3] [--no-ros]
    python benchmarks/bag.py --startup [--seconds 8]

Storage: BagWriter / BagReader alone (no ROS). ROS: this process plays a bag as fast as it can
(`Player`, rate 1e6, reliable depth 10) into `emotionaldan-bag record` running in a subprocess
(`--max-messages N`), over the shipped Fast DDS profile, once flooding (rate 1e6: the recorder's
receive rate is its capacity) and once at the recorded 30 frames/s. Record frames/s come from the
recorder's own receive times in the bag. Frames lost between player and recorder (KEEP_LAST
history overrun when the publisher is faster) are reported, not hidden.

`--startup`: a camera-like publisher (640x480 frames at 15 fps) is already running when
`emotionaldan-bag record` starts; after `--seconds` of wall time the recorder is stopped, and the
figures are the delay from launching the recorder to its first recorded frame and how many
seconds of frames the bag holds.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagReader, BagWriter
from emotionaldan_ros.benchmarking import describe_line

TOPIC = "/bench/image"
W, H = 640, 480


def machine() -> str:
    return describe_line(("rosbags", "numpy"))


def frames(n: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)  # noise: no compression effects
    t0 = 1_700_000_000 * 10**9
    return [msgs.image(np.roll(base, i, axis=1), t0 + i * 33_333_333, "cam") for i in range(n)]


def bench_storage(raws: list[bytes], storage: str, tmp: Path) -> tuple[float, float, Path]:
    path = tmp / f"w_{storage}"
    t0 = 1_700_000_000 * 10**9
    start = time.perf_counter()
    with BagWriter(path, storage=storage) as writer:
        writer.add_topic(TOPIC, msgs.IMAGE)
        for i, raw in enumerate(raws):
            writer.write(TOPIC, t0 + i * 33_333_333, raw)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    with BagReader(path) as reader:
        count = sum(1 for _ in reader.messages())
    read_s = time.perf_counter() - start
    assert count == len(raws)
    return write_s, read_s, path


def bench_ros(src: Path, n: int, storage: str, tmp: Path, rate: float) -> dict[str, float]:
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node

    from emotionaldan_ros.bag.play import Player
    from emotionaldan_ros.bag.rosio import StopFlag
    from emotionaldan_ros.rosenv import apply_ros_defaults

    apply_ros_defaults()
    domain = random.randint(100, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    out = tmp / f"rec_{storage}_{rate:g}"
    cmd = [
        sys.executable,
        "-m",
        "emotionaldan_ros.bag.cli",
        "record",
        "-o",
        str(out),
        "--storage",
        storage,
        "--max-messages",
        str(n),
        "/bench/*",
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        node = Node("bench_player", context=context)
        with BagReader(src) as bag:
            stop = StopFlag()
            sent = [0]

            def count(*_: object) -> None:
                sent[0] += 1
                if sent[0] >= n:
                    stop.set()

            player = Player(node, bag, rate=rate, on_publish=count)
            if player.wait_for_subscribers(30.0):
                raise RuntimeError("recorder did not subscribe")
            start = time.perf_counter()
            stats = player.play(stop)
            play_s = time.perf_counter() - start
            try:
                proc.wait(timeout=max(10.0, 3 * play_s))
            except subprocess.TimeoutExpired:  # frames were lost: stop it, count what arrived
                proc.send_signal(2)
                proc.wait(30)
            record_s = time.perf_counter() - start
    finally:
        rclpy.try_shutdown(context=context)
        if proc.poll() is None:
            proc.kill()
    with BagReader(out) as reader:
        recorded = reader.message_count
        span_s = reader.duration_s  # first to last receive time in the recorder
    return {
        "published": sum(stats.published.values()),
        "play_s": play_s,
        "recorded": recorded,
        "record_fps": (recorded - 1) / span_s if span_s > 0 else float("nan"),
        "record_s": record_s,
    }


def bench_startup(storage: str, tmp: Path, seconds: float) -> dict[str, float]:
    import threading

    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from emotionaldan_ros.nodes.common import FRAME_PUB_QOS
    from emotionaldan_ros.rosenv import apply_ros_defaults

    apply_ros_defaults()
    domain = random.randint(100, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    out = tmp / f"startup_{storage}"
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    stop = threading.Event()
    frame = np.zeros((H, W, 3), np.uint8)
    try:
        node = Node("bench_camera", context=context)
        pub = node.create_publisher(Image, TOPIC, FRAME_PUB_QOS)

        def camera() -> None:
            due = time.monotonic()
            while not stop.is_set():
                msg = Image(height=H, width=W, encoding="bgr8", step=W * 3)
                msg.header.stamp = node.get_clock().now().to_msg()
                msg.data = frame.tobytes()
                pub.publish(msg)
                due += 1 / 15
                stop.wait(max(0.0, due - time.monotonic()))

        thread = threading.Thread(target=camera, daemon=True)
        thread.start()
        cmd = [sys.executable, "-m", "emotionaldan_ros.bag.cli", "record", "-o", str(out)]
        launched = time.time_ns()
        proc = subprocess.Popen([*cmd, "--storage", storage, "/bench/*"], env=env,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(seconds)
        proc.send_signal(2)
        proc.wait(30)
        stop.set()
        thread.join()
    finally:
        rclpy.try_shutdown(context=context)
    with BagReader(out) as reader:
        count = reader.message_count
        first = reader.start_ns
    return {
        "first_s": (first - launched) / 1e9 if count else float("nan"),
        "recorded_s": count / 15,
        "frames": count,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--storages", nargs="+", default=["mcap", "sqlite3"])
    ap.add_argument("--no-ros", action="store_true", help="storage figures only")
    ap.add_argument("--startup", action="store_true", help="recording start-up delay only")
    ap.add_argument("--seconds", type=float, default=8.0, help="--startup: wall time recorded")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if args.startup:
        tmp = Path(tempfile.mkdtemp(prefix="bag-bench-"))
        try:
            print("\n| storage | first frame after launch s | frames recorded | s of data |")
            print("|---|---|---|---|")
            for storage in args.storages:
                r = bench_startup(storage, tmp, args.seconds)
                print(
                    f"| {storage} | {r['first_s']:.2f} | {r['frames']} | "
                    f"{r['recorded_s']:.1f} of {args.seconds:g} |"
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    raws = frames(args.frames)
    mb = sum(len(r) for r in raws) / 1e6
    size = mb / args.frames
    print(f"{args.frames} frames {W}x{H} bgr8, {mb / args.frames:.3f} MB each, {mb:.1f} MB total")
    tmp = Path(tempfile.mkdtemp(prefix="bag-bench-"))
    try:
        print("\n| storage | step | frames/s | MB/s | notes |\n|---|---|---|---|---|")
        for storage in args.storages:
            write_s, read_s, path = bench_storage(raws, storage, tmp)
            n = args.frames
            print(f"| {storage} | write (BagWriter) | {n / write_s:.0f} | {mb / write_s:.0f} | |")
            print(f"| {storage} | read (BagReader) | {n / read_s:.0f} | {mb / read_s:.0f} | |")
            if args.no_ros:
                continue
            r = bench_ros(path, n, storage, tmp, rate=1e6)
            lost = r["published"] - r["recorded"]
            fps = r["published"] / r["play_s"]
            print(f"| {storage} | play, as fast as possible | {fps:.0f} | {fps * size:.0f} | |")
            fps = r["record_fps"]
            print(
                f"| {storage} | record, flooded by that player | {fps:.0f} | {fps * size:.0f} | "
                f"{lost} of {n} lost |"
            )
            paced = min(n, 150)
            r = bench_ros(path, paced, storage, tmp, rate=1.0)
            lost = r["published"] - r["recorded"]
            fps = r["record_fps"]
            print(
                f"| {storage} | record at 30 frames/s (play rate 1.0) | {fps:.0f} | "
                f"{fps * size:.0f} | {lost} of {paced} lost |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
