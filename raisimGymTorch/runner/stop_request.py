"""Ctrl-C and SIGTERM during training, and a torchrun launcher that died: stop after the current iteration and
save, rather than die mid-write or train on as an orphan."""
from __future__ import annotations

import os
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
    With `watch_parent`, the death of the parent process is a request too: a torchrun worker whose launcher was
    killed with SIGKILL gets no signal (torchrun forwards signals only while it lives) and would otherwise train,
    and write checkpoints, forever. A daemon thread polls os.getppid(), which changes when the parent dies and
    the worker is re-parented, every `PARENT_POLL_SECONDS`.
    Used as a context manager; handlers are installed only in the main thread and restored on exit.

    Args:
        print_function: Prints the line announcing the stop.
        on_request: Called once, from the handler, at the first signal: e.g. releases a paused live viewer, which
            would otherwise hold the run before the iteration could end.
        watch_parent: Treat the death of the parent process as a request (see above).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    SAME_REQUEST_SECONDS = 2.0
    PARENT_POLL_SECONDS = 1.0

    def __init__(self, print_function: Callable[[str], None] = print,
                 on_request: Callable[[], None] | None = None, watch_parent: bool = False) -> None:
        self.requested = False
        self._print = print_function
        self._on_request = on_request
        self._previous: dict[int, Any] = {}
        self._first_signal = 0.0
        self._watch_parent = watch_parent
        self._exited = threading.Event()
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        if self._watch_parent:
            self._exited.clear()
            self._watcher = threading.Thread(target=self._watch, args=(os.getppid(),), name="parent-watch",
                                             daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
        self._exited.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def _watch(self, parent: int) -> None:
        while not self._exited.wait(self.PARENT_POLL_SECONDS):
            if os.getppid() != parent:
                if not self.requested:
                    self.requested = True
                    self._print(f"[runner] the launcher (pid {parent}) is gone: stopping after this iteration and "
                                "saving a checkpoint")
                    if self._on_request is not None:
                        self._on_request()
                return

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
