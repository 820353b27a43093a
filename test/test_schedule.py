"""The real-time schedule: detection rate, landmark-carried tracks, per-frame plan (core only)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from emotionaldan_ros.core.detection.tracker import (
    LOST_DUPLICATE,
    LOST_JUMP,
    LOST_NAN,
    LOST_OUTSIDE,
    LOST_UNCONFIRMED,
    LandmarkTracker,
    landmark_frames,
)
from emotionaldan_ros.core.labels import EMOTIONS_7
from emotionaldan_ros.core.recognizer import Prediction
from emotionaldan_ros.core.schedule import DetectionSchedule, FrameScheduler

W, H = 640, 480
# A face-like point set: a ring of 68 points of radius 1 (scale = 1), centred on 0.
_ANGLES = np.linspace(0, 2 * np.pi, 68, endpoint=False)
TEMPLATE = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)


def stamp(k: int, fps: float = 30.0) -> int:
    return round(k * 1e9 / fps)


def face(cx: float, cy: float, r: float = 40.0) -> np.ndarray:
    """Landmarks of a face centred at (cx, cy) with scale r."""
    return TEMPLATE * r + [cx, cy]


def det_box(cx: float, cy: float, r: float = 40.0) -> list[float]:
    """The detector's box style for that face: a bit wider than tall, high on the face."""
    return [cx - 1.2 * r, cy - 1.5 * r, cx + 1.2 * r, cy + 1.0 * r]


def prediction(boxes: np.ndarray, landmarks: np.ndarray) -> Prediction:
    n = len(boxes)
    probs = np.full((n, 7), 1 / 7, np.float32)
    return Prediction(
        np.asarray(boxes, np.float32),
        np.asarray(landmarks, np.float32).reshape(n, -1, 2),
        probs,
        np.full((n, 3), 1 / 3, np.float32),
        EMOTIONS_7,
    )


# ------------------------------------------------------------------------ DetectionSchedule
@pytest.mark.parametrize(("fps", "expected"), [(30, 10), (15, 10), (10, 10), (5, 5), (60, 10)])
def test_detection_rate_follows_image_stamps(fps, expected):
    sched = DetectionSchedule(10.0)
    due = [sched.due(stamp(k, fps)) for k in range(int(3 * fps))]  # three seconds of frames
    assert due[0]
    assert abs(sum(due) - 3 * expected) <= 1
    if fps == 30:
        assert due[:6] == [True, False, False, True, False, False]


def test_rate_zero_detects_every_frame_and_requests_jump_the_queue():
    assert all(DetectionSchedule(0.0).due(stamp(k)) for k in range(10))
    sched = DetectionSchedule(10.0)
    assert [sched.due(stamp(k)) for k in range(3)] == [True, False, False]
    sched.request()
    assert sched.due(stamp(3)) is True  # due anyway: the request adds nothing
    assert sched.due(stamp(4)) is False
    sched.request()
    assert sched.due(stamp(5)) is True
    assert sched.due(stamp(6)) is False  # a request uses up the credit it had
    with pytest.raises(ValueError, match="rate_hz"):
        DetectionSchedule(-1.0)


def test_stamps_going_back_restart_the_schedule():
    sched = DetectionSchedule(10.0)
    for k in range(5):
        sched.due(stamp(100 + k))
    assert sched.due(stamp(0)) is True  # a bag replayed from its start
    assert sched.due(stamp(1)) is False


# -------------------------------------------------------------------------- LandmarkTracker
def test_landmark_frames_centre_scale_and_degenerate_rows():
    pts = np.stack([face(100, 200, 30), np.full((68, 2), np.nan), np.full((68, 2), 5.0)])
    centre, scale = landmark_frames(pts)
    np.testing.assert_allclose(centre[0], [100, 200], atol=1e-9)
    np.testing.assert_allclose(scale[0], 30, rtol=1e-9)
    assert np.isnan(scale[1]) and scale[2] == 0
    c, s = landmark_frames(np.zeros((2, 0, 2)))
    assert c.shape == (2, 2) and np.isnan(s).all()


def test_boxes_follow_the_landmarks_in_the_detector_box_style():
    tr = LandmarkTracker()
    new, lost = tr.detections(stamp(0), np.array([det_box(200, 200)]), np.array([0.9]), [7])
    assert new == [7] and lost == {}
    cx, cy, r = 200.0, 200.0, 40.0
    for k in range(1, 30):  # the face moves right and grows; no detection meanwhile
        tracks = tr.current()
        assert tracks.ids.tolist() == [7]
        lost = tr.observe(stamp(k), tracks, face(cx, cy, r)[None], W, H)
        assert lost == {}
        cx, cy, r = cx + 4, cy + 1, r * 1.01
        # Next frame's box: the detector's box style around this frame's landmarks.
        np.testing.assert_allclose(
            tr.current().boxes[0], det_box(cx - 4, cy - 1, r / 1.01), atol=1e-3
        )
    assert tr.current().scores[0] == pytest.approx(0.9)


