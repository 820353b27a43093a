"""End-to-end benchmark of the cabin graph against a peer pipeline and the previous release.

Publishes camera frames (640x480 or 1280x720 bgr8, 1 or 3 real faces from the bundled demo
footage, panning slowly so that tracking has work to do) at a fixed rate into a graph running on
pip rclpy, and measures for every `EmotionArray` received: latency = receipt time - image stamp.
Per run it prints the processed frame rate, latency p50/p95/p99, the CPU the graph used (process
CPU time / wall time, in cores, including publishing the frames as a camera node would) and the
frame rate relative to the peer pipeline on the same case.

Configurations (`--configs`, side by side in one run):
    default   the shipped graph: face_detector + emotionaldan nodes with their default
              parameters (ONNX Runtime, detection at 10 Hz, faces tracked between detections),
              the default executor.
    peer      what ROS emotion nodes do (ros4hri's emotion recogniser, OpenDR's node): one node
              whose image callback runs Haar on the full frame, then one full-size model call
              per face (the paper-size EmotionalDAN, PyTorch, batch 1; untrained weights: speed
              only).
    previous  the previous release's path: PyTorch nets, its faceapi_tiny detector on every
              frame, each image paired with its faces, a 4-thread executor.
    fused     (not shipped; to size the gain) detector schedule, tracking and recogniser in one
              node and one worker thread, no faces messages.
Variants: `default,executor=multi`, `default,threads=2` (ONNX Runtime intra-op threads),
`default,procs` (one process per model node), `default,rate=30` (detect_rate_hz),
`default,nice=0` (the detection thread at normal priority), `default,queue=2` (the emotionaldan
node's queue_depth).

    python benchmarks/pipeline.py                    # all cases, default/peer/previous
    python benchmarks/pipeline.py --quick            # smoke run: 3 s per case, fewer cases
    python benchmarks/pipeline.py --configs default default,executor=events --cases 640x480x3@30
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from emotionaldan_ros.benchmarking import header as machine_header
from emotionaldan_ros.core.sources import demo_dir
from emotionaldan_ros.rosenv import apply_ros_defaults

# Demo frames with a known number of faces (see assets/demo/manifest.json).
SCENES = {1: "frame_0008.jpg", 3: "frame_0035.jpg"}
CASES = ("640x480x1@15", "640x480x1@30", "640x480x3@15", "640x480x3@30", "1280x720x3@30")
QUICK_CASES = ("640x480x1@15", "640x480x3@30")
CONFIGS = ("default", "peer", "previous")
PAN_FRAMES = 60  # frames of the slow pan, played in a loop


@dataclass(frozen=True)
class Case:
    """One scene: frame size, faces in view, publish rate."""

    width: int
    height: int
    faces: int
    fps: float

    @staticmethod
    def parse(text: str) -> Case:
        size, _, fps = text.partition("@")
        w, h, n = (int(v) for v in size.split("x"))
        return Case(w, h, n, float(fps or 30))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}, {self.faces} face{'s' * (self.faces > 1)}"


@dataclass(frozen=True)
class Config:
    """A graph configuration and its variant options."""

    name: str
    executor: str = ""
    threads: int = 1
    procs: bool = False
    rate: float | None = None
    nice: int | None = None
    queue: int | None = None
    label: str = ""

    @staticmethod
    def parse(text: str) -> Config:
        name, *mods = text.split(",")
        if name not in (*CONFIGS, "fused"):
            raise SystemExit(f"unknown config {name!r}")
        kw: dict = {"label": text}
        for mod in mods:
            key, _, value = mod.partition("=")
            if key == "executor":
                kw["executor"] = value
            elif key == "threads":
                kw["threads"] = int(value)
            elif key == "procs":
                kw["procs"] = True
            elif key == "rate":
                kw["rate"] = float(value)
            elif key == "nice":
                kw["nice"] = int(value)
            elif key == "queue":
                kw["queue"] = int(value)
            else:
                raise SystemExit(f"unknown variant {mod!r} in {text!r}")
        return Config(name, **kw)

    def executor_kind(self) -> str:
        from emotionaldan_ros.graph import DEFAULT_EXECUTOR

        return self.executor or ("multi" if self.name == "previous" else DEFAULT_EXECUTOR)

    def node_params(self) -> dict[str, dict]:
        """Parameter overrides of the two model nodes."""
        det: dict = {"inference_threads": self.threads}
        emo: dict = {"inference_threads": self.threads}
        if self.name == "previous":
            # its default detector and face size (blazeface runs on ONNX Runtime only)
            det |= {"engine": "torch", "detect_rate_hz": 0.0, "detector": "faceapi_tiny"}
            det |= {"min_face_size": 40}
            emo |= {"engine": "torch", "track_faces": False}
        if self.rate is not None:
            det["detect_rate_hz"] = self.rate
        if self.nice is not None:
            det["worker_nice"] = self.nice
        if self.queue is not None:
            emo["queue_depth"] = self.queue
        return {"face_detector": det, "emotionaldan": emo}


@dataclass
class Result:
    sent: int = 0
    received: int = 0
    elapsed: float = 0.0
    cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    faces: list[int] = field(default_factory=list)
    node_ms: str = "-"  # median processing time per call of the model nodes (in-process runs)
    threads: dict[str, float] = field(default_factory=dict)  # CPU s per thread (measured window)

    @property
    def fps(self) -> float:
        return self.received / self.elapsed if self.elapsed else 0.0

    def latency(self) -> str:
        if not self.latencies:
            return "n/a"
        a = np.asarray(self.latencies)
        return " / ".join(f"{np.percentile(a, q):.0f}" for q in (50, 95, 99))


# ------------------------------------------------------------------------------------ frames
def pan_frames(case: Case) -> list[np.ndarray]:
    """PAN_FRAMES frames of the scene at the case's size, panning ±12 px and back."""
    image = cv2.imread(str(demo_dir() / SCENES[case.faces]))
    # Same aspect as the source (faces are not stretched), centred on a grey background.
    scale = min(case.width / image.shape[1], case.height / image.shape[0])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    left, top = (case.width - image.shape[1]) // 2, (case.height - image.shape[0]) // 2
    image = cv2.copyMakeBorder(
        image,
        top,
        case.height - image.shape[0] - top,
        left,
        case.width - image.shape[1] - left,
        cv2.BORDER_CONSTANT,
        value=(96, 96, 96),
    )
    frames = []
    for k in range(PAN_FRAMES):
        dx = 12.0 * np.sin(2 * np.pi * k / PAN_FRAMES)
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
        frames.append(cv2.warpAffine(image, m, (case.width, case.height)))
    return frames


