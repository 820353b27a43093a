"""End-to-end benchmark of the cabin graph: frames/s and latency for 640x480 frames.

Runs the face detector and EmotionalDAN nodes in-process on pip rclpy, publishes 640x480 bgr8
frames with 1 or 3 real faces (from the bundled demo footage) at a fixed rate, and measures, per
EmotionArray received: latency = receipt time − image stamp. Also times each stage's core call
(image decode, detection, recognition) without ROS on the same frames.

    python benchmarks/pipeline.py                       # defaults of config/cabin.yaml
    python benchmarks/pipeline.py --detector faceapi_tiny --rate 10 --seconds 20
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import cv2
import numpy as np
import torch

from emotionaldan_ros.benchmarking import header as machine_header
from emotionaldan_ros.core.detection import DEFAULT_DETECTOR
from emotionaldan_ros.core.sources import demo_dir
from emotionaldan_ros.rosenv import apply_ros_defaults

# Demo frames with a known number of faces (see assets/demo/manifest.json).
SCENES = {1: "frame_0008.jpg", 3: "frame_0030.jpg"}


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    a = np.asarray(values)
    return " / ".join(f"{np.percentile(a, q):.1f}" for q in (50, 95, 99))


def stage_costs(
    image: np.ndarray, detector_name: str, backend: str, repeat: int, threads: int
) -> dict:
    """Median ms of each stage's core call on one frame (no ROS, `threads` torch threads)."""
    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.core.image_codec import image_to_numpy, numpy_to_image, to_bgr8

    torch.set_num_threads(threads)
    det = create_detector(detector_name)
    rec = create_recognizer(backend)
    fields = numpy_to_image(image, "bgr8")
    boxes = det.detect(image).boxes
    rec.predict(image, boxes)  # warm-up
    timings: dict[str, list[float]] = {"decode": [], "detect": [], "recognise": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        to_bgr8(
            "bgr8",
            image_to_numpy("bgr8", fields.height, fields.width, fields.step, 0, fields.data),
        )
        t1 = time.perf_counter()
        det.detect(image)
        t2 = time.perf_counter()
        rec.predict(image, boxes)
        t3 = time.perf_counter()
        for key, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            timings[key].append(dt * 1e3)
    out = {k: float(np.median(v)) for k, v in timings.items()}
    out["faces"] = len(boxes)
    return out


def run_graph(image: np.ndarray, args: argparse.Namespace) -> dict:
    """Publish frames at args.rate for args.seconds through the two model nodes."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, RESULT_QOS, bgr_to_image_msg
    from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
    from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
    from emotionaldan_ros.nodes.runtime import activate

    ctx = Context()
    rclpy.init(context=ctx, domain_id=args.domain_id)
    ex = MultiThreadedExecutor(num_threads=4, context=ctx)
    threads = Parameter("torch_threads", value=args.torch_threads)
    det = FaceDetectorNode(
        context=ctx,
        namespace="/cabin",
        parameter_overrides=[Parameter("detector", value=args.detector), threads],
    )
    emo = EmotionalDanNode(
        context=ctx,
        namespace="/cabin",
        parameter_overrides=[Parameter("backend", value=args.backend), threads],
    )
    for n in (det, emo):
        activate(n)
    probe = Node("bench", context=ctx, namespace="/cabin")
    latencies: list[float] = []
    faces: list[int] = []

    def on_emotion(msg: EmotionArray) -> None:
        sent = msg.header.stamp.sec * 1e9 + msg.header.stamp.nanosec
        latencies.append((time.time_ns() - sent) / 1e6)
        faces.append(len(msg.emotions))

    probe.create_subscription(EmotionArray, "emotion", on_emotion, RESULT_QOS)
    pub = probe.create_publisher(Image, "camera/image_raw", FRAME_PUB_QOS)
    for n in (det, emo, probe):
        ex.add_node(n)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    template = bgr_to_image_msg(image, Header(frame_id="bench"))

    def publish_for(seconds: float) -> tuple[int, float]:
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            now = time.time_ns()
            template.header.stamp.sec, template.header.stamp.nanosec = divmod(now, 1_000_000_000)
            pub.publish(template)
            sent += 1
            time.sleep(max(0.0, start + sent / args.rate - time.monotonic()))
        return sent, time.monotonic() - start

    publish_for(2.0)  # warm-up: first inferences are slow; not measured
    time.sleep(0.5)
    latencies.clear()
    faces.clear()
    drops_before = det.stats.dropped() + emo.stats.dropped()
    sent, elapsed = publish_for(args.seconds)
    time.sleep(1.0)  # let the last frames through (not counted in the rate)
    result = {
        "sent": sent,
        "received": len(latencies),
        "fps": len(latencies) / elapsed,
        "latency": percentiles(latencies),
        "faces_per_frame": float(np.mean(faces)) if faces else 0.0,
        "detector_ms": det.stats.latency_ms()[0],
        "emotion_ms": emo.stats.latency_ms()[0],
        "drops": det.stats.dropped() + emo.stats.dropped() - drops_before,
    }
    for n in (det, emo):
        n.close()
    ex.shutdown()
    spinner.join(timeout=5)
    for n in (det, emo, probe):
        n.destroy_node()
    rclpy.try_shutdown(context=ctx)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--backend", default="faceapi")
    ap.add_argument("--rate", type=float, default=15.0, help="published frames per second")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--repeat", type=int, default=20, help="stage timing repetitions")
    ap.add_argument("--domain-id", type=int, default=97)
    ap.add_argument("--torch-threads", type=int, default=1, help="torch_threads of the nodes")
    args = ap.parse_args()
    apply_ros_defaults()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    print(machine_header("emotionaldan-ros pipeline benchmark (640x480 bgr8)"))
    print(
        f"detector {args.detector}, backend {args.backend}, publish rate {args.rate} fps, "
        f"{args.seconds:.0f} s per scene\n"
    )
    print(
        "| faces | decode ms | detect ms | recognise ms | graph fps | latency p50/p95/p99 ms "
        "| detector node ms | emotion node ms | drops |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n_faces, name in SCENES.items():
        image = cv2.imread(str(demo_dir() / name))
        image = cv2.resize(image, (640, 480))
        st = stage_costs(image, args.detector, args.backend, args.repeat, args.torch_threads)
        g = run_graph(image, args)
        print(
            f"| {n_faces} (found {st['faces']}) | {st['decode']:.2f} | {st['detect']:.1f} | "
            f"{st['recognise']:.1f} | {g['fps']:.1f} ({g['received']}/{g['sent']} frames) | "
            f"{g['latency']} | {g['detector_ms']:.1f} | {g['emotion_ms']:.1f} | {g['drops']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
