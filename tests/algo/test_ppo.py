"""Tests of raisimGymTorch.algo.ppo: numbers against hand computation, determinism and contracts."""

import copy
import math
import io

import pytest
import torch

from raisimGymTorch.algo.ppo import (
    MLP,
    PPO,
    Actor,
    Critic,
    PPOConfig,
    RolloutStorage,
    activation_from_name,
    gaussian_kl,
    surrogate_loss,
    value_loss,
)

OBS_DIM, ACTION_DIM = 3, 2


def make_ppo(config=None, num_envs=4, num_steps=5, seed=0, init_seed=0, critic_hidden=(16, 16)):
    torch.manual_seed(init_seed)
    config = config or PPOConfig()
    actor = Actor(OBS_DIM, ACTION_DIM, [16, 16], config.activation, config.init_std)
    critic = Critic(OBS_DIM, list(critic_hidden), config.activation)
    return PPO(actor, critic, num_envs, num_steps, config, seed=seed)


def collect(ppo, reward_fn, obs_seed=0):
    """Fills the storage with random observations and rewards from reward_fn(obs, actions)."""
    generator = torch.Generator().manual_seed(obs_seed)
    rewards = []
    for _ in range(ppo.storage.num_transitions_per_env):
        obs = torch.randn(ppo.num_envs, OBS_DIM, generator=generator)
        actions = ppo.act(obs)
        reward = reward_fn(obs, actions)
        rewards.append(reward.mean().item())
        ended = torch.ones(ppo.num_envs, dtype=torch.bool)  # one-step episodes: a bandit
        ppo.process_step(reward, ended, torch.zeros(ppo.num_envs, dtype=torch.bool))
    return torch.randn(ppo.num_envs, OBS_DIM, generator=generator), sum(rewards) / len(rewards)


def parameters(ppo):
    return [p.detach().clone() for p in [*ppo.actor.parameters(), *ppo.critic.parameters()]]


# --- storage ------------------------------------------------------------------------------------------------


def test_gae_with_terminal_mid_rollout_matches_hand_computation():
    storage = RolloutStorage(num_envs=2, num_transitions_per_env=3, obs_dim=1, action_dim=1)
    rewards = [[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]]
    values = [[0.5, 0.0], [1.0, 0.0], [1.5, 0.0]]
    dones = [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]  # env 0 terminates at t = 1
    storage.values.copy_(torch.tensor(values))
    for t in range(3):
        storage.next_slot()
        storage.complete_slot(torch.tensor(rewards[t]), torch.tensor(dones[t]))
    storage.compute_returns(torch.tensor([2.0, 1.0]), gamma=0.5, lam=0.5)

    # env 0: t=2: d = 3 + 0.5*2 - 1.5 = 2.5, A = 2.5
    #        t=1: done, d = 2 - 1 = 1, A = 1 (nothing flows back across the terminal)
    #        t=0: d = 1 + 0.5*1 - 0.5 = 1, A = 1 + 0.25*1 = 1.25
    # env 1: t=2: d = 1 + 0.5*1 = 1.5, A = 1.5; t=1: A = 0.25*1.5 = 0.375; t=0: A = 0.25*0.375 = 0.09375
    advantages = torch.tensor([[1.25, 0.09375], [1.0, 0.375], [2.5, 1.5]])
    expected_returns = advantages + torch.tensor(values)  # [[1.75, 0.09375], [2.0, 0.375], [4.0, 1.5]]
    torch.testing.assert_close(storage.returns, expected_returns)
    normalized = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
    torch.testing.assert_close(storage.advantages, normalized)


def test_storage_rejects_overflow_and_early_returns():
    storage = RolloutStorage(num_envs=1, num_transitions_per_env=1, obs_dim=1, action_dim=1)
    with pytest.raises(RuntimeError, match="needs 1 transitions"):
        storage.compute_returns(torch.zeros(1), 0.9, 0.9)
    storage.next_slot()
    storage.complete_slot(torch.zeros(1), torch.zeros(1))
    with pytest.raises(RuntimeError, match="full"):
        storage.next_slot()