# ----------------------------------------------------------------------- benchmark-only nodes
def make_peer_node(context, namespace: str):
    """The peer pipeline: Haar on the full frame, then one full-size model call per face."""
    import torch
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.core.dan_recognizer import DANRecognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.core.model.registry import create_model
    from emotionaldan_ros.nodes.common import FRAME_SUB_QOS, RESULT_QOS, image_msg_to_bgr
    from emotionaldan_ros.nodes.messages import emotion_array, faces_message

    class PeerEmotionNode(Node):
        def __init__(self) -> None:
            super().__init__("peer_emotion", context=context, namespace=namespace)
            torch.manual_seed(0)
            self.detector = create_detector("haar")  # max_side 0: the full frame
            self.recognizer = DANRecognizer(create_model("emotionaldan").eval(), device="cpu")
            self.pub = self.create_publisher(EmotionArray, "emotion", RESULT_QOS)
            self.create_subscription(Image, "camera/image_raw", self.callback, FRAME_SUB_QOS)

        def callback(self, msg: Image) -> None:
            image = image_msg_to_bgr(msg)
            det = self.detector.detect(image)
            preds = [self.recognizer.predict(image, box[None]) for box in det.boxes]
            faces = faces_message(msg.header, det.boxes, det.scores, np.zeros(len(det)), "haar")
            out = EmotionArray(header=msg.header, model="peer")
            for face, pred in zip(faces.faces, preds, strict=True):
                out.emotions += emotion_array(msg.header, [face], pred, "peer").emotions
            self.pub.publish(out)

    return PeerEmotionNode()


