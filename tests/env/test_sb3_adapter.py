"""raisimGymTorch.env.sb3: a Stable-Baselines3 VecEnv over the compiled rsg_ant, and SB3's PPO on it."""
import copy

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box
from stable_baselines3 import PPO
from stable_baselines3.common.utils import check_for_correct_spaces
from stable_baselines3.common.vec_env import VecCheckNan, VecEnv, VecMonitor, VecNormalize

from raisimGymTorch.env.make import ENVS_DIR, load_cfg
from raisimGymTorch.env.sb3 import RaisimSb3VecEnv

ANT_CFG = load_cfg(ENVS_DIR / "rsg_ant" / "cfg.yaml")
ANT_OBS, ANT_ACTS = 105, 8
NARROW_HEALTHY_Z = [0.55, 1.0]  # random actions end some episodes by failure within a few steps


def ant_cfg(**environment):
    cfg = copy.deepcopy(ANT_CFG)
    cfg["environment"].update(environment)
    return cfg


@pytest.fixture
def make_ant():
    """Factory of rsg_ant SB3 vec envs (raw observations), closed after the test."""
    created = []

    def factory(num_envs=4, *, action_bounds=(-1.0, 1.0), **environment):
        env = RaisimSb3VecEnv("rsg_ant", ant_cfg(**environment), num_envs=num_envs, num_threads=1,
                              action_bounds=action_bounds)
        created.append(env)
        return env

    yield factory
    for env in created:
        env.close()


def action_sequence(steps, num_envs, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (steps, num_envs, ANT_ACTS)).astype(np.float32)


def test_follows_the_vec_env_interface(make_ant):
    env = make_ant(num_envs=3)
    assert isinstance(env, VecEnv) and env.num_envs == 3
    assert env.observation_space == Box(-np.inf, np.inf, (ANT_OBS,), np.float32)
    assert env.action_space == Box(-1.0, 1.0, (ANT_ACTS,), np.float32)
    check_for_correct_spaces(env, Box(-np.inf, np.inf, (ANT_OBS,), np.float32), env.action_space)
    env.seed(0)
    obs = env.reset()
    assert obs.shape == (3, ANT_OBS) and obs.dtype == np.float32
    assert all(row in env.observation_space for row in obs)
    assert env.reset_infos == [{}, {}, {}]
    obs, reward, done, infos = env.step(action_sequence(1, 3)[0])
    assert obs.shape == (3, ANT_OBS) and obs.dtype == np.float32
    assert reward.shape == (3,) and reward.dtype == np.float32
    assert done.shape == (3,) and done.dtype == np.bool_
    assert infos == [{"TimeLimit.truncated": False}] * 3

    assert env.get_attr("render_mode") == [None] * 3
    assert env.get_attr("num_obs", indices=[0, 2]) == [ANT_OBS, ANT_OBS]
    assert env.has_attr("reward_names") and not env.has_attr("no_such_attribute")
    assert env.env_is_wrapped(VecMonitor) == [False] * 3
    assert env.env_method("get_reward_info")[0] == env.vec_env.get_reward_info()
    with pytest.raises(ValueError, match="all 3 environments"):
        env.env_method("reset", indices=[1])
    env.set_attr("clip_obs", 5.0)
    assert env.vec_env.clip_obs == 5.0
    with pytest.raises(ValueError, match="subset"):
        env.set_attr("clip_obs", 5.0, indices=0)


def test_seed_applies_at_the_next_reset(make_ant):
    env = make_ant()
    assert env.seed(11) == [11, 12, 13, 14]
    first = env.reset()
    env.seed(11)
    np.testing.assert_array_equal(env.reset(), first)
    assert not np.allclose(env.reset(), first), "an unseeded reset continues the random stream"
    env.seed(12)
    np.testing.assert_array_equal(env.reset()[0], first[1])
    random_seeds = env.seed()
    assert 0 <= random_seeds[0] and random_seeds[-1] < 2**31
    with pytest.raises(ValueError, match="seed"):
        env.seed(2**31)


def test_timeout_gives_terminal_observation_and_time_limit_flag(make_ant):
    env = make_ant(max_time=0.25, terminate_when_unhealthy=False)
    reference = make_ant(max_time=100.0, terminate_when_unhealthy=False)
    env.seed(5)
    reference.seed(5)
    env.reset()
    reference.reset()
    for t, action in enumerate(action_sequence(5, 4), start=1):
        obs, reward, done, infos = env.step(action)
        expected_obs, expected_reward, _, _ = reference.step(action)
        np.testing.assert_array_equal(reward, expected_reward)
        assert done.all() == (t == 5) and done.any() == (t == 5)
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        np.testing.assert_array_equal(info["terminal_observation"], expected_obs[i])
        assert info["terminal_observation"].dtype == np.float32
    assert not np.allclose(obs, expected_obs), "the returned observations start new episodes"


