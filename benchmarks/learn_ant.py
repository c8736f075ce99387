"""Learning benchmark of rsg_ant (Gymnasium's Ant-v5 in C++): return after a fixed sample budget, beside published PPO.

Trains from scratch with the shared trainer (`raisimGymTorch.runner.trainer.train`, the code behind runner.py) and
rsg_ant's own cfg.yaml until `--samples` environment steps are collected, checkpointing along the way. After
training, each checkpoint's deterministic policy (actor mean) plays ``--episodes`` full episodes (up to 1000
steps) and the mean undiscounted return is reported beside published PPO results for Ant.

    python benchmarks/learn_ant.py [--samples 1000000]

One sample is one control step of one env (5 MuJoCo steps, as one Gymnasium ``env.step``), so samples compare
directly with the "timesteps" of Stable-Baselines3 and CleanRL. A policy that stands still scores about 1000 (the
healthy reward, 1 per step), so returns near 1000 mean the Ant has learnt nothing but not to fall.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OMP_WAIT_POLICY before torch loads libgomp)

import numpy as np
import torch
from ruamel.yaml import YAML

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.runner import trainer
from raisimGymTorch.runner.evaluation import evaluate_policy
from raisimGymTorch.runner.on_policy_runner import EVAL_SEED_OFFSET
from raisimGymTorch.runner.training_config import parse_training_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV_NAME = "rsg_ant"
SHIPPED_CFG = ENVS_DIR / ENV_NAME / "cfg.yaml"

# Published PPO results on Ant (deterministic evaluation unless noted). Each: (source, env, steps, return, note).
PUBLISHED = [
    ("RL Baselines3 Zoo benchmark.md (SB3 PPO, zoo hyperparameters: defaults + normalize)", "Ant-v3", "1M",
     "1327 ± 452", "deterministic, 175 episodes, one training run"),
    ("sb3/ppo-Ant-v3 on the Hugging Face Hub (RL Zoo, 2022-06-02)", "Ant-v3", "1M", "1480 ± 407",
     "deterministic, 10 episodes"),
    ("CleanRL docs rpo.md, ppo_continuous_action (v1.0.0-13-gcbd83f6)", "Ant-v4", "8M", "1824 ± 906",
     "return logged during training, 10 seeds; from rpo.md's 8M-step PPO-vs-RPO comparison"),
    ("CleanRL docs rpo.md, ppo_continuous_action (v1.0.0-13-gcbd83f6)", "Ant-v2", "8M", "2412 ± 949",
     "return logged during training, 10 seeds"),
]


class Lines:
    """Keeps the trainer's console lines with their wall time; echoes every `every`-th iteration line."""

    def __init__(self, every: int) -> None:
        self.start = time.perf_counter()
        self.every = every
        self.checkpoints: dict[int, float] = {}
        self.iteration_lines = 0
        self.loads: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._sample_load, daemon=True).start()

    def minutes(self) -> float:
        return (time.perf_counter() - self.start) / 60.0

    def __call__(self, line: str) -> None:
        if line.startswith("[checkpoint] full_"):
            self.checkpoints[int(line.split("full_")[1].split(".pt")[0])] = self.minutes()
        if line.startswith("iteration"):
            self.iteration_lines += 1
            if self.iteration_lines % self.every:
                return
        print(f"[{self.minutes():6.2f} min] {line}", flush=True)

    def _sample_load(self) -> None:
        while not self._stop.wait(5.0):
            self.loads.append(os.getloadavg()[0])

    def close(self) -> None:
        self._stop.set()


