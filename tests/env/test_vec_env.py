"""The vectorized environment's contract, end to end against the compiled rsg_anymal module."""
import numpy as np
from conftest import anymal_cfg, random_actions

NUM_OBS, NUM_ACTS = 35, 12
# rsg_anymal starts an episode without joint noise with the base at this height: its lowest geometry (the
# bent knees) 2 mm above the floor (spawn_clearance). With noise the height varies by a few millimetres.
RESET_HEIGHT = 0.5508202
NOISY_RESET_HEIGHT_SPREAD = 0.02
NOMINAL_JOINTS = np.array([0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8], dtype=np.float32)
TERMINAL_REWARD = -10.0


def zeros(env):
    return np.zeros((env.num_envs, env.num_acts), dtype=np.float32)


def normalized(raw, mean, var, clip):
    """What observe() must return for raw observations: (raw - mean) / sqrt(var + 1e-8), clipped."""
    raw, mean, var = (np.asarray(x, dtype=np.float64) for x in (raw, mean, var))
    return np.clip((raw - mean) / np.sqrt(var + 1e-8), -clip, clip)


# --- shapes, dtypes, buffers -------------------------------------------------------------------


def test_dimensions_and_dtypes(make_anymal):
    env = make_anymal(num_envs=3)
    assert (env.num_envs, env.num_obs, env.num_acts) == (3, NUM_OBS, NUM_ACTS)
    ob = env.observe()
    assert ob.shape == (3, NUM_OBS) and ob.dtype == np.float32
    reward, done = env.step(zeros(env))
    assert reward.shape == (3,) and reward.dtype == np.float32
    assert done.shape == (3,) and done.dtype == np.bool_
    assert env.truncated.shape == (3,) and env.truncated.dtype == np.bool_
    assert env.final_observation().shape == (3, NUM_OBS)


def test_observe_fills_the_same_buffer_in_place(make_anymal):
    env = make_anymal()
    first = env.observe(update_statistics=False)
    before = first.copy()
    env.step(np.full((2, NUM_ACTS), 0.5, dtype=np.float32))
    second = env.observe(update_statistics=False)
    assert second is first
    assert not np.array_equal(first, before), "the buffer handed out earlier must now hold the new observation"


def test_step_returns_copies_that_the_next_step_does_not_overwrite(make_anymal):
    env = make_anymal()
    reward, done = env.step(np.full((2, NUM_ACTS), 0.5, dtype=np.float32))
    kept_reward, kept_done = reward.copy(), done.copy()
    next_reward, _ = env.step(np.full((2, NUM_ACTS), -0.5, dtype=np.float32))
    assert not np.array_equal(next_reward, kept_reward)
    np.testing.assert_array_equal(reward, kept_reward)
    np.testing.assert_array_equal(done, kept_done)
    assert not np.shares_memory(reward, next_reward)


def test_raw_observation_of_the_reset_state(make_anymal):
    env = make_anymal(reset_noise=0.0)
    ob = env.observe(update_statistics=False)
    np.testing.assert_array_equal(ob[:, 0], np.float32(RESET_HEIGHT))
    np.testing.assert_array_equal(ob[:, 1:4], np.tile(np.float32([0, 0, 1]), (2, 1)))  # upright
    np.testing.assert_array_equal(ob[:, 4:16], np.tile(NOMINAL_JOINTS, (2, 1)))
    np.testing.assert_array_equal(ob[:, 16:], 0.0)  # at rest


def test_reset_restarts_every_episode(make_anymal):
    env = make_anymal(reset_noise=0.0)
    initial = env.observe(update_statistics=False).copy()
    for _ in range(3):
        env.step(np.full((2, NUM_ACTS), 0.5, dtype=np.float32))
    assert not np.array_equal(env.observe(update_statistics=False), initial)
    env.reset()
    np.testing.assert_array_equal(env.observe(update_statistics=False), initial)


# --- episode ends: time limit, failure, auto-reset ------------------------------------------------


