"""Ctrl-C and SIGTERM during training: stop after the current iteration and save, rather than die mid-write."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current iteration; a second aborts.

    A second signal within `SAME_REQUEST_SECONDS` counts as the same request: under torchrun, Ctrl-C reaches a
    worker from the terminal and again from torchrun, which forwards it.
    Used as a context manager; handlers are installed only in the main thread and restored on exit.

    Args:
        print_function: Prints the line announcing the stop.
        on_request: Called once, from the handler, at the first signal: e.g. releases a paused live viewer, which
            would otherwise hold the run before the iteration could end.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    SAME_REQUEST_SECONDS = 2.0

    def __init__(self, print_function: Callable[[str], None] = print,
                 on_request: Callable[[], None] | None = None) -> None:
        self.requested = False
        self._print = print_function
        self._on_request = on_request
        self._previous: dict[int, Any] = {}
        self._first_signal = 0.0

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.requested:
            if time.monotonic() - self._first_signal < self.SAME_REQUEST_SECONDS:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._first_signal = time.monotonic()
        self._print(f"[runner] {signal.Signals(number).name}: stopping after this iteration and saving a checkpoint "
                    "(send it again to abort without saving)")
        if self._on_request is not None:
            self._on_request()
