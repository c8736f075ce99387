"""Fork and thread-limit scenarios (issue 17 items 1 and 6), run as ``python process_scenarios.py <scenario>``.

Each scenario asserts its outcome and prints ``passed``; test_processes.py runs it in a child process with a
time limit. A forked grandchild that hangs is killed here, after its own deadline, so that nothing outlives
the test.
"""
from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import time

import numpy as np
from conftest import anymal_cfg, step_buffers

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module

MODULE = import_env_module("rsg_anymal")
CHILD_SECONDS = 30.0


def build(num_envs: int = 8, num_threads: int = 2):
    return MODULE.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=num_envs, num_threads=num_threads)["environment"])


def step(env, steps: int = 20) -> float:
    """Steps `env` with zero actions; returns the summed reward, finite if the steps worked."""
    n = env.getNumOfEnvs()
    buffers = step_buffers(env)
    env.setStepBuffers(**buffers)
    total = 0.0
    for _ in range(steps):
        env.step(np.zeros((n, env.getActionDim()), np.float32), True, False)
        total += float(buffers["reward"].sum())
    return total


def _in_child() -> float:
    """What a forked data loader or evaluation worker does: a new env, and the inherited one, on 2 threads."""
    fresh = build(num_threads=2)
    return step(fresh) + step(INHERITED)


INHERITED = None


def _wait_or_kill(pid: int) -> int:
    deadline = time.monotonic() + CHILD_SECONDS
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child hung: still running after {CHILD_SECONDS} s (killed)")


def fork_after_stepping():
    """os.fork() after a 2-thread env has stepped: the child builds and steps envs on 2 threads."""
    global INHERITED
    INHERITED = build(num_threads=2)
    step(INHERITED)
    pid = os.fork()
    if pid == 0:
        try:
            code = 0 if np.isfinite(_in_child()) else 3
        except BaseException:  # noqa: BLE001  (report anything, then leave without running the parent's code)
            import traceback
            traceback.print_exc()
            code = 2
        os._exit(code)
    code = _wait_or_kill(pid)
    assert code == 0, f"the forked child failed with exit code {code}"
    assert np.isfinite(step(INHERITED)), "the parent's env no longer steps after the fork"


def _pool_task(seed: int) -> float:
    return step(build(num_threads=2))


def fork_pool_after_stepping():
    """multiprocessing.Pool with the fork start method (Linux's default before 3.14), after a 2-thread env stepped."""
    step(build(num_threads=2))
    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        results = pool.map_async(_pool_task, range(4)).get(timeout=CHILD_SECONDS)
    except multiprocessing.TimeoutError:
        raise AssertionError(f"the fork pool's workers hung: no result within {CHILD_SECONDS} s") from None
    finally:
        pool.terminate()
        pool.join()
    assert len(results) == 4 and all(np.isfinite(results))


def _vm_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


def thread_limit():
    """Under an address-space limit that 256 thread stacks (8 MiB each by default) do not fit in, num_threads
    256 and 1024 raise a RuntimeError naming num_threads, and the process goes on working."""
    build(num_threads=2).close()  # load everything the builds below need before the limit
    limit = _vm_bytes() + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for threads in (256, 1024):
        try:
            build(num_threads=threads)
        except RuntimeError as error:
            assert "num_threads = " + str(threads) in str(error), str(error)
            assert "ulimit" in str(error), str(error)
        else:
            raise AssertionError(f"num_threads = {threads} under a {limit >> 20} MiB limit did not raise")
    assert np.isfinite(step(build(num_threads=2)))


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("passed")
