"""Issue 7, item 3: a training run killed at any moment leaves a loadable latest checkpoint, and resumes from it.

One chain of runner processes (runner.py's command line through train_driver.py, checkpointing every iteration):

    train -> SIGKILL, then retrain -w <latest> -> SIGKILL (x4, one of them while full_N.pt is being written),
    then two retrains from the latest at once, one stopped with SIGTERM and one with SIGINT.

The kills land at random moments (seeded) after the process's first checkpoint; the one aimed at a checkpoint
write watches the run directory and kills as soon as the temporary file appears. The networks are 512 x 512 so
that the write (about 7 MB) lasts long enough to be hit. After every process, every full_<N>.pt it left must
load with the checkpoint loader; the next process resumes from the newest of them and numbers its iterations on.
"""
from __future__ import annotations

import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment

from raisimGymTorch.io.checkpoint import load_checkpoint

PLAN = ["kill", "kill", "kill during write", "kill", "kill"]
SIGNALS = ["SIGTERM", "SIGINT"]
SEED = 20261125
STARTUP_TIMEOUT = 150  # seconds to the first checkpoint: importing torch alone takes 5 s on a loaded 2-core machine


@dataclass
class Run:
    """What one runner process did."""

    what: str
    args: list[str]
    lines: list[str] = field(default_factory=list)
    returncode: int | None = None
    delay: float | None = None
    run_dir: Path | None = None
    temporaries: list[str] = field(default_factory=list)
    checkpoints: dict[int, str | None] = field(default_factory=dict)  # iteration -> None if it loads, else the error


