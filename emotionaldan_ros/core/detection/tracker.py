"""Face tracking: stable ids (`IouTracker`) and landmark-carried boxes (`LandmarkTracker`).

`LandmarkTracker` (the EmotionalDAN node, between detections) is at the end of this module.

`IouTracker` (the face detector node):

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

from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["IouTracker", "LandmarkTracker", "Track", "TrackSet", "iou_matrix", "landmark_frames"]


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


# ----------------------------------------------------------------------- landmark-carried tracks
def landmark_frames(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (mean point) and scale (RMS distance to the centre) of each face's landmarks.

    Both are averages over all points, so they move smoothly with the face and do not jump when
    one point (a jaw corner) jitters, unlike the points' bounding box.

    Args:
        landmarks: (N, P, 2) image pixels.

    Returns:
        (N, 2) centres and (N,) scales (float64; NaN for rows with non-finite points or P = 0).
    """
    pts = np.asarray(landmarks, np.float64)
    n = pts.shape[0]
    if pts.ndim != 3 or pts.shape[2] != 2 or pts.shape[1] == 0:
        return np.full((n, 2), np.nan), np.full(n, np.nan)
    centre = pts.mean(axis=1)
    scale = np.sqrt(((pts - centre[:, None, :]) ** 2).sum(axis=2).mean(axis=1))
    bad = ~np.isfinite(pts).all(axis=(1, 2))
    centre[bad], scale[bad] = np.nan, np.nan
    return centre, scale


def greedy_pairs(iou: np.ndarray, threshold: float, scores: np.ndarray) -> list[tuple[int, int]]:
    """(row, col) pairs with IoU ≥ threshold, highest IoU first (then the higher col score)."""
    rows, cols = np.nonzero(iou >= threshold)
    order = np.lexsort((-scores[cols], -iou[rows, cols]))
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


# Why a landmark track ends (reported by `LandmarkTracker.observe` / `detections`).
LOST_UNCONFIRMED = "not confirmed by the detector"
LOST_OUTSIDE = "left the image"
LOST_TOO_SMALL = "too small"
LOST_JUMP = "landmarks jumped"
LOST_NAN = "non-finite landmarks"
LOST_DUPLICATE = "same face as an older track"