def test_minibatches_cover_every_transition_once_per_epoch():
    storage = RolloutStorage(num_envs=3, num_transitions_per_env=4, obs_dim=1, action_dim=1)
    storage.observations.copy_(torch.arange(12.0).reshape(4, 3, 1))
    batches = list(storage.minibatches(num_mini_batches=4, num_epochs=2, generator=torch.Generator().manual_seed(0)))
    assert len(batches) == 8
    for epoch in (batches[:4], batches[4:]):
        seen = torch.cat([b.observations.flatten() for b in epoch]).sort().values
        torch.testing.assert_close(seen, torch.arange(12.0))
    assert not torch.equal(batches[0].observations, torch.arange(3.0).unsqueeze(-1))  # shuffled


# --- time-out bootstrapping ---------------------------------------------------------------------------------


def test_truncated_step_gets_discounted_final_value_and_terminated_does_not():
    config = PPOConfig(gamma=0.9)
    ppo = make_ppo(config, num_envs=3, critic_hidden=())
    with torch.no_grad():  # V(obs) = sum(obs), a single linear layer
        ppo.critic.architecture[0].weight.fill_(1.0)
        ppo.critic.architecture[0].bias.zero_()
    obs = torch.zeros(3, OBS_DIM)
    ppo.act(obs)
    final_obs = torch.tensor([[1.0, 1.0, 0.0], [5.0, 5.0, 5.0], [7.0, 0.0, 0.0]])  # V = 2, 15, 7
    rewards = torch.tensor([1.0, 1.0, 1.0])
    dones = torch.tensor([True, True, False])  # env 0 timed out, env 1 terminated, env 2 runs on
    truncated = torch.tensor([True, False, False])
    ppo.process_step(rewards, dones, truncated, final_obs)

    torch.testing.assert_close(ppo.storage.rewards[0], torch.tensor([1.0 + 0.9 * 2.0, 1.0, 1.0]))
    torch.testing.assert_close(ppo.storage.dones[0], torch.tensor([1.0, 1.0, 0.0]))
    torch.testing.assert_close(rewards, torch.tensor([1.0, 1.0, 1.0]))  # caller's tensor untouched


def test_truncation_without_final_observations_raises():
    ppo = make_ppo(num_envs=2)
    ppo.act(torch.zeros(2, OBS_DIM))
    with pytest.raises(ValueError, match="final_observations"):
        ppo.process_step(torch.zeros(2), torch.tensor([True, False]), torch.tensor([True, False]), None)


# --- config -------------------------------------------------------------------------------------------------


def test_config_defaults_are_the_originals():
    c = PPOConfig()
    assert (c.gamma, c.lam, c.clip_param, c.num_learning_epochs, c.num_mini_batches) == (0.996, 0.95, 0.2, 4, 4)
    assert (c.learning_rate, c.learning_rate_schedule, c.desired_kl) == (5e-4, "adaptive", 0.01)
    assert (c.value_loss_coef, c.entropy_coef, c.max_grad_norm, c.use_clipped_value_loss) == (0.5, 0.0, 0.5, True)
    assert (c.init_std, c.min_std, c.policy_net, c.value_net, c.activation) == (1.0, 0.2, [128, 128], [128, 128],
                                                                                "LeakyReLU")


def test_config_from_dict_overrides_without_mutating_input():
    d = {"gamma": 0.99, "entropy_coef": 0, "policy_net": [64, 32]}
    original = copy.deepcopy(d)
    c = PPOConfig.from_dict(d)
    assert c.gamma == 0.99 and c.entropy_coef == 0.0 and isinstance(c.entropy_coef, float)
    assert c.policy_net == [64, 32] and c.policy_net is not d["policy_net"]
    assert c.lam == 0.95
    assert d == original


def test_config_unknown_key_names_key_source_and_valid_keys():
    with pytest.raises(ValueError) as error:
        PPOConfig.from_dict({"gama": 0.99}, source="envs/rsg_anymal/cfg.yaml")
    message = str(error.value)
    assert "'gama'" in message and "envs/rsg_anymal/cfg.yaml" in message
    assert "gamma" in message and "num_mini_batches" in message and "activation" in message


@pytest.mark.parametrize(
    "key, value",
    [("learning_rate", "5e-4"), ("num_mini_batches", 4.0), ("num_learning_epochs", True),
     ("use_clipped_value_loss", 1), ("policy_net", "128"), ("activation", 3)],
)
def test_config_wrong_type_names_key(key, value):
    with pytest.raises(ValueError, match=key):
        PPOConfig.from_dict({key: value})