def test_late_detections_match_the_box_of_their_own_frame_and_recalibrate():
    tr = LandmarkTracker(iou_threshold=0.5)
    tr.detections(stamp(0), np.array([det_box(100, 200)]), np.array([0.9]), [1])
    for k in range(6):  # fast motion: 30 px per frame
        tr.observe(stamp(k), tr.current(), face(100 + 30 * k, 200)[None], W, H)
    # The detector answers for frame 2 now (it ran in parallel), with a slightly taller box:
    # it matches the box of frame 2, not the current one (90 px away: IoU 0.3).
    taller = det_box(160, 200)
    taller[3] += 8
    new, lost = tr.detections(stamp(2), np.array([taller]), np.array([0.8]), [1])
    assert new == [] and lost == {} and tr.ids == [1]
    assert tr.current().scores[0] == pytest.approx(0.8)
    tr.observe(stamp(6), tr.current(), face(280, 200)[None], W, H)
    # Half-way to the new box style (4 px taller at the bottom).
    np.testing.assert_allclose(tr.current().boxes[0][3], det_box(280, 200)[3] + 4, atol=1e-3)


def test_a_face_moving_as_it_appears_gets_its_box_style_from_the_next_detection():
    tr = LandmarkTracker()
    # Detected in frame 0, first recognised in frame 2, 20 px further right: the first box
    # style mixes two frames; the next detection (frame 3) replaces it instead of averaging.
    tr.detections(stamp(0), np.array([det_box(100, 200)]), [0.9], [1])
    tr.observe(stamp(2), tr.current(), face(140, 200)[None], W, H)
    tr.observe(stamp(3), tr.current(), face(160, 200)[None], W, H)
    assert tr.current().boxes[0][0] == pytest.approx(det_box(120, 200)[0])  # 40 px behind
    tr.detections(stamp(3), np.array([det_box(160, 200)]), [0.9], [1])
    tr.observe(stamp(4), tr.current(), face(180, 200)[None], W, H)
    np.testing.assert_allclose(tr.current().boxes[0], det_box(180, 200), atol=1e-3)
    # An older round than the last merged one is ignored.
    assert tr.detections(stamp(1), np.zeros((0, 4)), np.zeros(0), []) == ([], {})
    assert tr.ids == [1]


def test_detection_of_a_frame_processed_before_the_track_existed():
    tr = LandmarkTracker()
    empty = tr.current()
    tr.observe(stamp(5), empty, np.zeros((0, 68, 2)), W, H)  # nobody tracked in frame 5
    tr.detections(stamp(3), np.array([det_box(100, 200)]), [0.9], [1])
    tr.observe(stamp(6), tr.current(), face(100, 200)[None], W, H)
    # A detection of frame 5 matches the track, which frame 5 did not have: no recalibration.
    assert tr.detections(stamp(5), np.array([det_box(100, 200)]), [0.9], [1]) == ([], {})
    np.testing.assert_allclose(tr.current().boxes[0], det_box(100, 200), atol=1e-3)


def test_unconfirmed_tracks_end_after_max_missed_rounds():
    tr = LandmarkTracker(max_missed=1)
    tr.detections(stamp(0), np.array([det_box(100, 200), det_box(400, 200)]), [0.9, 0.9], [1, 2])
    tr.observe(stamp(0), tr.current(), np.stack([face(100, 200), face(400, 200)]), W, H)
    only_first = np.array([det_box(100, 200)])
    assert tr.detections(stamp(3), only_first, [0.9], [1]) == ([], {})  # one miss: kept
    assert tr.detections(stamp(6), only_first, [0.9], [1]) == ([], {2: LOST_UNCONFIRMED})
    assert tr.ids == [1]


def test_new_faces_take_the_detector_id_unless_it_is_live():
    tr = LandmarkTracker()
    tr.detections(stamp(0), np.array([det_box(100, 200)]), [0.9], [5])
    new, _ = tr.detections(
        stamp(1), np.array([det_box(100, 200), det_box(400, 200)]), [0.9, 0.7], [9, 5]
    )
    assert len(new) == 1 and new[0] not in (0, 5) and tr.ids == [5, new[0]]


