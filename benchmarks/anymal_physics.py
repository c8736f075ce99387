"""rsg_anymal's MuJoCo settings: what each one saves per step, and what it changes in the robot's behaviour.

Each variant is the ANYmal model (rsc/anymal_c/anymal_c.xml) with MuJoCo flags and solver options set explicitly,
so the baseline stays "MuJoCo's defaults" whatever the shipped file says; each variant runs at its model file's
timestep (anymal_c.xml's unless the variant sets one), whatever the policy's cfg says. Per variant:

* cost: rsg_anymal control steps/s (4 physics steps each, fewer in the rows with a longer timestep) of 100 envs on
  one thread, driven by a trained policy (deterministic), variants alternated over ``--rounds`` rounds, each round
  starting at the next variant; the ratio to the baseline is taken per round;
* standing: base height after 3 s of zero actions (the nominal stance under the env's DC-motor PD), and the
  normal force on each foot of the same stance held by PD in MuJoCo directly (N; the robot weighs ~ 50 kg);
* walking: the policy's deterministic forward velocity, fall rate and base height over ``--episodes`` 4 s
  episodes (the trainer's evaluation seeds); and the largest difference of any observation from the baseline's
  over the first 100 control steps of the same episodes (how far the trajectories part).

    python benchmarks/anymal_physics.py --policy RUN/full_200.pt    # a policy from benchmarks/learn_anymal.py

Writes benchmarks/results/anymal_physics.md.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import mujoco
import numpy as np
import torch

from common import markdown_table
from learn_anymal import cpu_model
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.env.make import import_env_module
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.runner.on_policy_runner import EVAL_SEED_OFFSET
from raisimGymTorch.runner.training_config import parse_training_config

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "raisimGymTorch" / "rsc"
MODEL = Path("anymal_c") / "anymal_c.xml"
MUJOCO_DEFAULTS = {"island": "enable", "midphase": "enable", "warmstart": "enable"}
FEET = ("LF_FOOT", "RF_FOOT", "LH_FOOT", "RH_FOOT")

# (name, flags, solver options): the first four cumulative, each adding one setting to the row before; the rest
# each add one setting to "+ warm start off" (what anymal_c.xml ships).
SHIPPED_FLAGS = {"island": "disable", "midphase": "disable", "warmstart": "disable"}
VARIANTS = [
    ("MuJoCo defaults", {}, {}),
    ("island discovery off", {"island": "disable"}, {}),
    ("+ midphase off", {"island": "disable", "midphase": "disable"}, {}),
    ("+ warm start off", SHIPPED_FLAGS, {}),
    ("+ warm start off, Newton tolerance 1e-6", SHIPPED_FLAGS, {"tolerance": "1e-6"}),
    ("+ warm start off, at most 10 line-search iterations", SHIPPED_FLAGS, {"ls_iterations": "10"}),
    ("+ warm start off, sparse Jacobian", SHIPPED_FLAGS, {"jacobian": "sparse"}),
    ("+ warm start off, elliptic friction cones", SHIPPED_FLAGS, {"cone": "elliptic"}),
    ("+ warm start off, at most 2 Newton iterations", SHIPPED_FLAGS, {"iterations": "2"}),
    ("+ warm start off, timestep 0.005 s (2 physics steps per control step)", SHIPPED_FLAGS, {"timestep": "0.005"}),
    ("+ warm start off, timestep 0.01 s (1 physics step per control step)", SHIPPED_FLAGS, {"timestep": "0.01"}),
]


def write_variant(folder: Path, flags: dict[str, str], options: dict[str, str]) -> Path:
    """A copy of the resource folder whose ANYmal model has these flags and options (the rest as shipped)."""
    shutil.copytree(RESOURCES, folder)
    tree = ElementTree.parse(RESOURCES / MODEL)
    option = tree.getroot().find("option")
    option.attrib.update(options)
    flag = option.find("flag")
    if flag is None:
        flag = ElementTree.SubElement(option, "flag")
    flag.attrib.update({**MUJOCO_DEFAULTS, **flags})
    tree.write(folder / MODEL)
    return folder


def make_env(resources: Path, cfg: dict, num_envs: int, seed: int) -> RaisimGymVecEnv:
    environment = dict(cfg["environment"], num_envs=num_envs, num_threads=1)
    # the env sets MuJoCo's timestep from its cfg: a variant's own timestep has to reach it that way
    timestep = ElementTree.parse(resources / MODEL).getroot().find("option").get("timestep")
    environment["simulation_dt"] = float(timestep)
    impl = import_env_module("rsg_anymal").RaisimGymEnv(str(resources), environment, "anymal_physics")
    return RaisimGymVecEnv(impl, normalize_ob=False, seed=seed)


@torch.no_grad()
def steps_per_second(resources: Path, cfg: dict, policy: NormalizedPolicy, seconds: float) -> float:
    env = make_env(resources, cfg, 100, seed=0)
    try:
        env.reset()
        observation = env.observe(update_statistics=False)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            actions = policy(torch.from_numpy(observation)).numpy()
            step = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
            observation = step.observation
            steps += 100
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


def standing_height(resources: Path, cfg: dict) -> float:
    quiet = {**cfg, "environment": {**cfg["environment"], "reset_noise": 0.0}}
    env = make_env(resources, quiet, 4, seed=0)
    try:
        env.reset()
        for _ in range(300):
            env.step(np.zeros((4, env.num_acts), dtype=np.float32))
        return float(np.mean([env.wrapper.getState(i)[0][2] for i in range(4)]))
    finally:
        env.close()


def foot_forces(model_file: Path, seconds: float = 3.0) -> np.ndarray:
    """Normal force (N) on each foot after `seconds` of the nominal stance held by the env's PD gains."""
    model = mujoco.MjModel.from_xml_path(str(model_file))
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, 0)
    nominal = data.qpos[7:].copy()
    for _ in range(int(seconds / model.opt.timestep)):
        data.ctrl[:] = np.clip(80.0 * (nominal - data.qpos[7:]) - 2.0 * data.qvel[6:], -80.0, 80.0)
        mujoco.mj_step(model, data)
    forces = np.zeros(len(FEET))
    wrench = np.zeros(6)
    feet = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) for name in FEET]
    for c in range(data.ncon):
        contact = data.contact[c]
        for index, foot in enumerate(feet):
            if foot in (contact.geom1, contact.geom2):
                mujoco.mj_contactForce(model, data, c, wrench)
                forces[index] += wrench[0]
    return forces


