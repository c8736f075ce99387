"""Rollout buffers for PPO: one iteration's transitions, their returns and advantages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch


class Minibatch(NamedTuple):
    """Flattened transitions for one gradient step; every field has the batch dimension first."""

    observations: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    action_means: torch.Tensor
    values: torch.Tensor
    returns: torch.Tensor
    advantages: torch.Tensor


class Slot(NamedTuple):
    """Views of one step's row of the storage, written by the policy when it acts."""

    observations: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    action_means: torch.Tensor


class RolloutStorage:
    """Preallocated [T, N, ...] tensors for T transitions of N environments.

    A step is stored in two parts: what the policy computed when it acted (`next_slot`, written in place), then
    the env's reward and done (`complete_slot`). The critic's `values` of the stored observations are written
    whole, by whoever fills the storage, before `compute_returns`. A stored `done` is true if the episode ended at that step for any
    reason. Time-outs are bootstrapped by the caller before `complete_slot` (their reward already includes
    gamma * V(final observation)), so a done always cuts the return here.
    """

    def __init__(
        self,
        num_envs: int,
        num_transitions_per_env: int,
        obs_dim: int,
        action_dim: int,
        device: str | torch.device = "cpu",
    ) -> None:
        """Allocates the buffers.

        Args:
            num_envs: N, environments stepped together.
            num_transitions_per_env: T, steps per environment per iteration.
            obs_dim: Observation size.
            action_dim: Action size.
            device: Where the tensors live.
        """
        self.num_envs = num_envs
        self.num_transitions_per_env = num_transitions_per_env
        self.device = torch.device(device)
        shape = (num_transitions_per_env, num_envs)

        def zeros(*trailing: int) -> torch.Tensor:
            return torch.zeros(*shape, *trailing, device=self.device)

        self.observations = zeros(obs_dim)
        self.actions = zeros(action_dim)
        self.log_probs = zeros()
        self.action_means = zeros(action_dim)
        self.values = zeros()
        self.rewards = zeros()
        self.dones = zeros()
        self.returns = zeros()
        self.advantages = zeros()
        self.step = 0

    @property
    def is_full(self) -> bool:
        """Whether all T transitions have been added."""
        return self.step == self.num_transitions_per_env

    def next_slot(self) -> Slot:
        """Views of the next free step's row, to be written in place before `complete_slot`.

        Raises:
            RuntimeError: If the storage is already full.
        """
        if self.is_full:
            raise RuntimeError(
                f"RolloutStorage is full ({self.num_transitions_per_env} transitions); call clear() after the update"
            )
        t = self.step
        return Slot(self.observations[t], self.actions[t], self.log_probs[t], self.action_means[t])

    def complete_slot(self, rewards: torch.Tensor, dones: torch.Tensor) -> None:
        """Stores the rewards and dones of the row `next_slot` gave and moves on to the next step.

        Args:
            rewards: [N] rewards, time-outs already bootstrapped.
            dones: [N] true (or 1) where the episode ended at this step.
        """
        t = self.step
        self.rewards[t].copy_(rewards)
        self.dones[t].copy_(dones)
        self.step += 1

    def clear(self) -> None:
        """Marks the storage empty; the next `next_slot` is step 0's."""
        self.step = 0

    def compute_returns(self, last_values: torch.Tensor, gamma: float, lam: float) -> None:
        """Fills `returns` and batch-normalized `advantages` by generalized advantage estimation.

        Args:
            last_values: [N] values of the observations after the last stored step.
            gamma: Discount factor.
            lam: GAE lambda.

        Raises:
            RuntimeError: If the storage is not full.
        """
        if not self.is_full:
            raise RuntimeError(
                f"compute_returns needs {self.num_transitions_per_env} transitions, the storage has {self.step}"
            )
        advantage = torch.zeros_like(last_values)
        next_values = last_values
        for t in reversed(range(self.num_transitions_per_env)):
            not_done = 1.0 - self.dones[t]
            # delta_t = r_t + gamma * (1 - done_t) * V_{t+1} - V_t
            delta = self.rewards[t] + gamma * not_done * next_values - self.values[t]
            # A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
            advantage = delta + gamma * lam * not_done * advantage
            self.advantages[t] = advantage
            next_values = self.values[t]
        # R_t = A_t + V_t is the critic's regression target.
        self.returns.copy_(self.advantages + self.values)
        # Normalize over the whole batch with the population std, as the original does.
        mean, std = self.advantages.mean(), self.advantages.std(correction=0)
        self.advantages.copy_((self.advantages - mean) / (std + 1e-8))

    def minibatches(
        self, num_mini_batches: int, num_epochs: int, generator: torch.Generator
    ) -> Iterator[Minibatch]:
        """Yields `num_epochs * num_mini_batches` minibatches of flattened transitions.

        Each epoch shuffles all T * N transitions with `generator` and splits them into `num_mini_batches`
        parts whose sizes differ by at most one.

        Args:
            num_mini_batches: Minibatches per epoch.
            num_epochs: Passes over the data.
            generator: Random generator on the storage's device.

        Yields:
            One `Minibatch` per gradient step.

        Raises:
            ValueError: If there are more minibatches than transitions.
        """
        batch_size = self.num_envs * self.num_transitions_per_env
        if not 1 <= num_mini_batches <= batch_size:
            raise ValueError(f"num_mini_batches must be in [1, {batch_size}] (T * N), got {num_mini_batches}")
        flat = Minibatch(
            observations=self.observations.flatten(0, 1),
            actions=self.actions.flatten(0, 1),
            log_probs=self.log_probs.flatten(),
            action_means=self.action_means.flatten(0, 1),
            values=self.values.flatten(),
            returns=self.returns.flatten(),
            advantages=self.advantages.flatten(),
        )
        for _ in range(num_epochs):
            permutation = torch.randperm(batch_size, generator=generator, device=self.device)
            for indices in permutation.tensor_split(num_mini_batches):
                yield Minibatch(*(field[indices] for field in flat))