def make_fused_node(context, namespace: str, threads: int):
    """Detector schedule + tracking + recogniser in one node and one worker (no Faces)."""
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.core.schedule import DetectionSchedule, FrameScheduler
    from emotionaldan_ros.nodes.common import (
        FRAME_SUB_QOS,
        RESULT_QOS,
        LatestSlot,
        Stats,
        Worker,
        image_msg_to_bgr,
        stamp_ns,
    )
    from emotionaldan_ros.nodes.messages import emotion_array, faces_message

    class FusedNode(Node):
        def __init__(self) -> None:
            super().__init__("fused", context=context, namespace=namespace)
            self.detector = create_detector("faceapi_tiny", min_face_size=40, threads=threads)
            self.recognizer = create_recognizer("faceapi", threads=threads)
            self.schedule, self.frames = DetectionSchedule(10.0), FrameScheduler()
            self.stats = Stats()
            self.pub = self.create_publisher(EmotionArray, "emotion", RESULT_QOS)
            self.slot: LatestSlot = LatestSlot()
            self.worker = Worker(self, self.slot, self.process, self.stats)
            self.create_subscription(Image, "camera/image_raw", self.slot.put, FRAME_SUB_QOS)

        def process(self, msg: Image) -> None:
            image, stamp = image_msg_to_bgr(msg), stamp_ns(msg.header)
            if self.schedule.due(stamp):
                det = self.detector.detect(image)
                ids = np.arange(1, len(det) + 1)  # ids: matched by the tracker
                self.frames.add_detections(stamp, det.boxes, det.scores, ids)
            tracks = self.frames.plan()
            pred = self.recognizer.predict(image, tracks.boxes)
            h, w = image.shape[:2]
            if self.frames.observe(stamp, tracks, pred, w, h).want_detection:
                self.schedule.request()
            faces = faces_message(msg.header, tracks.boxes, tracks.scores, tracks.ids, "")
            self.pub.publish(emotion_array(msg.header, faces.faces, pred, "fused"))

        def close(self) -> None:
            self.worker.stop()

    return FusedNode()


def _model_nodes(
    context, config: Config, names: tuple[str, ...] = ("face_detector", "emotionaldan")
):
    """The shipped model nodes with the config's parameters, activated."""
    from rclpy.parameter import Parameter

    from emotionaldan_ros.nodes.emotionaldan import EmotionalDanNode
    from emotionaldan_ros.nodes.face_detector import FaceDetectorNode
    from emotionaldan_ros.nodes.runtime import activate

    classes = {"face_detector": FaceDetectorNode, "emotionaldan": EmotionalDanNode}
    params = config.node_params()
    nodes = []
    for name in names:
        overrides = [Parameter(k, value=v) for k, v in params[name].items()]
        node = classes[name](context=context, namespace="/cabin", parameter_overrides=overrides)
        activate(node)
        nodes.append(node)
    return nodes


def _node_process(config: Config, name: str, domain_id: int, stop) -> None:
    """Child process of `procs` runs: one model node, its own executor."""
    import rclpy
    from rclpy.context import Context

    from emotionaldan_ros.nodes.runtime import make_executor

    apply_ros_defaults()
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id)
    (node,) = _model_nodes(ctx, config, (name,))
    ex = make_executor(config.executor_kind(), ctx)
    ex.add_node(node)
    while not stop.is_set():
        ex.spin_once(timeout_sec=0.1)
    node.close()
    ex.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds per thread of this process, by Python thread name (else the OS name)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                comm, rest = f.read().split("(", 1)[1].rsplit(")", 1)
        except OSError:  # the thread ended meanwhile
            continue
        fields = rest.split()
        name = names.get(int(tid), comm)
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        out[name] = out.get(name, 0.0) + cpu
    return out