def test_tracks_end_when_leaving_the_image_nan_or_jumping():
    tr = LandmarkTracker()
    boxes = np.array([det_box(100, 200), det_box(300, 200), det_box(500, 200)])
    tr.detections(stamp(0), boxes, [0.9] * 3, [1, 2, 3])
    tr.observe(
        stamp(0), tr.current(), np.stack([face(100, 200), face(300, 200), face(500, 200)]), W, H
    )
    lost = tr.observe(
        stamp(1),
        tr.current(),
        np.stack([face(-60, 200), np.full((68, 2), np.nan), face(500, 200, 90)]),
        W,
        H,
    )
    assert lost == {1: LOST_OUTSIDE, 2: LOST_NAN, 3: LOST_JUMP}
    assert tr.ids == []


def test_two_tracks_on_one_face_merge_into_the_older():
    tr = LandmarkTracker()
    tr.detections(stamp(0), np.array([det_box(100, 200), det_box(200, 200)]), [0.9] * 2, [1, 2])
    tr.observe(stamp(0), tr.current(), np.stack([face(100, 200), face(200, 200)]), W, H)
    # Both lock onto the face in between (the second one drifted there).
    lost = tr.observe(stamp(1), tr.current(), np.stack([face(150, 200), face(152, 200)]), W, H)
    assert lost == {2: LOST_DUPLICATE} and tr.ids == [1]


def test_recogniser_without_landmarks_keeps_the_boxes():
    tr = LandmarkTracker()
    tr.detections(stamp(0), np.array([det_box(100, 200)]), [0.9], [1])
    before = tr.current().boxes.copy()
    assert tr.observe(stamp(1), tr.current(), np.zeros((1, 0, 2)), W, H) == {}
    assert tr.observe(stamp(2), tr.current(), np.full((1, 68, 2), 7.0), W, H) == {}  # all equal
    np.testing.assert_array_equal(tr.current().boxes, before)


def test_tracks_ended_while_the_frame_was_processed_are_skipped():
    tr = LandmarkTracker(max_missed=0)
    tr.detections(stamp(0), np.array([det_box(100, 200)]), [0.9], [1])
    tracks = tr.current()
    tr.detections(stamp(1), np.zeros((0, 4)), [], [])  # gone meanwhile
    assert tr.observe(stamp(2), tracks, face(100, 200)[None], W, H) == {}
    assert tr.ids == []


def test_bad_tracker_parameters_are_refused():
    for kwargs, word in (
        ({"iou_threshold": 0.0}, "iou_threshold"),
        ({"max_missed": -1}, "max_missed"),
        ({"max_scale_change": 1.0}, "max_scale_change"),
        ({"merge_iou": 2.0}, "merge_iou"),
        ({"min_inside": 1.5}, "min_inside"),
        ({"history": 0}, "history"),
    ):
        with pytest.raises(ValueError, match=word):
            LandmarkTracker(**kwargs)
    with pytest.raises(ValueError, match="boxes"):
        LandmarkTracker().detections(0, np.zeros((2, 4)), [0.5], [1])


# --------------------------------------------------------------------------- FrameScheduler
def test_frame_scheduler_merges_detections_from_another_thread_and_asks_after_a_loss():
    sched = FrameScheduler()
    assert len(sched.plan()) == 0
    t = threading.Thread(
        target=sched.add_detections,
        args=(stamp(0), np.array([det_box(100, 200), det_box(400, 200)]), [0.9, 0.8], [1, 2]),
    )
    t.start()
    t.join()
    tracks = sched.plan()
    assert tracks.ids.tolist() == [1, 2]
    out = sched.observe(
        stamp(0), tracks, prediction(tracks.boxes, [face(100, 200), face(400, 200)]), W, H
    )
    assert out.lost == {} and out.want_detection == ""
    tracks = sched.plan()
    out = sched.observe(
        stamp(1), tracks, prediction(tracks.boxes, [face(100, 200), face(700, 200)]), W, H
    )
    assert out.lost == {2: LOST_OUTSIDE} and "#2" in out.want_detection
    assert sched.plan().ids.tolist() == [1]
    # Detections arriving out of order are merged oldest first.
    sched.add_detections(stamp(6), np.array([det_box(100, 200)]), [0.9], [1])
    sched.add_detections(stamp(3), np.zeros((0, 4)), [], [])
    assert sched.plan().ids.tolist() == [1] and sched.ended == {}
    assert sched.reset() == [1] and len(sched.plan()) == 0
