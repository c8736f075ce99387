"""The envs' thread pool (env/ThreadPool.hpp) under ThreadSanitizer, without MuJoCo or Python around it: for 1 to 4
threads and 1,500 calls of 0 to 40 indices each, every index runs exactly once per call and its writes are visible
when run() returns, whether the workers were still spinning or asleep; an exception from the body comes out of
run() and the pool goes on working. thread_pool_driver.cpp does the work; any TSan report fails the test.
"""
from __future__ import annotations

import os
import shutil
import subprocess

from conftest import REPO_ROOT

DRIVER = REPO_ROOT / "tests" / "reliability" / "thread_pool_driver.cpp"


def test_every_index_runs_once_per_call_under_thread_sanitizer(tmp_path) -> None:
    compiler = shutil.which("c++") or shutil.which("g++")
    assert compiler, "no C++ compiler (the env modules need one too)"
    program = tmp_path / "thread_pool_driver"
    build = subprocess.run([compiler, "-std=c++17", "-O1", "-g", "-fsanitize=thread", "-pthread",
                            f"-I{REPO_ROOT / 'raisimGymTorch' / 'env'}", str(DRIVER), "-o", str(program)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(program)], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66"))
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr
    assert "ThreadSanitizer" not in run.stderr, run.stderr