def test_time_limit_truncates_at_exactly_max_time(make_anymal):
    # control_dt 0.01 and max_time 0.05: every episode lasts 5 steps.
    env = make_anymal(num_envs=3, max_time=0.05, reset_noise=0.0)
    ends = []
    for step in range(1, 13):
        _, done = env.step(zeros(env))
        truncated = env.truncated
        np.testing.assert_array_equal(done, truncated)  # standing still, nothing fails
        assert done.all() or not done.any()
        if done.all():
            ends.append(step)
    assert ends == [5, 10]


def test_auto_reset_keeps_the_final_observation(make_anymal):
    limited = make_anymal(num_envs=3, max_time=0.05, seed=7)
    unlimited = make_anymal(num_envs=3, max_time=100.0, seed=7)
    actions = random_actions(3, NUM_ACTS, 5, scale=0.5)
    first_observation = limited.observe(update_statistics=False).copy()
    for step in range(5):
        _, done = limited.step(actions[step])
        unlimited.step(actions[step])
        assert done.all() == (step == 4)
    # The final observation is what observe() shows for that state in an env without a time limit.
    final = limited.final_observation()
    np.testing.assert_array_equal(final, unlimited.observe(update_statistics=False))
    assert np.all(final[:, 0] < RESET_HEIGHT - 1e-3), "the final state has sagged below the reset height"
    # The env itself already shows a new episode: back at the reset height.
    after = limited.observe(update_statistics=False)
    np.testing.assert_allclose(after[:, 0], RESET_HEIGHT, atol=NOISY_RESET_HEIGHT_SPREAD)
    np.testing.assert_array_equal(after[:, 16:22], 0.0)  # the base is at rest again
    # The new episode is not the first one replayed: the env's generator moved on.
    assert not np.array_equal(after, first_observation)


def test_final_observation_is_normalized_like_observe(make_anymal):
    normalizing = make_anymal(max_time=0.03, normalize_ob=True, clip_obs=5.0)
    raw = make_anymal(max_time=0.03)
    rng = np.random.default_rng(1)
    mean = rng.standard_normal(NUM_OBS).astype(np.float32)
    var = rng.uniform(0.01, 2.0, NUM_OBS).astype(np.float32)
    normalizing.set_statistics(mean, var, 100.0)
    for _ in range(3):
        normalizing.step(zeros(normalizing))
        _, done = raw.step(zeros(raw))
    assert done.all()
    np.testing.assert_allclose(
        normalizing.final_observation(), normalized(raw.final_observation(), mean, var, 5.0), rtol=1e-6, atol=1e-6
    )


def test_failure_terminates_with_terminal_reward_and_is_not_truncated(make_anymal):
    # Without joint stiffness the robot collapses and its base hits the ground.
    env = make_anymal(num_envs=2, p_gain=0.0, d_gain=0.0, reset_noise=0.0, max_time=100.0)
    for step in range(300):
        reward, done = env.step(zeros(env))
        if done.any():
            break
    assert done.all(), "both identical robots fall at the same step"
    assert step > 5, "a robot standing at rest must not fail immediately"
    assert not env.truncated.any()
    terms = env.reward_terms()
    np.testing.assert_allclose(reward, terms.sum(axis=1) + TERMINAL_REWARD, rtol=1e-5)
    final = env.final_observation()
    assert np.all(final[:, 0] < 0.4), "the final observation shows the collapsed robot"
    np.testing.assert_allclose(env.observe(update_statistics=False)[:, 0], RESET_HEIGHT)
    reward, done = env.step(zeros(env))
    assert not done.any() and np.all(reward > TERMINAL_REWARD / 2), "the new episode starts healthy"


def test_large_actions_fail_without_truncation(make_anymal):
    env = make_anymal(num_envs=2, max_time=100.0)
    actions = random_actions(2, NUM_ACTS, 200, scale=100.0)
    failed = np.zeros(2, dtype=bool)
    for step in range(200):
        reward, done = env.step(actions[step])
        assert not env.truncated.any()
        np.testing.assert_array_less(reward[done], TERMINAL_REWARD / 2)  # -10 included
        failed |= done
        if failed.all():
            break
    assert failed.all()


# --- reward terms ------------------------------------------------------------------------------


