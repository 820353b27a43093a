"""StopRequest: Ctrl-C / SIGTERM become a polled stop request (emotionaldan_ros.stopping)."""

from __future__ import annotations

import signal

import pytest

from emotionaldan_ros.stopping import StopRequest


def test_first_signal_requests_a_stop_second_interrupts_then_handlers_come_back():
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        assert not stop.requested and stop.name == ""
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested and stop.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt, match="second stop signal"):
            signal.raise_signal(signal.SIGINT)
        stop.repeat_interrupts = False  # stopping: more signals are only noted
        signal.raise_signal(signal.SIGINT)
        assert stop.name == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_it_installs_nothing():
    import threading

    seen = []

    def run():
        with StopRequest() as stop:
            seen.append(stop._previous)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert seen == [{}]


def test_a_runner_keeps_absorbing_signals_once_it_is_stopping():
    # The process is on its way out: a late Ctrl-C must not kill it by SIGINT after a clean stop.
    before = signal.getsignal(signal.SIGINT)
    try:
        with StopRequest(keep_after_stop=True) as stop:
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # survives the exit's reset
        signal.raise_signal(signal.SIGINT)  # ignored: nothing raised
        assert stop.name == "SIGINT"
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with StopRequest(keep_after_stop=True):  # no stop requested: handlers given back
        pass
    assert signal.getsignal(signal.SIGINT) is before
