"""What runs on which frame: the real-time schedule of the cabin graph, in one place (ROS-free).

The graph keeps the product's split (camera → face_detector → emotionaldan, messages between
them) but no longer makes the recogniser wait for a detection per frame:

1. **Detect at a rate, and on demand** (`DetectionSchedule`, face_detector node). The detector
   runs on the frames that keep it at `detect_rate_hz` (default 10 Hz; 0 = every frame), judged
   by image stamps, and on the next frame at once when the EmotionalDAN node asks for it because
   a track ended (the face turned away, left, or the lock was lost: someone may have moved, and a
   face may have appeared where it was). It publishes `faces` for the frames it ran on only.
2. **Track every frame** (`FrameScheduler` + `detection.tracker.LandmarkTracker`, emotionaldan
   node). Every camera frame is processed as soon as it arrives, on the tracked faces: each box
   is carried from the previous frame by that face's landmarks (as face-alignment trackers do),
   in the box style of the active detector. Each `faces` message, whenever it arrives (usually
   while the next frame is being processed), is merged into the tracks: it confirms them, opens
   tracks for new faces and ends those it no longer sees.
3. **One batch per frame.** The landmark + emotion model (any `Recognizer`: face-api nets or an
   EmotionalDAN) runs on every tracked face of the frame in one call; `emotion` gets one message
   per processed frame (empty when nobody is tracked). Temporal smoothing stays in the fear
   monitor.

The cost per frame is thus one recogniser batch plus a detection every few frames; the detector
and the recogniser run in their nodes' worker threads, which ONNX Runtime lets run in parallel on
two cores (docs/realtime.md has the measurements and the threading choice).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emotionaldan_ros.core.detection.tracker import LandmarkTracker, TrackSet
from emotionaldan_ros.core.recognizer import Prediction

__all__ = ["DetectionSchedule", "FrameOutcome", "FrameScheduler"]


class DetectionSchedule:
    """Decides which frames the face detector runs on (face_detector node).

    A credit of `rate_hz` detections per second of image time accrues from frame to frame (by
    stamp), and a frame is detected when one whole detection is due, so the average rate is
    `rate_hz` whatever the camera's rate (10 Hz at 30 fps: every 3rd frame; at 15 fps: 2 of 3).
    `request()` makes the next frame due at once. A stamp that goes backwards (a bag replayed in
    a loop) restarts the schedule.

    Args:
        rate_hz: detections per second; 0 = every frame.
    """

    def __init__(self, rate_hz: float = 10.0) -> None:
        if not np.isfinite(rate_hz) or rate_hz < 0:
            raise ValueError(f"rate_hz must be >= 0, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self._credit = 1.0
        self._last_stamp: int | None = None
        self._requested = False
        self._lock = threading.Lock()

    def request(self) -> None:
        """Detect the next frame regardless of the rate (thread-safe)."""
        with self._lock:
            self._requested = True

    def due(self, stamp_ns: int) -> bool:
        """Whether to run the detector on the frame with this stamp (call once per frame)."""
        with self._lock:
            requested, self._requested = self._requested, False
            if self.rate_hz <= 0:
                return True
            if self._last_stamp is None or stamp_ns < self._last_stamp:
                self._credit = 1.0
            else:
                elapsed = min((stamp_ns - self._last_stamp) / 1e9, 1.0)
                # At most two detections of credit: a long gap does not cause a burst.
                self._credit = min(self._credit + elapsed * self.rate_hz, 2.0)
            self._last_stamp = stamp_ns
            if requested or self._credit >= 1.0 - 1e-6:
                self._credit = max(self._credit - 1.0, 0.0)
                return True
            return False


@dataclass(frozen=True)
class FrameOutcome:
    """What one processed frame changed in the tracks.

    Attributes:
        lost: {face id: reason} of the tracks that ended in this frame.
        want_detection: why a detection should run on the next frame ("" = no need).
    """

    lost: dict[int, str] = field(default_factory=dict)
    want_detection: str = ""


class FrameScheduler:
    """The EmotionalDAN node's per-frame schedule: which faces to recognise, and when to detect.

    Thread-safe where it has to be: `add_detections` may be called from a subscription callback
    while the worker thread is between `plan` and `observe`; detections wait in a small queue
    that `plan` merges before each frame, so only the worker thread touches the tracks.

    Args:
        tracker: the landmark tracker (its parameters set the track-ending rules).
        pending: detection rounds that may wait for the next frame (the oldest are dropped).
    """

    def __init__(self, tracker: LandmarkTracker | None = None, pending: int = 8) -> None:
        self.tracker = tracker or LandmarkTracker()
        self._pending: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = deque(
            maxlen=pending
        )
        self._lock = threading.Lock()
        self.ended: dict[int, str] = {}  # tracks ended by detections merged in the last plan

    def add_detections(
        self, stamp_ns: int, boxes: np.ndarray, scores: np.ndarray, ids: np.ndarray
    ) -> None:
        """Queue one detection round (the faces found in frame `stamp_ns`)."""
        with self._lock:
            self._pending.append((stamp_ns, boxes, scores, ids))

    def plan(self) -> TrackSet:
        """Merge the queued detections and return the faces to recognise in the next frame."""
        with self._lock:
            rounds = sorted(self._pending, key=lambda r: r[0])
            self._pending.clear()
        self.ended = {}
        for stamp, boxes, scores, ids in rounds:
            _, lost = self.tracker.detections(stamp, boxes, scores, ids)
            self.ended.update(lost)
        return self.tracker.current()

    def observe(
        self,
        stamp_ns: int,
        tracks: TrackSet,
        prediction: Prediction,
        width: int,
        height: int,
    ) -> FrameOutcome:
        """Carry the tracks with this frame's landmarks; say whether to detect next frame.

        Args:
            stamp_ns: stamp of the processed frame.
            tracks: the `plan()` result the recogniser ran on (rows of `prediction`).
            prediction: the recogniser's output for those rows.
            width: image width.
            height: image height.
        """
        lost = self.tracker.observe(stamp_ns, tracks, prediction.landmarks, width, height)
        reason = ", ".join(f"#{i} {why}" for i, why in sorted(lost.items()))
        return FrameOutcome(lost, reason)

    def reset(self) -> list[int]:
        """Forget every track and queued detection (e.g. the stream restarted)."""
        with self._lock:
            self._pending.clear()
        return self.tracker.reset()