def test_reward_is_the_sum_of_its_named_terms(make_anymal):
    env = make_anymal(num_envs=3, max_time=100.0)
    names = ["forwardVel", "torque", "alive", "orientation", "jointSpeed", "heading"]
    assert env.reward_names == names
    environment = anymal_cfg()["environment"]
    velocity_cap = environment["forward_velocity_cap"] * environment["reward"]["forwardVel"]["coeff"]
    actions = random_actions(3, NUM_ACTS, 5, scale=0.5)
    for step in range(5):
        reward, done = env.step(actions[step])
        assert not done.any()
        info = env.get_reward_info()
        assert len(info) == 3 and all(set(terms) == set(names) for terms in info)
        from_info = np.array([[terms[name] for name in names] for terms in info])
        np.testing.assert_allclose(env.reward_terms(), from_info, rtol=1e-6)
        np.testing.assert_allclose(reward, from_info.sum(axis=1), rtol=1e-5, atol=1e-7)
        assert np.all(from_info[:, 1] < 0), "torque is a penalty (coeff < 0) and the joints work"
        assert np.all(from_info[:, 0] <= velocity_cap + 1e-6), "forward velocity reward is capped at coeff * cap"
    assert len(set(np.round(reward, 6))) > 1, "envs with different actions earn different rewards"


def test_reward_coefficients_come_from_the_cfg(make_anymal):
    base = make_anymal(max_time=100.0)
    reward = anymal_cfg()["environment"]["reward"]
    doubled = make_anymal(max_time=100.0, reward={name: {"coeff": 2 * term["coeff"]} for name, term in reward.items()})
    actions = random_actions(2, NUM_ACTS, 3, scale=0.5)
    for step in range(3):
        base.step(actions[step])
        doubled.step(actions[step])
    np.testing.assert_allclose(doubled.reward_terms(), 2 * base.reward_terms(), rtol=1e-6)


# --- observation normalization ------------------------------------------------------------------


def test_statistics_update_only_when_asked(make_anymal):
    env = make_anymal(num_envs=3, normalize_ob=True)
    mean, var, count = env.get_statistics()
    assert count == 0.0
    env.observe(update_statistics=False)
    env.step(zeros(env))
    env.observe(update_statistics=False)
    after_mean, after_var, after_count = env.get_statistics()
    assert after_count == 0.0
    np.testing.assert_array_equal(after_mean, mean)
    np.testing.assert_array_equal(after_var, var)
    env.observe(update_statistics=True)
    assert env.get_statistics()[2] == 3.0
    env.observe()  # updating is the default, as in the original
    assert env.get_statistics()[2] == 6.0
    assert not np.array_equal(env.get_statistics()[0], mean)


def test_statistics_merge_batches_into_the_mean_and_variance_of_their_union(make_anymal):
    normalizing = make_anymal(num_envs=4, seed=3, normalize_ob=True)
    raw = make_anymal(num_envs=4, seed=3)
    actions = random_actions(4, NUM_ACTS, 6, scale=0.5)
    batches = []
    for step in range(6):
        normalizing.observe(update_statistics=True)
        batches.append(raw.observe(update_statistics=False).astype(np.float64))
        normalizing.step(actions[step])
        raw.step(actions[step])
    union = np.concatenate(batches)
    mean, var, count = normalizing.get_statistics()
    assert count == len(union) == 24
    # Both sides are double: only summation order differs (atol covers features that never vary).
    np.testing.assert_allclose(mean, union.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var, union.var(axis=0), rtol=1e-12, atol=1e-15)


def test_normalized_observation_formula(make_anymal):
    normalizing = make_anymal(num_envs=3, seed=5, normalize_ob=True, clip_obs=3.0)
    raw = make_anymal(num_envs=3, seed=5)
    for _ in range(4):
        normalizing.step(np.full((3, NUM_ACTS), 0.3, dtype=np.float32))
        raw.step(np.full((3, NUM_ACTS), 0.3, dtype=np.float32))
    rng = np.random.default_rng(2)
    mean = rng.standard_normal(NUM_OBS).astype(np.float32)
    var = rng.uniform(0.0, 2.0, NUM_OBS).astype(np.float32)
    var[0] = 0.0  # a constant feature: the 1e-8 keeps it finite
    normalizing.set_statistics(mean, var, 50.0)
    expected = normalized(raw.observe(update_statistics=False), mean, var, 3.0)
    np.testing.assert_allclose(normalizing.observe(update_statistics=False), expected, rtol=1e-6, atol=1e-6)
    assert np.isclose(np.abs(expected).max(), 3.0), "some values were clipped, so clipping was checked"


