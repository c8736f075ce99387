"""The training loop behind every env folder's runner.py, written in the order it runs.

Per iteration: checkpoint, evaluate and film (every ``eval_every_n``), collect a rollout (time-outs are
bootstrapped as each step is stored), update (GAE, then PPO epochs), log.

Under torchrun (``torchrun --nproc_per_node=K runner.py``) the same loop runs on every rank with its share of the
envs; see `raisimGymTorch.runner.distributed` for what the ranks exchange. Rank 0 alone writes and evaluates.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from raisimGymTorch.algo.ppo import PPO, Actor, Critic
from raisimGymTorch.env.make import ENVS_DIR, make_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

from raisimGymTorch.viz import video
from raisimGymTorch.io.checkpoint import load_checkpoint, make_checkpoint, restore_checkpoint, save_checkpoint
from .distributed import BACKEND_VARIABLE, TIMEOUT_VARIABLE, Distributed, DistributedError
from .evaluation import NormalizedPolicy, evaluate_policy
from raisimGymTorch.io.export import export_onnx, export_torchscript
from .logger import RolloutStatistics, TrainingLogger
from raisimGymTorch.io.run_directory import make_run_directory
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

    A second signal within `SAME_REQUEST_SECONDS` counts as the same request: under torchrun, Ctrl-C reaches a
    worker from the terminal and again from torchrun, which forwards it.
    Used as a context manager; handlers are installed only in the main thread and restored on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    SAME_REQUEST_SECONDS = 2.0

    def __init__(self, print_function: Callable[[str], None] = print) -> None:
        self.requested = False
        self._print = print_function
        self._previous: dict[int, Any] = {}
        self._first_signal = 0.0

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
            if time.monotonic() - self._first_signal < self.SAME_REQUEST_SECONDS:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._first_signal = time.monotonic()
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
    distributed: Distributed | None = None,
    render: bool | None = None,
    viewer_address: tuple[str, int] = ("127.0.0.1", 8080),
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
        num_envs: Overrides ``environment.num_envs``; with several ranks, the total over all of them.
        seed: Overrides the cfg's ``seed``.
        run_root: Parent of the ``<env_name>/<timestamp>`` run directories; defaults to ``raisimGymTorch/data``.
        steps_per_iteration: Steps per env per iteration; overrides ``algorithm.steps_per_env``.
        eval_envs: Environments (one episode each) of every evaluation.
        rollout_threads: torch threads while collecting, when the env's OpenMP threads do the work; None leaves
            torch's setting. One is best: measured on 2 cores, torch with 2 threads made the rollout 3-9x slower.
        update_threads: torch threads during the PPO update; None keeps torch's setting at the call (all cores
            by default: 0.40 s instead of 0.62 s per update of the shipped cfg on an idle 2-core machine).
        print_function: Where console lines go (rank 0's; the other ranks print nothing).
        render: Show every evaluation episode live in the browser; None follows the cfg's ``environment.render``.
        viewer_address: (host, port) the live viewer binds.
        distributed: This rank's process group when training on several processes (`main` joins it under
            torchrun). The cfg's ``num_envs`` is then the total, split over the ranks (see `split_envs`);
            a ``num_threads`` of ``auto`` (or none) becomes this rank's share of the machine's cores, and so do
            torch's threads; only rank 0 writes the run directory and evaluates.

    Returns:
        Where the run ended (the same on every rank; rank 0's run directory).

    Raises:
        FileNotFoundError: The cfg or the checkpoint does not exist.
        ValueError: A bad cfg key or value, a corrupt checkpoint, or one that does not fit the env.
        FloatingPointError: A loss became NaN or infinite; the message names the iteration and the last good
            checkpoint, which is left as it was.
        DistributedError: Another rank died or did not answer within the timeout.
    """
    if mode not in ("train", "retrain"):
        raise ValueError(f"mode must be 'train' or 'retrain', got {mode!r}")
    if iterations is not None and iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    main_rank = distributed is None or distributed.is_main
    checkpoint = None
    if mode == "retrain":
        if not weight:
            raise ValueError("retrain mode needs a checkpoint: -w path/to/full_<N>.pt")
        checkpoint = _load_on_rank0(weight, distributed)  # before anything is built: a bad file fails fast
        if checkpoint["env_name"] != env_name:
            raise ValueError(f"{weight} was trained on env '{checkpoint['env_name']}', not '{env_name}'")
    config = load_training_config(cfg_path)
    seed = config.seed if seed is None else seed
    env_count, env_offset, env_threads = num_envs, 0, None
    if distributed is not None:
        distributed.check_same(config.text, f"the cfg {cfg_path}")
        total = config.cfg["environment"].get("num_envs") if num_envs is None else num_envs
        if isinstance(total, bool) or not isinstance(total, int):
            raise ValueError(f"{config.source}: environment.num_envs must be an integer, got {total!r}")
        env_count, env_offset = distributed.assign_envs(total)
        if config.cfg["environment"].get("num_threads", "auto") == "auto":
            env_threads = distributed.threads

    # --- setup: envs, networks, algorithm, run directory --------------------------------------------------
    with contextlib.ExitStack() as cleanup:
        torch_threads = torch.get_num_threads()
        cleanup.callback(torch.set_num_threads, torch_threads)
        if distributed is not None:
            torch_threads = distributed.threads
            torch.set_num_threads(torch_threads)
        torch.manual_seed(seed)  # network initialization
        # Env i of the total is seeded with seed + i on whichever rank steps it; each rank samples with its own seed.
        env = make_vec_env(env_name, config.cfg, config.source, num_envs=env_count, num_threads=env_threads,
                           seed=seed + env_offset)
        cleanup.callback(env.close)
        control_dt = float(env.wrapper.getControlTimeStep())
        cfg = config.ppo
        num_steps = steps_per_iteration or cfg.steps_per_env or int(env.wrapper.getMaxEpisodeSteps())
        if num_steps >= 2**40:
            raise ValueError(f"{config.source}: set environment.max_time or algorithm.steps_per_env (the rollout "
                             f"length, by default max_time / control_dt)")
        actor = Actor(env.num_obs, env.num_acts, cfg.policy_net, cfg.activation, cfg.init_std)
        critic = Critic(env.num_obs, cfg.value_net, cfg.activation)
        ppo = PPO(actor, critic, env.num_envs, num_steps, cfg, seed=seed + env_offset, data_parallel=distributed)
        start = restore_checkpoint(checkpoint, ppo, env, weight) if checkpoint is not None else 0
        if distributed is not None and checkpoint is not None and not main_rank:
            # The checkpoint holds rank 0's generator; the other ranks continue with streams of their own.
            entropy = [seed % 2**64, distributed.rank, start]
            ppo.generator.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]))
        statistics = distributed.broadcast_statistics(env) if distributed is not None else None

        logger = films = None
        run_dir: Path | None = None
        if main_rank:
            run_dir = make_run_directory(env_name, [cfg_path, ENVS_DIR / env_name / "Environment.hpp"], run_root)
            logger = TrainingLogger(run_dir, control_dt, print_function)
            cleanup.callback(logger.close)
            if checkpoint is not None:
                logger.message(f"[runner] resumed {weight} at iteration {start}")
                if checkpoint["cfg_text"] != config.text:
                    logger.message(f"[runner] note: {cfg_path} differs from the cfg stored in {weight}; using "
                                   f"{cfg_path}")
            on_rank = " on rank 0" if distributed is not None else ""
            logger.message(f"[runner] {env.num_envs} envs{on_rank} x {num_steps} steps = {env.num_envs * num_steps:,} "
                           f"samples per iteration")
            if distributed is not None:
                logger.message(f"[runner] {distributed.world_size} ranks ({distributed.backend}), "
                               f"{env.num_envs} envs and {distributed.threads} thread(s) on rank 0")
            eval_env = make_vec_env(env_name, config.cfg, config.source, num_envs=eval_envs, num_threads=env_threads,
                                    seed=seed + EVAL_SEED_OFFSET, normalize_ob=False)
            cleanup.callback(eval_env.close)
            if render is None:
                render = bool(config.cfg["environment"].get("render", False))
            films = _Films(config, eval_env, control_dt, logger, viewer_address if render else None)
            cleanup.callback(films.close)
        if distributed is not None:
            run_dir = Path(distributed.broadcast_object(str(run_dir), "sharing the run directory"))
        assert run_dir is not None
        stop = cleanup.enter_context(StopRequest(print_function if main_rank else lambda line: None))
        stop_requested = False
        end = None if iterations is None else start + iterations
        last_checkpoint: Path | None = None

        def checkpoint_and_evaluate(iteration: int, evaluate: bool = True) -> Path:
            """full_<N>.pt first (so that a failing evaluation cannot cost it), then exports, evaluation, video.

            Only rank 0 does the work; the other ranks wait for it and get the checkpoint's path.
            """
            path = run_dir / f"full_{iteration}.pt"
            if main_rank:
                state = make_checkpoint(ppo, env, iteration, env_name, config.text)
                save_checkpoint(state, path)
                policy = NormalizedPolicy.from_training(ppo.actor, env)
                exported = [export_torchscript(policy, run_dir / f"policy_{iteration}.pt"),
                            export_onnx(policy, env.num_obs, run_dir / f"policy_{iteration}.onnx")]
                logger.message(f"[checkpoint] {path.name} saved; exported {', '.join(p.name for p in exported if p)}")
                if evaluate:
                    films.evaluate(policy, iteration, seed + EVAL_SEED_OFFSET)
            if distributed is not None:
                distributed.wait_for_rank0(f"checkpoint, export and evaluation of iteration {iteration}")
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
            if distributed is not None:  # every rank's observations of this rollout, on every rank
                statistics = distributed.merge_statistics(env, statistics)
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

            # --- log (all ranks' rollouts; the ranks also agree here on whether a signal asked them to stop)
            logged, agreed_stop = rollout, False
            if distributed is not None:
                logged, agreed_stop = distributed.end_iteration(rollout, stop.requested)
            if main_rank:
                logger.log_iteration(iteration, logged, ppo_stats, update_start - rollout_start,
                                     update_end - update_start)
            iteration += 1
            stop_requested = agreed_stop if distributed is not None else stop.requested
            if stop_requested:
                break
        last_checkpoint = checkpoint_and_evaluate(iteration, evaluate=not stop_requested)
    return TrainingResult(run_dir, iteration, last_checkpoint, stop_requested)


