"""Per-passenger fear monitoring: smoothing, hysteresis and a recommended speed factor.

ROS-free and driven by message stamps (not wall time), so a replayed bag gives the same alerts
as the live drive. The node `nodes/fear_monitor.py` is a thin adapter over `FearMonitor`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FearParams:
    """Tuning of the fear monitor (all times in seconds of message stamps).

    Attributes:
        smoothing_tau_s: time constant of the exponential moving average of P(fear); 0 = none.
        enter_threshold: smoothed fear level above which a passenger may enter the fear state.
        exit_threshold: level below which a passenger in fear may return to calm (< enter).
        enter_min_duration_s: the level must stay above enter_threshold this long to enter fear.
        exit_min_duration_s: the level must stay below exit_threshold this long to leave fear.
        fear_speed_factor: recommended speed factor while a passenger is in fear, in (0, 1].
        leave_timeout_s: a passenger unseen this long has left view; their alert is cleared.
    """

    smoothing_tau_s: float = 0.5
    enter_threshold: float = 0.5
    exit_threshold: float = 0.3
    enter_min_duration_s: float = 0.5
    exit_min_duration_s: float = 1.0
    fear_speed_factor: float = 0.7
    leave_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        problems = validate_fear_params(self)
        if problems:
            raise ValueError("; ".join(problems))


def validate_fear_params(p: FearParams) -> list[str]:
    """Reasons why these parameters are unusable (empty list when fine)."""
    out = []
    for name in ("smoothing_tau_s", "enter_min_duration_s", "exit_min_duration_s"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value >= 0):
            out.append(f"{name} must be a finite number >= 0, got {value}")
    if not (math.isfinite(p.leave_timeout_s) and p.leave_timeout_s > 0):
        out.append(f"leave_timeout_s must be > 0, got {p.leave_timeout_s}")
    for name in ("enter_threshold", "exit_threshold"):
        value = getattr(p, name)
        if not 0.0 <= value <= 1.0:
            out.append(f"{name} must be in [0, 1], got {value}")
    if p.exit_threshold >= p.enter_threshold:
        out.append(
            f"exit_threshold ({p.exit_threshold}) must be below enter_threshold "
            f"({p.enter_threshold}) for hysteresis"
        )
    if not 0.0 < p.fear_speed_factor <= 1.0:
        out.append(f"fear_speed_factor must be in (0, 1], got {p.fear_speed_factor}")
    return out


@dataclass
class PassengerState:
    """What the monitor says about one passenger after an update."""

    face_id: int
    present: bool
    fear_level: float
    fear: bool
    speed_factor: float
    reason: str
    stamp: float
    # True on the update where `fear` flipped: an alert raised or cleared by the hysteresis, or
    # cleared because an afraid passenger left view (`present` False) or the stream restarted.
    changed: bool = False

    @staticmethod
    def gone(face_id: int, reason: str, stamp: float, was_afraid: bool) -> PassengerState:
        """A passenger's track ended: no alert, full speed; `changed` if an alert was on."""
        return PassengerState(face_id, False, 0.0, False, 1.0, reason, stamp, was_afraid)


@dataclass
class _Track:
    level: float
    last_seen: float
    fear: bool = False
    # Stamp since which the level has been on the "switch" side of the active threshold.
    pending_since: float | None = None


class FearMonitor:
    """Smooths P(fear) per face id and applies hysteresis with minimum durations."""

    def __init__(self, params: FearParams | None = None) -> None:
        self.params = params or FearParams()
        self._tracks: dict[int, _Track] = {}
        self.rejected = 0  # observations dropped (NaN / out of range probabilities)
        self.restarts = 0  # times the stamps jumped back (a looping bag, a restarted clock)
        self._latest = -math.inf

    @property
    def passengers(self) -> list[int]:
        """Face ids currently tracked."""
        return sorted(self._tracks)

    def update(self, stamp: float, fear_probs: dict[int, float]) -> list[PassengerState]:
        """Feed the fear probabilities of the faces seen in one frame.

        Args:
            stamp: frame time in seconds (message stamp); frames older than a track's last
                observation are ignored for that track, unless the stamps jumped back by more
                than `leave_timeout_s` (the stream restarted: every passenger is cleared).
            fear_probs: face id -> P(fear) of that frame.

        Returns:
            One state per observed passenger, plus a `present=False` state for each passenger
            that has not been seen for `leave_timeout_s`.
        """
        p = self.params
        out: list[PassengerState] = []
        if stamp < self._latest - p.leave_timeout_s:
            # Time went back by more than a passenger may stay unseen: the stream restarted.
            # Every track ends now, or the passengers would stay frozen until the new stamps
            # caught up with the old ones.
            self.restarts += 1
            out += [
                PassengerState.gone(f, "stream restarted", stamp, t.fear)
                for f, t in sorted(self._tracks.items())
            ]
            self._tracks.clear()
            self._latest = stamp
        self._latest = max(self._latest, stamp)
        for face_id, prob in sorted(fear_probs.items()):
            if not (math.isfinite(prob) and 0.0 <= prob <= 1.0):
                self.rejected += 1
                continue
            track = self._tracks.get(face_id)
            if track is None:
                track = self._tracks[face_id] = _Track(level=prob, last_seen=stamp)
            elif stamp < track.last_seen:
                continue  # out-of-order frame: the newer state already accounts for it
            else:
                dt = stamp - track.last_seen
                keep = math.exp(-dt / p.smoothing_tau_s) if p.smoothing_tau_s > 0 else 0.0
                track.level = keep * track.level + (1.0 - keep) * prob
                track.last_seen = stamp
            out.append(self._step(face_id, track, stamp))
        for face_id in [
            f for f, t in self._tracks.items() if stamp - t.last_seen > p.leave_timeout_s
        ]:
            gone = self._tracks.pop(face_id)
            out.append(PassengerState.gone(face_id, "passenger left view", stamp, gone.fear))
        return out

    def speed_factor(self) -> float:
        """Recommended factor over all passengers (the most cautious one)."""
        if any(t.fear for t in self._tracks.values()):
            return self.params.fear_speed_factor
        return 1.0

    def _step(self, face_id: int, track: _Track, stamp: float) -> PassengerState:
        p = self.params
        # The threshold to cross and how long to stay across depend on the current state.
        if track.fear:
            threshold, needed = p.exit_threshold, p.exit_min_duration_s
            crossing = track.level < threshold
        else:
            threshold, needed = p.enter_threshold, p.enter_min_duration_s
            crossing = track.level > threshold
        changed = False
        if not crossing:
            track.pending_since = None
        else:
            if track.pending_since is None:
                track.pending_since = stamp
            if stamp - track.pending_since >= needed:
                track.fear = not track.fear
                track.pending_since = None
                changed = True
        state = "fear" if track.fear else "calm"
        reason = f"{state}: fear level {track.level:.2f}"
        if track.pending_since is not None:
            side = "below" if track.fear else "above"
            reason += f", {side} {threshold:.2f} for {stamp - track.pending_since:.1f} s"
        factor = p.fear_speed_factor if track.fear else 1.0
        return PassengerState(
            face_id, True, track.level, track.fear, factor, reason, stamp, changed
        )
