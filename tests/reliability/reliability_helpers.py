"""Shared by the reliability tests: fresh interpreters with a timeout, case tables.

Anything that might crash the interpreter (a segfault, an abort, MuJoCo's exit() on an engine error) or
hang runs in a child process, so that it fails one test instead of killing pytest.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = REPO_ROOT / "tests"
RELIABILITY_DIR = Path(__file__).resolve().parent
ANYMAL_DIR = REPO_ROOT / "raisimGymTorch" / "env" / "envs" / "rsg_anymal"

# The only exception types a public entry point may raise for bad input (issue 7).
DOCUMENTED = (TypeError, ValueError, IndexError, FileNotFoundError, RuntimeError)


def child_environment(**extra: str) -> dict[str, str]:
    """os.environ for a child interpreter that imports this checkout and dumps a traceback on a crash."""
    path = os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR), str(RELIABILITY_DIR), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, PYTHONPATH=path, PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1", **extra)


def run_python(args: list[str], timeout: float, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Runs ``python <args>`` to completion; a hang fails the test, naming the command.

    Returns:
        The completed process (text stdout/stderr); a negative returncode is the signal that killed it.
    """
    command = [sys.executable, *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO_ROOT,
                              env=child_environment(**env))
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"hung: {' '.join(command)[:300]} did not finish within {timeout} s\n"
                    f"stdout: {expired.stdout!r:.2000}\nstderr: {expired.stderr!r:.2000}")


def describe_exit(result: subprocess.CompletedProcess) -> str:
    """'exit code 1' or 'killed by SIGSEGV', with the tail of stderr."""
    code = result.returncode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    return f"{how}\n--- stderr (tail) ---\n{result.stderr[-4000:]}"


# --- case tables run in one child process -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of a bad-input table: calling `function` must raise `raises` with a message matching `match`
    (or, with ``raises=None``, must work)."""

    name: str
    function: Callable[[], Any]
    raises: type[BaseException] | None
    match: str = ""


class CaseTable:
    """Rows registered with the `case` decorator; `run` executes them all in this process (the child)."""

    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}

    def case(self, name: str, raises: type[BaseException] | None, match: str = "") -> Callable:
        def register(function: Callable[[], Any]) -> Callable[[], Any]:
            assert name not in self.cases, name
            self.cases[name] = Case(name, function, raises, match)
            return function
        return register

    def run(self, out: io.TextIOBase) -> None:
        """Prints ``START <name>`` before each case and a JSON outcome after it, flushed, so that a crash
        in a case leaves the name of the case that caused it."""
        for name, row in self.cases.items():
            print(f"START {name}", file=out, flush=True)
            try:
                row.function()
                outcome = {"name": name, "raised": None, "message": ""}
            except BaseException as error:  # noqa: BLE001  (the parent judges what came out)
                outcome = {"name": name, "raised": type(error).__name__,
                           "mro": [cls.__name__ for cls in type(error).__mro__], "message": str(error)[:2000],
                           "traceback": traceback.format_exc()[-3000:]}
            print("RESULT " + json.dumps(outcome), file=out, flush=True)


def run_case_table(module: str, timeout: float) -> dict[str, Any]:
    """Runs every case of ``<module>.TABLE`` in one child process.

    Returns:
        {"results": {name: outcome}, "crash": description or None, "crashed_in": name or None}
    """
    result = run_python(["-c", f"import sys, {module}; {module}.TABLE.run(sys.stdout)"], timeout=timeout)
    results, started = {}, None
    for line in result.stdout.splitlines():
        if line.startswith("START "):
            started = line[6:]
        elif line.startswith("RESULT "):
            outcome = json.loads(line[7:])
            results[outcome["name"]] = outcome
            started = None
    crash = None if result.returncode == 0 else describe_exit(result)
    return {"results": results, "crash": crash, "crashed_in": started}


def check_case(row: Case, table_run: dict[str, Any]) -> None:
    """Asserts that `row` raised what it should (a documented type naming the problem) or worked."""
    outcome = table_run["results"].get(row.name)
    if outcome is None:
        where = table_run["crashed_in"]
        pytest.fail(f"case {row.name!r} did not finish: the child process ended in case {where!r} "
                    f"({table_run['crash']})" if where == row.name else
                    f"case {row.name!r} was not reached: the child process ended in case {where!r}")
    if row.raises is None:
        assert outcome["raised"] is None, f"{row.name}: a valid input raised\n{outcome.get('traceback')}"
        return
    assert outcome["raised"] is not None, f"{row.name}: expected {row.raises.__name__}, nothing was raised"
    assert row.raises.__name__ in outcome["mro"], (
        f"{row.name}: expected {row.raises.__name__}, got {outcome['raised']}: {outcome['message']}\n"
        f"{outcome.get('traceback')}")
    assert any(kind.__name__ in outcome["mro"] for kind in DOCUMENTED), outcome["raised"]
    assert re.search(row.match, outcome["message"], re.S), (
        f"{row.name}: message {outcome['message']!r} does not match {row.match!r}")