@torch.no_grad()
def walk(resources: Path, cfg: dict, policy: NormalizedPolicy, episodes: int, seed: int) -> dict:
    env = make_env(resources, cfg, episodes, seed=seed)
    try:
        env.reset()
        observation = env.observe(update_statistics=False)
        up = np.ones(episodes, dtype=bool)
        fell = np.zeros(episodes, dtype=bool)
        velocities, heights, trajectory = [], [], []
        for step in range(int(env.wrapper.getMaxEpisodeSteps())):
            for i in np.flatnonzero(up):
                qpos, qvel = env.wrapper.getState(int(i))
                velocities.append(qvel[0])
                heights.append(qpos[2])
            actions = policy(torch.from_numpy(observation)).numpy()
            result = env.transition(np.ascontiguousarray(actions, dtype=np.float32), update_statistics=False)
            observation = result.observation
            if step < 100:
                trajectory.append(observation.copy())
            fell[result.terminated & up] = True
            up &= ~result.done
        return {"velocity": float(np.mean(velocities)), "falls": float(fell.mean()), "height": float(np.mean(heights)),
                "trajectory": np.array(trajectory)}
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", required=True, help="a rsg_anymal checkpoint (full_N.pt) to drive the robot")
    parser.add_argument("--rounds", type=int, default=5, help="alternated timing rounds")
    parser.add_argument("--seconds", type=float, default=3.0, help="per timing run")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "anymal_physics.md"))
    args = parser.parse_args(argv)

    checkpoint = load_checkpoint(Path(args.policy))
    config = parse_training_config(checkpoint["cfg_text"], args.policy)
    cfg = config.cfg
    policy = NormalizedPolicy.from_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory() as scratch:
        folders = [write_variant(Path(scratch) / f"variant{i}", flags, options)
                   for i, (_, flags, options) in enumerate(VARIANTS)]
        rates = np.zeros((args.rounds, len(VARIANTS)))
        for round_ in range(args.rounds):
            for k in range(len(folders)):  # each round starts at another variant: a slow spell hits all alike
                v = (round_ + k) % len(folders)
                rates[round_, v] = steps_per_second(folders[v], cfg, policy, args.seconds)
            print(f"[physics] round {round_ + 1}: " + ", ".join(f"{r:,.0f}" for r in rates[round_]), flush=True)
        rows = []
        baseline = None
        for v, (name, _, _) in enumerate(VARIANTS):
            walking = walk(folders[v], cfg, policy, args.episodes, config.seed + EVAL_SEED_OFFSET)
            baseline = baseline or walking
            ratio = rates[:, v] / rates[:, 0]
            forces = foot_forces(folders[v] / MODEL)
            parted = float(np.abs(walking["trajectory"] - baseline["trajectory"]).max())
            rows.append([name, f"{np.median(rates[:, v]):,.0f}",
                         f"{np.median(ratio):.2f} ({ratio.min():.2f}–{ratio.max():.2f})",
                         f"{standing_height(folders[v], cfg):.4f}", " / ".join(f"{f:.1f}" for f in forces),
                         f"{walking['velocity']:.3f}", f"{100 * walking['falls']:.0f}%", f"{walking['height']:.4f}",
                         f"{parted:.1e}"])
            print(f"[physics] {' | '.join(rows[-1])}", flush=True)

    header = ["variant", "control steps/s (median)", "÷ MuJoCo defaults (min–max)", "standing height (m)",
              "foot forces LF / RF / LH / RH (N)", "walking velocity (m/s)", "falls", "walking height (m)",
              "largest observation difference, first 100 steps"]
    lines = [
        "# rsg_anymal: MuJoCo settings, cost and behaviour",
        "",
        f"`python benchmarks/anymal_physics.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {cpu_model()}, {platform.machine()}; one thread, 100 envs, the policy `{args.policy}` driving; "
        f"{args.rounds} alternated rounds of {args.seconds:g} s. The first four rows each add one setting to the row "
        "above (the fourth is what anymal_c.xml ships); the others each add one setting to the fourth. The first row's "
        "speed is this machine's engine speed for the comparison. Walking: the deterministic policy, "
        f"{args.episodes} episodes of 4 s.",
        "",
        markdown_table(header, rows),
        "",
    ]
    Path(args.markdown).write_text("\n".join(lines))
    print(f"[physics] wrote {args.markdown}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
