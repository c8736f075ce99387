"""Bad input raises a Python exception that names the problem, instead of crashing or running on garbage."""
import re
import warnings

import numpy as np
import pytest
from conftest import REMOVE, anymal_cfg, random_actions, step_buffers

from raisimGymTorch.env.make import RESOURCE_DIR, import_env_module, make_vec_env

NUM_OBS, NUM_ACTS = 35, 12


@pytest.fixture
def env(make_anymal):
    return make_anymal(num_envs=2)


@pytest.fixture
def module():
    return import_env_module("rsg_anymal")


# --- arrays ------------------------------------------------------------------------------------


def test_float64_action_is_rejected_naming_float32(env):
    with pytest.raises(TypeError, match=r"action must have dtype float32, got float64"):
        env.step(np.zeros((2, NUM_ACTS)))


@pytest.mark.parametrize("shape", [(2, 11), (3, 12), (12,), (2, 12, 1)])
def test_wrong_action_shape_names_both_shapes(env, shape):
    got = "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")
    with pytest.raises(ValueError, match=re.escape(f"action must have shape (2, 12), got {got}")):
        env.step(np.zeros(shape, dtype=np.float32))


def test_non_array_action_is_rejected(env):
    with pytest.raises(TypeError, match="action must be a numpy array"):
        env.step([[0.0] * NUM_ACTS] * 2)


@pytest.mark.parametrize(
    "make_view",
    [lambda: np.zeros((2, 2 * NUM_ACTS), np.float32)[:, ::2], lambda: np.zeros((NUM_ACTS, 2), np.float32).T],
    ids=["strided", "transposed"],
)
def test_non_contiguous_action_is_rejected(env, make_view):
    action = make_view()
    assert action.shape == (2, NUM_ACTS)
    with pytest.raises(ValueError, match="action must be C-contiguous"):
        env.step(action)


def test_read_only_output_buffers_are_rejected(env):
    observation = np.zeros((2, NUM_OBS), np.float32)
    observation.flags.writeable = False
    with pytest.raises(ValueError, match="observation must be writeable"):
        env.wrapper.observe(observation, False)
    buffers = step_buffers(env.wrapper)
    buffers["reward"].flags.writeable = False
    with pytest.raises(ValueError, match="reward must be writeable"):
        env.wrapper.setStepBuffers(**buffers)


def test_wrong_output_dtype_is_rejected(env):
    buffers = step_buffers(env.wrapper)
    buffers["done"] = np.zeros(2, np.int8)
    with pytest.raises(TypeError, match="done must have dtype bool"):
        env.wrapper.setStepBuffers(**buffers)


