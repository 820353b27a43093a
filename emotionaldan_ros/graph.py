"""The cabin node graph, defined once: used by `emotionaldan-cabin` and `launch/cabin.launch.py`.

ROS-free on purpose (plain data), so the launch file's node list is testable without `launch`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_NAMESPACE = "/cabin"
# rclpy executors a runner can spin the graph with (nodes/runtime.make_executor). One thread is
# the default: callbacks only hand messages to the model nodes' workers, and more executor
# threads contend with them for the GIL (measured in docs/realtime.md).
# (rclpy's experimental EventsExecutor is not offered: it deadlocks here as soon as another
# thread publishes while it spins, and the model nodes publish from their worker threads.)
EXECUTORS = ("single", "multi")
DEFAULT_EXECUTOR = "single"
PACKAGE = "emotionaldan_ros"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph.

    Attributes:
        name: node name, also its key in the YAML params file.
        executable: console script (`ros2 run emotionaldan_ros <executable>`).
        factory: "module:Class" building the node in-process.
        lifecycle: a lifecycle node, configured + activated at start (autostart).
        summary: one line for docs and `--help`.
    """

    name: str
    executable: str
    factory: str
    lifecycle: bool
    summary: str

    def load(self) -> type:
        """Import the node class."""
        module, _, cls = self.factory.partition(":")
        return getattr(importlib.import_module(module), cls)


CABIN_NODES: tuple[NodeSpec, ...] = (
    NodeSpec(
        "camera",
        "camera_node",
        f"{PACKAGE}.nodes.camera:CameraNode",
        False,
        "frames from a camera, video, folder or the demo footage → camera/image_raw",
    ),
    NodeSpec(
        "face_detector",
        "face_detector_node",
        f"{PACKAGE}.nodes.face_detector:FaceDetectorNode",
        True,
        "camera/image_raw → faces (boxes, scores, stable ids)",
    ),
    NodeSpec(
        "emotionaldan",
        "emotionaldan_node",
        f"{PACKAGE}.nodes.emotionaldan:EmotionalDanNode",
        True,
        "camera/image_raw + faces → emotion, landmarks, debug_image",
    ),
    NodeSpec(
        "fear_monitor",
        "fear_monitor_node",
        f"{PACKAGE}.nodes.fear_monitor:FearMonitorNode",
        False,
        "emotion → passenger_alert (smoothed fear, hysteresis, speed factor)",
    ),
)


# Optional node (not in the default graph): ROS4HRI output, started by the launch file's hri:=true.
HRI_BRIDGE = NodeSpec(
    "hri_bridge",
    "hri_bridge_node",
    f"{PACKAGE}.nodes.hri_bridge:HriBridgeNode",
    False,
    "emotion + camera/camera_info → /humans/faces/* (ROS4HRI; optional, needs hri_msgs)",
)


@dataclass(frozen=True)
class TopicQos:
    """QoS a cabin node offers on one of its topics.

    The nodes' QoS constants live in nodes/common.py; test_bag_compat checks that both agree.
    DDS discovery does not carry the history depth, so the recorder stores these depths for the
    graph's own topics (as a rosbag2 recording of the graph would, with the real profiles).
    """

    reliable: bool
    transient_local: bool
    depth: int


# Topic name relative to the graph's namespace → the QoS its publisher offers.
TOPIC_QOS: dict[str, TopicQos] = {
    "camera/image_raw": TopicQos(True, False, 1),
    "camera/image_raw/compressed": TopicQos(True, False, 1),
    "camera/camera_info": TopicQos(True, False, 1),
    "faces": TopicQos(True, False, 4),
    "emotion": TopicQos(True, False, 4),
    "landmarks": TopicQos(True, False, 4),
    "debug_image": TopicQos(True, False, 1),
    "passenger_alert": TopicQos(True, True, 10),
}


def known_qos(topic: str) -> TopicQos | None:
    """The cabin graph's QoS of a fully qualified topic in any namespace, or None."""
    for relative, qos in TOPIC_QOS.items():
        if topic.endswith("/" + relative):
            return qos
    return None


def declared_params(node: str) -> dict[str, Any] | None:
    """{name: ParamSpec} a graph node declares, or None for a node that is not in the graph."""
    spec = next((n for n in CABIN_NODES if n.name == node), None)
    if spec is None:
        return None
    module = importlib.import_module(spec.factory.partition(":")[0])
    return {p.name: p for p in module.PARAMS}


# Parameters whose value may name Python code that the node imports and runs at start-up
# (`backend: python:MODULE:FACTORY`). Such values are code execution from configuration: they are
# accepted from the params file only, never from command-line shortcuts or launch arguments, and
# the parameters are read-only at run time (README, "Security").
CODE_PARAMS = {("emotionaldan", "backend"): "python:"}


def code_execution_problem(node: str, param: str, value: object) -> str | None:
    """Why a value must not come from a command-line override (it runs code), or None."""
    prefix = CODE_PARAMS.get((node, param))
    if prefix is None or not isinstance(value, str) or not value.strip().startswith(prefix):
        return None
    return (
        f"{node}.{param}={value!r} imports and runs Python code at start-up: it is only accepted "
        f"from a params file (emotionaldan-cabin --config FILE, launch params_file:=FILE), "
        f"e.g. '/**/{node}: {{ros__parameters: {{{param}: {value.strip()}}}}}'"
    )


def cabin_nodes(camera: bool = True) -> tuple[NodeSpec, ...]:
    """The graph's nodes; without the camera when frames come from elsewhere (a bag player)."""
    return tuple(n for n in CABIN_NODES if camera or n.name != "camera")


def default_config() -> Path:
    """The shipped parameter file (repository checkout or installed share folder)."""
    candidates = [CONFIG_DIR / "cabin.yaml"]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / "config" / "cabin.yaml")
    except Exception:  # no ament index (plain pip install): the checkout path is the one
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"cabin.yaml not found in {[str(c) for c in candidates]}")
