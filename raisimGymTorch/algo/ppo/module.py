"""Networks for PPO: a multilayer perceptron, a Gaussian actor and a value critic."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Normal

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "LeakyReLU": nn.LeakyReLU,
    "ELU": nn.ELU,
    "Tanh": nn.Tanh,
    "ReLU": nn.ReLU,
}


def activation_from_name(name: str | type[nn.Module]) -> type[nn.Module]:
    """Looks up an activation class by the name used in cfg.yaml.

    Args:
        name: One of the keys of `ACTIVATIONS`, or an `nn.Module` class, which is returned as is.

    Returns:
        The activation class, to be instantiated once per hidden layer.

    Raises:
        ValueError: If the name is unknown; the message lists the valid names.
    """
    if isinstance(name, type) and issubclass(name, nn.Module):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}. Valid activations: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class MLP(nn.Sequential):
    """Linear layers with an activation between them and a linear output layer.

    Weights are orthogonal and biases zero. Hidden layers use gain sqrt(2), which keeps the activations'
    scale through ReLU-like units; the output layer's gain is chosen by the owner (see Actor and Critic).
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int],
        activation: str | type[nn.Module],
        input_dim: int,
        output_dim: int,
        output_gain: float = math.sqrt(2.0),
    ) -> None:
        """Builds the layers.

        Args:
            hidden_sizes: Width of each hidden layer; empty gives a single linear layer.
            activation: Activation name (see `ACTIVATIONS`) or class.
            input_dim: Size of the input vector.
            output_dim: Size of the output vector.
            output_gain: Orthogonal-init gain of the output layer.

        Raises:
            ValueError: If the activation is unknown.
        """
        activation_class = activation_from_name(activation)
        layers: list[nn.Module] = []
        sizes = [input_dim, *hidden_sizes]
        for in_size, out_size in zip(sizes[:-1], sizes[1:]):
            layers += [_orthogonal_linear(in_size, out_size, math.sqrt(2.0)), activation_class()]
        layers.append(_orthogonal_linear(sizes[-1], output_dim, output_gain))
        super().__init__(*layers)
        self.input_dim = input_dim
        self.output_dim = output_dim


def _orthogonal_linear(in_size: int, out_size: int, gain: float) -> nn.Linear:
    layer = nn.Linear(in_size, out_size)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class Actor(nn.Module):
    """Gaussian policy: an MLP gives the mean, and one learnable std per action dimension is shared by all states.

    The std is stored as is, not as its logarithm, like the original; `enforce_minimum_std` keeps it positive.
    """

    # A small output gain makes the initial mean almost zero for every observation, so early actions are
    # the std's exploration around the nominal action instead of an arbitrary state-dependent offset.
    OUTPUT_GAIN = 0.01

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: Sequence[int] = (128, 128),
        activation: str | type[nn.Module] = "LeakyReLU",
        init_std: float = 1.0,
    ) -> None:
        """Builds the mean network and the std parameter.

        Args:
            obs_dim: Observation size.
            action_dim: Action size.
            hidden_sizes: Hidden layer widths of the mean network.
            activation: Activation name or class.
            init_std: Initial std of every action dimension.
        """
        super().__init__()
        self.obs_dim = obs_dim
        self.action_dim = action_dim
        self.architecture = MLP(hidden_sizes, activation, obs_dim, action_dim, self.OUTPUT_GAIN)
        self.std = nn.Parameter(torch.full((action_dim,), float(init_std)))

    def distribution(self, obs: torch.Tensor) -> Normal:
        """Returns the per-dimension Gaussian over actions for a batch of observations [B, obs_dim]."""
        mean = self.architecture(obs)
        return Normal(mean, self.std.expand_as(mean))

    def sample(self, mean: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws actions around the policy's `mean` [B, action_dim] using `generator`, so the draw depends on no
        global RNG.

        The log-probability comes from the unit noise of the draw, log N(a | m, s) = -|noise|^2 / 2 - sum(log s)
        - D log sqrt(2 pi), without building a `Normal`: this runs once per rollout step, where every tensor
        operation costs microseconds the envs wait for.

        Returns:
            Actions [B, action_dim] and their log-probabilities [B], summed over action dimensions.
        """
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        actions = torch.addcmul(mean, self.std, noise)
        normalizer = self.std.log().sum() + self.action_dim * _LOG_SQRT_2PI
        return actions, noise.square_().sum(-1).mul_(-0.5).sub_(normalizer)

    def act(self, obs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples actions for observations [B, obs_dim]; returns actions [B, action_dim] and log-probs [B]."""
        return self.sample(self.architecture(obs), generator)

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """Returns the mean action [B, action_dim], used for evaluation and deployment."""
        return self.architecture(obs)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores given actions under the current policy.

        Args:
            obs: Observations [B, obs_dim].
            actions: Actions [B, action_dim].

        Returns:
            Log-probabilities [B] and entropies [B], both summed over action dimensions.
        """
        distribution = self.distribution(obs)
        return distribution.log_prob(actions).sum(-1), distribution.entropy().sum(-1)

    @torch.no_grad()
    def enforce_minimum_std(self, min_std: float | torch.Tensor) -> None:
        """Raises every std below `min_std` (a scalar or one value per action dimension) to it, in place."""
        minimum = torch.as_tensor(min_std, dtype=self.std.dtype, device=self.std.device)
        self.std.copy_(torch.maximum(self.std, minimum))


class Critic(nn.Module):
    """State-value function V(obs)."""

    # Gain 1 keeps the initial values on the scale of the inputs, so the value loss starts with a useful
    # gradient; the value must grow to the return scale quickly, unlike the actor's mean.
    OUTPUT_GAIN = 1.0

    def __init__(
        self,
        obs_dim: int,
        hidden_sizes: Sequence[int] = (128, 128),
        activation: str | type[nn.Module] = "LeakyReLU",
    ) -> None:
        """Builds the value network.

        Args:
            obs_dim: Observation size.
            hidden_sizes: Hidden layer widths.
            activation: Activation name or class.
        """
        super().__init__()
        self.obs_dim = obs_dim
        self.architecture = MLP(hidden_sizes, activation, obs_dim, 1, self.OUTPUT_GAIN)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Returns values [B] for observations [B, obs_dim]."""
        return self.architecture(obs).squeeze(-1)