def test_config_bad_values_are_rejected():
    with pytest.raises(ValueError, match="learning_rate_schedule"):
        PPOConfig.from_dict({"learning_rate_schedule": "linear"})
    with pytest.raises(ValueError, match="LeakyReLU"):
        PPOConfig.from_dict({"activation": "Swish"})
    with pytest.raises(ValueError, match="settle_at_iteration"):
        PPOConfig.from_dict({"settle_at_iteration": -1})
    with pytest.raises(ValueError, match="settle_learning_rate"):
        PPOConfig.from_dict({"settle_learning_rate": 0.0})
    with pytest.raises(ValueError, match="entropy_decay_start"):
        PPOConfig.from_dict({"entropy_decay_start": -1})
    with pytest.raises(ValueError, match="'entropy_decay_end' must be after entropy_decay_start, got 300"):
        PPOConfig.from_dict({"entropy_decay_start": 300, "entropy_decay_end": 300})
    never_starts = r"'entropy_decay_end' must be 0 while entropy_decay_start is 0 \(no decay\), got 700"
    with pytest.raises(ValueError, match=never_starts):
        PPOConfig.from_dict({"entropy_decay_end": 700})  # a decay that would silently never start


# --- networks -----------------------------------------------------------------------------------------------


def test_unknown_activation_lists_valid_names():
    assert activation_from_name("ELU") is torch.nn.ELU
    with pytest.raises(ValueError, match="LeakyReLU, ELU, Tanh, ReLU"):
        activation_from_name("Swish")


def test_mlp_layout_and_actor_output_scale():
    mlp = MLP([8, 8], "Tanh", 3, 2)
    assert [type(m).__name__ for m in mlp] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    torch.manual_seed(0)
    actor = Actor(OBS_DIM, ACTION_DIM, [64, 64], init_std=0.7)
    mean = actor.act_deterministic(torch.randn(256, OBS_DIM))
    assert mean.abs().max() < 0.1  # output gain 0.01: the initial policy is centered on zero
    torch.testing.assert_close(actor.std.detach(), torch.full((ACTION_DIM,), 0.7))


def test_enforce_minimum_std_and_evaluate():
    actor = Actor(OBS_DIM, ACTION_DIM, [8], init_std=1.0)
    with torch.no_grad():
        actor.std.copy_(torch.tensor([0.1, 0.5]))
    actor.enforce_minimum_std(0.2)
    torch.testing.assert_close(actor.std.detach(), torch.tensor([0.2, 0.5]))
    assert actor.std.requires_grad

    obs, actions = torch.randn(5, OBS_DIM), torch.randn(5, ACTION_DIM)
    log_prob, entropy = actor.evaluate(obs, actions)
    reference = torch.distributions.Normal(actor.act_deterministic(obs), torch.tensor([0.2, 0.5]))
    torch.testing.assert_close(log_prob, reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(-1))


def test_actor_sampling_follows_the_generator():
    actor = Actor(OBS_DIM, ACTION_DIM, [8])
    obs = torch.randn(4, OBS_DIM)
    a1, logp1 = actor.act(obs, torch.Generator().manual_seed(3))
    a2, logp2 = actor.act(obs, torch.Generator().manual_seed(3))
    a3, _ = actor.act(obs, torch.Generator().manual_seed(4))
    assert torch.equal(a1, a2) and torch.equal(logp1, logp2) and not torch.equal(a1, a3)
    # The log-probability from the draw's noise is the Gaussian's density of the action.
    reference = torch.distributions.Normal(actor.act_deterministic(obs), actor.std.expand(4, ACTION_DIM))
    torch.testing.assert_close(logp1, reference.log_prob(a1).sum(-1))


# --- losses -------------------------------------------------------------------------------------------------


def test_surrogate_loss_matches_hand_computation():
    ratio = torch.tensor([0.5, 1.0, 1.5, 1.5])
    advantages = torch.tensor([1.0, -1.0, 2.0, -1.0])
    # max(-A*rho, -A*clip(rho, 0.8, 1.2)): max(-0.5, -0.8) = -0.5; 1; max(-3, -2.4) = -2.4; max(1.5, 1.2) = 1.5
    expected = (-0.5 + 1.0 - 2.4 + 1.5) / 4
    torch.testing.assert_close(surrogate_loss(ratio, advantages, 0.2), torch.tensor(expected))


