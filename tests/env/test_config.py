"""How cfg values reach C++: types, nulls, lists, and the caller's dict left alone."""
import copy
import io

import numpy as np
import pytest
from conftest import REMOVE, anymal_cfg, random_actions
from ruamel.yaml import YAML

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module, make_vec_env


def run(env, steps=5):
    actions = random_actions(env.num_envs, env.num_acts, steps, scale=0.5)
    for action in actions:
        env.step(action)
    return env.observe(update_statistics=False).copy()


def test_integer_is_accepted_where_a_number_is_expected(make_anymal):
    as_float = run(make_anymal(p_gain=80.0, d_gain=2.0))
    as_int = run(make_anymal(p_gain=80, d_gain=2))
    np.testing.assert_array_equal(as_int, as_float)


@pytest.mark.parametrize("value", [True, 2.0, 2.5, "2"])
def test_num_envs_must_be_an_integer(make_anymal, value):
    with pytest.raises(ValueError, match=r"cfg key 'num_envs' must be an integer, got"):
        make_anymal(num_envs=value)


@pytest.mark.parametrize("value", [10**30, -(10**30)])
def test_integer_beyond_64_bits_is_named(make_anymal, value):
    with pytest.raises(ValueError, match=r"cfg key 'num_envs' is an integer out of range"):
        make_anymal(num_envs=value)


@pytest.mark.parametrize("value", [True, "80"])
def test_bool_or_string_is_not_a_number(make_anymal, value):
    with pytest.raises(ValueError, match=r"cfg key 'p_gain' must be a number, got"):
        make_anymal(p_gain=value)


def test_render_must_be_a_bool(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'render' must be true or false \(or yes/no, on/off\), got 1"):
        make_anymal(render=1)


def test_null_where_a_value_is_needed_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'p_gain' must be a single value, not a null"):
        make_anymal(p_gain=None)


def test_list_where_a_value_is_needed_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'p_gain' must be a single value, not a list"):
        make_anymal(p_gain=[80.0] * 12)


def test_mapping_where_a_value_is_needed_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'action_std' must be a single value, not a mapping"):
        make_anymal(action_std={"value": 0.3})


def test_value_where_a_mapping_is_needed_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'reward' is not a mapping"):
        make_anymal(reward=1.0)


def test_optional_keys_fall_back_to_their_defaults(make_anymal):
    # reset_noise defaults to 0, max_time to no limit, num_threads to the processor count ('auto').
    explicit = run(make_anymal(reset_noise=0.0), steps=3)
    np.testing.assert_array_equal(run(make_anymal(reset_noise=REMOVE), steps=3), explicit)
    assert make_anymal(max_time=REMOVE).wrapper.getMaxEpisodeSteps() == 2**63 - 1
    cfg = anymal_cfg(num_threads=REMOVE)
    without = make_vec_env("rsg_anymal", cfg, num_envs=1)
    auto = make_vec_env("rsg_anymal", cfg, num_envs=1, num_threads="auto")
    assert without.wrapper.getNumThreads() == auto.wrapper.getNumThreads() >= 1
    without.close()
    auto.close()


def test_keys_read_by_the_runner_are_accepted(make_anymal):
    env = make_anymal(eval_every_n=5, record_video=False)
    assert env.num_envs == 2


def test_yaml_text_and_dict_configure_the_same_env():
    module = import_env_module("rsg_anymal")
    environment = anymal_cfg(num_envs=2, num_threads=1)["environment"]
    text = io.StringIO()
    YAML(typ="safe", pure=True).dump(environment, text)
    from_dict = module.RaisimGymEnv(str(RESOURCE_DIR), environment)
    from_text = module.RaisimGymEnv(str(RESOURCE_DIR), text.getvalue())
    observations = []
    for impl in (from_dict, from_text):
        ob = np.zeros((2, 35), np.float32)
        impl.setNormalization(False, 10.0)
        impl.observe(ob, False)
        observations.append(ob)
        impl.close()
    np.testing.assert_array_equal(*observations)


def test_make_vec_env_does_not_modify_the_callers_cfg():
    cfg = anymal_cfg()
    original = copy.deepcopy(cfg)
    env = make_vec_env("rsg_anymal", cfg, num_envs=3, num_threads=1, seed=5)
    assert env.num_envs == 3
    env.close()
    assert cfg == original
