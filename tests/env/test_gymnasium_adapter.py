"""raisimGymTorch.env.gymnasium: a Gymnasium 1.x VectorEnv over the compiled rsg_ant and rsg_anymal.

Most tests compare the adapter with a reference: a second env built with the same seed whose
episodes do not end, stepped with the same actions. Environments are independent and seeded
seed + i, so the two agree exactly until an episode ends.
"""
import copy

import gymnasium
import numpy as np
import pytest
from gymnasium.spaces import Box
from gymnasium.utils import env_checker
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.utils import RunningMeanStd

from raisimGymTorch.env.gymnasium import NormalizeObservation, RaisimGymVectorEnv
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env

ANT_CFG = load_cfg(ENVS_DIR / "rsg_ant" / "cfg.yaml")
ANT_OBS, ANT_ACTS = 105, 8
# With random actions in [-1, 1] the torso (observation 0: its height) leaves this range within
# a few steps in some of the envs, so short episodes end both ways.
NARROW_HEALTHY_Z = [0.55, 1.0]


def ant_cfg(**environment):
    cfg = copy.deepcopy(ANT_CFG)
    cfg["environment"].update(environment)
    return cfg


@pytest.fixture
def make_ant():
    """Factory of rsg_ant adapters (raw observations; the action space is the env's declared ctrlrange), closed after
    the test."""
    created = []

    def factory(num_envs=4, *, seed=0, normalize_ob=False, **environment):
        env = RaisimGymVectorEnv("rsg_ant", ant_cfg(**environment), num_envs=num_envs, num_threads=1, seed=seed,
                                 normalize_ob=normalize_ob)
        created.append(env)
        return env

    yield factory
    for env in created:
        env.close()


def action_sequence(steps, num_envs, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (steps, num_envs, ANT_ACTS)).astype(np.float32)


def test_spaces_dtypes_and_metadata(make_ant):
    env = make_ant(num_envs=3)
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert env.num_envs == 3
    assert env.single_observation_space == Box(-np.inf, np.inf, (ANT_OBS,), np.float32)
    assert env.observation_space == Box(-np.inf, np.inf, (3, ANT_OBS), np.float32)
    assert env.single_action_space == Box(-1.0, 1.0, (ANT_ACTS,), np.float32)
    assert env.action_space == Box(-1.0, 1.0, (3, ANT_ACTS), np.float32)

    obs, info = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == (3, ANT_OBS) and obs in env.observation_space
    assert info == {}
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs.dtype == np.float32 and obs in env.observation_space
    assert reward.dtype == np.float64 and reward.shape == (3,)
    assert terminated.dtype == np.bool_ and terminated.shape == (3,)
    assert truncated.dtype == np.bool_ and truncated.shape == (3,)
    assert isinstance(info, dict)


def test_normalized_observations_are_bounded_by_clip_obs(make_ant):
    env = make_ant(normalize_ob=True)
    clip = env.vec_env.clip_obs
    assert env.single_observation_space == Box(-clip, clip, (ANT_OBS,), np.float32)
    env.reset(seed=0)
    for actions in action_sequence(5, 4):
        obs, *_ = env.step(actions)
        assert obs in env.observation_space
    _, _, count = env.vec_env.get_statistics()
    assert count == 6 * 4, "reset and every step fold their observations into the statistics"


def test_any_compiled_env_gets_its_own_spaces():
    env = RaisimGymVectorEnv("rsg_anymal", num_envs=2, num_threads=1)
    try:
        assert env.single_observation_space == Box(-np.inf, np.inf, (35,), np.float32)
        # rsg_anymal scales its action into joint targets; the module reports no range.
        assert env.single_action_space == Box(-np.inf, np.inf, (12,), np.float32)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (2, 35)
    finally:
        env.close()


def test_wraps_an_existing_vec_env_as_built():
    vec_env = make_vec_env("rsg_ant", ant_cfg(), num_envs=2, num_threads=1, normalize_ob=True, clip_obs=5.0)
    env = RaisimGymVectorEnv(vec_env)
    try:
        assert env.vec_env is vec_env and env.num_envs == 2
        assert env.single_observation_space == Box(-5.0, 5.0, (ANT_OBS,), np.float32)
        with pytest.raises(ValueError, match="num_envs"):
            RaisimGymVectorEnv(vec_env, num_envs=4)
        with pytest.raises(ValueError, match="cfg"):
            RaisimGymVectorEnv(vec_env, ant_cfg())
    finally:
        env.close()