def test_a_constant_feature_normalizes_to_zero_not_nan(make_anymal):
    # Features that never vary (zero variance) sit exactly at their mean: 0 / sqrt(0 + 1e-8) = 0.
    env = make_anymal(normalize_ob=True, reset_noise=0.0)
    raw = make_anymal(reset_noise=0.0).observe(update_statistics=False)
    env.set_statistics(raw[0], np.zeros(NUM_OBS, np.float32), 100.0)
    np.testing.assert_array_equal(env.observe(update_statistics=False), 0.0)


def test_observe_normalizes_with_the_statistics_it_just_updated(make_anymal):
    normalizing = make_anymal(num_envs=4, seed=3, normalize_ob=True)
    raw = make_anymal(num_envs=4, seed=3)
    actions = random_actions(4, NUM_ACTS, 3, scale=0.5)
    for step in range(3):
        ob = normalizing.observe(update_statistics=True)
        mean, var, _ = normalizing.get_statistics()
        # The statistics come back exactly as C++ used them, so only observe()'s float32 output rounds.
        expected = normalized(raw.observe(update_statistics=False), mean, var, 10.0)
        np.testing.assert_allclose(ob, expected, rtol=1e-6, atol=1e-6)
        normalizing.step(actions[step])
        raw.step(actions[step])


def test_clip_obs_bounds_normalized_observations(make_anymal):
    env = make_anymal(num_envs=3, normalize_ob=True, clip_obs=0.5)
    # Tiny variances blow every non-mean value far past the clip.
    env.set_statistics(np.zeros(NUM_OBS, np.float32), np.full(NUM_OBS, 1e-6, np.float32), 10.0)
    env.step(np.full((3, NUM_ACTS), 0.5, dtype=np.float32))
    ob = env.observe(update_statistics=False)
    assert np.abs(ob).max() == np.float32(0.5)
    assert np.count_nonzero(np.abs(ob) == np.float32(0.5)) > NUM_OBS


def test_without_normalization_observations_are_raw(make_anymal):
    env = make_anymal(normalize_ob=False, reset_noise=0.0)
    env.set_statistics(np.full(NUM_OBS, 5.0, np.float32), np.full(NUM_OBS, 0.01, np.float32), 10.0)
    ob = env.observe(update_statistics=True)
    np.testing.assert_array_equal(ob[:, 0], np.float32(RESET_HEIGHT))
    np.testing.assert_array_equal(ob[:, 4:16], np.tile(NOMINAL_JOINTS, (2, 1)))
    assert env.get_statistics()[2] == 12.0, "statistics still update, e.g. to be saved for later"


def test_statistics_set_get_round_trip(make_anymal):
    env = make_anymal(normalize_ob=True)
    rng = np.random.default_rng(0)
    mean = rng.standard_normal(NUM_OBS)
    var = rng.uniform(0.1, 3.0, NUM_OBS)
    env.set_statistics(mean, var, 12345.0)
    got_mean, got_var, got_count = env.get_statistics()
    # float64 both ways, bit for bit: distributed ranks hand the statistics back and forth every iteration.
    assert got_mean.dtype == got_var.dtype == np.float64
    np.testing.assert_array_equal(got_mean, mean)
    np.testing.assert_array_equal(got_var, var)
    assert got_count == 12345.0
    # float32 arrays (checkpoints written before the statistics went float64) are widened, not refused.
    env.set_statistics(mean.astype(np.float32), var.astype(np.float32), 3.0)
    np.testing.assert_array_equal(env.get_statistics()[0], mean.astype(np.float32).astype(np.float64))