@pytest.mark.parametrize("value, name", [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")])
def test_non_finite_action_is_rejected_naming_row_and_column(env, value, name):
    action = np.zeros((2, NUM_ACTS), np.float32)
    action[1, 7] = value
    before = env.observe(update_statistics=False).copy()
    with pytest.raises(ValueError, match=rf"action contains {name} at row 1, column 7"):
        env.step(action)
    np.testing.assert_array_equal(env.observe(update_statistics=False), before)  # nothing was stepped


def test_bad_statistics_are_rejected(env):
    with pytest.raises(ValueError, match="mean must have shape"):
        env.set_statistics(np.zeros(NUM_OBS - 1), np.ones(NUM_OBS), 1.0)
    with pytest.raises(ValueError, match="non-negative variance"):
        env.set_statistics(np.zeros(NUM_OBS), -np.ones(NUM_OBS), 1.0)
    with pytest.raises(ValueError, match="count must be finite and non-negative"):
        env.set_statistics(np.zeros(NUM_OBS), np.ones(NUM_OBS), -1.0)


def test_bad_clip_and_seed_are_rejected(make_anymal, env):
    with pytest.raises(ValueError, match="clip_obs must be positive"):
        make_anymal(normalize_ob=True, clip_obs=0.0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        env.seed(1.5)


# --- names and cfg -----------------------------------------------------------------------------


def test_unknown_env_name_lists_available_envs():
    with pytest.raises(ValueError, match=r"Env 'rsg_anymall' not found\. Available envs: .*rsg_anymal"):
        make_vec_env("rsg_anymall", anymal_cfg())


def test_unknown_cfg_key_is_named_with_its_source(make_anymal):
    message = r"unknown cfg key 'rewrad' in my_cfg\.yaml; keys this environment reads: .*p_gain"
    with pytest.raises(ValueError, match=message):
        make_anymal(cfg_source="my_cfg.yaml", rewrad={"torque": {"coeff": 1.0}})


def test_unknown_nested_cfg_key_is_named(make_anymal):
    reward = anymal_cfg()["environment"]["reward"]
    reward["forwardVel"]["coef"] = 1.0
    with pytest.raises(ValueError, match=r"unknown cfg key 'reward\.forwardVel\.coef'"):
        make_anymal(reward=reward)


def test_missing_cfg_key_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"missing cfg key 'p_gain' in cfg\.yaml"):
        make_anymal(p_gain=REMOVE)
    with pytest.raises(ValueError, match=r"missing cfg key 'reward\.torque'"):
        make_anymal(reward={"forwardVel": {"coeff": 0.3}})


def test_unknown_reward_term_is_named(make_anymal):
    reward = {**anymal_cfg()["environment"]["reward"], "speed": {"coeff": 1.0}}
    with pytest.raises(ValueError, match=r"unknown reward term 'speed' .*records: forwardVel, torque, alive, "
                                         r"orientation, jointSpeed"):
        make_anymal(reward=reward)


def test_wrong_value_type_is_named(make_anymal):
    with pytest.raises(ValueError, match=r"cfg key 'num_envs' must be an integer, got 'many'"):
        make_anymal(num_envs="many")


@pytest.mark.parametrize("num_envs", [0, -5, 10**9, 2**32 + 2, -(2**40)])
def test_out_of_range_num_envs_is_rejected(make_anymal, num_envs):
    with pytest.raises(ValueError, match=r"cfg key 'num_envs' must be"):
        make_anymal(num_envs=num_envs)


@pytest.mark.parametrize("num_threads", [0, -1, "lots", 10**6, 2**32 + 1, 1.5])
def test_bad_num_threads_is_rejected(make_anymal, num_threads):
    with pytest.raises(ValueError, match=r"cfg key 'num_threads' must be"):
        make_anymal(num_threads=num_threads)


def test_bad_time_steps_are_rejected(make_anymal):
    with pytest.raises(ValueError, match=r"0 < simulation_dt <= control_dt"):
        make_anymal(control_dt=0.001)
    with pytest.raises(ValueError, match=r"cfg key 'max_time' must be positive"):
        make_anymal(max_time=0.0)


def test_malformed_yaml_string_is_a_value_error(module):
    with pytest.raises(ValueError, match="cfg is not valid YAML"):
        module.RaisimGymEnv(str(RESOURCE_DIR), "num_envs: [1, 2\nreward: {")
    with pytest.raises(ValueError, match="cfg must be a YAML mapping"):
        module.RaisimGymEnv(str(RESOURCE_DIR), "- just\n- a list\n")


# --- model files -------------------------------------------------------------------------------


def test_missing_model_file_is_file_not_found_naming_the_path(module, tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}/anymal_c/anymal_c\.xml"):
        module.RaisimGymEnv(str(tmp_path), anymal_cfg(num_envs=1)["environment"])


def test_malformed_model_file_reports_mujocos_message(module, tmp_path):
    model = tmp_path / "anymal_c" / "anymal_c.xml"
    model.parent.mkdir()
    model.write_text("<mujoco><worldbody><body name='a'></worldbody></mujoco>")
    with pytest.raises(ValueError, match=r"MuJoCo rejected model file '.*anymal_c\.xml': .*(XML|xml|Error|error)"):
        module.RaisimGymEnv(str(tmp_path), anymal_cfg(num_envs=1)["environment"])


def test_model_without_the_envs_bodies_names_what_is_missing(module, tmp_path):
    model = tmp_path / "anymal_c" / "anymal_c.xml"
    model.parent.mkdir()
    model.write_text("<mujoco><worldbody><body name='torso'><freejoint/><geom size='0.1'/></body></worldbody></mujoco>")
    with pytest.raises(ValueError, match="12 actuators"):
        module.RaisimGymEnv(str(tmp_path), anymal_cfg(num_envs=1)["environment"])


# --- lifetime ----------------------------------------------------------------------------------


def test_using_a_closed_env_raises(env):
    env.close()
    assert env.wrapper.closed
    with pytest.raises(RuntimeError, match="closed"):
        env.observe()
    with pytest.raises(RuntimeError, match="closed"):
        env.step(np.zeros((2, NUM_ACTS), np.float32))
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()
    with pytest.raises(RuntimeError, match="closed"):
        env.get_statistics()
    env.close()  # closing twice is harmless


# --- diverged physics --------------------------------------------------------------------------


def test_diverged_simulation_is_reset_counted_and_warned(make_anymal):
    # A 0.2 s physics step with violent actions makes MuJoCo's integrator blow up.
    env = make_anymal(num_envs=4, simulation_dt=0.2, control_dt=0.2, max_time=1000.0, action_std=100.0)
    actions = random_actions(4, NUM_ACTS, 100, seed=0, scale=100.0)
    for step in range(100):
        env.observe(update_statistics=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reward, done = env.step(actions[step])
        if env.diverged_resets:
            break
    assert env.diverged_resets >= 1, "the setup must make the physics diverge"
    assert [w.category for w in caught] == [RuntimeWarning]
    assert "diverged" in str(caught[0].message)
    assert done.sum() >= env.diverged_resets
    assert not env.truncated.any()
    assert np.isfinite(reward).all()
    diverged_rows = done & (reward == 0.0)
    assert diverged_rows.any(), "a diverged env earns nothing, not even the terminal reward"
    np.testing.assert_array_equal(env.final_observation()[diverged_rows], 0.0)
    ob = env.observe(update_statistics=True)
    assert np.isfinite(ob).all(), "every env, the reset one included, observes a finite state"
    assert all(np.isfinite(x).all() for x in env.get_statistics()[:2])
    # The reset env runs on.
    counted = env.diverged_resets
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reward, done = env.step(np.zeros((4, NUM_ACTS), np.float32))
    assert env.diverged_resets == counted


def test_mujoco_warnings_go_to_stderr_and_leave_no_log_file(make_anymal, tmp_path, monkeypatch, capfd):
    # MuJoCo's default handler would also append to MUJOCO_LOG.TXT in the working directory.
    env = make_anymal(num_envs=1)
    monkeypatch.chdir(tmp_path)
    qpos, qvel = env.wrapper.getState(0)
    env.wrapper.setState(0, qpos, np.full_like(qvel, 1e300))  # beyond MuJoCo's own 1e10 check, so it warns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env.step(np.zeros((1, NUM_ACTS), np.float32))
    assert env.diverged_resets == 1
    assert "MuJoCo warning: Nan, Inf or huge value in QVEL" in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


def set_base_speed(env, index, speed):
    qpos, qvel = env.wrapper.getState(index)
    qvel = qvel.copy()
    qvel[0] = speed
    env.wrapper.setState(index, qpos, qvel)


def test_a_finite_runaway_speed_counts_as_diverged(make_anymal):
    # 2000 m/s is finite and far below MuJoCo's own check (1e10), but beyond divergence_speed (1000 by default).
    env = make_anymal(num_envs=2)
    set_base_speed(env, 0, 2000.0)
    set_base_speed(env, 1, 500.0)
    with pytest.warns(RuntimeWarning, match="1 environment.* diverged"):
        reward, done = env.step(np.zeros((2, NUM_ACTS), np.float32))
    assert env.diverged_resets == 1
    assert done[0] and reward[0] == 0.0
    np.testing.assert_array_equal(env.final_observation()[0], 0.0)
    assert np.abs(env.wrapper.getState(0)[1]).max() < 1.0, "env 0 was reset"
    assert not done[1], "500 m/s is within the bound"


def test_divergence_speed_is_read_from_the_cfg(make_anymal):
    env = make_anymal(num_envs=1, divergence_speed=100.0)
    set_base_speed(env, 0, 500.0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        env.step(np.zeros((1, NUM_ACTS), np.float32))
    assert env.diverged_resets == 1


@pytest.mark.parametrize("speed, message", [(0.0, "must be positive, got 0"), (-1.0, "must be positive, got -1"),
                                            (float("nan"), "is NaN"), ("fast", "must be a number")])
def test_divergence_speed_must_be_a_positive_number(speed, message):
    with pytest.raises(ValueError, match=f"cfg key 'divergence_speed' {message}"):
        make_vec_env("rsg_anymal", anymal_cfg(divergence_speed=speed), num_envs=1, num_threads=1)
