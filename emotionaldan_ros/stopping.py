"""Ctrl-C and SIGTERM as a stop request that the runners' spin loops poll (ROS-free).

rclpy's own handler (installed by `rclpy.init` by default) shuts the context down from inside the
signal handler, under the running executor: the next `spin_once` then fails to create its
timeout timer (`RCLError: failed to create timer: the given context is not valid`), the error
escapes the runner, and the process aborts at exit (`terminate called without an active
exception`, status 134) without stopping its nodes or printing anything. A model loading during
start-up fails the same way ("Failed to publish"). The runners therefore init rclpy without its
handlers and own the signals: the first one only asks the loop to stop, so the context stays
valid until the runner has stopped its workers and destroyed its nodes.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager: SIGINT / SIGTERM set `requested` instead of killing the process.

    A second signal while a stop is already pending raises KeyboardInterrupt in the main thread,
    so a user who presses Ctrl-C twice still gets out of a start-up that blocks (a camera that
    does not answer, a model that loads slowly); a runner sets `repeat_interrupts` to False once
    it is stopping (a bounded wait), so that an impatient second Ctrl-C cannot cut the clean-up
    short. Outside the main thread (where Python cannot install signal handlers) it does nothing
    and `requested` stays false. The bag tools do the same with `bag.rosio.StopFlag`.
    """

    def __init__(
        self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS, keep_after_stop: bool = False
    ) -> None:
        """Own `signals`.

        Args:
            signals: the signals that request a stop.
            keep_after_stop: once a stop was requested, `restore` ignores the signals instead of
                giving them back: a runner's process is ending, and one more Ctrl-C during the
                interpreter's exit must not turn a clean stop into a death by SIGINT.
        """
        self._signals = signals
        self._keep_after_stop = keep_after_stop
        self._previous: dict[signal.Signals, object] = {}
        self.signum: int | None = None
        self.repeat_interrupts = True

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived."""
        return self.signum is not None

    @property
    def name(self) -> str:
        """Name of the signal that asked to stop ('SIGINT'), or '' when none did."""
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum  # the first one names the stop
        elif self.repeat_interrupts:
            raise KeyboardInterrupt(f"second stop signal ({signal.Signals(signum).name})")

    def install(self) -> StopRequest:
        """Take over the signals (main thread only; elsewhere a no-op); returns self."""
        if threading.current_thread() is threading.main_thread() and not self._previous:
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Give the signals back to the handlers they had before `install`."""
        if self._keep_after_stop and self.requested:
            # Ignored, not ours: at exit Python resets its own handlers to the default action,
            # and a Ctrl-C during the interpreter's teardown would then kill the process.
            for sig in self._previous:
                signal.signal(sig, signal.SIG_IGN)
            self._previous.clear()
            return
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def __enter__(self) -> StopRequest:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()
