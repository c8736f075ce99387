"""Proximal policy optimization with a clipped surrogate, GAE and a KL-adaptive learning rate."""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from raisimGymTorch.messages import quoted

from .gradient_workers import GradientWorkers, MinibatchLosses
from .module import ACTIVATIONS, Actor, Critic
from .storage import Minibatch, RolloutStorage


@dataclass
class PPOConfig:
    """PPO settings; the defaults are the original raisimGymTorch example's."""

    gamma: float = 0.996
    """Discount factor."""
    lam: float = 0.95
    """GAE lambda: 0 gives one-step TD advantages, 1 gives Monte Carlo ones."""
    clip_param: float = 0.2
    """Clip range of the probability ratio and of the value change."""
    steps_per_env: int = 0
    """Control steps each env collects per iteration; 0 collects one episode (environment.max_time / control_dt)."""
    num_learning_epochs: int = 4
    """Passes over the rollout per update."""
    num_mini_batches: int = 4
    """Minibatches per epoch."""
    learning_rate: float = 5e-4
    """Initial Adam learning rate."""
    learning_rate_schedule: str = "adaptive"
    """Either "adaptive" (steer the learning rate toward desired_kl after every minibatch) or "fixed"."""
    desired_kl: float = 0.01
    """Target KL divergence between the rollout policy and the updated one."""
    settle_at_iteration: int = 0
    """From this trainer iteration on, the learning rate is held at settle_learning_rate (0: never). The adaptive
    schedule moves the policy by desired_kl per update to the very end, so the last policy is as far from its
    neighbours as any; a small fixed rate at the end lets the one that ships settle."""
    settle_learning_rate: float = 1e-4
    """The learning rate from settle_at_iteration on."""
    value_loss_coef: float = 0.5
    """Weight of the value loss in the total loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus in the total loss."""
    entropy_decay_start: int = 0
    """From this trainer iteration on, the entropy weight falls linearly from entropy_coef to 0, reached at
    entropy_decay_end (0: held at entropy_coef). The bonus that lets a policy find a gait also holds its action
    std wide long after; narrowed, the flat velocity task's policies tracked better and fell more (README)."""
    entropy_decay_end: int = 0
    """The iteration from which the entropy weight is 0; after entropy_decay_start."""
    max_grad_norm: float = 0.5
    """Gradients are rescaled so that their global norm is at most this."""
    use_clipped_value_loss: bool = True
    """Take the worse of the clipped and unclipped value errors, as the surrogate does."""
    init_std: float = 1.0
    """Initial action std of every dimension."""
    min_std: float = 0.2
    """The std is raised to at least this after every update."""
    policy_net: list[int] = field(default_factory=lambda: [128, 128])
    """Hidden layer widths of the actor."""
    value_net: list[int] = field(default_factory=lambda: [128, 128])
    """Hidden layer widths of the critic."""
    activation: str = "LeakyReLU"
    """Hidden activation of both networks: LeakyReLU, ELU, Tanh or ReLU."""

    def __post_init__(self) -> None:
        checks = [
            ("gamma", 0.0 <= self.gamma <= 1.0, "in [0, 1]"),
            ("lam", 0.0 <= self.lam <= 1.0, "in [0, 1]"),
            ("clip_param", self.clip_param > 0.0, "> 0"),
            ("steps_per_env", self.steps_per_env >= 0, ">= 0"),
            ("num_learning_epochs", self.num_learning_epochs >= 1, ">= 1"),
            ("num_mini_batches", self.num_mini_batches >= 1, ">= 1"),
            ("learning_rate", self.learning_rate >= 0.0, ">= 0"),
            ("learning_rate_schedule", self.learning_rate_schedule in ("adaptive", "fixed"), "'adaptive' or 'fixed'"),
            ("desired_kl", self.desired_kl > 0.0, "> 0"),
            ("settle_at_iteration", self.settle_at_iteration >= 0, ">= 0"),
            ("settle_learning_rate", self.settle_learning_rate > 0.0, "> 0"),
            ("entropy_decay_start", self.entropy_decay_start >= 0, ">= 0"),
            ("entropy_decay_end", self.entropy_decay_start == 0 or self.entropy_decay_end > self.entropy_decay_start,
             "after entropy_decay_start"),
            ("entropy_decay_end", self.entropy_decay_start > 0 or self.entropy_decay_end == 0,
             "0 while entropy_decay_start is 0 (no decay)"),
            ("max_grad_norm", self.max_grad_norm > 0.0, "> 0"),
            ("init_std", self.init_std > 0.0, "> 0"),
            ("min_std", self.min_std >= 0.0, ">= 0"),
            ("activation", self.activation in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}"),
        ]
        for name, ok, requirement in checks:
            if not ok:
                raise ValueError(f"PPO setting {name!r} must be {requirement}, got {quoted(getattr(self, name))}")

    def entropy_coef_at(self, iteration: int | None) -> float:
        """The entropy weight of the update at trainer `iteration` (None, outside a trainer: entropy_coef)."""
        if self.entropy_decay_start == 0 or iteration is None or iteration <= self.entropy_decay_start:
            return self.entropy_coef
        remaining = (self.entropy_decay_end - iteration) / (self.entropy_decay_end - self.entropy_decay_start)
        return self.entropy_coef * max(remaining, 0.0)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "cfg.yaml") -> PPOConfig:
        """Builds a config from a mapping, such as a section of cfg.yaml; missing keys keep their defaults.

        Args:
            d: Settings by field name. It is not modified.
            source: Where `d` came from, quoted in error messages.

        Returns:
            The config.

        Raises:
            ValueError: On an unknown key (the message lists the valid ones), a value of the wrong type or a
                value out of range; the message names the key and `source`.
        """
        hints = typing.get_type_hints(cls)
        valid = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key not in hints:
                raise ValueError(f"Unknown PPO setting {quoted(key)} in {source}. Valid settings: {', '.join(valid)}")
            kwargs[key] = _checked(key, value, hints[key], source)
        try:
            return cls(**kwargs)
        except ValueError as error:
            raise ValueError(f"{error} (in {source})") from None


