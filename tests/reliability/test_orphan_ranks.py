"""Issue 17 item 3: torchrun workers whose launcher was killed with SIGKILL stop within a bounded time and keep
their last checkpoint, instead of training on as orphans.

A real torchrun starts two ranks of tests/test_distributed.py's runner worker; torchrun puts each worker in a
session of its own, so whatever outlives the test is killed by pid.
"""
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import small_cfg_text
from reliability_helpers import TESTS_DIR, child_environment

from raisimGymTorch.io.checkpoint import load_checkpoint

STOP_SECONDS = 60


def _children(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """Running; a zombie (an orphan not yet reaped by pid 1) has ended."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _read_until(stream, marker: str, seconds: float) -> str:
    """Reads `stream` until a line starts with `marker`; fails after `seconds` without one."""
    text, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 1.0)
        if ready:
            chunk = os.read(stream.fileno(), 65536).decode(errors="replace")
            if not chunk:
                break
            text += chunk
            if any(line.startswith(marker) for line in text.splitlines()):
                return text
    raise AssertionError(f"no line starting with {marker!r} within {seconds} s:\n{text[-3000:]}")


def test_killed_torchrun_launcher_makes_workers_stop_and_save(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(small_cfg_text({"num_envs": 8, "max_time": 0.2, "eval_every_n": 1000}))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(TESTS_DIR / "test_distributed.py"), "runner", str(cfg), str(tmp_path / "data")]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=child_environment(OMP_NUM_THREADS="1"))
    workers: list[int] = []
    try:
        output = _read_until(launcher.stdout, "iteration      2 ", 180)
        workers = _children(launcher.pid)
        assert len(workers) == 2, workers
        launcher.kill()
        launcher.wait(timeout=10)
        deadline = time.monotonic() + STOP_SECONDS
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.5)
        running = [pid for pid in workers if _alive(pid)]
        assert not running, f"workers {running} still running {STOP_SECONDS} s after the launcher was killed"
        output += launcher.stdout.read().decode(errors="replace")
    finally:
        if not workers and launcher.poll() is None:
            workers = _children(launcher.pid)
        launcher.kill()
        launcher.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.stdout.close()
    assert "is gone: stopping after this iteration" in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    run_dir = next((tmp_path / "data" / "rsg_anymal").iterdir())
    checkpoints = sorted(run_dir.glob("full_*.pt"), key=lambda path: int(path.stem.split("_")[1]))
    # eval_every_n 1000: besides iteration 0's, only the checkpoint written on stopping exists.
    assert len(checkpoints) == 2, checkpoints
    assert load_checkpoint(checkpoints[-1])["iteration"] >= 3
    assert not list(run_dir.glob(".*.tmp"))
