"""What one rollout did, summed so that the ranks of a multi-process run can add their sums field by field."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


@dataclass
class RolloutSums:
    """Sums over one rollout of one or several ranks. Every field adds: numbers and arrays sum, lists concatenate."""

    steps: int = 0
    """Env steps (one per env per control step)."""
    reward_sum: float = 0.0
    """Sum of all rewards."""
    term_sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Sum of each reward term, in the env's `reward_names` order."""
    metric_sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Sum of each env metric over the steps, in the env's `metric_names` order."""
    terminations: int = 0
    """Episodes ended by a failure."""
    timeouts: int = 0
    """Episodes ended by the time limit."""
    ended_lengths: list[int] = field(default_factory=list)
    """Steps of each episode that ended, counted whole even if it began in an earlier rollout."""
    ended_returns: list[float] = field(default_factory=list)
    """Undiscounted return of each episode that ended."""

    @classmethod
    def merged(cls, parts: Sequence[RolloutSums]) -> RolloutSums:
        """The sums of all `parts` (e.g. one per rank), in their order."""
        return cls(**{f.name: _add([getattr(part, f.name) for part in parts]) for f in fields(cls)})

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

    def term_means(self, names: Sequence[str]) -> dict[str, float]:
        """Each reward term's mean per env step, by name."""
        return {name: float(total / max(self.steps, 1)) for name, total in zip(names, self.term_sums)}

    def metric_means(self, names: Sequence[str]) -> dict[str, float]:
        """Each env metric's mean per env step, by name."""
        return {name: float(total / max(self.steps, 1)) for name, total in zip(names, self.metric_sums)}


def _add(values: list[Any]) -> Any:
    if isinstance(values[0], list):
        return [item for value in values for item in value]
    if isinstance(values[0], np.ndarray):
        return np.sum(values, axis=0)
    return sum(values)


class RolloutStatistics:
    """Folds the steps of all envs into `sums`; episode lengths and returns run on across rollouts."""

    def __init__(self, num_envs: int, reward_names: Sequence[str], metric_names: Sequence[str] = ()) -> None:
        """Args:
            num_envs: Environments stepped together.
            reward_names: Names of the env's reward terms, in `reward_terms()` column order.
            metric_names: Names of the env's metrics, in `metrics()` column order.
        """
        self.reward_names = list(reward_names)
        self.metric_names = list(metric_names)
        self._episode_length = np.zeros(num_envs, dtype=np.int64)
        self._episode_return = np.zeros(num_envs, dtype=np.float64)
        self.sums = RolloutSums()
        self.clear()

    def clear(self) -> None:
        """Starts a new rollout; running episodes carry on."""
        self.sums = RolloutSums(term_sums=np.zeros(len(self.reward_names), dtype=np.float64),
                                metric_sums=np.zeros(len(self.metric_names), dtype=np.float64))

    def add(self, rewards: np.ndarray, dones: np.ndarray, truncated: np.ndarray, reward_terms: np.ndarray,
            metrics: np.ndarray | None = None) -> None:
        """Folds in one step of all envs (``done`` includes time-outs; ``truncated`` marks them)."""
        sums = self.sums
        sums.steps += rewards.shape[0]
        sums.reward_sum += float(rewards.sum(dtype=np.float64))
        sums.term_sums += reward_terms.sum(axis=0, dtype=np.float64)
        if metrics is not None:
            sums.metric_sums += metrics.sum(axis=0, dtype=np.float64)
        self._episode_length += 1
        self._episode_return += rewards
        if dones.any():
            timeouts = int((dones & truncated).sum())
            sums.timeouts += timeouts
            sums.terminations += int(dones.sum()) - timeouts
            sums.ended_lengths += self._episode_length[dones].tolist()
            sums.ended_returns += self._episode_return[dones].tolist()
            self._episode_length[dones] = 0
            self._episode_return[dones] = 0.0
