"""What a training run shows: TensorBoard scalars in the run directory and one console line per iteration."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter


class RolloutStatistics:
    """Sums over one rollout: rewards, per-term rewards, ended episodes and how they ended.

    Episode lengths and returns are tracked per env across iterations, so an episode that spans two rollouts
    is counted whole in the iteration where it ends.
    """

    def __init__(self, num_envs: int, reward_names: Sequence[str]) -> None:
        """Args:
            num_envs: Environments stepped together.
            reward_names: Names of the env's reward terms, in `reward_terms()` column order.
        """
        self.reward_names = list(reward_names)
        self._episode_length = np.zeros(num_envs, dtype=np.int64)
        self._episode_return = np.zeros(num_envs, dtype=np.float64)
        self.clear()

    def clear(self) -> None:
        """Starts a new rollout; running episodes carry on."""
        self.steps = 0
        self.reward_sum = 0.0
        self.term_sums = np.zeros(len(self.reward_names), dtype=np.float64)
        self.terminations = 0
        self.timeouts = 0
        self.ended_lengths: list[int] = []
        self.ended_returns: list[float] = []

    def add(self, rewards: np.ndarray, dones: np.ndarray, truncated: np.ndarray, reward_terms: np.ndarray) -> None:
        """Folds in one step of all envs (``done`` includes time-outs; ``truncated`` marks them)."""
        self.steps += rewards.shape[0]
        self.reward_sum += float(rewards.sum(dtype=np.float64))
        self.term_sums += reward_terms.sum(axis=0, dtype=np.float64)
        self._episode_length += 1
        self._episode_return += rewards
        if dones.any():
            timeouts = int((dones & truncated).sum())
            self.timeouts += timeouts
            self.terminations += int(dones.sum()) - timeouts
            self.ended_lengths += self._episode_length[dones].tolist()
            self.ended_returns += self._episode_return[dones].tolist()
            self._episode_length[dones] = 0
            self._episode_return[dones] = 0.0

    @property
    def episodes(self) -> int:
        return self.terminations + self.timeouts

    @property
    def mean_reward(self) -> float:
        """Mean reward per env step."""
        return self.reward_sum / max(self.steps, 1)

    @property
    def done_rate(self) -> float:
        """Ended episodes per env step (the original's "dones")."""
        return self.episodes / max(self.steps, 1)

    def term_means(self) -> dict[str, float]:
        """Each reward term's mean per env step."""
        return {name: float(total / max(self.steps, 1)) for name, total in zip(self.reward_names, self.term_sums)}


class TrainingLogger:
    """Writes TensorBoard event files into the run directory and prints progress lines.

    Args:
        run_dir: The run directory; event files go straight into it.
        control_dt: Seconds of simulated time per env step, for the real-time factor.
        print_function: Where console lines go.
    """

    def __init__(self, run_dir: str | Path, control_dt: float, print_function: Callable[[str], None] = print) -> None:
        self.run_dir = Path(run_dir)
        self.control_dt = control_dt
        self.print = print_function
        self.writer = SummaryWriter(log_dir=str(self.run_dir))
        self.print(f"[runner] run directory: {self.run_dir}")
        self.print(f"[runner] to watch training: tensorboard --logdir {self.run_dir.parent}")

    def log_iteration(
        self,
        iteration: int,
        rollout: RolloutStatistics,
        ppo_stats: Mapping[str, float],
        rollout_seconds: float,
        update_seconds: float,
    ) -> None:
        """Writes one iteration's scalars and prints its progress line.

        Args:
            iteration: The iteration just finished.
            rollout: Its rollout sums.
            ppo_stats: What `PPO.update` returned.
            rollout_seconds: Wall time of collecting.
            update_seconds: Wall time of the PPO update.
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
            "PPO/mean_std": ppo_stats["mean_std"],
            "Reward/mean_per_step": rollout.mean_reward,
            "Episode/ended": rollout.episodes,
            "Episode/done_rate": rollout.done_rate,
            "Perf/steps_per_second": steps_per_second,
            "Perf/real_time_factor": real_time_factor,
            "Perf/rollout_seconds": rollout_seconds,
            "Perf/update_seconds": update_seconds,
        }
        for name, value in rollout.term_means().items():
            scalars[f"Reward/{name}"] = value
        if rollout.episodes:
            # Of the episodes that ended in this iteration, the share that failed and the share cut by time.
            scalars["Episode/termination_rate"] = rollout.terminations / rollout.episodes
            scalars["Episode/timeout_rate"] = rollout.timeouts / rollout.episodes
            scalars["Episode/length_steps"] = float(np.mean(rollout.ended_lengths))
            scalars["Episode/return"] = float(np.mean(rollout.ended_returns))
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, iteration)
        self.print(
            f"iteration {iteration:6d} | average reward {rollout.mean_reward:10.6f} | dones {rollout.done_rate:8.6f} | "
            f"{seconds:6.2f} s (rollout {rollout_seconds:.2f}, update {update_seconds:.2f}) | "
            f"{steps_per_second:8.0f} steps/s | real-time factor {real_time_factor:6.1f}"
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