def test_value_loss_matches_hand_computation():
    values, old_values, returns = torch.tensor([1.0, 0.6]), torch.tensor([0.5, 0.0]), torch.tensor([0.0, 1.0])
    # unclipped errors: 1.0, 0.16; clipped values 0.7, 0.2 give 0.49, 0.64; the max is taken per sample
    torch.testing.assert_close(value_loss(values, old_values, returns, 0.2), torch.tensor((1.0 + 0.64) / 2))
    torch.testing.assert_close(value_loss(values, old_values, returns, 0.2, clipped=False),
                               torch.tensor((1.0 + 0.16) / 2))


def test_gaussian_kl_matches_torch():
    torch.manual_seed(0)
    m0, m1 = torch.randn(6, 3), torch.randn(6, 3)
    s0, s1 = torch.rand(3) + 0.2, torch.rand(3) + 0.2
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(m0, s0.expand(6, 3)), torch.distributions.Normal(m1, s1.expand(6, 3))
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(m0, s0, m1, s1), expected)


# --- update -------------------------------------------------------------------------------------------------


def reward_near_target(obs, actions):
    return -(actions - torch.tensor([0.5, -0.5])).pow(2).sum(-1)


def make_and_collect_actions(seed):
    ppo = make_ppo(seed=seed)
    collect(ppo, reward_near_target)
    return ppo.storage.actions.clone()


def test_update_is_deterministic_for_a_seed_and_changes_parameters():
    results = []
    for _ in range(2):
        ppo = make_ppo(seed=7)
        before = parameters(ppo)
        last_obs, _ = collect(ppo, reward_near_target)
        stats = ppo.update(last_obs)
        results.append((stats, parameters(ppo)))
    (stats_a, params_a), (stats_b, params_b) = results
    assert stats_a == stats_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    assert all(not torch.equal(a, b) for a, b in zip(params_a, before))
    assert set(stats_a) == {"surrogate_loss", "value_loss", "entropy", "kl", "learning_rate", "entropy_coef",
                            "mean_std"}

    other = make_ppo(seed=8)
    collect(other, reward_near_target)
    assert not torch.equal(other.storage.actions, make_and_collect_actions(seed=7))


def test_update_enforces_minimum_std_and_adapts_learning_rate():
    config = PPOConfig(min_std=0.9, init_std=0.5)
    ppo = make_ppo(config)
    last_obs, _ = collect(ppo, reward_near_target)
    stats = ppo.update(last_obs)
    assert torch.all(ppo.actor.std >= 0.9)
    assert stats["mean_std"] == pytest.approx(0.9)  # init_std 0.5 was raised
    assert stats["learning_rate"] != config.learning_rate
    assert ppo.optimizer.param_groups[0]["lr"] == stats["learning_rate"]

    fixed = make_ppo(PPOConfig(learning_rate_schedule="fixed"))
    last_obs, _ = collect(fixed, reward_near_target)
    assert fixed.update(last_obs)["learning_rate"] == 5e-4


def test_learning_rate_settles_from_the_configured_iteration_on():
    config = PPOConfig(settle_at_iteration=2, settle_learning_rate=2e-5, desired_kl=1e-6)  # tiny target: must adapt
    ppo = make_ppo(config)
    rates = []
    for iteration in range(4):
        last_obs, _ = collect(ppo, reward_near_target)
        rates.append(ppo.update(last_obs, iteration)["learning_rate"])
        assert ppo.optimizer.param_groups[0]["lr"] == rates[-1]
    assert rates[0] < config.learning_rate and rates[1] < rates[0], "adaptive before the settling iteration"
    assert rates[2:] == [2e-5, 2e-5], "held, not adapted, from it on"

    outside_a_trainer = make_ppo(config)
    last_obs, _ = collect(outside_a_trainer, reward_near_target)
    assert outside_a_trainer.update(last_obs)["learning_rate"] != 2e-5