def test_passes_gymnasium_checks_that_apply_to_vector_envs(make_ant):
    # check_env itself takes a gymnasium.Env; these are its parts that also hold for a VectorEnv.
    # check_returned_data_not_reused tests `terminated or truncated`, which needs one environment.
    env = make_ant(num_envs=1)
    env_checker.check_reset_return_type(env)
    env_checker.check_reset_options(env)
    env_checker.check_reset_seed_determinism(env)
    env_checker.check_returned_data_not_reused(env)
    env_checker.check_reset_return_info_deprecation(env)
    with pytest.warns(UserWarning, match="infinity"):
        env_checker.check_space_limit(env.single_observation_space, "observation")
    env_checker.check_space_limit(env.single_action_space, "action")


def rollout(env, actions, seed):
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    rewards = []
    for action in actions:
        obs, reward, *_ = env.step(action)
        trajectory.append(obs)
        rewards.append(reward)
    return np.array(trajectory), np.array(rewards)


def test_reset_seed_makes_trajectories_reproducible(make_ant):
    env = make_ant()
    actions = action_sequence(10, 4)
    first, first_rewards = rollout(env, actions, seed=7)
    again, again_rewards = rollout(env, actions, seed=7)
    other, _ = rollout(env, actions, seed=8)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_rewards, again_rewards)
    assert not np.allclose(first[0], other[0]), "another seed starts from other states"
    # env i is seeded seed + i, so env 1 of seed 7 is env 0 of seed 8.
    np.testing.assert_array_equal(first[0, 1], other[0, 0])
    unseeded, _ = env.reset()
    assert not np.allclose(unseeded, first[0]), "reset() without a seed continues the random stream"


def test_observations_are_copies(make_ant):
    env = make_ant()
    obs, _ = env.reset(seed=0)
    kept = obs.copy()
    next_obs, *_ = env.step(np.zeros((4, ANT_ACTS), np.float32))
    np.testing.assert_array_equal(obs, kept)
    assert not np.shares_memory(obs, next_obs)


def test_truncation_returns_the_final_observation_and_starts_the_next_episode(make_ant):
    steps = 5  # max_time 0.25 s at control_dt 0.05 s
    env = make_ant(max_time=0.25, terminate_when_unhealthy=False)
    reference = make_ant(max_time=100.0, terminate_when_unhealthy=False)
    actions = action_sequence(steps, 4)
    env.reset(seed=3)
    reference.reset(seed=3)
    for t, action in enumerate(actions, start=1):
        obs, reward, terminated, truncated, info = env.step(action)
        expected_obs, expected_reward, *_ = reference.step(action)
        np.testing.assert_array_equal(reward, expected_reward)
        assert not terminated.any()
        if t < steps:
            assert not truncated.any() and info == {}
            np.testing.assert_array_equal(obs, expected_obs)
    assert truncated.all(), "every episode hits the time limit at the same step"
    assert set(info) == {"final_obs", "_final_obs", "final_info", "_final_info"}
    assert info["final_obs"].dtype == object and info["_final_obs"].all() and info["_final_info"].all()
    assert info["final_info"] == {}
    final_obs = np.stack(info["final_obs"])
    np.testing.assert_array_equal(final_obs, expected_obs)
    # The returned observations start new episodes: the torso is back at qpos0's height 0.75 +- 0.1.
    assert not np.allclose(obs, final_obs)
    assert np.all(np.abs(obs[:, 0] - 0.75) <= 0.1 + 1e-6)


def test_terminated_and_truncated_episodes_are_told_apart(make_ant):
    low, high = NARROW_HEALTHY_Z
    env = make_ant(num_envs=8, max_time=0.5, healthy_z_range=NARROW_HEALTHY_Z)
    env.reset(seed=0)
    ended = {"terminated": 0, "truncated": 0}
    for action in action_sequence(40, 8):
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated | truncated
        assert not (terminated & truncated).any()
        if not done.any():
            assert info == {}
            continue
        np.testing.assert_array_equal(info["_final_obs"], done)
        for i in range(8):
            if not done[i]:
                assert info["final_obs"][i] is None
                assert low <= obs[i, 0] <= high, "a running episode is healthy"
                continue
            height = info["final_obs"][i][0]
            assert (terminated[i]) == (not low <= height <= high), "terminated exactly when the torso left the range"
        ended["terminated"] += int(terminated.sum())
        ended["truncated"] += int(truncated.sum())
    assert ended["terminated"] > 0 and ended["truncated"] > 0, ended


