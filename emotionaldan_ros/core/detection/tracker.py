"""Stable face ids across frames by greedy IoU matching.

Each frame's detections are matched to the live tracks by intersection-over-union with the
track's predicted box (last box plus its recent velocity, so two faces that cross do not swap
ids); pairs are taken greedily from the highest IoU down. Unmatched detections open new tracks
with fresh ids (ids start at 1 and are never reused, so 0 can mean "no track"); a track that goes
unmatched for more than `max_missed` consecutive frames is dropped and its id is reported once in
`removed` (the fear monitor clears that passenger's alert then).

With `min_hits > 1` a new track is only *confirmed* once it has been matched in that many frames;
`confirmed` flags the detections of the last update that belong to confirmed tracks, so a node
can hide one-frame false detections. Unconfirmed tracks that die are not reported in `removed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["IouTracker", "Track", "iou_matrix"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` with every box in `b`.

    Args:
        a: (N, 4) boxes x1, y1, x2, y2.
        b: (M, 4) boxes x1, y1, x2, y2.

    Returns:
        (N, M) float64 IoU; 0 where the union is empty (zero-area boxes).
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class Track:
    """One tracked face.

    Attributes:
        id: the face id (≥ 1, never reused).
        box: last matched box x1, y1, x2, y2 (float64).
        velocity: smoothed per-frame box displacement.
        score: last detection score.
        hits: frames in which the track was matched (including the first).
        missed: consecutive frames without a match.
    """

    id: int
    box: np.ndarray
    velocity: np.ndarray
    score: float
    hits: int = 1
    missed: int = 0

    def predicted(self) -> np.ndarray:
        """Where the box should be this frame (constant velocity since the last match)."""
        return self.box + self.velocity * (self.missed + 1)


class IouTracker:
    """Greedy IoU tracker giving each face a stable id.

    Args:
        iou_threshold: minimum IoU (0 < t ≤ 1) between a track's predicted box and a detection
            to continue the track.
        max_missed: consecutive frames a track may go unmatched and still be picked up again;
            on the next miss it is dropped.
        velocity_smoothing: weight (0..1) of the newest displacement in the velocity estimate;
            0 disables motion prediction (match on the last box).
        min_hits: matched frames after which a track counts as confirmed (≥ 1).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 10,
        velocity_smoothing: float = 0.5,
        min_hits: int = 1,
    ) -> None:
        if not 0.0 < float(iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if int(max_missed) != max_missed or max_missed < 0:
            raise ValueError(f"max_missed must be an integer >= 0, got {max_missed}")
        if not 0.0 <= float(velocity_smoothing) <= 1.0:
            raise ValueError(f"velocity_smoothing must be in [0, 1], got {velocity_smoothing}")
        if int(min_hits) != min_hits or min_hits < 1:
            raise ValueError(f"min_hits must be an integer >= 1, got {min_hits}")
        self.iou_threshold = float(iou_threshold)
        self.min_hits = int(min_hits)
        self.max_missed = int(max_missed)
        self.velocity_smoothing = float(velocity_smoothing)
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self.removed: list[int] = []
        self.confirmed = np.zeros(0, bool)

    @property
    def active_ids(self) -> list[int]:
        """Ids of the live confirmed tracks (matched now or recently), ascending."""
        return sorted(t for t, track in self._tracks.items() if track.hits >= self.min_hits)

    @property
    def tracks(self) -> dict[int, Track]:
        """Live tracks by id (read-only use)."""
        return dict(self._tracks)

    def reset(self) -> None:
        """Drop every track (confirmed ones are reported in `removed`); ids keep counting up."""
        self.removed = self.active_ids
        self._tracks.clear()
        self.confirmed = np.zeros(0, bool)

    def update(self, boxes: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """Match one frame's detections to the tracks.

        Args:
            boxes: (N, 4) x1, y1, x2, y2 detections of this frame (N may be 0).
            scores: (N,) detection scores; break IoU ties (higher first). None means all 1.

        Returns:
            (N,) uint32 track id per detection, in input order; `confirmed` then holds the (N,)
            flags of confirmed tracks and `removed` the ids dropped in this update.

        Raises:
            ValueError: malformed boxes or scores (shape, NaN/inf, x2 < x1 or y2 < y1).
        """
        boxes, scores = self._validate(boxes, scores)
        n = boxes.shape[0]
        ids = np.zeros(n, np.uint32)
        track_ids = list(self._tracks)
        matched_det: set[int] = set()
        matched_track: set[int] = set()
        if track_ids and n:
            predicted = np.stack([self._tracks[t].predicted() for t in track_ids])
            iou = iou_matrix(predicted, boxes)
            rows, cols = np.nonzero(iou >= self.iou_threshold)
            # Greedy: highest IoU first, then the more confident detection.
            order = np.lexsort((-scores[cols], -iou[rows, cols]))
            for k in order:
                r, c = int(rows[k]), int(cols[k])
                if r in matched_track or c in matched_det:
                    continue
                matched_track.add(r)
                matched_det.add(c)
                track = self._tracks[track_ids[r]]
                self._continue(track, boxes[c], float(scores[c]))
                ids[c] = track.id
        self.removed = []
        for r, track_id in enumerate(track_ids):
            if r in matched_track:
                continue
            track = self._tracks[track_id]
            track.missed += 1
            if track.missed > self.max_missed:
                del self._tracks[track_id]
                if track.hits >= self.min_hits:
                    self.removed.append(track_id)
        for c in range(n):
            if c not in matched_det:
                ids[c] = self._open(boxes[c], float(scores[c]))
        self.confirmed = np.array([self._tracks[int(i)].hits >= self.min_hits for i in ids], bool)
        return ids

    def _continue(self, track: Track, box: np.ndarray, score: float) -> None:
        step = (box - track.box) / (track.missed + 1)
        a = self.velocity_smoothing
        track.velocity = a * step + (1.0 - a) * track.velocity  # stays 0 when a == 0
        track.box = box.copy()
        track.score = score
        track.hits += 1
        track.missed = 0

    def _open(self, box: np.ndarray, score: float) -> int:
        track_id = self._next_id
        if track_id > np.iinfo(np.uint32).max:
            raise OverflowError("face ids exhausted the uint32 range")
        self._next_id += 1
        self._tracks[track_id] = Track(track_id, box.copy(), np.zeros(4), score)
        return track_id

    @staticmethod
    def _validate(boxes: np.ndarray, scores: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.asarray(boxes, np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (N, 4) x1, y1, x2, y2, got shape {boxes.shape}")
        if not np.isfinite(boxes).all():
            raise ValueError("boxes contain NaN or inf")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise ValueError("boxes must have x2 >= x1 and y2 >= y1")
        if scores is None:
            scores = np.ones(boxes.shape[0])
        scores = np.asarray(scores, np.float64).reshape(-1)
        if scores.shape[0] != boxes.shape[0]:
            raise ValueError(f"{scores.shape[0]} scores for {boxes.shape[0]} boxes")
        if not np.isfinite(scores).all():
            raise ValueError("scores contain NaN or inf")
        return boxes, scores