def evaluate(checkpoint_path: Path, episodes: int) -> tuple[float, float, float, float]:
    """Mean and std of the deterministic return, mean length and fall rate over `episodes` episodes."""
    checkpoint = load_checkpoint(checkpoint_path)
    config = parse_training_config(checkpoint["cfg_text"], str(checkpoint_path))
    env = make_vec_env(ENV_NAME, config.cfg, str(checkpoint_path), num_envs=episodes, num_threads=2,
                       seed=config.seed + EVAL_SEED_OFFSET, normalize_ob=False)
    try:
        result = evaluate_policy(NormalizedPolicy.from_checkpoint(checkpoint), env)
    finally:
        env.close()
    return float(result.returns.mean()), float(result.returns.std()), result.mean_length, result.fall_rate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000, help="environment steps to train for")
    parser.add_argument("--steps-per-iteration", type=int, default=None,
                        help="steps per env per PPO iteration (default: the cfg's algorithm.steps_per_env)")
    parser.add_argument("--checkpoints", type=int, default=8, help="checkpoints evaluated along the way")
    parser.add_argument("--episodes", type=int, default=20, help="deterministic evaluation episodes per checkpoint")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    parser.add_argument("--run-root", default="/tmp/learn_ant", help="parent of the trainer's run directory")
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "learn_ant.md"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shipped = load_cfg(SHIPPED_CFG)
    environment = shipped["environment"]
    num_envs = int(environment["num_envs"])
    steps = (args.steps_per_iteration or shipped.get("algorithm", {}).get("steps_per_env")
             or round(environment["max_time"] / environment["control_dt"]))
    iterations = math.ceil(args.samples / (num_envs * steps))
    eval_every = max(1, iterations // max(args.checkpoints, 1))
    cfg = dict(shipped, record_video=False, environment=dict(environment, eval_every_n=eval_every))
    run_root = Path(args.run_root)
    run_root.mkdir(parents=True, exist_ok=True)
    cfg_path = run_root / "cfg.yaml"
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    cfg_path.write_text(stream.getvalue())
    print(f"[learn_ant] {iterations} iterations x {num_envs} envs x {steps} steps = "
          f"{iterations * num_envs * steps:,} samples; checkpoint every {eval_every} iterations", flush=True)

    machine = common.machine_info()  # before training: the load average at start
    lines = Lines(every=max(1, iterations // 20))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        result = trainer.train(ENV_NAME, cfg_path, run_root=run_root, seed=args.seed, iterations=iterations,
                               steps_per_iteration=steps, print_function=lines)
    finally:
        lines.close()
    wall = lines.minutes()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    samples = result.iteration * num_envs * steps

    rows = []
    for iteration, minutes in sorted(lines.checkpoints.items()):
        mean, std, length, falls = evaluate(result.run_dir / f"full_{iteration}.pt", args.episodes)
        rows.append((iteration * num_envs * steps, minutes, mean, std, length, falls))
        print(f"[learn_ant] {iteration * num_envs * steps:>9,} samples ({minutes:5.1f} min): return {mean:8.1f} ± "
              f"{std:6.1f}, length {length:6.1f}, falls {100 * falls:3.0f}%", flush=True)

    load = f"{np.mean(lines.loads):.1f} (min {np.min(lines.loads):.1f}, max {np.max(lines.loads):.1f})" \
        if lines.loads else "-"
    final = rows[-1]
    command = " ".join(["python benchmarks/learn_ant.py", *sys.argv[1:]])
    text = [
        "# Learning: rsg_ant (Gymnasium Ant-v5) against published PPO",
        "",
        f"`{command}`",
        "",
        f"Machine: {machine['CPU']}, {machine['cores (usable by this process)']} cores; torch {torch.__version__}, "
        f"MuJoCo {machine['MuJoCo']}, Python {platform.python_version()}, source {machine['source']}. Shared: "
        f"1-minute load average during training {load}; this process used {cpu / 60 / max(wall, 1e-9):.2f} cores "
        "on average.",
        "",
        f"Training: rsg_ant's shipped cfg.yaml ({num_envs} envs, its `algorithm:` section over the trainer's PPO "
        f"defaults), {steps} steps per env per iteration, {result.iteration} iterations: {samples:,} samples in {wall:.1f} wall "
        f"minutes, {samples / max(wall * 60, 1e-9):,.0f} samples/s overall (checkpoints included). One sample = one "
        "Gymnasium env.step (5 MuJoCo steps). The benchmark sets `eval_every_n` and turns videos off.",
        "",
        f"Evaluation: after training, each checkpoint's deterministic policy plays {args.episodes} episodes "
        "(up to 1000 steps, Ant-v5's reward and termination); mean ± std of the undiscounted return. Standing "
        "still scores about 1000 (the healthy reward): the row at 0 samples is the untrained policy.",
        "",
        "| samples | wall min | return (deterministic) | episode length | episodes ending unhealthy |",
        "|---|---|---|---|---|",
    ]
    for row_samples, minutes, mean, std, length, falls in rows:
        text.append(f"| {row_samples:,} | {minutes:.1f} | {mean:.0f} ± {std:.0f} | {length:.0f} | "
                    f"{100 * falls:.0f}% |")
    text += [
        "",
        f"**This run: {final[2]:.0f} ± {final[3]:.0f} after {final[0]:,} samples.**",
        "",
        "Published PPO on Ant, on earlier versions of the task: v2/v3/v4 also paid the healthy reward on the step "
        "that fails (v5 fixed that), v4 leaves the contact forces out of observation and reward, and v2 under "
        "mujoco-py >= 2.0 observes them as zeros:",
        "",
        "| source | env | steps | return | notes |",
        "|---|---|---|---|---|",
    ]
    text += [f"| {source} | {env} | {steps_} | {value} | {note} |" for source, env, steps_, value, note in PUBLISHED]
    text.append("")
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text("\n".join(text))
    print(f"[learn_ant] wrote {args.markdown}; run directory {result.run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
