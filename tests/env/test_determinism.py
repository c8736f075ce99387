"""Seeding: the same seed reproduces a run bit for bit whatever the thread count; another seed does not."""
import numpy as np
from conftest import random_actions

STEPS = 50


def rollout(env, actions):
    """Every observation, reward, done flag and final observation of a run, plus the statistics."""
    record = {"observation": [], "reward": [], "done": [], "truncated": [], "final": []}
    for action in actions:
        record["observation"].append(env.observe(update_statistics=True).copy())
        reward, done = env.step(action)
        record["reward"].append(reward)
        record["done"].append(done)
        record["truncated"].append(env.truncated)
        record["final"].append(env.final_observation()[done].copy())
    record = {key: np.concatenate(value) for key, value in record.items()}
    record["statistics"] = np.concatenate([np.ravel(x) for x in env.get_statistics()])
    return record


def assert_identical(first, second):
    for key in first:
        assert np.array_equal(first[key], second[key]), f"{key} differs"


def make_run(make_anymal, seed, num_threads, num_envs=4):
    # A short time limit and strong actions put time-outs and failures (and so seeded resets) in the run.
    env = make_anymal(num_envs, num_threads=num_threads, seed=seed, normalize_ob=True, max_time=0.2)
    return rollout(env, random_actions(num_envs, env.num_acts, STEPS, seed=11, scale=2.0))


def test_same_seed_is_bit_identical_across_thread_counts(make_anymal):
    one_thread = make_run(make_anymal, seed=4, num_threads=1)
    two_threads = make_run(make_anymal, seed=4, num_threads=2)
    assert one_thread["done"].sum() >= 4, "the run must include episode ends and reseeded resets"
    assert_identical(one_thread, two_threads)
    assert_identical(one_thread, make_run(make_anymal, seed=4, num_threads=1))


def test_different_seed_diverges(make_anymal):
    first = make_run(make_anymal, seed=4, num_threads=1)
    other = make_run(make_anymal, seed=5, num_threads=1)
    assert not np.array_equal(first["observation"][:4], other["observation"][:4]), "the first episode differs"
    assert not np.array_equal(first["reward"], other["reward"])


def test_constructor_seed_sets_the_first_episode(make_anymal):
    constructed = make_anymal(seed=9).observe(update_statistics=False)
    reseeded = make_anymal(seed=0)
    reseeded.seed(9)
    reseeded.reset()
    np.testing.assert_array_equal(constructed, reseeded.observe(update_statistics=False))


def test_env_i_is_seeded_with_seed_plus_i(make_anymal):
    env = make_anymal(num_envs=3, seed=20)
    shifted = make_anymal(num_envs=3, seed=21)
    env.reset()
    shifted.reset()
    ob = env.observe(update_statistics=False)
    shifted_ob = shifted.observe(update_statistics=False)
    np.testing.assert_array_equal(ob[1:], shifted_ob[:2])
    assert not np.array_equal(ob[0], ob[1]), "envs of one batch start differently"


def test_reseeding_replays_the_episode_starts(make_anymal):
    env = make_anymal(num_envs=2, seed=3)
    first = env.observe(update_statistics=False).copy()
    env.reset()
    assert not np.array_equal(env.observe(update_statistics=False), first), "the generator moves on"
    env.seed(3)
    env.reset()
    np.testing.assert_array_equal(env.observe(update_statistics=False), first)
