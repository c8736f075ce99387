"""Where one PPO iteration's time goes at legged_gym's size, and a check of the CUDA learner.

Steps rsg_anymal_velocity (rough terrain, 235-dim observations, [512, 256, 128] ELU networks; or --cfg flat) for a
few iterations of the trainer's loop, timing its parts apart:

* env: the vectorized C++ step and observe (all cores, no Python inside);
* inference: the policy's forward pass and sampling for every step, plus moving observations and actions between
  the CPU and the learner's device;
* storage: what PPO keeps per step (rewards, dones, the bootstrap of time-outs);
* update: the critic's values of the rollout, GAE and the PPO epochs.

With ``--device cuda`` (a machine with a GPU) it also checks the CUDA path end to end: the checkpoint written from
GPU networks loads on the CPU and its policy gives the GPU's actions.

    python benchmarks/iteration_profile.py [--cfg rough|flat] [--num-envs 1024] [--device auto|cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import numpy as np
import torch

from raisimGymTorch.algo.ppo import PPO, Actor, Critic
from raisimGymTorch.env.make import ENVS_DIR, make_vec_env
from raisimGymTorch.io.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy
from raisimGymTorch.runner.device import DEVICE_CHOICES, resolve_device
from raisimGymTorch.runner.training_config import load_training_config

ENV_NAME = "rsg_anymal_velocity"
CFGS = {"flat": ENVS_DIR / ENV_NAME / "cfg_flat.yaml", "rough": ENVS_DIR / ENV_NAME / "cfg.yaml"}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile(cfg_name: str, num_envs: int, device: torch.device, iterations: int) -> dict[str, float]:
    config = load_training_config(CFGS[cfg_name])
    ppo_cfg = config.ppo
    env = make_vec_env(ENV_NAME, config.cfg, str(CFGS[cfg_name]), num_envs=num_envs, seed=0)
    try:
        steps = ppo_cfg.steps_per_env
        actor = Actor(env.num_obs, env.num_acts, ppo_cfg.policy_net, ppo_cfg.activation, ppo_cfg.init_std)
        critic = Critic(env.num_obs, ppo_cfg.value_net, ppo_cfg.activation)
        ppo = PPO(actor, critic, num_envs, steps, ppo_cfg, device=device, seed=0)
        totals = {"env": 0.0, "inference": 0.0, "storage": 0.0, "update": 0.0}
        env.reset()
        observation = env.observe()
        update_threads = torch.get_num_threads()
        for iteration in range(iterations + 1):  # the first iteration warms up and is not counted
            parts = dict.fromkeys(totals, 0.0)
            torch.set_num_threads(1)  # as the trainer does while the env's threads step (RunnerOptions.rollout_threads)
            for _ in range(steps):
                started = time.perf_counter()
                actions = ppo.act(observation).cpu().numpy()
                synchronize(device)
                parts["inference"] += time.perf_counter() - started
                started = time.perf_counter()
                rewards, dones = env.step(actions)
                truncated = env.truncated
                final = env.final_observation() if truncated.any() else None
                observation = env.observe()
                parts["env"] += time.perf_counter() - started
                started = time.perf_counter()
                ppo.process_step(rewards, dones, truncated, final)
                synchronize(device)
                parts["storage"] += time.perf_counter() - started
            torch.set_num_threads(update_threads)
            started = time.perf_counter()
            ppo.update(observation)
            synchronize(device)
            parts["update"] += time.perf_counter() - started
            if iteration > 0:
                for key, value in parts.items():
                    totals[key] += value / iterations
        if device.type == "cuda":
            check_cuda_checkpoint(ppo, env, config.text, observation)
        return {**totals, "samples": num_envs * steps, "obs_dim": env.num_obs}
    finally:
        env.close()


def check_cuda_checkpoint(ppo: PPO, env, cfg_text: str, observation: np.ndarray) -> None:
    """A checkpoint of GPU networks loads on the CPU and acts as the GPU does."""
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(make_checkpoint(ppo, env, 1, ENV_NAME, cfg_text), Path(folder) / "full_1.pt")
        policy = NormalizedPolicy.from_checkpoint(load_checkpoint(path))
    with torch.no_grad():  # `observation` is already normalized: compare the two actor networks on it
        on_gpu = ppo.actor.architecture(torch.as_tensor(observation, device=ppo.device)).cpu().numpy()
        on_cpu = policy.actor_mean(torch.as_tensor(observation)).numpy()
    error = float(np.abs(on_gpu - on_cpu).max())
    if error > 1e-3:
        raise SystemExit(f"CUDA check failed: the checkpoint's CPU policy differs from the GPU actor by {error}")
    print(f"[cuda] checkpoint written from the GPU loads on the CPU; actions agree within {error:.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cfg", choices=tuple(CFGS), default="rough")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations (after one warm-up)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    result = profile(args.cfg, args.num_envs, device, args.iterations)
    total = sum(result[key] for key in ("env", "inference", "storage", "update"))
    print(f"{ENV_NAME} ({args.cfg}, obs {result['obs_dim']}), {args.num_envs} envs x "
          f"{result['samples'] // args.num_envs} steps = {result['samples']:,} samples per iteration; networks on "
          f"{device}; {os.cpu_count()} cores ({platform.processor() or platform.machine()}), torch {torch.__version__}")
    print(f"one iteration: {total:.2f} s = {result['samples'] / total:,.0f} samples/s")
    for key in ("env", "inference", "storage", "update"):
        print(f"  {key:10s} {result[key]:7.3f} s  {100 * result[key] / total:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
