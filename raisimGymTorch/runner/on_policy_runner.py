"""The on-policy runner: one object owning the env, PPO, the logger and the run directory of a training run.

Per iteration: checkpoint, evaluate and film (every ``eval_every_n``), collect a rollout (time-outs are
bootstrapped as each step is stored), update (GAE, then PPO epochs), log.

The same code runs on one process and on each rank of a torchrun launch: the process group (`SingleProcess` or
`Distributed`, see `raisimGymTorch.runner.distributed`) makes every exchange the identity on one process. Rank 0
alone writes files and evaluates.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raisimGymTorch.algo.ppo import PPO, Actor, Critic
from raisimGymTorch.env.make import ENVS_DIR, make_vec_env
from raisimGymTorch.io.atomic_file import NoRoomError
from raisimGymTorch.io.checkpoint import load_checkpoint, make_checkpoint, restore_checkpoint, save_checkpoint
from raisimGymTorch.io.export import NormalizedPolicy, export_onnx, export_torchscript, onnx_unavailable_reason
from raisimGymTorch.io.run_directory import make_run_directory
from raisimGymTorch.viz.episode_view import EpisodeView

from .device import resolve_device
from .distributed import ProcessGroup
from .evaluation import EvaluationResult, evaluate_policy
from .logger import TrainingLogger
from .rollout_statistics import RolloutStatistics
from .stop_request import StopRequest
from .training_config import NO_TIME_LIMIT, TrainingConfig, boolean_setting

DEFAULT_EVAL_ENVS = 10
"""Environments of the evaluation VecEnv; each contributes one deterministic episode per evaluation."""
EVAL_SEED_OFFSET = 1_000_003
# An evaluation films the first 10 s of env 0's episode: the whole 50 s of a 1000-step Ant episode took 27-30 s
# to render per checkpoint on 2 cores, longer than the evaluation itself.
TRAINING_VIDEO_SECONDS = 10.0
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


@dataclass
class RunnerOptions:
    """How a run is set up beyond its cfg; `raisimGymTorch.runner.trainer.train` documents each."""

    num_envs: int | None = None
    seed: int | None = None
    run_root: str | Path | None = None
    steps_per_iteration: int | None = None
    eval_envs: int = DEFAULT_EVAL_ENVS
    rollout_threads: int | None = 1
    update_threads: int | None = None
    print_function: Callable[[str], None] = print
    render: bool | None = None
    viewer_address: tuple[str, int] = ("127.0.0.1", 8080)
    device: str = "cpu"


class OnPolicyRunner:
    """Trains PPO on one env: `learn`, `save`, `load`, `evaluate`; `close` (or ``with``) releases everything.

    Args:
        env_name: Env folder name under ``raisimGymTorch/env/envs``.
        config: The checked cfg.yaml.
        cfg_path: Where it came from (copied into the run directory).
        group: This process's place in the run (`SingleProcess` or `Distributed`).
        options: See `RunnerOptions`.
        resume: (path, checkpoint dict) to continue exactly, as `load` would.

    Raises:
        ValueError: A bad cfg value, or a checkpoint that does not fit the env.
        OSError: The live viewer's port is taken.
        DistributedError: Another rank died or did not answer.
    """

    def __init__(self, env_name: str, config: TrainingConfig, cfg_path: str | Path, group: ProcessGroup,
                 options: RunnerOptions, resume: tuple[Path, dict[str, Any]] | None = None) -> None:
        self.env_name, self.config, self.group, self.options = env_name, config, group, options
        self.seed = config.seed if options.seed is None else options.seed
        self.logger: TrainingLogger | None = None
        self._cleanup = contextlib.ExitStack()
        try:
            self._build(cfg_path, resume)
        except BaseException:
            self._cleanup.close()
            raise

    def _build(self, cfg_path: str | Path, resume: tuple[Path, dict[str, Any]] | None) -> None:
        config, group, options = self.config, self.group, self.options
        group.check_same(config.text, f"the cfg {cfg_path}")
        total = config.cfg["environment"].get("num_envs") if options.num_envs is None else options.num_envs
        env_count, self.env_offset = group.assign_envs(total, config.source)
        env_threads = group.threads if config.cfg["environment"].get("num_threads", "auto") == "auto" else None
        self._cleanup.callback(torch.set_num_threads, torch.get_num_threads())
        if group.threads is not None:
            torch.set_num_threads(group.threads)
        self.torch_threads = torch.get_num_threads()
        torch.manual_seed(self.seed)  # network initialization
        # Env i of the total is seeded with seed + i on whichever rank steps it; each rank samples with its own seed.
        self.env = make_vec_env(self.env_name, config.cfg, config.source, num_envs=env_count,
                                num_threads=env_threads, seed=self.seed + self.env_offset)
        self._cleanup.callback(self.env.close)
        self.total_envs = self.env.num_envs if group.world_size == 1 else total  # what a checkpoint says was stepped
        self._random_start = boolean_setting(config.cfg["environment"].get("random_episode_start", True),
                                             "environment.random_episode_start", config.source)
        self.num_steps = (options.steps_per_iteration or config.ppo.steps_per_env
                          or int(self.env.wrapper.getMaxEpisodeSteps()))
        if self.num_steps >= NO_TIME_LIMIT:
            raise ValueError(f"{config.source}: set environment.max_time or algorithm.steps_per_env (the rollout "
                             f"length, by default max_time / control_dt)")
        cfg = config.ppo
        actor = Actor(self.env.num_obs, self.env.num_acts, cfg.policy_net, cfg.activation, cfg.init_std)
        critic = Critic(self.env.num_critic_obs, cfg.value_net, cfg.activation)
        self.device = resolve_device(options.device)
        self.ppo = PPO(actor, critic, self.env.num_envs, self.num_steps, cfg, device=self.device,
                       seed=self.seed + self.env_offset, data_parallel=group.data_parallel)
        self.iteration = self._restore(*resume) if resume is not None else 0
        self._statistics = group.broadcast_statistics(self.env)
        run_dir = self._open_run_directory(cfg_path, resume, env_threads) if group.is_main else None
        self.run_dir = Path(group.broadcast_object(str(run_dir), "sharing the run directory"))
        self._rollout = RolloutStatistics(self.env.num_envs, self.env.reward_names, self.env.metric_names)
        self._observation: np.ndarray | None = None
        self._last_checkpoint: Path | None = None

    def _open_run_directory(self, cfg_path: str | Path, resume: tuple[Path, dict[str, Any]] | None,
                            env_threads: int | None) -> Path:
        """Rank 0's run directory, logger, evaluation env and episode view."""
        config, options, env = self.config, self.options, self.env
        run_dir = make_run_directory(self.env_name, [cfg_path, ENVS_DIR / self.env_name / "Environment.hpp"],
                                     options.run_root)
        control_dt = float(env.wrapper.getControlTimeStep())
        self.logger = TrainingLogger(run_dir, control_dt, options.print_function, env.reward_names, env.metric_names)
        self._cleanup.callback(self.logger.close)
        if resume is not None:
            self.logger.message(f"[runner] resumed {resume[0]} at iteration {self.iteration}")
            if resume[1]["cfg_text"] != config.text:
                self.logger.message(f"[runner] note: {cfg_path} differs from the cfg stored in {resume[0]}; using "
                                    f"{cfg_path}")
        on_rank = " on rank 0" if self.group.world_size > 1 else ""
        self.logger.message(f"[runner] {env.num_envs} envs{on_rank} x {self.num_steps} steps = "
                            f"{env.num_envs * self.num_steps:,} samples per iteration")
        self.logger.message(f"[runner] networks and PPO update on {self.device}; the envs step on the CPU")
        if self.group.world_size > 1:
            self.logger.message(f"[runner] {self.group.world_size} ranks ({self.group.backend}), "
                                f"{env.num_envs} envs and {self.group.threads} thread(s) on rank 0")
        self._onnx_reason = onnx_unavailable_reason()
        if self._onnx_reason is not None:
            self.logger.message(f"[export] {self._onnx_reason}; exporting TorchScript only")
        self.eval_env = make_vec_env(self.env_name, config.cfg, config.source, num_envs=options.eval_envs,
                                     num_threads=env_threads, seed=self.seed + EVAL_SEED_OFFSET, normalize_ob=False,
                                     evaluation=True)
        self._cleanup.callback(self.eval_env.close)
        render = config.render if options.render is None else options.render
        self._view = EpisodeView(self.eval_env, self.logger.message, record_video=config.record_video,
                                 live_viewer=options.viewer_address if render else None,
                                 video_seconds=TRAINING_VIDEO_SECONDS)
        self._cleanup.callback(self._view.close)
        if self._view.viewer is not None:
            self.logger.message(f"[viewer] evaluation episodes are shown live at {self._view.viewer.url}")
        return run_dir

    # --- the public surface ------------------------------------------------------------------------------

    def learn(self, iterations: int | None = None) -> TrainingResult:
        """Runs `iterations` more iterations (None: until SIGINT/SIGTERM), then checkpoints.

        Raises:
            FloatingPointError: A loss became NaN or infinite; the message names the iteration and the last good
                checkpoint, which is left as it was.
            DistributedError: Another rank died or did not answer within the timeout.
        """
        end = None if iterations is None else self.iteration + iterations
        first, started = self.iteration, time.perf_counter()
        main = self.group.is_main  # only rank 0 evaluates, so only it has a viewer to release
        # torchrun's elastic agent sets TORCHELASTIC_RUN_ID in its workers' environment; a worker whose launcher
        # is gone stops (every rank notices, as all are its children) instead of training on as an orphan.
        orphan_check = "TORCHELASTIC_RUN_ID" in os.environ
        with StopRequest(self.options.print_function if main else lambda line: None,
                         on_request=self._view.release if main else None, watch_parent=orphan_check) as stop:
            stopped = False
            while end is None or self.iteration < end:
                if self.iteration % self.config.eval_every_n == 0:
                    self._last_checkpoint = self._checkpoint_and_evaluate()
                rollout_seconds = self._collect()
                update_seconds, ppo_stats = self._update()
                sums = self.group.merge_rollouts(self._rollout.sums)
                if self.logger is not None:
                    done = self.iteration + 1 - first
                    eta = None if end is None else (time.perf_counter() - started) / done * (end - first - done)
                    self.logger.log_iteration(self.iteration, sums, ppo_stats, rollout_seconds, update_seconds, eta)
                self.iteration += 1
                stopped = self.group.agree_to_stop(stop.requested)
                if stopped:
                    break
            self._last_checkpoint = self._checkpoint_and_evaluate(evaluate=not stopped)
        return TrainingResult(self.run_dir, self.iteration, self._last_checkpoint, stopped)

    def save(self, path: str | Path | None = None) -> Path:
        """Writes the checkpoint (default ``<run_dir>/full_<iteration>.pt``) and, beside it, the deployable policy
        as TorchScript and ONNX (``policy_<iteration>.pt/.onnx``). Only rank 0 writes; every rank gets the path.

        Raises:
            NoRoomError: The disk (or quota, or file-size limit) is full; the message says so, names the folder and
                the last checkpoint, which is left intact.
        """
        path = Path(path) if path is not None else self.run_dir / f"full_{self.iteration}.pt"
        if self.group.is_main:
            checkpoint = make_checkpoint(self.ppo, self.env, self.iteration, self.env_name, self.config.text,
                                         self.total_envs)
            try:
                save_checkpoint(checkpoint, path)
            except NoRoomError as error:
                kept = (f"the last checkpoint, {self._last_checkpoint}, is intact" if self._last_checkpoint
                        else "no checkpoint of this run was written before")
                raise NoRoomError(error.errno, f"{error.strerror}; {kept}") from error
            policy = NormalizedPolicy.from_training(self.ppo.actor, self.env)
            stem = path.parent / f"policy_{self.iteration}"
            try:
                exported = [export_torchscript(policy, stem.with_suffix(".pt"))]
            except NoRoomError as error:
                raise NoRoomError(error.errno, f"{error.strerror}; the checkpoint {path} was saved") from error
            if self._onnx_reason is None:
                exported.append(export_onnx(policy, self.env.num_obs, stem.with_suffix(".onnx")))
            self.logger.message(f"[checkpoint] {path.name} saved; exported {', '.join(p.name for p in exported if p)}")
        return path

    def load(self, path: str | Path) -> None:
        """Continues from checkpoint `path` exactly (iteration, optimizer, learning rate, generator, statistics).

        Raises:
            FileNotFoundError, ValueError: As `load_checkpoint`, or the checkpoint is from another env.
        """
        self.iteration = self._restore(Path(path), load_on_main(path, self.group))
        self._statistics = self.group.broadcast_statistics(self.env)

    def evaluate(self) -> EvaluationResult | None:
        """One deterministic episode per evaluation env, logged; env 0's filmed if videos are on. Rank 0 only
        (None elsewhere)."""
        if not self.group.is_main:
            return None
        policy = NormalizedPolicy.from_training(self.ppo.actor, self.env)
        started = time.perf_counter()
        self._view.begin()
        result = evaluate_policy(policy, self.eval_env, seed=self.seed + EVAL_SEED_OFFSET,
                                 on_step=self._view.on_step if self._view.watching else None)
        self.logger.log_evaluation(self.iteration, result.returns, result.lengths, result.fall_rate,
                                   result.reward_terms, f"{result.summary()} [{time.perf_counter() - started:.1f} s]")
        self._write_video(started)
        return result

    def close(self) -> None:
        """Closes the envs, the logger and the viewers, and restores torch's thread count."""
        self._cleanup.close()

    def __enter__(self) -> OnPolicyRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one iteration, in the order it runs ----------------------------------------------------------------

    def _checkpoint_and_evaluate(self, evaluate: bool = True) -> Path:
        """full_<N>.pt first (so that a failing evaluation cannot cost it), then exports, evaluation, video; the
        other ranks wait for rank 0."""
        path = self.save()
        if evaluate:
            self.evaluate()
        self.group.wait_for_rank0(f"checkpoint, export and evaluation of iteration {self.iteration}")
        return path

    def _collect(self) -> float:
        """One rollout: act, step, store; time-outs are bootstrapped with V(final obs) in process_step.

        Returns:
            Its wall time in seconds.
        """
        started = time.perf_counter()
        if self.options.rollout_threads is not None:
            torch.set_num_threads(self.options.rollout_threads)
        env, ppo = self.env, self.ppo
        env.curriculum_callback(self.iteration)
        self._rollout.clear()
        has_metrics = bool(env.metric_names)
        if self._observation is None:  # the run's first rollout; after the checkpoint, which holds the loaded stats
            env.reset()
            if self._random_start:  # after the reset, which would start every episode at step 0 again
                env.randomize_episode_progress(self.seed + self.env_offset)
            env.observe()
            self._observation = env.critic_observation()
        for _ in range(self.num_steps):
            actions = ppo.act(self._observation)
            step = env.transition(actions.cpu().numpy())
            ppo.process_step(step.reward, step.done, step.truncated,
                             step.final_critic_observation if step.truncated.any() else None)
            self._rollout.add(step.reward, step.done, step.truncated, step.reward_terms,
                              step.metrics if has_metrics else None)
            self._observation = step.critic_observation
        # Every rank's observations of this rollout, on every rank.
        self._statistics = self.group.merge_statistics(env, self._statistics)
        return time.perf_counter() - started

    def _update(self) -> tuple[float, dict[str, float]]:
        """GAE over the rollout (bootstrapped with V(obs after the last step)), then the PPO epochs.

        Returns:
            Its wall time in seconds, and what `PPO.update` reported.
        """
        torch.set_num_threads(self.torch_threads if self.options.update_threads is None
                              else self.options.update_threads)
        started = time.perf_counter()
        try:
            ppo_stats = self.ppo.update(self._observation, self.iteration)
        except FloatingPointError as error:
            kept = (f"the last good checkpoint is {self._last_checkpoint}" if self._last_checkpoint
                    else "no checkpoint yet")
            raise FloatingPointError(f"training stopped at iteration {self.iteration}: {error}; {kept}") from error
        return time.perf_counter() - started, ppo_stats

    # --- plumbing --------------------------------------------------------------------------------------------

    def _restore(self, path: Path, checkpoint: dict[str, Any]) -> int:
        """Puts `checkpoint` into PPO and the env; returns its iteration."""
        if checkpoint["env_name"] != self.env_name:
            raise ValueError(f"{path} was trained on env '{checkpoint['env_name']}', not '{self.env_name}'")
        start = restore_checkpoint(checkpoint, self.ppo, self.env, path)
        if not self.group.is_main:
            # The checkpoint holds rank 0's generator; the other ranks continue with streams of their own.
            entropy = [self.seed % 2**64, self.group.rank, start]
            self.ppo.generator.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]))
        return start

    def _write_video(self, started: float) -> None:
        """The evaluation's film as ``video_<N>.mp4`` and a TensorBoard strip; a failing encoder ends filming."""
        try:
            path = self._view.write_video(self.run_dir / f"video_{self.iteration}.mp4")
        except (OSError, ValueError, RuntimeError) as error:
            # A video is worth less than the training run: say why once and train on without them.
            self.logger.message(f"[video] cannot write mp4 ({error}); continuing without videos")
            self._view.stop_filming()
            return
        if path is not None:
            self.logger.log_frames(self.iteration, self._view.recorder.frame_strip())
            self.logger.message(f"[video] {path.name}: {self._view.frames} frames "
                                f"[{time.perf_counter() - started:.1f} s with the evaluation]")


def load_on_main(weight: str | Path, group: ProcessGroup) -> dict[str, Any]:
    """`load_checkpoint` on rank 0, whose result (or error) every rank receives: only rank 0 needs the file.

    Raises:
        FileNotFoundError, ValueError: As `load_checkpoint`, on every rank.
    """
    outcome: tuple[str, Any] | None = None
    if group.is_main:
        try:
            outcome = ("checkpoint", load_checkpoint(weight))
        except FileNotFoundError as error:
            outcome = ("FileNotFoundError", error)
        except ValueError as error:
            outcome = ("ValueError", error)
    kind, value = group.broadcast_object(outcome, f"sending the checkpoint {weight} from rank 0")
    if kind != "checkpoint":
        raise value
    return value
