import math

import pytest

from emotionaldan_ros.core.fear import FearMonitor, FearParams


def run(monitor, seq, dt=0.1, face=1):
    """Feed one P(fear) per frame; return the states of that face."""
    out = []
    for i, prob in enumerate(seq):
        out += [s for s in monitor.update(i * dt, {face: prob}) if s.face_id == face]
    return out


def test_no_smoothing_enters_after_min_duration():
    m = FearMonitor(
        FearParams(smoothing_tau_s=0, enter_min_duration_s=0.3, exit_min_duration_s=0.2)
    )
    states = run(m, [0.9] * 6)
    # pending from t=0; enters at t>=0.3 -> frame index 3
    assert [s.fear for s in states] == [False, False, False, True, True, True]
    assert states[3].speed_factor == pytest.approx(0.7)
    assert states[0].speed_factor == 1.0


def test_short_spike_does_not_trigger():
    m = FearMonitor(FearParams(smoothing_tau_s=0, enter_min_duration_s=0.5))
    states = run(m, [0.1, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1])
    assert not any(s.fear for s in states)


def test_hysteresis_between_thresholds_keeps_state():
    p = FearParams(
        smoothing_tau_s=0,
        enter_min_duration_s=0,
        exit_min_duration_s=0.2,
        enter_threshold=0.6,
        exit_threshold=0.3,
    )
    m = FearMonitor(p)
    states = run(m, [0.9, 0.45, 0.45, 0.45, 0.2, 0.2, 0.2, 0.45])
    assert [s.fear for s in states] == [True, True, True, True, True, True, False, False]
    # `changed` marks exactly the updates where the alert was raised or cleared.
    assert [s.changed for s in states] == [True, False, False, False, False, False, True, False]


def test_smoothing_is_time_constant_ema():
    m = FearMonitor(FearParams(smoothing_tau_s=1.0))
    m.update(0.0, {3: 0.0})
    (s,) = m.update(1.0, {3: 1.0})
    assert s.fear_level == pytest.approx(1 - math.exp(-1.0))


def test_passenger_leaving_view_is_cleared():
    m = FearMonitor(FearParams(smoothing_tau_s=0, enter_min_duration_s=0, leave_timeout_s=0.5))
    (s,) = m.update(0.0, {7: 0.95})
    assert s.fear and m.speed_factor() < 1.0
    assert m.update(0.4, {}) == []
    (gone,) = m.update(0.6, {})
    assert gone.face_id == 7 and not gone.present and not gone.fear and gone.speed_factor == 1.0
    assert gone.changed  # the alert that was on is cleared by the leaving
    assert m.passengers == [] and m.speed_factor() == 1.0
    m.update(1.0, {8: 0.1})
    (calm_gone,) = m.update(2.0, {})
    assert calm_gone.face_id == 8 and not calm_gone.present and not calm_gone.changed


def test_nan_and_out_of_range_rejected_and_counted():
    m = FearMonitor()
    assert m.update(0.0, {1: float("nan"), 2: 1.5, 3: 0.2}) != []
    assert m.rejected == 2
    assert m.passengers == [3]


def test_out_of_order_frame_ignored():
    m = FearMonitor(FearParams(smoothing_tau_s=0))
    m.update(1.0, {1: 0.2})
    assert m.update(0.5, {1: 0.9}) == []


def test_stamps_jumping_back_restart_the_stream_instead_of_freezing_it():
    # A looping bag or a restarted clock: stamps go back by more than leave_timeout_s.
    m = FearMonitor(FearParams(smoothing_tau_s=0, enter_min_duration_s=0.0))
    m.update(100.0, {1: 0.9, 2: 0.1})
    states = m.update(3.0, {1: 0.2})
    cleared = [s for s in states if not s.present]
    assert sorted(s.face_id for s in cleared) == [1, 2] and m.restarts == 1
    assert {s.face_id: s.changed for s in cleared} == {1: True, 2: False}  # only 1 was afraid
    (one,) = [s for s in states if s.present]
    assert one.face_id == 1 and one.fear_level == pytest.approx(0.2)  # updated, not frozen
    assert not [s for s in m.update(2.5, {1: 0.3}) if not s.present]  # small jitter: ignored
    assert m.restarts == 1


def test_several_passengers_independent():
    m = FearMonitor(FearParams(smoothing_tau_s=0, enter_min_duration_s=0))
    states = {s.face_id: s for s in m.update(0.0, {1: 0.9, 2: 0.1})}
    assert states[1].fear and not states[2].fear


@pytest.mark.parametrize(
    "kwargs",
    [
        {"enter_threshold": 0.3, "exit_threshold": 0.5},
        {"enter_threshold": 1.5},
        {"fear_speed_factor": 0.0},
        {"leave_timeout_s": 0},
        {"smoothing_tau_s": -1},
        {"enter_min_duration_s": float("nan")},
    ],
)
def test_bad_params_rejected_with_reason(kwargs):
    with pytest.raises(ValueError, match="must"):
        FearParams(**kwargs)


def test_unknown_face_id_mid_run_starts_a_fresh_passenger():
    m = FearMonitor(FearParams(smoothing_tau_s=1.0, enter_min_duration_s=0.0))
    for k in range(5):
        m.update(0.1 * k, {1: 0.95})
    # id 99 was never seen: it starts from its own first value, not from another track's state
    (new,) = [s for s in m.update(0.5, {1: 0.95, 99: 0.0}) if s.face_id == 99]
    assert new.fear_level == 0.0 and not new.fear
    assert m.passengers == [1, 99]