def _checked(key: str, value: Any, hint: Any, source: str) -> Any:
    """Returns `value` converted to the field type `hint`, or raises a ValueError naming `key`."""
    def fail(expected: str) -> ValueError:
        message = f"PPO setting {key!r} in {source} must be {expected}, got {type(value).__name__} {quoted(value)}"
        if isinstance(value, str) and expected == "a number":
            message += " (YAML 1.1 reads 5e-4 as a string; write 5.0e-4)"
        return ValueError(message)

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if not is_int:
            raise fail("an integer")
        return value
    if hint is float:
        if not (is_int or isinstance(value, float)):
            raise fail("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    # list[int]: a new list, so the caller's sequence is never shared.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise fail("a list of integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise fail("a list of positive integers")
    return list(value)


def surrogate_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_param: float) -> torch.Tensor:
    """Clipped PPO policy loss, mean(max(-A * rho, -A * clip(rho, 1 - eps, 1 + eps))).

    Args:
        ratio: [B] probability ratios pi_new(a|s) / pi_old(a|s).
        advantages: [B] advantages.
        clip_param: eps.

    Returns:
        The scalar loss to minimize.
    """
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_param, 1.0 + clip_param)
    return torch.maximum(unclipped, clipped).mean()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_param: float, clipped: bool = True
) -> torch.Tensor:
    """Squared value error, optionally the worse of it and the error of a value kept within eps of the old one.

    Args:
        values: [B] current critic values.
        old_values: [B] critic values at sampling time.
        returns: [B] regression targets.
        clip_param: eps, the largest value change the clipped term credits.
        clipped: If false, the plain mean squared error.

    Returns:
        The scalar loss to minimize.
    """
    error = (values - returns).pow(2)
    if not clipped:
        return error.mean()
    values_clipped = old_values + (values - old_values).clamp(-clip_param, clip_param)
    return torch.maximum(error, (values_clipped - returns).pow(2)).mean()