def _load_on_rank0(weight: str | Path, distributed: Distributed | None) -> dict[str, Any]:
    """`load_checkpoint` on rank 0, whose result (or error) every rank receives: only rank 0 needs the file.

    Raises:
        FileNotFoundError, ValueError: As `load_checkpoint`, on every rank.
    """
    if distributed is None:
        return load_checkpoint(weight)
    outcome: tuple[str, Any] | None = None
    if distributed.is_main:
        try:
            outcome = ("checkpoint", load_checkpoint(weight))
        except FileNotFoundError as error:
            outcome = ("FileNotFoundError", str(error))
        except ValueError as error:
            outcome = ("ValueError", str(error))
    kind, value = distributed.broadcast_object(outcome, f"sending the checkpoint {weight} from rank 0")
    if kind == "FileNotFoundError":
        raise FileNotFoundError(value)
    if kind == "ValueError":
        raise ValueError(value)
    return value


class _Films:
    """Evaluation episodes on the evaluation env, filmed when the cfg says ``record_video``."""

    def __init__(self, config: TrainingConfig, eval_env: RaisimGymVecEnv, control_dt: float,
                 logger: TrainingLogger, live_viewer: tuple[str, int] | None = None) -> None:
        self.env = eval_env
        self.logger = logger
        self.control_dt = control_dt
        self.record = config.record_video
        self.every, self.fps = video.frame_stride(control_dt)
        self.recorder: video.VideoRecorder | None = None
        if live_viewer is not None:
            # Started now, so that a taken port is an error before training, not at the first evaluation.
            eval_env.viewer_host, eval_env.viewer_port = live_viewer
            viewer = eval_env.turn_on_visualization()
            logger.message(f"[viewer] evaluation episodes are shown live at {viewer.url}")

    def evaluate(self, policy: NormalizedPolicy, iteration: int, seed: int) -> None:
        """One deterministic episode per evaluation env; env 0's is filmed if videos are on and GL works."""
        recorder = self._recorder()
        if recorder is not None:
            recorder.frames.clear()

        def on_step() -> None:
            if recorder is not None:
                recorder.capture(*self.env.wrapper.getState(0))
            if self.env.visualizing:
                self.env.viewer.pace(self.control_dt)  # real time only while a browser page is open

        started = time.perf_counter()
        result = evaluate_policy(policy, self.env, seed=seed, on_step=on_step)
        self.logger.log_evaluation(iteration, result.returns, result.lengths, result.fall_rate, result.reward_terms,
                                   f"{result.summary()} [{time.perf_counter() - started:.1f} s]")
        if recorder is not None and recorder.frames:
            try:
                path = recorder.write_mp4(self.logger.run_dir / f"video_{iteration}.mp4", self.fps)
            except (OSError, ValueError, RuntimeError) as error:
                # A video is worth less than the training run: say why once and train on without them.
                self.logger.message(f"[video] cannot write mp4 ({error}); continuing without videos")
                self.record = False
                return
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
    """The runner.py command line: ``[-m train|retrain] [-w full_N.pt] [--iterations N] [--num-envs N] [--seed S]
    [--dist-timeout SECONDS] [--dist-backend gloo|nccl]``."""
    parser = argparse.ArgumentParser(prog=prog, description="Train a PPO policy on this environment.")
    parser.add_argument("-m", "--mode", choices=("train", "retrain"), default="train",
                        help="train from scratch, or resume the checkpoint given with -w")
    parser.add_argument("-w", "--weight", default="", help="checkpoint full_<N>.pt to resume (retrain mode)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations to run (default: until Ctrl-C, which saves a checkpoint first)")
    parser.add_argument("--num-envs", type=int, default=None, help="override environment.num_envs")
    parser.add_argument("--seed", type=int, default=None, help="override the cfg's seed")
    parser.add_argument("--render", action="store_true",
                        help="show evaluation episodes live in the browser (also: environment.render: True)")
    parser.add_argument("--host", default="127.0.0.1", help="address the live viewer binds (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port of the live viewer (default 8080)")
    parser.add_argument("--dist-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"under torchrun: how long a rank waits for the others before it stops with an error "
                             f"(default ${TIMEOUT_VARIABLE}, else 60)")
    parser.add_argument("--dist-backend", choices=("gloo", "nccl"), default=None,
                        help=f"under torchrun: gloo (CPU) or nccl (GPUs) (default ${BACKEND_VARIABLE}, else gloo)")
    return parser.parse_args(argv)


