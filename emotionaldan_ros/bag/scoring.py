"""Score `/cabin/emotion` against a bag's ground truth (matching outputs to frames by stamp).

Both replay-eval modes end here: `--offline` fills an `EvalData` from a bag that already holds the
graph's outputs (`load_offline`), the live mode fills it while playing the bag through the graph.

Rules (also written into every report; report.json also lists every frame's outcome):
- A frame is an image on the camera topic; its ground truth is the `EmotionLabel` with the same
  stamp. Outputs are matched to frames by exact header stamp.
- A labelled frame whose output holds several faces is scored with the face that overlaps the
  labelled box best (IoU ≥ 0.3, else the frame counts as "no face found"); without a labelled box,
  the largest face is used.
- Recognition accuracy / macro-F1 / confusion count frames where the labelled face was found
  (the paper's setting: a face is given). End-to-end accuracy also counts missed and dropped
  frames as wrong. Detection rate = labelled frames with the face found / labelled frames that got
  an output. Dropped = frames with no output at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagReader
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.metrics import classification_summary

MIN_IOU = 0.3


@dataclass
class FaceOut:
    """One face of one output message."""

    box: tuple[float, float, float, float]
    label: int
    probs: np.ndarray


@dataclass
class Output:
    """One `EmotionArray` received for a frame."""

    faces: list[FaceOut]
    processing_ms: float = float("nan")
    latency_ms: float = float("nan")
    model: str = ""


@dataclass
class EvalData:
    """Everything needed to score one run.

    Attributes:
        frames: frame stamps (ns) in play order.
        truth: stamp → (label index or -1, labelled box x1 y1 x2 y2 or None).
        outputs: stamp → first output received for that stamp.
        unmatched: outputs whose stamp matches no frame.
        duplicates: outputs for a stamp that already had one.
        latency_source: how latency was measured (for the report).
    """

    frames: list[int] = field(default_factory=list)
    truth: dict[int, tuple[int, tuple[float, float, float, float] | None]] = field(
        default_factory=dict
    )
    outputs: dict[int, Output] = field(default_factory=dict)
    unmatched: int = 0
    duplicates: int = 0
    latency_source: str = ""
    warnings: list[str] = field(default_factory=list)

    def add_output(self, stamp: int, output: Output) -> None:
        """Record an output, counting duplicates (kept: the first)."""
        if stamp in self.outputs:
            self.duplicates += 1
        else:
            self.outputs[stamp] = output


def _box(roi: Any) -> tuple[float, float, float, float] | None:
    if roi.width == 0 or roi.height == 0:
        return None
    x, y = float(roi.x_offset), float(roi.y_offset)
    return (x, y, x + float(roi.width), y + float(roi.height))


def output_from_msg(msg: Any, latency_ms: float = float("nan")) -> Output:
    """An `Output` from a decoded `EmotionArray` (rosbags or rclpy message)."""
    faces = []
    for e in msg.emotions:
        box = _box(e.roi) or (0.0, 0.0, 0.0, 0.0)
        faces.append(FaceOut(box, int(e.label), np.asarray(e.probabilities, np.float32)))
    return Output(faces, float(msg.processing_time_ms), latency_ms, str(msg.model))


def read_truth(
    bag: BagReader, image_topic: str, label_topic: str
) -> tuple[list[int], dict[int, tuple[int, tuple[float, float, float, float] | None]]]:
    """Frame stamps and ground truth of a bag.

    The label topic holds `EmotionLabel`s, or `EmotionArray`s recorded from an earlier run: then
    each frame's reference is that run's largest face (an agreement evaluation, for drives that
    have no hand labels).

    Raises:
        BagError: no image frames (and no labels to stand in for them).
    """
    frames: list[int] = []
    truth: dict[int, tuple[int, tuple[float, float, float, float] | None]] = {}
    has_images = image_topic in bag.topics and bag.topics[image_topic].count > 0
    has_labels = label_topic in bag.topics and bag.topics[label_topic].count > 0
    if not has_images and not has_labels:
        bag.require_topic(image_topic)
    topics = [t for t, ok in ((image_topic, has_images), (label_topic, has_labels)) if ok]
    for topic, msgtype, _, raw in bag.messages(topics):
        if topic == image_topic:
            frames.append(raw_header_stamp(raw))  # no need to decode the pixels
            continue
        msg = bag.deserialize(raw, msgtype)
        stamp = msgs.stamp_ns(msg.header)
        if stamp in truth:
            continue
        if msgtype == msgs.EMOTION_ARRAY:
            face = pick_face(output_from_msg(msg).faces, None)
            truth[stamp] = (face.label, face.box) if face else (-1, None)
            continue
        label = int(msg.label)
        truth[stamp] = (label if label < len(L.EMOTIONS_8) else -1, _box(msg.roi))
    if not has_labels:
        bag.warnings.append(f"no ground truth on {label_topic}: accuracy is not computed")
    if not has_images:
        frames = sorted(truth)
    return frames, truth


def raw_header_stamp(raw: bytes) -> int:
    """Header stamp of a serialised message (CDR: 4-byte encapsulation, int32 sec, uint32 ns)."""
    sec = int.from_bytes(raw[4:8], "little" if raw[1] == 1 else "big", signed=True)
    nsec = int.from_bytes(raw[8:12], "little" if raw[1] == 1 else "big")
    return sec * 1_000_000_000 + nsec


def load_offline(
    path: str | Path,
    image_topic: str = "/cabin/camera/image_raw",
    label_topic: str = "/cabin/ground_truth",
    emotion_topic: str = "/cabin/emotion",
) -> EvalData:
    """Read frames, ground truth and recorded outputs from one bag.

    Latency is the difference of the recorder's receive times of an output and of its image
    (meaningful when both topics were recorded live by one recorder).

    Raises:
        BagError: missing topics or an unreadable bag.
    """
    data = EvalData()
    with BagReader(path) as bag:
        bag.require_topic(emotion_topic)
        data.frames, data.truth = read_truth(bag, image_topic, label_topic)
        data.warnings += bag.warnings
        received: dict[int, int] = {}
        if image_topic in bag.topics:
            for _, _, t_ns, raw in bag.messages([image_topic]):
                received.setdefault(raw_header_stamp(raw), t_ns)
        frame_set = set(data.frames)
        for _, msgtype, t_ns, raw in bag.messages([emotion_topic]):
            msg = bag.deserialize(raw, msgtype)
            stamp = msgs.stamp_ns(msg.header)
            if stamp not in frame_set:
                data.unmatched += 1
                continue
            latency = (t_ns - received[stamp]) / 1e6 if stamp in received else float("nan")
            data.add_output(stamp, output_from_msg(msg, latency))
    data.latency_source = "recorded: receive time of the output − receive time of its image"
    return data


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pick_face(faces: list[FaceOut], box: Sequence[float] | None) -> FaceOut | None:
    """The face that stands for the labelled one (see the module docstring)."""
    if not faces:
        return None
    if box is None:
        return max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    best = max(faces, key=lambda f: _iou(f.box, box))
    return best if _iou(best.box, box) >= MIN_IOU else None


def _stats(values: list[float]) -> dict[str, float | int | None]:
    arr = np.asarray([v for v in values if np.isfinite(v)], np.float64)
    if not arr.size:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": int(arr.size),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
    }


def _predicted(face: FaceOut, num_classes: int) -> int:
    """Predicted class in the scored label space (an 8-class model's contempt is re-decided)."""
    if face.label < num_classes:
        return face.label
    probs = face.probs[:num_classes]
    return int(probs.argmax()) if probs.size == num_classes else -1


def score(data: EvalData, surprise: str = "positive", num_classes: int = 7) -> dict[str, Any]:
    """All figures of one run as a JSON-ready dict (see the module docstring for the rules).

    Raises:
        BagError: there are no frames.
    """
    if not data.frames:
        raise BagError("no frames to score")
    classes = L.emotion_names(num_classes)
    y_true: list[int] = []
    y_pred: list[int] = []
    labelled = with_output = found = correct_e2e = correct_val_e2e = 0
    excluded = 0
    vmap = L.valence_map(classes, surprise)
    per_frame: list[dict[str, Any]] = []
    for stamp in data.frames:
        label, box = data.truth.get(stamp, (-1, None))
        out = data.outputs.get(stamp)
        face = pick_face(out.faces, box) if out is not None else None
        pred = _predicted(face, num_classes) if face is not None else -1
        per_frame.append(
            {
                "stamp_ns": stamp,
                "label": label,
                "output": out is not None,
                "faces": len(out.faces) if out is not None else None,
                "predicted": pred if face is not None else None,
                "latency_ms": _clean(out.latency_ms) if out is not None else None,
            }
        )
        if label >= num_classes:
            excluded += 1
            continue
        if label < 0:
            continue
        labelled += 1
        if out is None:
            continue
        with_output += 1
        if face is None:
            continue
        found += 1
        if pred < 0:
            continue
        y_true.append(label)
        y_pred.append(pred)
        correct_e2e += int(pred == label)
        correct_val_e2e += int(vmap[pred] == vmap[label])

    outputs = [data.outputs[s] for s in data.frames if s in data.outputs]
    dropped = len(data.frames) - len(outputs)
    report: dict[str, Any] = {
        "frames": len(data.frames),
        "labelled_frames": labelled,
        "frames_with_output": len(outputs),
        "dropped_frames": dropped,
        "dropped_rate": dropped / len(data.frames),
        "unmatched_outputs": data.unmatched,
        "duplicate_outputs": data.duplicates,
        "excluded_frames": {"label outside the class space": excluded} if excluded else {},
        "detection": {
            "labelled_frames_with_output": with_output,
            "labelled_face_found": found,
            "rate": found / with_output if with_output else None,
            "frames_with_any_face": sum(1 for o in outputs if o.faces),
        },
        "classes": list(classes),
        "surprise": surprise,
        "recognition": None,
        "end_to_end": {
            "accuracy": correct_e2e / labelled if labelled else None,
            "valence_accuracy": correct_val_e2e / labelled if labelled else None,
        },
        "latency_ms": {"source": data.latency_source, **_stats([o.latency_ms for o in outputs])},
        "processing_time_ms": _stats([o.processing_ms for o in outputs]),
        "models": sorted({o.model for o in outputs if o.model}),
        "warnings": list(data.warnings),
        "per_frame": per_frame,
    }
    if y_true:
        report["recognition"] = _clean(
            classification_summary(np.array(y_true), np.array(y_pred), classes, surprise)
        )
    elif labelled == 0 and data.truth:
        report["warnings"].append("no labelled frames: accuracy is not computed")
    if data.unmatched:
        report["warnings"].append(f"{data.unmatched} outputs matched no frame stamp")
    return report


def _clean(value: Any) -> Any:
    """NaN → None, recursively, so the JSON is valid."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