def test_save_and_load_scaling_round_trip(make_anymal, tmp_path):
    trained = make_anymal(num_envs=3, normalize_ob=True, reset_noise=0.0)
    for _ in range(3):
        trained.observe(update_statistics=True)
        trained.step(np.full((3, NUM_ACTS), 0.4, dtype=np.float32))
    trained.save_scaling(tmp_path, "200")
    assert {p.name for p in tmp_path.iterdir()} >= {"mean200.csv", "var200.csv"}

    fresh = make_anymal(num_envs=3, normalize_ob=True, reset_noise=0.0)
    fresh.load_scaling(tmp_path, 200)
    mean, var, count = trained.get_statistics()
    loaded_mean, loaded_var, loaded_count = fresh.get_statistics()
    # savetxt writes 18 significant digits, enough for every double to read back exactly.
    np.testing.assert_array_equal(loaded_mean, mean)
    np.testing.assert_array_equal(loaded_var, var)
    assert loaded_count == count == 9.0
    # The loaded statistics are the ones used: both envs normalize the same state identically.
    trained.reset()
    np.testing.assert_array_equal(fresh.observe(update_statistics=False), trained.observe(update_statistics=False))
    fresh.load_scaling(tmp_path, 200, count=1e5)
    assert fresh.get_statistics()[2] == 1e5


def test_random_episode_progress_spreads_the_time_limits(make_anymal):
    def truncation_steps(seed: int) -> list[list[int]]:
        env = make_anymal(num_envs=16, max_time=0.1, reset_noise=0.0)  # 10 steps per episode
        env.randomize_episode_progress(seed)
        ends = [[] for _ in range(16)]
        for step in range(1, 21):
            env.step(zeros(env))
            for i in np.flatnonzero(env.truncated):
                ends[i].append(step)
        return ends

    ends = truncation_steps(seed=5)
    first = [env_ends[0] for env_ends in ends]
    assert all(1 <= step <= 10 for step in first), "every first episode ends within the time limit"
    assert len(set(first)) >= 5, f"the envs no longer reset in lockstep: {first}"
    assert all(env_ends[1:] == [env_ends[0] + 10] for env_ends in ends), "then whole 10-step episodes follow"
    assert truncation_steps(seed=5) == ends, "the spread is reproduced by the seed"
    assert truncation_steps(seed=6) != ends


def test_transition_gives_what_step_then_observe_give_bit_for_bit(make_anymal):
    # 0.5 s episodes, violent actions in half the envs and gentle ones in the others: the rollout holds time-outs
    # and falls, so final observations matter.
    # Normalized, so that the final observations' statistics (those from before the step's update) are checked.
    old_api = make_anymal(num_envs=6, max_time=0.5, seed=5, normalize_ob=True)
    one_call = make_anymal(num_envs=6, max_time=0.5, seed=5, normalize_ob=True, num_threads=2)
    np.testing.assert_array_equal(old_api.observe(), one_call.observe())
    ended = {"terminated": 0, "truncated": 0}
    strength = np.array([100.0, 100.0, 100.0, 0.3, 0.3, 0.3], np.float32)[:, None]
    for action in random_actions(6, old_api.num_acts, 150, seed=2) * strength:
        reward, done = old_api.step(action)
        truncated, final = old_api.truncated, old_api.final_observation().copy()
        terms, observation = old_api.reward_terms().copy(), old_api.observe()
        step = one_call.transition(action)
        np.testing.assert_array_equal(step.observation, observation)
        np.testing.assert_array_equal(step.reward, reward)
        np.testing.assert_array_equal(step.done, done)
        np.testing.assert_array_equal(step.truncated, truncated)
        np.testing.assert_array_equal(step.terminated, done & ~truncated)
        np.testing.assert_array_equal(step.final_observation[done], final[done])
        np.testing.assert_array_equal(step.reward_terms, terms)
        assert step.diverged == 0
        ended["terminated"] += int(step.terminated.sum())
        ended["truncated"] += int(step.truncated.sum())
    assert ended["terminated"] > 0 and ended["truncated"] > 0, ended
    for a, b in zip(old_api.get_statistics(), one_call.get_statistics()):
        np.testing.assert_array_equal(a, b)


def test_transition_without_statistics_updates_leaves_them_alone(make_anymal):
    env = make_anymal(num_envs=3)
    before = env.get_statistics()
    step = env.transition(np.zeros((3, env.num_acts), np.float32), update_statistics=False)
    assert env.get_statistics()[2] == before[2]
    assert step.observation is env.observe(update_statistics=False)  # the same buffer, refilled
