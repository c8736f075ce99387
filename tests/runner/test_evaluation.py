"""Deterministic evaluation: every env contributes the same episodes, falls are told from time-outs, repeatable."""
import pytest
import torch
from torch import nn

from raisimGymTorch.runner.evaluation import evaluate_policy



class Constant(nn.Module):
    """The same action everywhere: 0 holds the nominal pose, a large value folds the legs."""

    def __init__(self, action_dim, value):
        super().__init__()
        self.action_dim, self.value = action_dim, value

    def forward(self, obs):
        return torch.full((obs.shape[0], self.action_dim), self.value)


def test_standing_policy_times_out_and_a_collapsing_one_falls(small_env):
    env = small_env(normalize_ob=False, num_envs=3)
    time_limit = int(env.wrapper.getMaxEpisodeSteps())

    standing = evaluate_policy(Constant(env.num_acts, 0.0), env, episodes_per_env=2)
    assert len(standing.returns) == 6 and standing.fall_rate == 0.0
    assert (standing.lengths == time_limit).all()
    assert set(standing.reward_terms) == set(env.reward_names)

    collapsing = evaluate_policy(Constant(env.num_acts, 8.0), env, episodes_per_env=1)
    assert len(collapsing.returns) == 3 and collapsing.fall_rate == 1.0
    assert (collapsing.lengths < time_limit).all()
    assert (collapsing.returns < standing.returns[:3]).all(), "a fall costs the terminal reward"


def test_same_seed_same_episodes_and_env_0_is_filmed_through_its_episodes(small_env):
    env = small_env(normalize_ob=False, num_envs=2)
    calls = []
    first = evaluate_policy(Constant(env.num_acts, 0.3), env, episodes_per_env=2, seed=4,
                            on_step=lambda: calls.append(env.wrapper.getState(0)[0][2]))
    second = evaluate_policy(Constant(env.num_acts, 0.3), env, episodes_per_env=2, seed=4)
    assert (first.returns == second.returns).all() and (first.lengths == second.lengths).all()
    # The first state and then one per step of env 0's two episodes (the second's first state included).
    assert len(calls) == 1 + int(env.wrapper.getMaxEpisodeSteps()) * 2 - 1


def test_refuses_a_normalizing_env(small_env):
    env = small_env(normalize_ob=True)
    with pytest.raises(ValueError, match="normalize_ob=False"):
        evaluate_policy(Constant(env.num_acts, 0.0), env)
