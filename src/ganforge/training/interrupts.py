"""Ctrl-C and SIGTERM stop a run between two steps, never inside one.

A KeyboardInterrupt raised wherever the signal lands could fall after D's update and before G's;
saving then would store half a step as step N, and the resumed run would differ from an
uninterrupted one. So the first SIGINT or SIGTERM only sets a flag that the loop reads after a
complete step; the run then saves `last` at that boundary and stops. A second Ctrl-C aborts at
once, without saving (the previous checkpoint is kept).
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """Context manager: while active, SIGINT/SIGTERM set `received` instead of raising."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal's number
        self.previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # only there can handlers go
            for number in SIGNALS:
                self.previous[number] = signal.signal(number, self.handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous.clear()

    def handle(self, number: int, frame) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: abort now
        self.received = number

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""
