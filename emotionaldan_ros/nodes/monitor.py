"""Console monitor of the cabin demo: live per-passenger line, annotated frames, summary."""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image

from emotionaldan_msgs.msg import EmotionArray, PassengerAlert
from emotionaldan_ros.core.image_codec import ImageDecodeError
from emotionaldan_ros.core.labels import FEAR, emotion_names
from emotionaldan_ros.core.overlay import draw_faces
from emotionaldan_ros.core.pairing import StampPairer
from emotionaldan_ros.nodes.common import (
    ALERT_QOS,
    FRAME_SUB_QOS,
    RESULT_QOS,
    image_msg_to_bgr,
    stamp_ns,
)
from emotionaldan_ros.nodes.messages import roi_boxes


class CabinMonitor(Node):
    """Collects the graph's outputs for the person watching the demo."""

    def __init__(self, output: Path | None, live: bool = True, **kwargs: object) -> None:
        super().__init__("cabin_monitor", **kwargs)
        self.output = output
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
        self.live = live
        self.frames = 0
        self.last_stamp_ns = -1
        self.faces_total = 0
        self.labels: collections.Counter[str] = collections.Counter()
        self.alerts_raised: set[int] = set()
        self.fear: dict[int, float] = {}
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.latencies_ms: list[float] = []
        self.started = time.monotonic()
        self.last_emotion_time = self.started
        self._pairer: StampPairer[Image, EmotionArray] = StampPairer(16)
        self.create_subscription(EmotionArray, "emotion", self.emotion_callback, RESULT_QOS)
        self.create_subscription(PassengerAlert, "passenger_alert", self.alert_callback, ALERT_QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diag_callback, 10)
        if output is not None:
            self.create_subscription(Image, "camera/image_raw", self.image_callback, FRAME_SUB_QOS)

    def restart_clock(self) -> None:
        """Count fps and idle time from now (the graph has started; model loading excluded)."""
        self.started = self.last_emotion_time = time.monotonic()

    def emotion_callback(self, msg: EmotionArray) -> None:
        """Count the frame, print the live line, and draw it when its image is here."""
        self.frames += 1
        self.last_stamp_ns = max(self.last_stamp_ns, stamp_ns(msg.header))
        self.last_emotion_time = time.monotonic()
        now_ns = self.get_clock().now().nanoseconds
        self.latencies_ms.append((now_ns - stamp_ns(msg.header)) / 1e6)
        self.faces_total += len(msg.emotions)
        self.labels.update(e.label_name for e in msg.emotions)
        if self.live:
            self._print_line(msg)
        if self.output is not None:
            self._draw(self._pairer.add_b(stamp_ns(msg.header), msg))

    def image_callback(self, msg: Image) -> None:
        """Keep the image until its emotions arrive."""
        self._draw(self._pairer.add_a(stamp_ns(msg.header), msg))

    def alert_callback(self, msg: PassengerAlert) -> None:
        """Track smoothed fear per passenger."""
        if msg.present:
            self.fear[msg.face_id] = msg.fear_level
            if msg.fear:
                self.alerts_raised.add(msg.face_id)
        else:
            self.fear.pop(msg.face_id, None)

    def diag_callback(self, msg: DiagnosticArray) -> None:
        """Remember each node's last diagnostics for the summary."""
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def fps(self) -> float:
        """Frames per second since start."""
        return self.frames / max(1e-6, time.monotonic() - self.started)

    def _print_line(self, msg: EmotionArray) -> None:
        people = []
        for e in sorted(msg.emotions, key=lambda e: e.face_id):
            fear = self.fear.get(e.face_id, e.probabilities[FEAR])
            people.append(f"#{e.face_id} {e.label_name:<8} {e.confidence:.2f} fear {fear:.2f}")
        line = f"frame {self.frames:4d}  {self.fps():5.1f} fps  "
        line += " | ".join(people) or "nobody in view"
        if sys.stdout.isatty():
            print(f"\r\033[K{line}", end="", flush=True)
        else:
            print(line, flush=True)

    def _draw(self, pair: tuple[Image, EmotionArray] | None) -> None:
        if pair is None:
            return
        image_msg, emo = pair
        try:
            image = image_msg_to_bgr(image_msg)
        except ImageDecodeError:
            return
        if emo.emotions:
            boxes = roi_boxes([e.roi for e in emo.emotions])
            probs = np.array([e.probabilities for e in emo.emotions], dtype=np.float32)
            marks = np.array(
                [[(p.x, p.y) for p in e.landmarks] for e in emo.emotions], dtype=np.float32
            )
            classes = _classes(emo)
            image = draw_faces(
                image,
                boxes,
                probs,
                classes,
                marks if marks.size else None,
                [e.face_id for e in emo.emotions],
                [self.fear.get(e.face_id) for e in emo.emotions],
            )
        name = f"frame_{stamp_ns(emo.header):020d}.jpg"
        cv2.imwrite(str(self.output / name), image)

    def summary(self) -> str:
        """Multi-line end-of-run summary."""
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.full(1, np.nan)
        lines = [
            f"frames processed: {self.frames} at {self.fps():.1f} fps",
            f"faces: {self.faces_total} ({self.faces_total / max(1, self.frames):.2f} per frame)",
            "emotions: " + (", ".join(f"{k} {v}" for k, v in self.labels.most_common()) or "-"),
            f"latency image stamp → emotion: p50 {np.percentile(lat, 50):.1f} ms, "
            f"p95 {np.percentile(lat, 95):.1f} ms"
            + (" (stamps are not live: replayed data?)" if np.median(lat) > 5000 else ""),
            f"fear alerts raised for passengers: {sorted(self.alerts_raised) or 'none'}",
        ]
        for name, values in sorted(self.diagnostics.items()):
            lines.append(
                f"{name}: dropped {values.get('dropped', '?')}, errors {values.get('errors', '0')}"
            )
        if self.output is not None:
            lines.append(f"annotated frames: {self.output}")
        return "\n".join(lines)


def _classes(msg: EmotionArray) -> tuple[str, ...]:
    n = len(msg.emotions[0].probabilities)
    return emotion_names(n) if n in (7, 8) else tuple(str(i) for i in range(n))
