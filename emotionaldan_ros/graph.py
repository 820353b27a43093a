"""The cabin node graph, defined once: used by `emotionaldan-cabin` and `launch/cabin.launch.py`.

ROS-free on purpose (plain data), so the launch file's node list is testable without `launch`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

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
