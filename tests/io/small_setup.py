"""Shared by the io tests: the `small_env` fixture (import it), rsg_anymal envs with short episodes."""
import pytest


@pytest.fixture
def small_env(make_anymal):
    """small_env(normalize_ob=True, num_envs=4, seed=0) -> an rsg_anymal VecEnv with 0.5 s episodes; closed afterwards."""
    def make(normalize_ob=True, num_envs=4, seed=0):
        return make_anymal(num_envs, seed=seed, normalize_ob=normalize_ob, max_time=0.5)
    return make