def test_failure_is_done_without_time_limit_flag(make_ant):
    low, high = NARROW_HEALTHY_Z
    env = make_ant(num_envs=8, max_time=0.5, healthy_z_range=NARROW_HEALTHY_Z)
    env.seed(0)
    env.reset()
    failures = timeouts = 0
    for action in action_sequence(40, 8):
        _, _, done, infos = env.step(action)
        for i, info in enumerate(infos):
            assert ("terminal_observation" in info) == done[i]
            if done[i]:
                height = info["terminal_observation"][0]
                assert info["TimeLimit.truncated"] == (low <= height <= high)
                failures += not info["TimeLimit.truncated"]
                timeouts += info["TimeLimit.truncated"]
            else:
                assert info["TimeLimit.truncated"] is False
    assert failures > 0 and timeouts > 0


def test_sb3_wrappers_run_on_it(make_ant):
    # VecCheckNan is what SB3's check_env uses to check for NaN and inf; VecNormalize needs raw
    # observations; VecMonitor's episode returns must equal the sum of the raw rewards.
    env = VecNormalize(VecMonitor(VecCheckNan(make_ant(num_envs=8, max_time=0.5, healthy_z_range=NARROW_HEALTHY_Z),
                                              raise_exception=True)))
    env.seed(0)
    env.reset()
    returns, lengths, episodes = np.zeros(8), np.zeros(8, dtype=int), 0
    for action in action_sequence(30, 8):
        obs, _, done, infos = env.step(action)
        assert np.abs(obs).max() <= env.clip_obs
        returns += env.get_original_reward()
        lengths += 1
        for i in np.flatnonzero(done):
            assert infos[i]["episode"]["r"] == pytest.approx(returns[i], rel=1e-5, abs=1e-4)
            assert infos[i]["episode"]["l"] == lengths[i]
            assert np.abs(infos[i]["terminal_observation"]).max() <= env.clip_obs, "VecNormalize reached it"
            returns[i], lengths[i] = 0.0, 0
            episodes += 1
    assert episodes > 8


def mean_step_reward(model, vec_normalize, steps=200):
    """Mean reward per step of the model's stochastic policy on 8 fresh envs, with fixed seeds."""
    env = VecNormalize(RaisimSb3VecEnv("rsg_ant", ant_cfg(max_time=5.0, terminate_when_unhealthy=False), num_envs=8,
                                       num_threads=1, action_bounds=(-10.0, 10.0)),
                       training=False, norm_reward=False)
    env.obs_rms = copy.deepcopy(vec_normalize.obs_rms)
    env.seed(1000)
    obs = env.reset()
    torch.manual_seed(5)
    total = 0.0
    for _ in range(steps):
        action, _ = model.predict(obs, deterministic=False)
        obs, reward, _, _ = env.step(action)
        total += float(reward.mean())
    env.close()
    return total / steps


def test_ppo_on_rsg_ant_improves_the_mean_reward():
    # Ant-v5 charges its control cost 0.5 |a|^2 on the action as given (MuJoCo clamps ctrl to
    # [-1, 1] afterwards); with wide bounds that SB3 clips to, the initial std-1 policy pays about
    # 4 per step and the first thing PPO learns is to pay less, a fast and reliable signal that
    # observations, rewards, time-outs and terminal observations flow correctly through the adapter.
    # 100-step episodes without early termination, so that dying early cannot raise the return.
    # Over seeds 0-7, 20k steps took the mean step reward from -3.0..-3.2 to -0.8..-1.3 (8 s each).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    env = VecNormalize(VecMonitor(RaisimSb3VecEnv("rsg_ant", ant_cfg(max_time=5.0, terminate_when_unhealthy=False),
                                                  num_envs=8, num_threads=1, action_bounds=(-10.0, 10.0))),
                       norm_reward=False)
    try:
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=10, learning_rate=1e-3, seed=0,
                    device="cpu", verbose=0)
        before = mean_step_reward(model, env)
        model.learn(20_000)
        after = mean_step_reward(model, env)
    finally:
        env.close()
        torch.set_num_threads(threads)
    assert model.num_timesteps >= 20_000
    assert len(model.ep_info_buffer) > 0 and all(info["l"] == 100 for info in model.ep_info_buffer)
    assert after > before + 1.0, f"mean step reward {before:.3f} before training, {after:.3f} after"