def test_record_episode_statistics_matches_a_manual_sum(make_ant):
    env = gymnasium.wrappers.vector.RecordEpisodeStatistics(
        make_ant(num_envs=8, max_time=0.5, healthy_z_range=NARROW_HEALTHY_Z))
    env.reset(seed=0)
    returns, lengths = np.zeros(8), np.zeros(8, dtype=int)
    episodes = 0
    for action in action_sequence(40, 8):
        _, reward, terminated, truncated, info = env.step(action)
        returns += reward
        lengths += 1
        done = terminated | truncated
        if done.any():
            np.testing.assert_array_equal(info["_episode"], done)
            np.testing.assert_allclose(info["episode"]["r"][done], returns[done], rtol=1e-12)
            np.testing.assert_array_equal(info["episode"]["l"][done], lengths[done])
            assert lengths[done].max() <= 10, "max_time 0.5 s is 10 steps"
            episodes += int(done.sum())
            returns[done], lengths[done] = 0.0, 0
    assert env.episode_count == episodes > 8


def test_gymnasium_normalize_observation_refuses_same_step_so_ours_stands_in(make_ant):
    with pytest.raises(ValueError, match="NEXT_STEP"):
        gymnasium.wrappers.vector.NormalizeObservation(make_ant())
    # Ours normalizes like Gymnasium's, with statistics of the raw observations, and also
    # normalizes final_obs; a raw env with the same seed tells what it saw.
    env = NormalizeObservation(make_ant(max_time=0.25, terminate_when_unhealthy=False))
    raw = make_ant(max_time=0.25, terminate_when_unhealthy=False)
    statistics = RunningMeanStd(shape=(ANT_OBS,), dtype=np.float32)

    def normalized(observations):
        return ((observations - statistics.mean) / np.sqrt(statistics.var + 1e-8)).astype(np.float32)

    obs, _ = env.reset(seed=0)
    raw_obs, _ = raw.reset(seed=0)
    statistics.update(raw_obs)
    np.testing.assert_allclose(obs, normalized(raw_obs), rtol=1e-5, atol=1e-5)
    for action in action_sequence(5, 4):
        obs, _, _, truncated, info = env.step(action)
        raw_obs, _, _, _, raw_info = raw.step(action)
        statistics.update(raw_obs)
        np.testing.assert_allclose(obs, normalized(raw_obs), rtol=1e-5, atol=1e-5)
    assert truncated.all()
    np.testing.assert_allclose(np.stack(info["final_obs"]), normalized(np.stack(raw_info["final_obs"])),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(env.obs_rms.mean, statistics.mean, rtol=1e-6)
    assert env.obs_rms.count == statistics.count, "final observations do not update the statistics"


def test_reward_normalization_wrapper_works_on_same_step(make_ant):
    env = gymnasium.wrappers.vector.NormalizeReward(make_ant(max_time=0.25, terminate_when_unhealthy=False))
    env.reset(seed=0)
    for action in action_sequence(12, 4):
        _, reward, *_ = env.step(action)
        assert reward.shape == (4,) and np.isfinite(reward).all()
    assert env.return_rms.count == 1e-4 + 12 * 4, "every step of every env counts under SAME_STEP"


def test_bad_input_raises_errors_that_name_it(make_ant):
    env = make_ant(num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, ANT_ACTS), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full((2, ANT_ACTS), np.nan, np.float32))
    with pytest.raises(ValueError, match="partial resets"):
        env.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match="unsupported reset options"):
        env.reset(options={"difficulty": 3})
    with pytest.raises(ValueError, match="seed"):
        env.reset(seed=2**31 - 1)
    with pytest.raises(ValueError, match="low < high"):
        RaisimGymVectorEnv("rsg_ant", ant_cfg(), num_envs=1, num_threads=1, action_bounds=(1.0, -1.0))
    env.reset(options={"reset_mask": np.array([True, True])})


def test_close_releases_the_environments(make_ant):
    env = make_ant(num_envs=2)
    env.reset(seed=0)
    env.close()
    assert env.closed
    with pytest.raises(RuntimeError, match="closed"):
        env.step(np.zeros((2, ANT_ACTS), np.float32))
    env.close()  # a second close is harmless
