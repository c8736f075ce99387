"""Issue 17, items 2 and 10: the live viewer of ``runner.py --render`` never holds training, and stays quiet.

Each case runs runner.py's command line (train_driver.py) in a child process with hard time limits, and talks
to its viewer over a raw websocket, as any local process can:

- a client ticks Pause and goes away (a page closed while paused): training goes on, and one Ctrl-C stops it
  with exit 0 and a final checkpoint;
- a client that counts as an open page (it reports a camera) ticks Pause and stays: training holds, as Pause
  promises, but one Ctrl-C still stops it with exit 0;
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

import msgspec
import pytest
import viser
import zstandard
from conftest import small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment
from websockets.sync.client import ClientConnection, connect

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


def open_viewer_socket(port: int) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{port}", subprotocols=[f"viser-v{viser.__version__}"], open_timeout=30)


def server_messages(frame: bytes) -> list[dict]:
    """The messages in one frame from viser: sizes (2 x uint64), zstd-compressed msgpack, binary buffers."""
    size = int.from_bytes(frame[8:16], "little")
    return msgspec.msgpack.decode(zstandard.ZstdDecompressor().decompress(frame[16:16 + size]))["messages"]


def tick_pause(connection: ClientConnection) -> None:
    """Sends what the page sends when Pause is ticked: the checkbox's id is in the GUI messages the server
    sends every new connection."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in server_messages(connection.recv(timeout=30)):
            if message.get("type") == "GuiCheckboxMessage" and message.get("props", {}).get("label") == "Pause":
                update = {"type": "GuiUpdateMessage", "uuid": message["uuid"], "updates": {"value": True}}
                connection.send(msgspec.msgpack.encode(update))
                return
    pytest.fail("the viewer never sent its Pause checkbox")


def report_camera(connection: ClientConnection) -> None:
    """What a browser page sends first; viser counts a connection as an open page from then on."""
    camera = {"type": "ViewerCameraMessage", "wxyz": [1.0, 0.0, 0.0, 0.0], "position": [3.0, -3.0, 2.0],
              "fov": 1.0, "near": 0.01, "far": 100.0, "image_height": 600, "image_width": 800,
              "look_at": [0.0, 0.0, 0.0], "up_direction": [0.0, 0.0, 1.0]}
    connection.send(msgspec.msgpack.encode(camera))


def assert_stopped_cleanly(runner: Runner, code: int) -> None:
    assert code == 0, "\n".join(runner.lines[-20:])
    assert any(line.startswith("[runner] stopped by signal: ") for line in runner.lines), runner.lines[-10:]
    assert not any("Traceback" in line for line in runner.lines), "\n".join(runner.lines[-30:])


def test_pause_from_a_page_that_went_away_holds_nothing(runner):
    with open_viewer_socket(runner.port) as connection:
        report_camera(connection)
        tick_pause(connection)
        time.sleep(1.0)  # let the server apply the update before the page goes
    # eval_every_n is 1: every iteration evaluates, and an evaluation is where Pause would hold.
    runner.wait_for(r"^\[eval\]|^iteration ", STEP_TIMEOUT, count=6)
    assert_stopped_cleanly(runner, runner.interrupt_and_wait())


def test_one_ctrl_c_stops_a_run_paused_by_an_open_page(runner):
    with open_viewer_socket(runner.port) as connection:
        report_camera(connection)
        tick_pause(connection)
        time.sleep(3.0)  # the next evaluation now waits on Pause
        code = runner.interrupt_and_wait()
    assert_stopped_cleanly(runner, code)


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