@dataclass(frozen=True)
class TrackSet:
    """The live tracks as row-aligned arrays (what the recogniser runs on this frame).

    Attributes:
        ids: (T,) uint32 face ids.
        boxes: (T, 4) float32 x1, y1, x2, y2 in image pixels.
        scores: (T,) float32 score of each face's last detection.
    """

    ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class LandmarkTracker:
    """Face tracks whose boxes are carried from frame to frame by the recogniser's landmarks.

    Between two detections, the box of a face in frame k+1 is placed from its landmarks in frame
    k (as face-alignment trackers do): with c and s the centre and scale of the landmarks
    (`landmark_frames`), box = (c, c) + rel · s, where `rel` (4 numbers per track) is the
    detector's box expressed in the landmarks' frame. `rel` is measured whenever a detection
    matches the track (detection box and landmarks of the same frame), so carried boxes keep the
    active detector's box style and the recogniser sees the crops it was made for, whatever the
    detector. A recogniser without landmarks (or degenerate ones) leaves the box where it is.

    Detections (possibly of an older frame than the last processed one: the detector runs in
    parallel) are matched by IoU against each track's box *in that frame*, as its landmarks placed
    it (kept in a short history). A matched track takes the detection's score; a new face opens a
    track with the detector's id; a track that `max_missed` + 1 detection rounds in a row do not
    confirm ends.
    A track also ends when its carried box leaves the image, shrinks below `min_size`, its
    landmarks' scale jumps by more than `max_scale_change` in one frame (lost lock) or are not
    finite, or when it overlaps an older track by more than `merge_iou` (two tracks on one face).

    Args:
        iou_threshold: IoU between a detection and a track's box to match them (0 < t ≤ 1).
        max_missed: detection rounds a track may go unconfirmed and live on (≥ 0).
        min_size: smallest carried box side in pixels.
        max_scale_change: largest landmark scale ratio between consecutive frames (> 1).
        merge_iou: IoU above which the younger of two tracks is dropped (0 < t ≤ 1).
        min_inside: fraction of a carried box that must stay inside the image (0..1).
        history: processed frames remembered for matching late detections (≥ 1).
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 1,
        min_size: float = 8.0,
        max_scale_change: float = 1.5,
        merge_iou: float = 0.6,
        min_inside: float = 0.5,
        history: int = 16,
    ) -> None:
        if not 0.0 < float(iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if int(max_missed) != max_missed or max_missed < 0:
            raise ValueError(f"max_missed must be an integer >= 0, got {max_missed}")
        if not float(max_scale_change) > 1.0:
            raise ValueError(f"max_scale_change must be > 1, got {max_scale_change}")
        if not 0.0 < float(merge_iou) <= 1.0:
            raise ValueError(f"merge_iou must be in (0, 1], got {merge_iou}")
        if not 0.0 <= float(min_inside) <= 1.0:
            raise ValueError(f"min_inside must be in [0, 1], got {min_inside}")
        if int(history) != history or history < 1:
            raise ValueError(f"history must be an integer >= 1, got {history}")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.min_size = float(min_size)
        self.max_scale_change = float(max_scale_change)
        self.merge_iou = float(merge_iou)
        self.min_inside = float(min_inside)
        self._ids = np.zeros(0, np.uint32)
        self._boxes = np.zeros((0, 4))  # where each track's face is expected in the next frame
        self._scores = np.zeros(0)
        self._rel = np.zeros((0, 4))  # detector box in the landmarks' frame (NaN: not yet)
        self._exact = np.zeros(0, bool)  # rel measured on one frame (else box and landmarks
        self._born = np.zeros(0, np.int64)  # came from two); stamp of the opening detection
        self._scale = np.zeros(0)  # landmark scale in the last processed frame (NaN: none)
        self._missed = np.zeros(0, np.int64)
        # Per processed frame: (stamp, ids, boxes where the landmarks found the faces, landmark
        # centres, landmark scales).
        self._history: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = deque(
            maxlen=int(history)
        )
        self._last_detection_stamp: int | None = None
        self._local_id = 0x8000_0000  # ids for the rare clash with a live detector id

    # -- state ------------------------------------------------------------------------------
    def current(self) -> TrackSet:
        """The tracks to run the recogniser on in the next frame."""
        return TrackSet(
            self._ids.copy(), self._boxes.astype(np.float32), self._scores.astype(np.float32)
        )

    @property
    def ids(self) -> list[int]:
        """Live track ids in track order."""
        return self._ids.tolist()

    def reset(self) -> list[int]:
        """Drop every track (e.g. the stream restarted); returns their ids."""
        gone = self.ids
        self._keep(np.zeros(len(self._ids), bool))
        self._history.clear()
        self._last_detection_stamp = None
        return gone

    # -- updates ----------------------------------------------------------------------------
    def observe(
        self, stamp_ns: int, tracks: TrackSet, landmarks: np.ndarray, width: int, height: int
    ) -> dict[int, str]:
        """Carry the boxes of the tracks the recogniser just ran on to the next frame.

        Args:
            stamp_ns: the processed frame's stamp.
            tracks: what `current()` returned for that frame (rows as given to the recogniser).
            landmarks: (T, P, 2) the recogniser's landmarks for those rows (P may be 0).
            width: image width.
            height: image height.

        Returns:
            {id: reason} of the tracks that ended (lost lock; the caller may ask for a detection).
        """
        centre, scale = landmark_frames(landmarks)
        rows = self._rows(tracks.ids)
        used = tracks.boxes.astype(np.float64)
        lost: dict[int, str] = {}
        keep = np.ones(len(self._ids), bool)
        has = rows >= 0
        r, c, s, b = rows[has], centre[has], scale[has], used[has]
        finite = np.isfinite(s)
        usable = finite & (s > 1e-6)
        # First landmarks of a track: its detector box in their frame.
        fresh = usable & ~np.isfinite(self._rel[r]).all(axis=1)
        self._rel[r[fresh]] = (b[fresh] - np.tile(c[fresh], 2)) / s[fresh, None]
        self._exact[r[fresh]] = self._born[r[fresh]] == stamp_ns
        carried = np.where(
            usable[:, None], np.tile(c, 2) + self._rel[r] * np.where(usable, s, 0)[:, None], b
        )
        prev = self._scale[r]
        ratio = np.where(usable & (prev > 0), s / np.where(prev > 0, prev, 1.0), 1.0)
        jumped = (ratio > self.max_scale_change) | (ratio < 1.0 / self.max_scale_change)
        self._boxes[r] = carried
        # Where the landmarks saw each face in this frame (carried boxes are exactly that).
        seen = used.copy()
        seen[has] = carried
        self._history.append((stamp_ns, tracks.ids.copy(), seen, centre, scale))
        self._scale[r] = np.where(usable, s, self._scale[r])
        side = np.minimum(carried[:, 2] - carried[:, 0], carried[:, 3] - carried[:, 1])
        inside = _inside_fraction(carried, width, height)
        for cond, reason in (
            (~finite & (landmarks.shape[1] > 0), LOST_NAN),
            (jumped, LOST_JUMP),
            (side < self.min_size, LOST_TOO_SMALL),
            (inside < self.min_inside, LOST_OUTSIDE),
        ):
            for row in r[cond & keep[r]]:
                lost[int(self._ids[row])] = reason
                keep[row] = False
        lost.update(self._merge_duplicates(keep))
        self._keep(keep)
        return lost

    def detections(
        self,
        stamp_ns: int,
        boxes: np.ndarray,
        scores: np.ndarray,
        ids: np.ndarray,
    ) -> tuple[list[int], dict[int, str]]:
        """Merge one detection round (the faces the detector found in frame `stamp_ns`).

        Args:
            stamp_ns: stamp of the frame the detector ran on.
            boxes: (D, 4) x1, y1, x2, y2.
            scores: (D,) detection scores.
            ids: (D,) the detector's face ids (used for new tracks).

        Returns:
            The ids of the new tracks, and {id: reason} of the tracks that ended. A round older
            than the last merged one is ignored (empty results).
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        det_ids = np.asarray(ids, np.int64).reshape(-1)
        if not (len(boxes) == len(scores) == len(det_ids)):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores, {len(det_ids)} ids")
        if self._last_detection_stamp is not None and stamp_ns < self._last_detection_stamp:
            return [], {}
        self._last_detection_stamp = stamp_ns
        then = self._boxes_at(stamp_ns)
        pairs = greedy_pairs(iou_matrix(then, boxes), self.iou_threshold, scores)
        matched_t = np.zeros(len(self._ids), bool)
        matched_d = np.zeros(len(boxes), bool)
        if pairs:
            t, d = (np.array(x) for x in zip(*pairs, strict=True))
            matched_t[t], matched_d[d] = True, True
            self._scores[t] = scores[d]
            self._missed[t] = 0
            self._recalibrate(stamp_ns, t, boxes[d])
        self._missed[~matched_t] += 1
        lost = {
            int(i): LOST_UNCONFIRMED
            for i in self._ids[~matched_t & (self._missed > self.max_missed)]
        }
        self._keep(matched_t | (self._missed <= self.max_missed))
        new = self._open(stamp_ns, boxes[~matched_d], scores[~matched_d], det_ids[~matched_d])
        return new, lost

    # -- internals --------------------------------------------------------------------------
    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id in the track arrays (-1 when the track has ended since)."""
        index = {int(i): k for k, i in enumerate(self._ids)}
        return np.array([index.get(int(i), -1) for i in ids], np.int64)

    def _boxes_at(self, stamp_ns: int) -> np.ndarray:
        """Each track's box in frame `stamp_ns` (from that frame's landmarks, else current)."""
        out = self._boxes.copy()
        for stamp, ids, seen, _, _ in self._history:
            if stamp == stamp_ns:
                rows = self._rows(ids)
                out[rows[rows >= 0]] = seen[rows >= 0]
        return out

    def _recalibrate(self, stamp_ns: int, rows: np.ndarray, det_boxes: np.ndarray) -> None:
        """Re-measure `rel` from detection boxes and the landmarks of the same frame."""
        for stamp, ids, _, centre, scale in self._history:
            if stamp != stamp_ns:
                continue
            where = {int(i): k for k, i in enumerate(ids)}
            k = np.array([where.get(int(self._ids[r]), -1) for r in rows], np.int64)
            ok = k >= 0  # the track was recognised in that frame (it may not have existed yet)
            ok[ok] = np.isfinite(scale[k[ok]]) & (scale[k[ok]] > 0)
            kk, rr = k[ok], rows[ok]
            if not len(rr):
                continue
            new = (det_boxes[ok] - np.tile(centre[kk], 2)) / scale[kk, None]
            old = self._rel[rr]
            # Half-way to a new measurement, so one jittery detection moves boxes half as much;
            # replaced outright when the old one mixed two frames (a face moving as it appeared).
            blend = (np.isfinite(old).all(axis=1) & self._exact[rr])[:, None]
            self._rel[rr] = np.where(blend, 0.5 * (old + new), new)
            self._exact[rr] = True

    def _open(
        self, stamp_ns: int, boxes: np.ndarray, scores: np.ndarray, det_ids: np.ndarray
    ) -> list[int]:
        live = set(self._ids.tolist())
        ids = []
        for det_id in det_ids.tolist():
            if det_id <= 0 or det_id in live or det_id > np.iinfo(np.uint32).max:
                det_id = self._local_id  # never clashes with a live face
                self._local_id += 1
            live.add(det_id)
            ids.append(det_id)
        n = len(ids)
        self._ids = np.concatenate([self._ids, np.array(ids, np.uint32)])
        self._boxes = np.concatenate([self._boxes, boxes])
        self._scores = np.concatenate([self._scores, scores])
        self._rel = np.concatenate([self._rel, np.full((n, 4), np.nan)])
        self._exact = np.concatenate([self._exact, np.zeros(n, bool)])
        self._born = np.concatenate([self._born, np.full(n, stamp_ns, np.int64)])
        self._scale = np.concatenate([self._scale, np.full(n, np.nan)])
        self._missed = np.concatenate([self._missed, np.zeros(n, np.int64)])
        return ids

    def _merge_duplicates(self, keep: np.ndarray) -> dict[int, str]:
        """Drop the younger of two live tracks that now cover the same face."""
        lost: dict[int, str] = {}
        iou = iou_matrix(self._boxes, self._boxes)
        for a, b in zip(*np.nonzero(np.triu(iou > self.merge_iou, k=1)), strict=True):
            if keep[a] and keep[b]:  # rows are in creation order: b is younger
                lost[int(self._ids[b])] = LOST_DUPLICATE
                keep[b] = False
        return lost

    def _keep(self, keep: np.ndarray) -> None:
        for name in ("_ids", "_boxes", "_scores", "_rel", "_exact", "_born", "_scale", "_missed"):
            setattr(self, name, getattr(self, name)[keep])


def _inside_fraction(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) fraction of each box's area inside the image (0 for empty boxes)."""
    w = np.clip(boxes[:, 2], 0, width) - np.clip(boxes[:, 0], 0, width)
    h = np.clip(boxes[:, 3], 0, height) - np.clip(boxes[:, 1], 0, height)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.divide(w * h, area, out=np.zeros_like(area), where=area > 0)