class Runner:
    """A runner process whose output lines are collected by a thread."""

    def __init__(self, run_root: Path, cfg: Path, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(RELIABILITY_DIR / "train_driver.py"), str(run_root), str(cfg), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_environment())
        self.lines: list[str] = []
        self.events: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.events.put(line)
        self.events.put("")  # end of output

    def wait_for(self, prefix: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.process.kill()
                pytest.fail(f"no line starting {prefix!r} within {timeout} s; output:\n" + "\n".join(self.lines[-30:]))
            if line == "":
                pytest.fail(f"the runner ended (exit code {self.process.wait()}) before printing {prefix!r}:\n"
                            + "\n".join(self.lines[-30:]))
            if line.startswith(prefix):
                return

    def run_dir(self) -> Path:
        for line in self.lines:
            if line.startswith("[runner] run directory: "):
                return Path(line.split(": ", 1)[1])
        raise AssertionError("the runner did not print its run directory")


def checkpoint_files(run_dir: Path) -> dict[int, Path]:
    """full_<N>.pt files of a run directory by N; the pattern the user (and these tests) look for."""
    found = {}
    for path in run_dir.glob("full_*.pt"):
        match = re.fullmatch(r"full_(\d+)\.pt", path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def loads(path: Path) -> str | None:
    try:
        checkpoint = load_checkpoint(path)
    except (ValueError, FileNotFoundError) as error:
        return str(error)
    expected = int(re.fullmatch(r"full_(\d+)\.pt", path.name).group(1))
    return None if checkpoint["iteration"] == expected else f"iteration {checkpoint['iteration']} in {path.name}"


def kill_during_write(runner: Runner, run_dir: Path, timeout: float = 60) -> bool:
    """SIGKILLs the runner the moment a checkpoint's temporary file shows up; False if the window was missed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and runner.process.poll() is None:
        if any(name.startswith(".full_") and name.endswith(".tmp") for name in (p.name for p in run_dir.iterdir())):
            runner.process.kill()
            return True
        time.sleep(0.0005)
    runner.process.kill()
    return False


def finish(run: Run, runner: Runner) -> None:
    """Waits for the runner to end and records what it left."""
    try:
        run.returncode = runner.process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        runner.process.kill()
        pytest.fail(f"{run.what}: the runner did not stop within 120 s")
    time.sleep(0.05)  # let the reader thread take the last lines
    run.lines = list(runner.lines)
    run.temporaries = sorted(p.name for p in run.run_dir.iterdir() if p.name.endswith(".tmp"))
    run.checkpoints = {n: loads(path) for n, path in checkpoint_files(run.run_dir).items()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    cfg = root / "cfg.yaml"
    cfg.write_text(small_cfg_text(architecture={"policy_net": [512, 512], "value_net": [512, 512]}))
    run_root = root / "runs"
    rng = random.Random(SEED)
    runs: list[Run] = []
    latest: tuple[int, Path] | None = None
    plan = list(PLAN)
    write_attempts = 0
    while plan:
        what = plan.pop(0)
        args = [] if latest is None else ["-m", "retrain", "-w", str(latest[1])]
        run = Run(what, args)
        runner = Runner(run_root, cfg, args)
        runner.wait_for("[checkpoint]", STARTUP_TIMEOUT)
        run.run_dir = runner.run_dir()
        if what == "kill":
            run.delay = rng.uniform(0.0, 1.5)
            time.sleep(run.delay)
            runner.process.kill()
        else:
            write_attempts += 1
            if not kill_during_write(runner, run.run_dir) and write_attempts < 3:
                plan.insert(0, what)  # missed the window: try again in the next process
        finish(run, runner)
        good = [(n, run.run_dir / f"full_{n}.pt") for n, error in run.checkpoints.items() if error is None]
        if good:
            latest = max([latest, *good] if latest else good, key=lambda item: item[0])
        runs.append(run)
    # Both signals at once, each to its own retrain of the latest checkpoint (they write to separate run directories).
    args = ["-m", "retrain", "-w", str(latest[1])]
    stopping = [(Run(name, args), Runner(run_root, cfg, args)) for name in SIGNALS]
    for run, runner in stopping:
        runner.wait_for("[checkpoint]", STARTUP_TIMEOUT)
        run.run_dir = runner.run_dir()
    for run, runner in stopping:
        runner.wait_for("iteration", STARTUP_TIMEOUT)
        runner.process.send_signal(getattr(signal, run.what))
    for run, runner in stopping:
        finish(run, runner)
        runs.append(run)
    for index, run in enumerate(runs):  # shown with -s, and in the report of a failing test
        print(f"run {index}: {run.what:17} delay {run.delay} exit {run.returncode} resumed at {resumed_at(run)} "
              f"checkpoints {sorted(run.checkpoints)} temporaries {run.temporaries}")
    return runs


def resumed_at(run: Run) -> int | None:
    for line in run.lines:
        match = re.match(r"\[runner\] resumed .* at iteration (\d+)$", line)
        if match:
            return int(match.group(1))
    return None


def test_every_checkpoint_left_behind_loads(chain):
    for index, run in enumerate(chain):
        assert run.checkpoints, f"run {index} ({run.what}) left no checkpoint"
        broken = {n: error for n, error in run.checkpoints.items() if error is not None}
        assert not broken, f"run {index} ({run.what}, killed after {run.delay} s) left unloadable files: {broken}"


def test_kills_were_sigkills_at_spread_out_moments(chain):
    kills = [run for run in chain if run.what.startswith("kill")]
    assert len([run for run in kills if run.what == "kill"]) == 4
    assert all(run.returncode == -signal.SIGKILL for run in kills), [run.returncode for run in kills]
    delays = sorted(run.delay for run in kills if run.delay is not None)
    assert delays[-1] - delays[0] > 0.3, f"the random delays should differ: {delays}"


def test_a_kill_during_a_checkpoint_write_leaves_only_a_temporary_file(chain):
    hit = [run for run in chain if run.what == "kill during write" and
           any(name.startswith(".full_") for name in run.temporaries)]
    assert hit, "no kill landed during a checkpoint write in 3 attempts"
    run = hit[0]
    # The half-written file is hidden and ends in .tmp: no full_*.pt pattern matches it, and it is not loaded.
    for name in run.temporaries:
        checkpoint_temporary = re.fullmatch(r"\.full_\d+\.pt\.[A-Za-z0-9-]+\.\d+\.[0-9a-f]+\.tmp", name)
        assert checkpoint_temporary or name.startswith(".policy_"), name
    assert all(error is None for error in run.checkpoints.values())


def test_the_next_load_from_its_folder_removes_what_a_killed_checkpoint_write_left(chain):
    killed = [run for run in chain if any(name.startswith(".full_") for name in run.temporaries)]
    assert killed, "no kill landed during a checkpoint write"
    for run in killed:
        load_checkpoint(min(checkpoint_files(run.run_dir).values()))
        left = sorted(p.name for p in run.run_dir.iterdir() if p.name.startswith(".full_"))
        assert not left, f"{run.what}: {left} survived a load from {run.run_dir}"


def test_each_retrain_resumes_from_the_latest_checkpoint_and_numbers_on(chain):
    latest = None
    kills = [run for run in chain if run.what.startswith("kill")]
    for index, run in enumerate(chain):
        if run.what in SIGNALS:  # the two final runs both resume the latest checkpoint of the kill chain
            latest = max(n for kill in kills for n, error in kill.checkpoints.items() if error is None)
        start = resumed_at(run)
        if index == 0:
            assert start is None and run.args == []
        else:
            assert run.args[:3] == ["-m", "retrain", "-w"]
            assert start == latest, f"run {index} resumed at {start}, the latest checkpoint was {latest}"
            assert f"[checkpoint] full_{start}.pt saved; exported policy_{start}.pt" in "\n".join(run.lines)
        numbers = [int(line.split()[1]) for line in run.lines if line.startswith("iteration ")]
        assert numbers == list(range(start or 0, (start or 0) + len(numbers))), numbers
        good = [n for n, error in run.checkpoints.items() if error is None]
        latest = max([latest or 0, *good])
    assert latest > 0, "training advanced across the chain"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_cleanly_with_a_final_checkpoint(chain, name):
    run = next(run for run in chain if run.what == name)
    assert run.returncode == 0, "\n".join(run.lines[-20:])
    assert run.temporaries == [], "a clean stop leaves no temporary file"
    assert any(line.startswith(f"[runner] {name}: stopping after this iteration") for line in run.lines)
    final = [line for line in run.lines if line.startswith("[runner] stopped by signal: ")]
    assert len(final) == 1, run.lines[-10:]
    done, path = re.fullmatch(r"\[runner\] stopped by signal: (\d+) iterations done; last checkpoint (.*)",
                              final[0]).groups()
    assert Path(path) == run.run_dir / f"full_{done}.pt"
    assert load_checkpoint(path)["iteration"] == int(done) > resumed_at(run)
    assert not [name for name in run.temporaries if name.startswith(".full_")], "a clean stop leaves no temporary file"
