"""Peak speeds of sound simulations: the margin below the divergence bound (cfg key divergence_speed).

    python benchmarks/peak_speeds.py            # 32 envs x 1000 control steps per scenario
    python benchmarks/peak_speeds.py --quick    # 8 envs x 200 control steps

A generalized velocity beyond divergence_speed (1000 m/s or rad/s by default, RaisimGymEnv.hpp) counts as
a diverged simulation: the env is reset and counted. This script steps rsg_anymal and rsg_ant with random
actions, violent ones included, drops them from 3 m and lets the Ant flip over (no termination), and records
the largest |qvel| seen after any control step (the moment the bound is checked), split into base linear,
base angular and joint velocities. It prints a table and writes benchmarks/results/peak_speeds[_quick].md.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS_DIR, machine_info, markdown_table  # noqa: E402
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env  # noqa: E402

Actions = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


@dataclass
class Scenario:
    """One rollout setting."""

    env: str
    actions: str
    make_actions: Actions
    overrides: dict[str, Any] = field(default_factory=dict)
    drop_height: float | None = None  # base height (m) every env is lifted to every 100 steps


def normal(std: float) -> Actions:
    return lambda rng, shape: rng.normal(0.0, std, shape)


SCENARIOS = [
    Scenario("rsg_anymal", "N(0, 1)", normal(1.0)),
    Scenario("rsg_anymal", "N(0, 3)", normal(3.0)),
    Scenario("rsg_anymal", "N(0, 3), action_std 1.0", normal(3.0), {"action_std": 1.0}),
    Scenario("rsg_anymal", "N(0, 1), dropped from 3 m", normal(1.0), drop_height=3.0),
    Scenario("rsg_anymal_velocity", "N(0, 1), rough terrain", normal(1.0)),
    Scenario("rsg_anymal_velocity", "N(0, 3), rough terrain", normal(3.0)),
    Scenario("rsg_ant", "U(-1, 1)", lambda rng, shape: rng.uniform(-1.0, 1.0, shape)),
    Scenario("rsg_ant", "U(-1, 1), no termination (flips)", lambda rng, shape: rng.uniform(-1.0, 1.0, shape),
             {"terminate_when_unhealthy": False}),
    Scenario("rsg_ant", "N(0, 10), no termination", normal(10.0), {"terminate_when_unhealthy": False}),
    Scenario("rsg_ant", "N(0, 10), dropped from 3 m", normal(10.0), {"terminate_when_unhealthy": False},
             drop_height=3.0),
]


def peak_speeds(scenario: Scenario, num_envs: int, steps: int, seed: int) -> tuple[np.ndarray, int, int]:
    """Largest |qvel| after any control step as (base linear, base angular, joints), how many times a base was
    upside down (its z axis pointing below the horizon) after a control step, and the diverged count."""
    cfg = load_cfg(ENVS_DIR / scenario.env / "cfg.yaml")
    cfg["environment"].update(scenario.overrides)
    env = make_vec_env(scenario.env, cfg, num_envs=num_envs, num_threads=1, seed=seed)
    rng = np.random.default_rng(seed)
    peaks = np.zeros(3)
    upside_down = 0
    try:
        for step in range(steps):
            if scenario.drop_height is not None and step % 100 == 0:
                for i in range(num_envs):
                    qpos, qvel = env.wrapper.getState(i)
                    qpos = qpos.copy()
                    qpos[2] = scenario.drop_height
                    env.wrapper.setState(i, qpos, qvel)
            env.step(scenario.make_actions(rng, (num_envs, env.num_acts)).astype(np.float32))
            for i in range(num_envs):
                qpos, qvel = env.wrapper.getState(i)
                qvel = np.abs(qvel)
                peaks = np.maximum(peaks, [qvel[0:3].max(), qvel[3:6].max(), qvel[6:].max()])
                # The world z component of the base's z axis, from the free joint's quaternion (w, x, y, z).
                upside_down += 1.0 - 2.0 * (qpos[4] ** 2 + qpos[5] ** 2) < 0.0
        return peaks, upside_down, env.diverged_resets
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 envs x 200 steps per scenario")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    num_envs, steps = (8, 200) if args.quick else (32, 1000)

    rows = []
    for scenario in SCENARIOS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            peaks, upside_down, diverged = peak_speeds(scenario, num_envs, steps, args.seed)
        rows.append([scenario.env, scenario.actions, *(f"{value:.1f}" for value in peaks), f"{upside_down:,}",
                     str(diverged)])
        print(" | ".join(rows[-1]), flush=True)

    command = "python benchmarks/peak_speeds.py" + (" --quick" if args.quick else "")
    header = ["env", "actions", "base m/s", "base rad/s", "joints rad/s", "env-steps upside down", "diverged"]
    table = markdown_table(header, rows)
    machine = markdown_table(["machine", ""], list(machine_info().items()))
    text = (f"# Peak speeds of sound simulations\n\n`{command}`\n\n"
            f"{num_envs} envs x {steps} control steps per row, seed {args.seed}: the largest |qvel| after any "
            "control step, and how many env-steps ended with the base upside down. The divergence bound "
            "(cfg key `divergence_speed`) is 1000 m/s or rad/s.\n\n"
            f"{machine}\n\n{table}\n")
    path = RESULTS_DIR / ("peak_speeds_quick.md" if args.quick else "peak_speeds.md")
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
