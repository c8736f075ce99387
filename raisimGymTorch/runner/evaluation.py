"""Deterministic evaluation episodes of a policy, as fast as the env steps."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

from .training_config import NO_TIME_LIMIT


@dataclass
class EvaluationResult:
    """Per-episode outcomes of a deterministic evaluation."""

    returns: np.ndarray
    """Undiscounted return of each episode."""
    lengths: np.ndarray
    """Steps of each episode."""
    falls: np.ndarray
    """True where the episode ended by termination (a failure) rather than the time limit."""
    reward_terms: dict[str, float] = field(default_factory=dict)
    """Each reward term's mean per step over all evaluated steps."""
    control_dt: float = 0.01
    """Seconds per step."""
    can_fail: bool = True
    """Whether the env has a failure state at all; without one, falls are not reported."""

    @property
    def fall_rate(self) -> float:
        """Share of episodes that ended in a fall (0 with no episodes)."""
        return float(self.falls.mean()) if len(self.falls) else 0.0

    @property
    def mean_return(self) -> float:
        """Mean undiscounted episode return."""
        return float(self.returns.mean()) if len(self.returns) else 0.0

    @property
    def mean_length(self) -> float:
        """Mean episode length in steps."""
        return float(self.lengths.mean()) if len(self.lengths) else 0.0

    def summary(self) -> str:
        """One line for the console."""
        falls = f", falls {100 * self.fall_rate:.0f}%" if self.can_fail else ""
        return (f"{len(self.returns)} episodes, return {self.mean_return:.3f}, length {self.mean_length:.0f} steps "
                f"({self.mean_length * self.control_dt:.2f} s){falls}")


@torch.no_grad()
def evaluate_policy(
    policy: nn.Module,
    env: RaisimGymVecEnv,
    episodes_per_env: int = 1,
    seed: int | None = None,
    on_step: Callable[[], None] | None = None,
    max_steps: int | None = None,
) -> EvaluationResult:
    """Runs `episodes_per_env` deterministic episodes in every env of `env`, as fast as it can.

    Every env contributes the same number of episodes, so short (failed) episodes are not over-counted.

    Args:
        policy: Raw observations [N, obs_dim] to actions, e.g. a `NormalizedPolicy`.
        env: An env built with ``normalize_ob=False``; it is reset first.
        episodes_per_env: Episodes counted per env.
        seed: Reseeds the env first, so that every evaluation starts from the same states.
        on_step: Called at the start and after every step while env 0 is in a counted episode, e.g. to
            capture a video frame of env 0.
        max_steps: Stop after this many steps even if episodes are unfinished (those are not counted);
            defaults to `episodes_per_env` times the env's time limit.

    Returns:
        The episodes' returns, lengths and falls, in the order they ended.

    Raises:
        ValueError: The env normalizes observations (the policy does that itself), or it has no time limit
            and no `max_steps` is given.
    """
    if env.normalize_ob:
        raise ValueError("evaluate_policy needs an env built with normalize_ob=False; the policy normalizes")
    if max_steps is None:
        time_limit = int(env.wrapper.getMaxEpisodeSteps())
        if time_limit >= NO_TIME_LIMIT:
            raise ValueError("the env has no time limit (max_time); pass max_steps to evaluate_policy")
        max_steps = episodes_per_env * time_limit
    if seed is not None:
        env.seed(seed)
    env.reset()
    num_envs = env.num_envs
    counted = np.zeros(num_envs, dtype=np.int64)
    running_return = np.zeros(num_envs, dtype=np.float64)
    running_length = np.zeros(num_envs, dtype=np.int64)
    term_sums = np.zeros(len(env.reward_names), dtype=np.float64)
    term_steps = 0
    returns: list[float] = []
    lengths: list[int] = []
    falls: list[bool] = []
    if on_step is not None:
        on_step()
    observation = env.observe(update_statistics=False)
    for _ in range(max_steps):
        if (counted >= episodes_per_env).all():
            break
        actions = policy(torch.from_numpy(observation)).to(torch.float32).numpy()
        step = env.transition(np.ascontiguousarray(actions), update_statistics=False)
        observation = step.observation
        active = counted < episodes_per_env
        term_sums += step.reward_terms[active].sum(axis=0)
        term_steps += int(active.sum())
        running_return += step.reward
        running_length += 1
        for i in np.flatnonzero(step.done & active):
            returns.append(float(running_return[i]))
            lengths.append(int(running_length[i]))
            falls.append(bool(step.terminated[i]))
            counted[i] += 1
        running_return[step.done] = 0.0
        running_length[step.done] = 0
        if on_step is not None and counted[0] < episodes_per_env:
            on_step()
    return EvaluationResult(
        returns=np.asarray(returns),
        lengths=np.asarray(lengths),
        falls=np.asarray(falls, dtype=bool),
        reward_terms={name: float(s / max(term_steps, 1)) for name, s in zip(env.reward_names, term_sums)},
        control_dt=float(env.wrapper.getControlTimeStep()),
        can_fail=bool(env.wrapper.canFail()),
    )