def test_entropy_weight_falls_linearly_to_zero_between_the_configured_iterations():
    config = PPOConfig(entropy_coef=0.01, entropy_decay_start=300, entropy_decay_end=700)
    weights = [config.entropy_coef_at(iteration) for iteration in (0, 300, 400, 500, 699, 700, 814)]
    assert weights == pytest.approx([0.01, 0.01, 0.0075, 0.005, 0.000025, 0.0, 0.0])
    assert config.entropy_coef_at(None) == 0.01, "outside a trainer: the configured weight"
    assert PPOConfig(entropy_coef=0.01).entropy_coef_at(10**6) == 0.01, "no decay unless configured"


def test_update_weighs_entropy_by_the_scheduled_weight():
    # A large weight moves the std far within one update, so the weight in use shows in the parameters.
    def updated(config, iteration):
        ppo = make_ppo(config, seed=3)
        last_obs, _ = collect(ppo, reward_near_target)
        return ppo.update(last_obs, iteration), parameters(ppo)

    decaying = PPOConfig(entropy_coef=0.5, entropy_decay_start=2, entropy_decay_end=4)
    for iteration, constant in [(2, PPOConfig(entropy_coef=0.5)), (3, PPOConfig(entropy_coef=0.25)),
                                (4, PPOConfig(entropy_coef=0.0))]:
        stats, params = updated(decaying, iteration)
        expected_stats, expected_params = updated(constant, iteration)
        assert stats["entropy_coef"] == expected_stats["entropy_coef"] == constant.entropy_coef
        assert all(torch.equal(a, b) for a, b in zip(params, expected_params)), iteration
    assert updated(PPOConfig(entropy_coef=0.5), 3)[0]["mean_std"] > updated(PPOConfig(), 3)[0]["mean_std"]


def test_a_few_updates_move_the_policy_toward_the_rewarded_action():
    config = PPOConfig(learning_rate=3e-3, init_std=0.5, min_std=0.05, num_mini_batches=2)
    ppo = make_ppo(config, num_envs=64, num_steps=8)
    target = torch.tensor([0.5, -0.5])
    probe = torch.randn(256, OBS_DIM)
    distance_before = (ppo.actor.act_deterministic(probe) - target).norm(dim=-1).mean().item()
    last_obs, first_reward = collect(ppo, reward_near_target, obs_seed=0)
    ppo.update(last_obs)
    for iteration in range(1, 15):
        last_obs, reward = collect(ppo, reward_near_target, obs_seed=iteration)
        ppo.update(last_obs)
    distance_after = (ppo.actor.act_deterministic(probe) - target).norm(dim=-1).mean().item()
    assert reward > first_reward + 0.2
    assert distance_after < 0.5 * distance_before


def test_non_finite_loss_raises_before_the_step_and_keeps_parameters():
    ppo = make_ppo()
    generator = torch.Generator().manual_seed(0)
    for t in range(ppo.storage.num_transitions_per_env):
        ppo.act(torch.randn(ppo.num_envs, OBS_DIM, generator=generator))
        reward = torch.zeros(ppo.num_envs)
        if t == 2:
            reward[1] = float("nan")
        ppo.process_step(reward, torch.zeros(ppo.num_envs), torch.zeros(ppo.num_envs))
    before = parameters(ppo)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        ppo.update(torch.zeros(ppo.num_envs, OBS_DIM))
    after = parameters(ppo)
    assert all(torch.isfinite(p).all() for p in after)
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_act_and_process_step_must_alternate():
    ppo = make_ppo(num_envs=2)
    with pytest.raises(RuntimeError, match="preceding act"):
        ppo.process_step(torch.zeros(2), torch.zeros(2), torch.zeros(2))
    ppo.act(torch.zeros(2, OBS_DIM))
    with pytest.raises(RuntimeError, match="twice"):
        ppo.act(torch.zeros(2, OBS_DIM))
    with pytest.raises(ValueError, match=r"rewards must have shape \(2,\)"):
        ppo.process_step(torch.zeros(3), torch.zeros(2), torch.zeros(2))


def test_act_copies_the_observation_buffer():
    ppo = make_ppo(num_envs=2, num_steps=1)
    buffer = torch.ones(2, OBS_DIM)
    ppo.act(buffer)
    buffer.fill_(5.0)  # the env writes the next observation into the same buffer
    ppo.process_step(torch.zeros(2), torch.zeros(2), torch.zeros(2))
    torch.testing.assert_close(ppo.storage.observations[0], torch.ones(2, OBS_DIM))


