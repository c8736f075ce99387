"""Threads in one process against the compiled module, run as ``python thread_scenarios.py <scenario>``.

Each scenario asserts its outcome and prints ``passed``; test_thread_safety.py runs it in a child process so
that a crash or a deadlock fails the test instead of killing pytest.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
from conftest import anymal_cfg, random_actions, step_buffers

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module

MODULE = import_env_module("rsg_anymal")
STEPS = 150
_probe = MODULE.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=1, num_threads=1)["environment"])
OB_DIM, ACT_DIM = _probe.getObDim(), _probe.getActionDim()
_probe.close()


def build(num_envs=8, num_threads=1, seed=0, **environment):
    env = MODULE.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=num_envs, num_threads=num_threads,
                                                            **environment)["environment"])
    env.setSeed(seed)
    env.reset()
    return env


def with_buffers(env) -> dict[str, np.ndarray]:
    """Registers fresh step buffers with `env` and returns them."""
    buffers = step_buffers(env)
    env.setStepBuffers(**buffers)
    return buffers


def rollout(env, actions, start: threading.Barrier | None = None) -> dict[str, np.ndarray]:
    """Steps `env` through `actions` with buffers of its own; returns everything it produced."""
    ob_dim = env.getObDim()
    buffers = with_buffers(env)
    record = {"ob": [], "reward": [], "done": [], "truncated": []}
    if start is not None:
        start.wait()
    env.observe(buffers["observation"], True)
    for action in actions:
        record["ob"].append(buffers["observation"].copy())
        env.step(action)
        for key in ("reward", "done", "truncated"):
            record[key].append(buffers[key].copy())
    result = {key: np.stack(value) for key, value in record.items()}
    mean, var = np.zeros(ob_dim), np.zeros(ob_dim)
    result["count"] = np.array(env.getObStatistics(mean, var))
    result["mean"], result["var"] = mean, var
    return result


def two_envs_in_two_threads():
    """Two VecEnvs stepped at the same time from two threads give what each gives alone, bit for bit."""
    plans = [dict(seed=1, num_threads=1, max_time=0.3), dict(seed=2, num_threads=2, max_time=0.5)]
    actions = [random_actions(8, ACT_DIM, STEPS, seed=i, scale=1.5) for i in range(2)]
    alone = []
    for plan, acts in zip(plans, actions):
        env = build(**plan)
        alone.append(rollout(env, acts))
        env.close()
    envs = [build(**plan) for plan in plans]
    together: list[dict | None] = [None, None]
    start = threading.Barrier(2)

    def run(i):
        together[i] = rollout(envs[i], actions[i], start)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(2):
        assert alone[i]["done"].sum() > 0, "the run must include episode ends"
        for key in alone[i]:
            assert np.array_equal(alone[i][key], together[i][key]), f"env {i}: {key} differs when run concurrently"
        envs[i].close()


def one_env_from_two_threads():
    """Calls on one env from two threads serialize: the physics and statistics add up as if made in turn."""
    steps = 100
    shared = build(num_envs=4, reset_noise=0.0, max_time=100.0)
    reference = build(num_envs=4, reset_noise=0.0, max_time=100.0)
    zero = np.zeros((4, ACT_DIM), np.float32)
    errors = []
    start = threading.Barrier(3)

    with_buffers(shared)
    with_buffers(reference)

    def stepper():
        try:
            start.wait()
            for _ in range(steps):
                shared.step(zero)  # steps, observes and folds the observations into the statistics
                shared.getRewardInfo()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    def bystander():
        mean, var = np.zeros(OB_DIM), np.zeros(OB_DIM)
        try:
            start.wait()
            for _ in range(steps):
                shared.getObStatistics(mean, var)
                shared.getState(1)
                shared.getDivergedResets()
                shared.setNormalization(False, 10.0)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=stepper), threading.Thread(target=stepper), threading.Thread(target=bystander)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for _ in range(2 * steps):
        reference.step(zero, False, False)
    for i in range(4):
        for got, want in zip(shared.getState(i), reference.getState(i)):
            assert np.array_equal(got, want), "2 x 100 steps from two threads differ from 200 steps in one"
    mean, var = np.zeros(OB_DIM), np.zeros(OB_DIM)
    assert shared.getObStatistics(mean, var) == 2 * steps * 4, "an observation update was lost"
    shared.close()
    reference.close()


def close_while_other_threads_step():
    """close() while two threads step: they get RuntimeError 'closed', never a freed env (this crashed before)."""
    outcomes = []
    for _ in range(30):
        env = build(num_envs=32)
        zero = np.zeros((32, ACT_DIM), np.float32)
        started = threading.Barrier(3)

        with_buffers(env)

        def stepper():
            started.wait()
            try:
                while True:
                    env.step(zero)
            except RuntimeError as error:
                outcomes.append(str(error))

        threads = [threading.Thread(target=stepper) for _ in range(2)]
        for thread in threads:
            thread.start()
        started.wait()
        env.close()
        for thread in threads:
            thread.join()
    assert len(outcomes) == 60 and all("closed" in message for message in outcomes), set(outcomes)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("passed")
