"""The training loop behind every env folder's runner.py, written in the order it runs.

Per iteration: checkpoint, evaluate and film (every ``eval_every_n``), collect a rollout (time-outs are
bootstrapped as each step is stored), update (GAE, then PPO epochs), log.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from raisimGymTorch.algo.ppo import PPO, Actor, Critic
from raisimGymTorch.env.make import ENVS_DIR, make_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

from . import video
from .checkpoint import load_checkpoint, make_checkpoint, restore_checkpoint, save_checkpoint
from .evaluation import NormalizedPolicy, evaluate_policy
from .export import export_onnx, export_torchscript
from .logger import RolloutStatistics, TrainingLogger
from .run_directory import make_run_directory
from .training_config import TrainingConfig, load_training_config

DEFAULT_EVAL_ENVS = 10
"""Environments of the evaluation VecEnv; each contributes one deterministic episode per evaluation."""
EVAL_SEED_OFFSET = 1_000_003
"""Evaluation envs are seeded apart from training envs, and identically at every evaluation."""


@dataclass
class TrainingResult:
    """Where a training run ended."""

    run_dir: Path
    """The run directory."""
    iteration: int
    """PPO updates done, counting those of a resumed checkpoint."""
    last_checkpoint: Path
    """The final checkpoint ``full_<iteration>.pt``."""
    stopped_by_signal: bool
    """SIGINT or SIGTERM ended the run early."""


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to stop after the current iteration; a second aborts.

    Used as a context manager; handlers are installed only in the main thread and restored on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, print_function: Callable[[str], None] = print) -> None:
        self.requested = False
        self._print = print_function
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._print(f"[runner] {signal.Signals(number).name}: stopping after this iteration and saving a checkpoint "
                    "(send it again to abort without saving)")


def train(
    env_name: str,
    cfg_path: str | Path,
    *,
    mode: str = "train",
    weight: str | Path | None = None,
    iterations: int | None = None,
    num_envs: int | None = None,
    seed: int | None = None,
    run_root: str | Path | None = None,
    steps_per_iteration: int | None = None,
    eval_envs: int = DEFAULT_EVAL_ENVS,
    rollout_threads: int | None = 1,
    update_threads: int | None = None,
    print_function: Callable[[str], None] = print,
) -> TrainingResult:
    """Trains a PPO policy on env `env_name` and writes checkpoints, exports, videos and logs to a run directory.

    Args:
        env_name: Env folder name under ``raisimGymTorch/env/envs``, e.g. ``rsg_anymal``.
        cfg_path: The cfg.yaml to train with, also in retrain mode (a note is printed if it differs from the
            cfg stored in the checkpoint).
        mode: ``train`` starts from scratch; ``retrain`` resumes `weight` exactly (iteration count, optimizer,
            learning rate, generator and observation statistics).
        weight: A ``full_<N>.pt`` checkpoint, required in retrain mode.
        iterations: Iterations to run in this call; None runs until SIGINT/SIGTERM.
        num_envs: Overrides ``environment.num_envs``.
        seed: Overrides the cfg's ``seed``.
        run_root: Parent of the ``<env_name>/<timestamp>`` run directories; defaults to ``raisimGymTorch/data``.
        steps_per_iteration: Steps per env per iteration; defaults to the episode length, max_time / control_dt.
        eval_envs: Environments (one episode each) of every evaluation.
        rollout_threads: torch threads while collecting, when the env's OpenMP threads do the work; None leaves
            torch's setting. One is best: measured on 2 cores, torch with 2 threads made the rollout 3-9x slower.
        update_threads: torch threads during the PPO update; None keeps torch's setting at the call (all cores
            by default: 0.40 s instead of 0.62 s per update of the shipped cfg on an idle 2-core machine).
        print_function: Where console lines go.

    Returns:
        Where the run ended.

    Raises:
        FileNotFoundError: The cfg or the checkpoint does not exist.
        ValueError: A bad cfg key or value, a corrupt checkpoint, or one that does not fit the env.
        FloatingPointError: A loss became NaN or infinite; the message names the iteration and the last good
            checkpoint, which is left as it was.
    """
    if mode not in ("train", "retrain"):
        raise ValueError(f"mode must be 'train' or 'retrain', got {mode!r}")
    if iterations is not None and iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    checkpoint = None
    if mode == "retrain":
        if not weight:
            raise ValueError("retrain mode needs a checkpoint: -w path/to/full_<N>.pt")
        checkpoint = load_checkpoint(weight)  # before anything is built: a bad file fails fast
        if checkpoint["env_name"] != env_name:
            raise ValueError(f"{weight} was trained on env '{checkpoint['env_name']}', not '{env_name}'")
    config = load_training_config(cfg_path)
    seed = config.seed if seed is None else seed

    # --- setup: envs, networks, algorithm, run directory --------------------------------------------------
    with contextlib.ExitStack() as cleanup:
        torch.manual_seed(seed)  # network initialization
        env = make_vec_env(env_name, config.cfg, config.source, num_envs=num_envs, seed=seed)
        cleanup.callback(env.close)
        eval_env = make_vec_env(env_name, config.cfg, config.source, num_envs=eval_envs,
                                seed=seed + EVAL_SEED_OFFSET, normalize_ob=False)
        cleanup.callback(eval_env.close)
        control_dt = float(env.wrapper.getControlTimeStep())
        num_steps = steps_per_iteration or int(env.wrapper.getMaxEpisodeSteps())
        if num_steps >= 2**40:
            raise ValueError(f"{config.source}: set environment.max_time (the rollout length is max_time / control_dt)")
        cfg = config.ppo
        actor = Actor(env.num_obs, env.num_acts, cfg.policy_net, cfg.activation, cfg.init_std)
        critic = Critic(env.num_obs, cfg.value_net, cfg.activation)
        ppo = PPO(actor, critic, env.num_envs, num_steps, cfg, seed=seed)
        start = restore_checkpoint(checkpoint, ppo, env, weight) if checkpoint is not None else 0
        run_dir = make_run_directory(env_name, [cfg_path, ENVS_DIR / env_name / "Environment.hpp"], run_root)
        logger = TrainingLogger(run_dir, control_dt, print_function)
        cleanup.callback(logger.close)
        if checkpoint is not None:
            logger.message(f"[runner] resumed {weight} at iteration {start}")
            if checkpoint["cfg_text"] != config.text:
                logger.message(f"[runner] note: {cfg_path} differs from the cfg stored in {weight}; using {cfg_path}")
        films = _Films(config, eval_env, control_dt, logger)
        cleanup.callback(films.close)
        torch_threads = torch.get_num_threads()
        cleanup.callback(torch.set_num_threads, torch_threads)
        stop = cleanup.enter_context(StopRequest(print_function))
        end = None if iterations is None else start + iterations
        last_checkpoint: Path | None = None

        def checkpoint_and_evaluate(iteration: int, evaluate: bool = True) -> Path:
            """full_<N>.pt first (so that a failing evaluation cannot cost it), then exports, evaluation, video."""
            state = make_checkpoint(ppo, env, iteration, env_name, config.text)
            path = save_checkpoint(state, run_dir / f"full_{iteration}.pt")
            policy = NormalizedPolicy.from_training(ppo.actor, env)
            exported = [export_torchscript(policy, run_dir / f"policy_{iteration}.pt"),
                        export_onnx(policy, env.num_obs, run_dir / f"policy_{iteration}.onnx")]
            logger.message(f"[checkpoint] {path.name} saved; exported {', '.join(p.name for p in exported if p)}")
            if evaluate:
                films.evaluate(policy, iteration, seed + EVAL_SEED_OFFSET)
            return path

        rollout = RolloutStatistics(env.num_envs, env.reward_names)
        obs = None
        iteration = start
        while end is None or iteration < end:
            if iteration % config.eval_every_n == 0:
                last_checkpoint = checkpoint_and_evaluate(iteration)

            # --- collect: act, step, store; time-outs are bootstrapped with V(final obs) in process_step
            rollout_start = time.perf_counter()
            if rollout_threads is not None:
                torch.set_num_threads(rollout_threads)
            rollout.clear()
            if obs is None:  # the run's first rollout; after the checkpoint, which holds the statistics as loaded
                env.reset()
                obs = env.observe()
            for _ in range(num_steps):
                actions = ppo.act(obs)
                rewards, dones = env.step(actions.numpy())
                truncated = env.truncated
                ppo.process_step(rewards, dones, truncated, env.final_observation() if truncated.any() else None)
                rollout.add(rewards, dones, truncated, env.reward_terms())
                obs = env.observe()
            torch.set_num_threads(torch_threads if update_threads is None else update_threads)
            update_start = time.perf_counter()

            # --- update: GAE over the rollout (bootstrapped with V(obs after the last step)), then the epochs
            try:
                ppo_stats = ppo.update(obs)
            except FloatingPointError as error:
                kept = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint yet"
                raise FloatingPointError(f"training stopped at iteration {iteration}: {error}; {kept}") from error
            env.curriculum_callback()
            update_end = time.perf_counter()

            # --- log
            logger.log_iteration(iteration, rollout, ppo_stats, update_start - rollout_start, update_end - update_start)
            iteration += 1
            if stop.requested:
                break
        last_checkpoint = checkpoint_and_evaluate(iteration, evaluate=not stop.requested)
    return TrainingResult(run_dir, iteration, last_checkpoint, stop.requested)


class _Films:
    """Evaluation episodes on the evaluation env, filmed when the cfg says ``record_video``."""

    def __init__(self, config: TrainingConfig, eval_env: RaisimGymVecEnv, control_dt: float,
                 logger: TrainingLogger) -> None:
        self.env = eval_env
        self.logger = logger
        self.record = config.record_video
        self.every, self.fps = video.frame_stride(control_dt)
        self.recorder: video.VideoRecorder | None = None

    def evaluate(self, policy: NormalizedPolicy, iteration: int, seed: int) -> None:
        """One deterministic episode per evaluation env; env 0's is filmed if videos are on and GL works."""
        recorder = self._recorder()
        on_step = None
        if recorder is not None:
            recorder.frames.clear()
            on_step = lambda: recorder.capture(*self.env.wrapper.getState(0))  # noqa: E731
        started = time.perf_counter()
        result = evaluate_policy(policy, self.env, seed=seed, on_step=on_step)
        self.logger.log_evaluation(iteration, result.returns, result.lengths, result.fall_rate, result.reward_terms,
                                   f"{result.summary()} [{time.perf_counter() - started:.1f} s]")
        if recorder is not None and recorder.frames:
            path = recorder.write_mp4(self.logger.run_dir / f"video_{iteration}.mp4", self.fps)
            self.logger.log_frames(iteration, recorder.frame_strip())
            self.logger.message(f"[video] {path.name}: {len(recorder.frames)} frames "
                                f"[{time.perf_counter() - started:.1f} s with the evaluation]")

    def _recorder(self) -> video.VideoRecorder | None:
        if not self.record:
            return None
        if self.recorder is None:
            if video.select_gl_backend() is None:
                video.report_unavailable_once(self.logger.message)
                self.record = False
                return None
            self.recorder = video.VideoRecorder(self.env.wrapper.getModelFile(), every=self.every)
        return self.recorder

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The runner.py command line: ``[-m train|retrain] [-w full_N.pt] [--iterations N] [--num-envs N] [--seed S]``."""
    parser = argparse.ArgumentParser(prog=prog, description="Train a PPO policy on this environment.")
    parser.add_argument("-m", "--mode", choices=("train", "retrain"), default="train",
                        help="train from scratch, or resume the checkpoint given with -w")
    parser.add_argument("-w", "--weight", default="", help="checkpoint full_<N>.pt to resume (retrain mode)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations to run (default: until Ctrl-C, which saves a checkpoint first)")
    parser.add_argument("--num-envs", type=int, default=None, help="override environment.num_envs")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    return parser.parse_args(argv)


def main(env_name: str, cfg_path: str | Path, argv: Sequence[str] | None = None) -> int:
    """Entry point of an env folder's runner.py.

    Args:
        env_name: The env folder name.
        cfg_path: The folder's cfg.yaml.
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code: 0 on success, 1 on an error that was explained on stderr.
    """
    args = parse_args(argv, prog=f"{env_name}/runner.py")
    if args.mode == "retrain" and not args.weight:
        print("retrain mode needs a checkpoint: runner.py -m retrain -w path/to/full_<N>.pt", file=sys.stderr)
        return 1
    try:
        result = train(env_name, cfg_path, mode=args.mode, weight=args.weight or None, iterations=args.iterations,
                       num_envs=args.num_envs, seed=args.seed)
    except (FileNotFoundError, ValueError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    how = "stopped by signal" if result.stopped_by_signal else "finished"
    print(f"[runner] {how}: {result.iteration} iterations done; last checkpoint {result.last_checkpoint}")
    return 0

