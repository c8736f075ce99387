"""What a training run shows: TensorBoard scalars in the run directory and one console line per iteration."""
from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from .rollout_statistics import RolloutSums


class TrainingLogger:
    """Writes TensorBoard event files into the run directory and prints progress lines.

    Args:
        run_dir: The run directory; event files go straight into it.
        control_dt: Seconds of simulated time per env step, for the real-time factor.
        print_function: Where console lines go.
        reward_names: The env's reward terms, in the order of `RolloutSums.term_sums`.
    """

    def __init__(self, run_dir: str | Path, control_dt: float, print_function: Callable[[str], None] = print,
                 reward_names: Sequence[str] = (), metric_names: Sequence[str] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.control_dt = control_dt
        self.print = print_function
        self.reward_names = list(reward_names)
        self.metric_names = list(metric_names)
        self.writer = SummaryWriter(log_dir=str(self.run_dir))
        self.print(f"[runner] run directory: {self.run_dir}")
        self.print(f"[runner] to watch training: tensorboard --logdir {self.run_dir.parent}")

    def log_iteration(
        self,
        iteration: int,
        rollout: RolloutSums,
        ppo_stats: Mapping[str, float],
        rollout_seconds: float,
        update_seconds: float,
        eta_seconds: float | None = None,
    ) -> None:
        """Writes one iteration's scalars and prints its progress line.

        Args:
            iteration: The iteration just finished.
            rollout: Its rollout sums.
            ppo_stats: What `PPO.update` returned.
            rollout_seconds: Wall time of collecting.
            update_seconds: Wall time of the PPO update.
            eta_seconds: Estimated wall time until a bounded run ends; None for a run without an end.
        """
        seconds = rollout_seconds + update_seconds
        steps_per_second = rollout.steps / max(seconds, 1e-9)
        real_time_factor = steps_per_second * self.control_dt
        scalars = {
            "PPO/surrogate_loss": ppo_stats["surrogate_loss"],
            "PPO/value_loss": ppo_stats["value_loss"],
            "PPO/entropy": ppo_stats["entropy"],
            "PPO/kl": ppo_stats["kl"],
            "PPO/learning_rate": ppo_stats["learning_rate"],
            "PPO/entropy_coef": ppo_stats["entropy_coef"],
            "PPO/mean_std": ppo_stats["mean_std"],
            "Reward/mean_per_step": rollout.mean_reward,
            "Episode/ended": rollout.episodes,
            "Episode/done_rate": rollout.done_rate,
            "Perf/steps_per_second": steps_per_second,
            "Perf/real_time_factor": real_time_factor,
            "Perf/rollout_seconds": rollout_seconds,
            "Perf/update_seconds": update_seconds,
        }
        for name, value in rollout.term_means(self.reward_names).items():
            scalars[f"Reward/{name}"] = value
        metrics = rollout.metric_means(self.metric_names)
        for name, value in metrics.items():
            scalars[f"Metrics/{name}"] = value
        if rollout.episodes:
            # Of the episodes that ended in this iteration, the share that failed and the share cut by time.
            scalars["Episode/termination_rate"] = rollout.terminations / rollout.episodes
            scalars["Episode/timeout_rate"] = rollout.timeouts / rollout.episodes
            scalars["Episode/length_steps"] = float(np.mean(rollout.ended_lengths))
            scalars["Episode/return"] = float(np.mean(rollout.ended_returns))
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, iteration)
        if rollout.episodes:
            episodes = (f"episode return {scalars['Episode/return']:9.3f}, length {scalars['Episode/length_steps']:6.1f} "
                        f"steps")
        else:
            episodes = "no episode ended"
        if metrics:
            episodes += " | " + ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
        eta = "" if eta_seconds is None else f" | ETA {datetime.timedelta(seconds=round(eta_seconds))}"
        self.print(
            f"iteration {iteration:6d} | average reward {rollout.mean_reward:10.6f} | dones {rollout.done_rate:8.6f} | "
            f"{seconds:6.2f} s (rollout {rollout_seconds:.2f}, update {update_seconds:.2f}) | "
            f"{steps_per_second:8.0f} steps/s | real-time factor {real_time_factor:6.1f} | {episodes}{eta}"
        )

    def log_evaluation(self, iteration: int, returns: np.ndarray, lengths: np.ndarray, fall_rate: float,
                       reward_terms: Mapping[str, float], summary: str) -> None:
        """Writes a deterministic evaluation's outcome and prints its summary."""
        self.writer.add_scalar("Evaluation/return", float(np.mean(returns)) if len(returns) else 0.0, iteration)
        self.writer.add_scalar("Evaluation/length_steps", float(np.mean(lengths)) if len(lengths) else 0.0, iteration)
        self.writer.add_scalar("Evaluation/fall_rate", fall_rate, iteration)
        for name, value in reward_terms.items():
            self.writer.add_scalar(f"Evaluation/{name}", value, iteration)
        self.print(f"[evaluation] iteration {iteration}: {summary}")

    def log_frames(self, iteration: int, strip: np.ndarray) -> None:
        """Adds an image (H x W x 3, uint8) of video frames side by side."""
        self.writer.add_image("Evaluation/frames", strip, iteration, dataformats="HWC")

    def message(self, text: str) -> None:
        """Prints a line about a phase of the run (checkpoint, video, stop)."""
        self.print(text)

    def close(self) -> None:
        """Flushes and closes the event file."""
        self.writer.close()