def gaussian_kl(
    old_mean: torch.Tensor, old_std: torch.Tensor, new_mean: torch.Tensor, new_std: torch.Tensor
) -> torch.Tensor:
    """KL(old || new) of diagonal Gaussians, summed over the last dimension.

    Per dimension: log(s_new / s_old) + (s_old^2 + (m_old - m_new)^2) / (2 s_new^2) - 1/2.

    Returns:
        [B] divergences.
    """
    per_dimension = (
        torch.log(new_std / old_std) + (old_std.pow(2) + (old_mean - new_mean).pow(2)) / (2.0 * new_std.pow(2)) - 0.5
    )
    return per_dimension.sum(-1)


class DataParallel(Protocol):
    """What PPO needs to train one policy on several processes (`raisimGymTorch.runner.distributed.Distributed`)."""

    def average_gradients(self, parameters: Sequence[torch.Tensor], extras: torch.Tensor) -> torch.Tensor:
        """Replaces each ``.grad`` by its mean over ranks (weighted by their data); returns that mean of `extras`."""

    def broadcast_parameters(self, parameters: Sequence[torch.Tensor]) -> None:
        """Overwrites `parameters` with rank 0's."""


class PPO:
    """Collects transitions through `act`/`process_step` and improves actor and critic in `update`.

    Observations come as rows the critic reads whole and the actor reads the head of: the actor's
    ``obs_dim`` values, then whatever only the critic sees (an asymmetric, "privileged" critic). Without
    critic-only values the row is the actor's observation.

    No logging and no file I/O happen here: `update` returns its statistics and `state_dict` its state.
    """

    # The original's factor; rsl_rl uses 1.5. Smaller steps keep the rate steadier across minibatches.
    LR_ADAPT_FACTOR = 1.2
    MIN_LEARNING_RATE = 1e-5
    MAX_LEARNING_RATE = 1e-2
    VALUE_ROWS = 16384
    """Rows per critic pass when the update computes the rollout's values (bounds the activations' memory)."""

    def __init__(
        self,
        actor: Actor,
        critic: Critic,
        num_envs: int,
        num_transitions_per_env: int,
        config: PPOConfig,
        device: str | torch.device = "cpu",
        seed: int = 0,
        data_parallel: DataParallel | None = None,
    ) -> None:
        """Moves the networks to `device` and sets up storage, optimizer and the random generator.

        Args:
            actor: Gaussian policy with `obs_dim`, `action_dim`, `std`, `distribution` and `sample`.
            critic: Maps observation rows [B, critic.obs_dim] to values [B]; critic.obs_dim >= actor.obs_dim.
            num_envs: N, environments stepped together.
            num_transitions_per_env: T, steps per environment between updates.
            config: Algorithm settings.
            device: Device of networks, storage and generator.
            seed: Seed of the generator that samples actions and shuffles minibatches; give every rank its own,
                so that the ranks explore with different noise.
            data_parallel: With several processes, each training on its own envs: the parameters start as rank
                0's (here and in `load_state_dict`), and every minibatch's gradients and KL are averaged over the
                ranks, so parameters and learning rate stay identical everywhere.

        Raises:
            ValueError: The critic's rows are narrower than the actor's observation.
        """
        self.obs_dim = critic.obs_dim
        if self.obs_dim < actor.obs_dim:
            raise ValueError(f"the critic reads rows of {self.obs_dim} values, fewer than the actor's observation "
                             f"({actor.obs_dim}); a row is the actor's observation followed by critic-only values")
        self.config = config
        self.device = torch.device(device)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        self.num_envs = num_envs
        self.storage = RolloutStorage(
            num_envs, num_transitions_per_env, self.obs_dim, actor.action_dim, self.device
        )
        self._parameters = [*self.actor.parameters(), *self.critic.parameters()]
        self.learning_rate = config.learning_rate
        self.entropy_coef = config.entropy_coef  # of the current update; see PPOConfig.entropy_decay_start
        self.optimizer = torch.optim.Adam(self._parameters, lr=self.learning_rate)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self._pending = False  # an `act` awaits its `process_step`
        self.data_parallel = data_parallel
        if data_parallel is not None:
            data_parallel.broadcast_parameters(self._parameters)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Samples actions and writes the step's observations, actions, log-probabilities and means into the
        storage's next slot, which `process_step` completes. (The critic's values of the rollout are computed in
        one pass when it is full, see `update`.)

        Args:
            obs: [N, obs_dim] observation rows (a tensor or array); copied, so the caller may reuse its buffer.

        Returns:
            [N, action_dim] unclipped actions on the PPO's device.

        Raises:
            ValueError: If `obs` has the wrong shape.
            RuntimeError: If the previous `act` has no matching `process_step`, or the storage is full.
        """
        if self._pending:
            raise RuntimeError("act() was called twice; call process_step() after each act()")
        obs = self._tensor(obs, "obs", (self.num_envs, self.obs_dim))
        # Straight into the storage's next slot, which `process_step` completes: no copies of what was computed.
        slot = self.storage.next_slot()
        slot.observations.copy_(obs)
        mean = self.actor.architecture(self._actor_part(slot.observations))
        actions, log_probs = self.actor.sample(mean, self.generator)
        slot.actions.copy_(actions)
        slot.log_probs.copy_(log_probs)
        slot.action_means.copy_(mean)
        self._pending = True
        return actions

    @torch.no_grad()
    def bootstrap_timeouts(
        self, rewards: torch.Tensor, truncated: torch.Tensor, final_observations: torch.Tensor | None
    ) -> torch.Tensor:
        """Adds gamma * V(final observation) to the rewards of episodes cut by the time limit.

        A truncated episode did not end in the MDP, so its return continues past the cut; folding the
        estimate into the reward lets the stored done stop GAE like a real termination.

        Args:
            rewards: [N] rewards of this step.
            truncated: [N] bool, true where the episode ended by time limit and not by termination.
            final_observations: [N, obs_dim] last observation rows of ended episodes, before the reset (rows
                of other envs are ignored); may be None when nothing is truncated.

        Returns:
            [N] the bootstrapped rewards (`rewards` itself, as a tensor, when nothing is truncated); `rewards` is not
            modified.

        Raises:
            ValueError: If an env is truncated and `final_observations` is None or of the wrong shape.
        """
        rewards = self._tensor(rewards, "rewards", (self.num_envs,))
        truncated = self._tensor(truncated, "truncated", (self.num_envs,), torch.bool)
        if not truncated.any():
            return rewards
        if final_observations is None:
            raise ValueError("final_observations is required when an episode is truncated")
        final = self._tensor(final_observations, "final_observations", (self.num_envs, self.obs_dim))
        rewards = rewards.clone()
        rewards[truncated] += self.config.gamma * self.critic(final[truncated])
        return rewards

    @torch.no_grad()
    def process_step(
        self,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        truncated: torch.Tensor,
        final_observations: torch.Tensor | None = None,
    ) -> None:
        """Bootstraps time-outs and stores the transition started by the last `act`.

        Args:
            rewards: [N] rewards.
            dones: [N] true where the episode ended, by termination or time limit.
            truncated: [N] true where it ended by time limit; stored as done as well.
            final_observations: [N, obs_dim] observation rows before the auto-reset, needed if any is truncated.

        Raises:
            RuntimeError: Without a preceding `act`.
            ValueError: On a wrong shape, or truncation without `final_observations`.
        """
        if not self._pending:
            raise RuntimeError("process_step() needs a preceding act()")
        truncated = self._tensor(truncated, "truncated", (self.num_envs,), torch.bool)
        rewards = self.bootstrap_timeouts(rewards, truncated, final_observations)
        dones = self._tensor(dones, "dones", (self.num_envs,), torch.bool)
        self.storage.complete_slot(rewards, dones | truncated)
        self._pending = False

    def update(self, last_obs: torch.Tensor, iteration: int | None = None) -> dict[str, float]:
        """Computes returns, runs the epochs of minibatch updates and clears the storage.

        Args:
            last_obs: [N, obs_dim] observation rows after the last stored step, for the bootstrap value.
            iteration: The trainer's iteration, which `settle_at_iteration` counts; None outside a trainer.

        Returns:
            Means over all minibatches of `surrogate_loss`, `value_loss`, `entropy` and `kl`; the final
            `learning_rate`; the `entropy_coef` used; and `mean_std`, the mean action std after the minimum is
            enforced.

        Raises:
            RuntimeError: If the storage is not full or an `act` awaits its `process_step`.
            FloatingPointError: If a loss or gradient norm is NaN or infinite; raised before that optimizer
                step, so the parameters stay as they were.
        """
        if self._pending:
            raise RuntimeError("update() was called between act() and process_step()")
        cfg = self.config
        settled = cfg.settle_at_iteration > 0 and iteration is not None and iteration >= cfg.settle_at_iteration
        if settled:
            self.learning_rate = cfg.settle_learning_rate
            self._set_optimizer_learning_rate()
        self.entropy_coef = cfg.entropy_coef_at(iteration)
        with torch.no_grad():
            self._store_values()
            last_values = self.critic(self._tensor(last_obs, "last_obs", (self.num_envs, self.obs_dim)))
        self.storage.compute_returns(last_values, cfg.gamma, cfg.lam)
        # The std is state-independent and changes only here, so the rollout's std is the current one.
        old_std = self.actor.std.detach().clone()

        totals = {"surrogate_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "kl": 0.0}
        batches = self.storage.minibatches(cfg.num_mini_batches, cfg.num_learning_epochs, self.generator)
        with GradientWorkers(self.device) as workers:
            for index, batch in enumerate(batches):
                where = f"epoch {index // cfg.num_mini_batches}, minibatch {index % cfg.num_mini_batches}"
                losses = workers.gradients(self._minibatch_losses, batch, old_std, self._parameters)
                if not losses.finite and self.data_parallel is None:
                    raise FloatingPointError(self._non_finite_message(losses, where))
                kl = losses.kl
                if self.data_parallel is not None:
                    # One all-reduce per minibatch: the gradients, the KL (so that the learning rate stays the same
                    # on every rank) and the share of data whose loss was not finite (so that all ranks stop
                    # together).
                    extras = self.data_parallel.average_gradients(self._parameters,
                                                                  torch.tensor([kl, float(not losses.finite)]))
                    kl = extras[0].item()
                    if extras[1].item() > 0.0:
                        self.optimizer.zero_grad()
                        raise FloatingPointError(
                            self._non_finite_message(losses, where) if not losses.finite else
                            f"non-finite loss on another rank at {where}; parameters were not updated")
                if cfg.learning_rate_schedule == "adaptive" and not settled:
                    self._adapt_learning_rate(kl)

                grad_norm = nn.utils.clip_grad_norm_(self._parameters, cfg.max_grad_norm)
                if not torch.isfinite(grad_norm):
                    self.optimizer.zero_grad()
                    raise FloatingPointError(f"non-finite gradient norm at {where}; parameters were not updated")
                self.optimizer.step()

                totals["surrogate_loss"] += losses.surrogate
                totals["value_loss"] += losses.value
                totals["entropy"] += losses.entropy
                totals["kl"] += kl

        self.storage.clear()
        self.actor.enforce_minimum_std(cfg.min_std)
        num_updates = cfg.num_learning_epochs * cfg.num_mini_batches
        stats = {name: total / num_updates for name, total in totals.items()}
        stats["learning_rate"] = self.learning_rate
        stats["entropy_coef"] = self.entropy_coef
        stats["mean_std"] = self.actor.std.mean().item()
        return stats

    def _store_values(self) -> None:
        """The critic's values of the whole rollout, in passes of up to VALUE_ROWS rows.

        The critic does not change while a rollout is collected, so these are the values at sampling time. One pass
        per step cost more: it ran in caches that the envs' step had just filled with physics.
        """
        storage = self.storage
        rows, values = storage.observations.flatten(0, 1), storage.values.view(-1)
        for start in range(0, rows.shape[0], self.VALUE_ROWS):
            values[start:start + self.VALUE_ROWS] = self.critic(rows[start:start + self.VALUE_ROWS])

    def _minibatch_losses(self, batch: Minibatch, old_std: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The total loss of `batch` (with its graph), then its surrogate, value and entropy parts and the mean KL
        from the rollout's policy (without)."""
        cfg = self.config
        distribution = self.actor.distribution(self._actor_part(batch.observations))
        log_probs = distribution.log_prob(batch.actions).sum(-1)
        entropy = distribution.entropy().sum(-1).mean()
        ratio = torch.exp(log_probs - batch.log_probs)
        surrogate = surrogate_loss(ratio, batch.advantages, cfg.clip_param)
        values = self.critic(batch.observations)
        value = value_loss(values, batch.values, batch.returns, cfg.clip_param, cfg.use_clipped_value_loss)
        loss = surrogate + cfg.value_loss_coef * value - self.entropy_coef * entropy
        with torch.no_grad():
            kl = gaussian_kl(batch.action_means, old_std, distribution.mean, distribution.stddev).mean()
        return loss, surrogate.detach(), value.detach(), entropy.detach(), kl

    @staticmethod
    def _non_finite_message(losses: MinibatchLosses, where: str) -> str:
        return (f"non-finite loss {losses.loss} (surrogate {losses.surrogate}, value {losses.value}, "
                f"entropy {losses.entropy}) at {where}; parameters were not updated. "
                "Look for NaN or infinite rewards and observations.")

    def _adapt_learning_rate(self, kl: float) -> None:
        """Shrinks the learning rate when the policy moved too far and grows it when it barely moved."""
        if kl > 2.0 * self.config.desired_kl:
            self.learning_rate = max(self.MIN_LEARNING_RATE, self.learning_rate / self.LR_ADAPT_FACTOR)
        elif 0.0 < kl < 0.5 * self.config.desired_kl:
            self.learning_rate = min(self.MAX_LEARNING_RATE, self.learning_rate * self.LR_ADAPT_FACTOR)
        self._set_optimizer_learning_rate()

    def _set_optimizer_learning_rate(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate

    def state_dict(self) -> dict[str, Any]:
        """Returns everything needed to continue training: networks, optimizer, learning rate, generator."""
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "learning_rate": self.learning_rate,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores a `state_dict()` and discards any collected transitions.

        Args:
            state_dict: A mapping returned by `state_dict`.

        Raises:
            KeyError: If an entry is missing; the message names it.
        """
        missing = [k for k in ("actor", "critic", "optimizer", "learning_rate", "generator") if k not in state_dict]
        if missing:
            raise KeyError(f"PPO state dict lacks {', '.join(missing)}")
        self.actor.load_state_dict(state_dict["actor"])
        self.critic.load_state_dict(state_dict["critic"])
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.learning_rate = float(state_dict["learning_rate"])
        self._set_optimizer_learning_rate()
        self._restore_generator(state_dict["generator"].cpu())
        self.storage.clear()
        self._pending = False
        if self.data_parallel is not None:
            self.data_parallel.broadcast_parameters(self._parameters)

    def _restore_generator(self, state: torch.Tensor) -> None:
        """Continues the saved generator's stream, or, when it was another device's, starts one derived from it.

        A CPU generator's state (5056 bytes) and a CUDA generator's (seed and offset, 16 bytes) do not convert,
        and a run trained on a GPU machine must still resume on a CPU one (and the reverse).
        """
        try:
            self.generator.set_state(state)
        except RuntimeError:
            digest = hashlib.sha256(state.numpy().tobytes()).digest()
            self.generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)

    def _actor_part(self, rows: torch.Tensor) -> torch.Tensor:
        """The actor's observation: the head of each row (a view; the whole row when the critic sees no more)."""
        return rows[:, : self.actor.obs_dim]

    def _tensor(
        self, value: Any, name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Returns `value` as a tensor on the PPO's device, or raises a ValueError naming it if the shape is wrong."""
        tensor = torch.as_tensor(value, dtype=dtype, device=self.device)
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
        return tensor