def main(env_name: str, cfg_path: str | Path, argv: Sequence[str] | None = None) -> int:
    """Entry point of an env folder's runner.py.

    Args:
        env_name: The env folder name.
        cfg_path: The folder's cfg.yaml.
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Started by torchrun with several processes, every process joins the process group and trains its share.

    Returns:
        The process exit code: 0 on success, 1 on an error that was explained on stderr.
    """
    args = parse_args(argv, prog=f"{env_name}/runner.py")
    if args.mode == "retrain" and not args.weight:
        print("retrain mode needs a checkpoint: runner.py -m retrain -w path/to/full_<N>.pt", file=sys.stderr)
        return 1
    distributed = None
    try:
        distributed = Distributed.from_environment(args.dist_timeout, args.dist_backend)
        result = train(env_name, cfg_path, mode=args.mode, weight=args.weight or None, iterations=args.iterations,
                       num_envs=args.num_envs, seed=args.seed, distributed=distributed,
                       render=True if args.render else None, viewer_address=(args.host, args.port))
    except (OSError, ValueError, FloatingPointError, DistributedError) as error:
        named = distributed is None or isinstance(error, DistributedError)  # a DistributedError names its rank
        print(f"error: {'' if named else f'rank {distributed.rank}: '}{error}", file=sys.stderr)
        return 1
    finally:
        if distributed is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                distributed.close()
    if distributed is None or distributed.is_main:
        how = "stopped by signal" if result.stopped_by_signal else "finished"
        print(f"[runner] {how}: {result.iteration} iterations done; last checkpoint {result.last_checkpoint}")
    return 0

