"""Issue 17, item 10: the live viewer of ``runner.py --render`` stays quiet.

Each case runs runner.py's command line (train_driver.py) in a child process with hard time limits, and talks
to its viewer over raw sockets, as any local process can:

- malformed connections cost one log line each, not a traceback.
"""
from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment

STARTUP_TIMEOUT = 150  # seconds to the viewer's address: importing torch alone takes 5 s on a loaded 2-core machine
STEP_TIMEOUT = 90  # seconds for a few iterations, or for a stop, once running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Runner:
    """runner.py --render on a free port, its output lines collected by a thread."""

    def __init__(self, tmp_path: Path) -> None:
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(small_cfg_text())
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(RELIABILITY_DIR / "train_driver.py"), str(tmp_path / "runs"), str(cfg),
             "--render", "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_environment())
        self.lines: list[str] = []
        self._events: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._events.put(line)
        self._events.put(None)

    def wait_for(self, pattern: str, timeout: float, count: int = 1) -> None:
        """Waits until `count` more lines match `pattern`; fails the test on a timeout or an early exit."""
        deadline, seen = time.monotonic() + timeout, 0
        while seen < count:
            try:
                line = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no {count} lines matching {pattern!r} within {timeout} s; output tail:\n"
                            + "\n".join(self.lines[-15:]))
            if line is None:
                pytest.fail(f"the runner exited before printing {pattern!r}:\n" + "\n".join(self.lines[-30:]))
            seen += bool(re.search(pattern, line))

    def interrupt_and_wait(self) -> int:
        """One SIGINT, as one Ctrl-C; the exit code, or a failed test if the runner does not stop in time."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("one SIGINT did not stop the runner; output tail:\n" + "\n".join(self.lines[-15:]))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def runner(tmp_path):
    started = Runner(tmp_path)
    try:
        started.wait_for(r"^\[viewer\] evaluation episodes are shown live at ", STARTUP_TIMEOUT)
        yield started
    finally:
        started.kill()


def test_a_malformed_connection_costs_one_log_line(runner):
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", runner.port), timeout=10) as probe:
            probe.sendall(b"garbage\r\n\r\n")
            probe.recv(1024)  # the server answers 400 and hangs up
    with socket.create_connection(("127.0.0.1", runner.port), timeout=10) as probe:
        probe.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    runner.wait_for(r"^iteration ", STEP_TIMEOUT, count=2)  # the log after them
    code = runner.interrupt_and_wait()
    refused = [line for line in runner.lines if line.startswith("[viewer] refused a malformed connection from ")]
    assert len(refused) == 6, "\n".join(runner.lines)
    assert "Traceback" not in "\n".join(runner.lines), "\n".join(runner.lines)
    assert code == 0