def _self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------- stage costs
def stage_costs(repeat: int) -> None:
    """Per engine: load time (ONNX export included) and core-call cost, 640x480, 3 faces."""
    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.nodes.common import set_torch_threads

    set_torch_threads(1)
    image = pan_frames(Case(640, 480, 3, 30))[0]
    print("| engine | load s (detector + recogniser) | detect ms (CPU) | 3 faces ms (CPU) |")
    print("|---|---|---|---|")
    for engine in ("onnxruntime", "torch"):
        t0 = time.perf_counter()
        det = create_detector("faceapi_tiny", min_face_size=40, engine=engine)
        rec = create_recognizer("faceapi", engine=engine)
        load_s = time.perf_counter() - t0
        boxes = det.detect(image).boxes
        rec.predict(image, boxes)
        cells = []
        calls = (lambda d=det: d.detect(image), lambda r=rec, b=boxes: r.predict(image, b))
        for fn in calls:
            wall, cpu = [], []
            for _ in range(repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            cells.append(f"{np.median(wall) * 1e3:.1f} ({np.median(cpu) * 1e3:.1f})")
        print(f"| {engine} | {load_s:.1f} | {cells[0]} | {cells[1]} |", flush=True)
    print()


# ----------------------------------------------------------------------------------- one run
def run(config: Config, case: Case, args: argparse.Namespace) -> Result:
    """Publish the case's frames into the configured graph and measure its output."""
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from emotionaldan_msgs.msg import EmotionArray
    from emotionaldan_ros.nodes.common import FRAME_PUB_QOS, RESULT_QOS, bgr_to_image_msg
    from emotionaldan_ros.nodes.runtime import make_executor

    ctx = Context()
    rclpy.init(context=ctx, domain_id=args.domain_id)
    children, stop = [], None
    nodes: list = []
    if config.procs:
        spawn = mp.get_context("spawn")
        stop = spawn.Event()
        for name in ("face_detector", "emotionaldan"):
            proc = spawn.Process(target=_node_process, args=(config, name, args.domain_id, stop))
            proc.start()
            children.append(proc)
    elif config.name == "peer":
        nodes = [make_peer_node(ctx, "/cabin")]
    elif config.name == "fused":
        nodes = [make_fused_node(ctx, "/cabin", config.threads)]
    else:
        nodes = _model_nodes(ctx, config)
    ex = make_executor(config.executor_kind(), ctx)
    probe = Node("bench", context=ctx, namespace="/cabin")
    result = Result()
    measuring = False

    def on_emotion(msg: EmotionArray) -> None:
        if measuring:
            sent = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            result.latencies.append((time.time_ns() - sent) / 1e6)
            result.faces.append(len(msg.emotions))

    probe.create_subscription(EmotionArray, "emotion", on_emotion, RESULT_QOS)
    pub = probe.create_publisher(Image, "camera/image_raw", FRAME_PUB_QOS)
    for n in nodes:
        ex.add_node(n)
    # The probe has its own executor and thread: a graph callback that blocks its executor (the
    # peer node's) must not delay the receipt times it measures.
    probe_ex = make_executor("single", ctx)
    probe_ex.add_node(probe)
    spinners = [threading.Thread(target=e.spin, daemon=True) for e in (ex, probe_ex)]
    for t in spinners:
        t.start()
    wanted = 1 if config.name in ("peer", "fused") else 2
    deadline = time.monotonic() + 120
    while pub.get_subscription_count() < wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    while probe.count_publishers("emotion") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    msgs = [bgr_to_image_msg(f, Header(frame_id="bench")) for f in pan_frames(case)]

    def publish_for(seconds: float) -> tuple[int, float]:
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            msg = msgs[sent % len(msgs)]
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 10**9)
            pub.publish(msg)
            sent += 1
            time.sleep(max(0.0, start + sent / case.fps - time.monotonic()))
        return sent, time.monotonic() - start

    publish_for(args.warmup)  # first inferences are slow; not measured
    time.sleep(0.3)
    cpu0 = _self_cpu_s() + sum(_proc_cpu_s(p.pid) for p in children)
    threads0 = thread_cpu_s()
    measuring = True
    result.sent, result.elapsed = publish_for(args.seconds)
    result.cpu_s = _self_cpu_s() + sum(_proc_cpu_s(p.pid) for p in children) - cpu0
    result.threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu_s().items()}
    time.sleep(max(0.5, min(3.0, 3 / max(result.fps, 0.1))))  # let the last frames through
    measuring = False
    stats = [n.stats.latency_ms()[0] for n in nodes if hasattr(n, "stats")]
    if stats:
        result.node_ms = " / ".join(f"{ms:.1f}" for ms in stats)
    for n in nodes:
        close = getattr(n, "close", None)
        if close:
            close()
    ex.shutdown()
    probe_ex.shutdown()
    for t in spinners:
        t.join(timeout=5)
    for n in (*nodes, probe):
        n.destroy_node()
    rclpy.try_shutdown(context=ctx)
    if stop is not None:
        stop.set()
        for proc in children:
            proc.join(timeout=10)
    # Frames still in flight at the end are in `received` but not in the elapsed window:
    # count only the answers to frames sent inside it.
    result.received = min(len(result.latencies), result.sent)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--cases", nargs="+", help=f"WxHxFACES@FPS (default: {' '.join(CASES)})")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 s, fewer cases")
    ap.add_argument("--domain-id", type=int, default=97)
    ap.add_argument("--no-stages", action="store_true", help="skip the per-engine stage costs")
    ap.add_argument("--thread-cpu", action="store_true", help="CPU per frame by thread")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup = min(args.seconds, 3.0), 1.0
    cases = [Case.parse(c) for c in (args.cases or (QUICK_CASES if args.quick else CASES))]
    configs = [Config.parse(c) for c in args.configs]
    apply_ros_defaults()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(machine_header("emotionaldan-ros pipeline benchmark"))
    if not args.no_stages:
        stage_costs(10 if args.quick else 30)
    print(f"{args.seconds:.0f} s measured per run after {args.warmup:.0f} s of warm-up\n")
    print(
        "| config | scene | input fps | processed fps (frames) | faces/frame "
        "| latency p50 / p95 / p99 ms | CPU cores | CPU ms / frame | fps vs peer "
        "| node ms (det / emo) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        results = {c.label: run(c, case, args) for c in configs}
        peer = results.get("peer")
        for label, r in results.items():  # printed once the case's peer figure is known
            ratio = f"{r.fps / peer.fps:.1f}x" if peer and peer.fps else "-"
            faces = float(np.mean(r.faces)) if r.faces else 0.0
            print(
                f"| {label} | {case} | {case.fps:.0f} | {r.fps:.1f} "
                f"({r.received}/{r.sent}) | {faces:.1f} | {r.latency()} "
                f"| {r.cpu_s / r.elapsed:.2f} | {1e3 * r.cpu_s / max(r.received, 1):.0f} "
                f"| {ratio} | {r.node_ms} |",
                flush=True,
            )
            if args.thread_cpu:
                busy = sorted(r.threads.items(), key=lambda kv: -kv[1])[:6]
                per_frame = ", ".join(
                    f"{k} {1e3 * v / max(r.received, 1):.1f}" for k, v in busy if v > 0
                )
                print(f"|  | CPU ms per frame by thread: {per_frame} |||||||||", flush=True)
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