# --- state dict ---------------------------------------------------------------------------------------------


def test_state_dict_round_trip_restores_actions_and_learning_rate():
    ppo = make_ppo(seed=1)
    last_obs, _ = collect(ppo, reward_near_target)
    ppo.update(last_obs)
    assert ppo.learning_rate != PPOConfig().learning_rate  # the adaptive schedule moved it

    buffer = io.BytesIO()
    torch.save(ppo.state_dict(), buffer)
    buffer.seek(0)
    restored = make_ppo(seed=99, init_seed=99)
    restored.load_state_dict(torch.load(buffer))

    assert restored.learning_rate == ppo.learning_rate
    assert restored.optimizer.param_groups[0]["lr"] == ppo.learning_rate
    obs = torch.randn(ppo.num_envs, OBS_DIM)
    assert torch.equal(ppo.act(obs), restored.act(obs))
    assert torch.equal(ppo.critic(obs), restored.critic(obs))


def test_the_rollouts_values_are_the_critics_before_the_update():
    ppo = make_ppo(seed=1)
    ppo.VALUE_ROWS = 7  # 20 rows in passes of 7, 7 and 6
    last_obs, _ = collect(ppo, reward_near_target)
    critic_at_sampling = copy.deepcopy(ppo.critic)
    ppo.update(last_obs)
    with torch.no_grad():
        expected = critic_at_sampling(ppo.storage.observations.flatten(0, 1)).view_as(ppo.storage.values)
    torch.testing.assert_close(ppo.storage.values, expected)
    assert not torch.equal(ppo.critic(ppo.storage.observations[0]), expected[0])  # the update moved the critic


def test_the_actor_reads_the_head_of_each_row_and_the_critic_the_whole_row() -> None:
    torch.manual_seed(0)
    config = PPOConfig()
    extra = 4
    ppo = PPO(Actor(OBS_DIM, ACTION_DIM, [16], config.activation), Critic(OBS_DIM + extra, [16], config.activation),
              num_envs=4, num_transitions_per_env=3, config=config)
    rows = torch.randn(4, OBS_DIM + extra)
    changed_tail = rows.clone()
    changed_tail[:, OBS_DIM:] += 1.0
    means = [ppo.actor.act_deterministic(r[:, :OBS_DIM]) for r in (rows, changed_tail)]
    torch.testing.assert_close(means[0], means[1])
    assert not torch.allclose(ppo.critic(rows), ppo.critic(changed_tail))
    for step in range(3):
        ppo.act(rows + step)
        ppo.process_step(torch.ones(4), torch.zeros(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool))
    torch.testing.assert_close(ppo.storage.observations[2], rows + 2)  # whole rows are stored
    stats = ppo.update(rows)
    assert all(math.isfinite(value) for value in stats.values())
    with pytest.raises(ValueError, match=r"obs must have shape \(4, 7\), got \(4, 3\)"):
        ppo.act(rows[:, :OBS_DIM])


def test_a_critic_narrower_than_the_actor_is_refused() -> None:
    with pytest.raises(ValueError, match="the critic reads rows of 2 values, fewer than the actor's observation"):
        PPO(Actor(OBS_DIM, ACTION_DIM, [8]), Critic(2, [8]), num_envs=2, num_transitions_per_env=2, config=PPOConfig())

def test_a_state_dict_with_another_devices_generator_resumes_with_a_stream_derived_from_it() -> None:
    """A run trained on a GPU machine resumes on a CPU one: a CUDA generator's state is its seed and offset
    (16 bytes), which a CPU generator cannot take."""
    ppo = make_ppo(seed=1)
    state = ppo.state_dict()
    state["generator"] = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 96, 0, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)
    first, second, third = make_ppo(seed=5), make_ppo(seed=6), make_ppo(seed=5)
    first.load_state_dict(state)
    second.load_state_dict(state)
    third.load_state_dict(dict(state, generator=torch.tensor([8] + [0] * 15, dtype=torch.uint8)))

    obs = torch.randn(ppo.num_envs, OBS_DIM)
    actions = first.act(obs)
    assert torch.equal(actions, second.act(obs))  # the derived stream depends on the saved state alone
    assert not torch.equal(actions, third.act(obs))
