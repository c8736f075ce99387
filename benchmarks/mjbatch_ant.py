"""Gymnasium's Ant-v5 on mjbatch's thread pool, one timed run: the peer versus.py compares rsg_ant with.

mjbatch (PyPI) steps many MuJoCo simulations on a C++ thread pool but leaves the task to its user, so the rest
of Ant-v5 is done here in NumPy over the whole batch, as an mjbatch user would write it: frame skip 5, the
105-dim observation with contact forces, the reward's four terms, termination outside healthy_z [0.2, 1.0],
the 1000-step time limit and resets with Ant-v5's noise (uniform 0.1 on qpos, Gaussian 0.1 on qvel).

Ant-v5 reads `cfrc_ext`, which MuJoCo computes only when something asks for it: Gymnasium calls
mj_rnePostConstraint once after the five steps, on what the last RK4 stage left in mjData. mjbatch has no
per-simulation call for it, so an accelerometer on the torso makes every mj_step compute it, in the sensor stage
at the start of the step. Sensors do not act on the dynamics: positions and velocities stay Gymnasium's to the
bit, and the contact forces differ where contacts change within the last step. Five of these per control step
instead of Gymnasium's one cost mjbatch 1-3% (plain MuJoCo 3.14, Ant-v5 with random actions, 5 repetitions).

mjbatch pins its own MuJoCo (0.1.4: mujoco 3.14.0), so this runs in a Python that has mjbatch, not the project's:
`python benchmarks/versus.py ant --mjbatch` makes build/mjbatch-venv and runs this script there, once per run:

    build/mjbatch-venv/bin/python benchmarks/mjbatch_ant.py '{"xml": ".../ant.xml", "num_envs": 16, ...}'

Before timing, one env is checked against a plain MjData stepped as Gymnasium steps Ant-v5. Prints one JSON line:
seconds, cpu_seconds, steps_per_second, that check's largest state difference, and the run's episode ends and
mean reward.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import mujoco
import numpy as np
from mjbatch import Batch

FRAME_SKIP = 5
HEALTHY_Z = (0.2, 1.0)
MAX_EPISODE_STEPS = 1000
RESET_NOISE = 0.1
CTRL_COST, CONTACT_COST = 0.5, 5e-4
ACTION_SEED, ACTION_BANK = 7, 64  # as versus.py: the same action sequence as every other contender


def ant_model(xml: str) -> mujoco.MjModel:
    """ant.xml with an accelerometer on the torso, so that each step computes cfrc_ext (module docstring)."""
    spec = mujoco.MjSpec.from_file(xml)
    site = spec.body("torso").add_site(name="cfrc_ext_trigger")
    spec.add_sensor(type=mujoco.mjtSensor.mjSENS_ACCELEROMETER, objtype=mujoco.mjtObj.mjOBJ_SITE,
                    objname=site.name)
    return spec.compile()


class MjbatchAnt:
    def __init__(self, xml: str, num_envs: int, threads: int, seed: int) -> None:
        self.model = ant_model(xml)
        self.batch = Batch(self.model, num_envs, num_threads=threads)
        self.qpos, self.qvel = self.batch.bind("qpos"), self.batch.bind("qvel")
        self.ctrl, self.xpos = self.batch.bind("ctrl"), self.batch.bind("xpos")
        self.cfrc_ext = self.batch.bind("cfrc_ext")
        self.torso = self.model.body("torso").id
        self.dt = self.model.opt.timestep * FRAME_SKIP
        self.rng = np.random.default_rng(seed)
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.reset(np.arange(num_envs))

    def reset(self, ids: np.ndarray) -> None:
        self.batch.reset(ids)  # mj_resetData then mj_forward, so the noise below lands on the model's initial state
        self.qpos[ids] = self.model.qpos0 + self.rng.uniform(-RESET_NOISE, RESET_NOISE, (len(ids), self.model.nq))
        self.qvel[ids] = RESET_NOISE * self.rng.standard_normal((len(ids), self.model.nv))
        self.batch.forward(ids)
        self.elapsed[ids] = 0

    def observe(self) -> np.ndarray:
        contact = np.clip(self.cfrc_ext[:, 1:], -1.0, 1.0).reshape(len(self.qpos), -1)
        return np.concatenate([self.qpos[:, 2:], self.qvel, contact], axis=1)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x_before = self.xpos[:, self.torso, 0].copy()
        self.ctrl[:] = action
        self.batch.step(nstep=FRAME_SKIP)
        self.elapsed += 1
        forward = (self.xpos[:, self.torso, 0] - x_before) / self.dt
        contact = np.clip(self.cfrc_ext[:, 1:], -1.0, 1.0)
        reward = (forward + 1.0 - CTRL_COST * np.square(action).sum(axis=1)
                  - CONTACT_COST * np.square(contact).sum(axis=(1, 2)))
        z = self.qpos[:, 2]
        finite = np.isfinite(self.qpos).all(axis=1) & np.isfinite(self.qvel).all(axis=1)
        terminated = ~(finite & (z >= HEALTHY_Z[0]) & (z <= HEALTHY_Z[1]))
        truncated = self.elapsed >= MAX_EPISODE_STEPS
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            self.reset(done)  # within the step, as rsg_ant does: a finished env's observation is its next episode's
        return self.observe(), reward, terminated, truncated


def difference_from_gymnasium_stepping(xml: str, steps: int = 50) -> float:
    """Largest difference of qpos[2:] and qvel (the observation less its contact forces, module docstring) between
    one MjbatchAnt env and a plain MjData stepped as Gymnasium steps Ant-v5, from the same state with the same
    actions: the check that the batch simulates Ant-v5's model with Ant-v5's frame skip."""
    env = MjbatchAnt(xml, 1, threads=1, seed=1)
    model = mujoco.MjModel.from_xml_path(xml)
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = env.qpos[0], env.qvel[0]
    mujoco.mj_forward(model, data)
    actions = np.random.default_rng(ACTION_SEED).uniform(-1.0, 1.0, (steps, 1, model.nu))
    largest = 0.0
    for action in actions:
        observation, _, terminated, truncated = env.step(action)
        if terminated[0] or truncated[0]:
            break  # the batch has reset; the plain MjData has not
        data.ctrl[:] = action[0]
        mujoco.mj_step(model, data, nstep=FRAME_SKIP)
        expected = np.concatenate([data.qpos[2:], data.qvel])
        largest = max(largest, float(np.abs(observation[0, :len(expected)] - expected).max()))
    return largest


def main(spec: dict[str, Any]) -> dict[str, Any]:
    n, steps = spec["num_envs"], spec["steps"]
    difference = difference_from_gymnasium_stepping(spec["xml"])
    if difference > 1e-9:
        raise SystemExit(f"mjbatch's Ant-v5 left Gymnasium's trajectory by {difference:g}: not the same work")
    env = MjbatchAnt(spec["xml"], n, spec["threads"], seed=1)
    actions = np.random.default_rng(ACTION_SEED).uniform(-1.0, 1.0, (ACTION_BANK, n, env.model.nu))
    for t in range(min(10, steps)):  # warm-up, as versus.py's other contenders
        env.step(actions[t % ACTION_BANK])
    reward_sum, episode_ends, observation = 0.0, 0, None
    cpu0, start = time.process_time(), time.perf_counter()
    for t in range(steps):
        observation, reward, terminated, truncated = env.step(actions[t % ACTION_BANK])
        reward_sum += float(reward.sum())
        episode_ends += int(np.count_nonzero(terminated | truncated))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return {"seconds": seconds, "cpu_seconds": cpu, "steps_per_second": steps * n / seconds,
            "us_per_call": seconds / steps * 1e6, "observation_dim": int(observation.shape[1]),
            "reward_per_step": reward_sum / (steps * n), "episode_ends": episode_ends,
            "mujoco": mujoco.__version__, "threads": env.batch.num_threads,
            "state_difference_from_gymnasium_stepping": difference}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
