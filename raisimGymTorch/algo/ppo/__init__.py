"""PPO for raisimGymTorch: networks, rollout storage and the algorithm."""

from .module import ACTIVATIONS, MLP, Actor, Critic, activation_from_name
from .ppo import PPO, PPOConfig, gaussian_kl, surrogate_loss, value_loss
from .storage import Minibatch, RolloutStorage, Slot

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "PPO",
    "Actor",
    "Critic",
    "Minibatch",
    "PPOConfig",
    "RolloutStorage",
    "Slot",
    "activation_from_name",
    "gaussian_kl",
    "surrogate_loss",
    "value_loss",
]
