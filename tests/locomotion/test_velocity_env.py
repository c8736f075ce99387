"""rsg_anymal_velocity's mechanisms as a user relies on them: commands drawn within their ranges and resampled on
time, heading commands steering the yaw rate, every kinematic reward term equal to its definition on the simulated
state, physics randomized within the cfg's ranges and reproducibly by seed, pushes at the cfg's period, observation
noise off when evaluating, and the rough task's terrain, height scan and curriculum."""
from __future__ import annotations

import math
from typing import Any

import mujoco
import numpy as np
import pytest

from conftest import REMOVE, cfg_with
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.viz.model_source import simulated_model

ENV = "rsg_anymal_velocity"
FLAT = ENVS_DIR / ENV / "cfg_flat.yaml"
ROUGH = ENVS_DIR / ENV / "cfg.yaml"
COMMAND = slice(9, 12)
COMMAND_SCALE = np.array([2.0, 2.0, 0.25])
NOMINAL = np.array([0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8])
FEET = [f"{leg}_FOOT" for leg in ("LF", "RF", "LH", "RH")]


def flat_cfg(**environment: Any) -> dict[str, Any]:
    """cfg_flat.yaml with `environment` keys replaced (REMOVE deletes a key)."""
    return cfg_with(FLAT, **environment)


def make(cfg: dict[str, Any], num_envs: int = 4, seed: int = 0, evaluation: bool = False):
    return make_vec_env(ENV, cfg, "test cfg", num_envs=num_envs, num_threads=1, seed=seed, normalize_ob=False,
                        evaluation=evaluation)


def commands(env) -> np.ndarray:
    return env.observe(update_statistics=False)[:, COMMAND] / COMMAND_SCALE


def rotation(qpos: np.ndarray) -> np.ndarray:
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, qpos[3:7])
    return matrix.reshape(3, 3)


def test_commands_are_drawn_within_the_ranges_and_slow_ones_mean_standing() -> None:
    ranges = {"lin_vel_x": [-0.3, 0.9], "lin_vel_y": [-0.6, 0.2], "yaw_rate": [0.1, 0.5]}
    env = make(flat_cfg(commands={"resampling_time": 10.0, "standing_below": 0.3, **ranges}), num_envs=200)
    try:
        env.reset()
        drawn = commands(env)
        for column, (low, high) in enumerate(ranges.values()):
            assert np.all(drawn[:, column] >= low - 1e-6) and np.all(drawn[:, column] <= high + 1e-6)
        planar = np.linalg.norm(drawn[:, :2], axis=1)
        standing = planar == 0
        assert 0.02 < standing.mean() < 0.5, standing.mean()
        assert np.all(planar[~standing] >= 0.3 - 1e-6)
        assert np.all(drawn[standing, 2] >= 0.1 - 1e-6)  # the yaw rate still applies when standing
    finally:
        env.close()


def steps_with_a_new_command(env, steps: int) -> list[int]:
    env.reset()
    history = [commands(env)]
    for _ in range(steps):
        env.step(np.zeros((env.num_envs, env.num_acts), dtype=np.float32))
        history.append(commands(env))
    return [step for step in range(1, steps + 1) if not np.allclose(history[step], history[step - 1])]


@pytest.mark.parametrize("training_period", [None, 0.06])
def test_commands_are_resampled_every_resampling_time_and_training_envs_may_resample_more_often(
        training_period: float | None) -> None:
    # control_dt 0.02: resampling_time 0.1 is a new command every 5 steps, training_resampling_time 0.06 every 3.
    block = {"resampling_time": 0.1, "lin_vel_x": [-1, 1], "lin_vel_y": [-1, 1], "yaw_rate": [-1, 1]}
    if training_period is not None:
        block["training_resampling_time"] = training_period
    for evaluation in (False, True):
        env = make(flat_cfg(commands=block), evaluation=evaluation)
        try:
            every = 3 if training_period is not None and not evaluation else 5
            assert steps_with_a_new_command(env, 15) == list(range(every, 16, every)), f"evaluation={evaluation}"
        finally:
            env.close()


def base_yaw(qpos: np.ndarray) -> float:
    return math.atan2(2 * (qpos[3] * qpos[6] + qpos[4] * qpos[5]), 1 - 2 * (qpos[5] ** 2 + qpos[6] ** 2))


def test_heading_commands_steer_the_yaw_rate_towards_the_drawn_heading() -> None:
    # A fixed heading of 2.5 rad: robots spawned facing random ways are told 0.5 x their heading error, wrapped to
    # (-pi, pi], clipped to the yaw_rate range [-0.3, 0.8]; steered again as the robot turns under random actions.
    block = {"resampling_time": 10.0, "lin_vel_x": [-1, 1], "lin_vel_y": [-1, 1], "yaw_rate": [-0.3, 0.8],
             "heading": [2.5, 2.5]}
    env = make(flat_cfg(commands=block), num_envs=16)
    try:
        env.reset()
        actions = np.random.default_rng(1).normal(0, 0.5, (10, env.num_envs, env.num_acts)).astype(np.float32)
        told = []
        for action in [None, *actions]:
            if action is not None:
                env.step(action)
            drawn = commands(env)[:, 2]
            for i in range(env.num_envs):
                error = math.remainder(2.5 - base_yaw(env.wrapper.getState(i)[0]), 2 * math.pi)
                assert drawn[i] == pytest.approx(np.clip(0.5 * error, -0.3, 0.8), abs=1e-5), (i, error)
            told.append(drawn)
        told = np.array(told)
        assert (told.min(), told.max()) == pytest.approx((-0.3, 0.8), abs=1e-5)  # steered both ways, and clipped
        assert not np.allclose(told[0], told[-1])  # steered step by step, not drawn once
    finally:
        env.close()


def test_same_seed_same_episodes_other_seed_other_ones() -> None:
    cfg = flat_cfg()
    runs = []
    for seed in (3, 3, 4):
        env = make(cfg, num_envs=2, seed=seed)
        try:
            env.reset()
            actions = np.random.default_rng(0).normal(0, 0.5, (20, 2, env.num_acts)).astype(np.float32)
            for action in actions:
                env.step(action)
            runs.append(env.observe(update_statistics=False).copy())
        finally:
            env.close()
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_kinematic_reward_terms_equal_their_definitions_on_the_simulated_state() -> None:
    # Torque drive, so that the torques term is known exactly: target = nominal + 0.5 * action, applied as torque.
    cfg = flat_cfg(actuator={"model": "torque"}, randomization=REMOVE, push=REMOVE, observation_noise=REMOVE,
                   penalty_curriculum=REMOVE,
                   commands={"resampling_time": 10.0, "lin_vel_x": [0.4, 0.4], "lin_vel_y": [-0.2, -0.2],
                             "yaw_rate": [0.3, 0.3], "standing_below": 0.0})
    coefficients = {name: term["coeff"] for name, term in cfg["environment"]["reward"].items()}
    env = make(cfg, num_envs=1)
    try:
        env.reset()
        _, qvel_before = env.wrapper.getState(0)
        action = np.random.default_rng(1).uniform(-1, 1, (1, env.num_acts)).astype(np.float32)
        env.step(action)
        terms = dict(zip(env.reward_names, env.reward_terms()[0]))
        metrics = dict(zip(env.metric_names, env.metrics()[0]))
        qpos, qvel = env.wrapper.getState(0)
    finally:
        env.close()
    body = rotation(qpos)
    v = body.T @ qvel[:3]
    w = qvel[3:6]
    gravity = -body[2]
    command = np.array([0.4, -0.2, 0.3])
    dt = 0.02
    torque = np.clip(NOMINAL + 0.5 * action[0].astype(np.float64), -80, 80)
    expected = {
        "trackingLinVel": math.exp(-np.sum((command[:2] - v[:2]) ** 2) / 0.25),
        "trackingYawRate": math.exp(-(command[2] - w[2]) ** 2 / 0.25),
        "linVelZ": v[2] ** 2,
        "angVelXY": w[0] ** 2 + w[1] ** 2,
        "orientation": gravity[0] ** 2 + gravity[1] ** 2,
        "torques": float(np.sum(torque ** 2)),
        "jointAcc": float(np.sum(((qvel_before[6:] - qvel[6:]) / dt) ** 2)),
        "actionRate": float(np.sum(action[0].astype(np.float64) ** 2)),  # the previous action is 0 after a reset
    }
    for name, value in expected.items():
        assert terms[name] == pytest.approx(coefficients[name] * value, rel=1e-4, abs=1e-9), name
    assert all(value != 0 for name, value in expected.items() if name != "orientation")
    # The metrics the trainer shows: tracking errors of the same state, outside the reward.
    assert list(metrics) == ["linVelError", "yawRateError"]
    assert metrics["linVelError"] == pytest.approx(np.linalg.norm(command[:2] - v[:2]), rel=1e-5)
    assert metrics["yawRateError"] == pytest.approx(abs(command[2] - w[2]), rel=1e-5)


def drawn_physics(cfg: dict[str, Any], seed: int, resets: int) -> np.ndarray:
    """(friction of the feet, base mass, gear) of env 0 after each of `resets` resets."""
    env = make(cfg, num_envs=1, seed=seed)
    try:
        draws = []
        for _ in range(resets):
            env.reset()
            model = simulated_model(env)
            frictions = {model.geom(foot).friction[0] for foot in FEET}
            assert len(frictions) == 1
            draws.append((frictions.pop(), model.body("base").mass[0], model.actuator_gear[0, 0]))
        return np.array(draws)
    finally:
        env.close()


def test_physics_is_randomized_within_the_ranges_and_reproducibly_by_seed() -> None:
    nominal = mujoco.MjModel.from_xml_path(str(ENVS_DIR.parents[1] / "rsc" / "anymal_c" / "anymal_c.xml"))
    base_mass = nominal.body("base").mass[0]
    cfg = flat_cfg(randomization={"friction": [0.3, 0.6], "added_base_mass": [2.0, 4.0], "motor_strength": [0.8, 0.9]})
    draws = drawn_physics(cfg, seed=5, resets=30)
    for column, (low, high) in enumerate([(0.3, 0.6), (base_mass + 2, base_mass + 4), (0.8, 0.9)]):
        assert np.all(draws[:, column] >= low - 1e-9) and np.all(draws[:, column] <= high + 1e-9), column
        assert np.ptp(draws[:, column]) > 0.5 * (high - low), f"column {column} is not spread over its range"
    np.testing.assert_array_equal(draws, drawn_physics(cfg, seed=5, resets=30))
    assert not np.allclose(draws, drawn_physics(cfg, seed=6, resets=30))


def test_without_randomization_the_model_is_the_files() -> None:
    draws = drawn_physics(flat_cfg(randomization=REMOVE), seed=0, resets=2)
    nominal = mujoco.MjModel.from_xml_path(str(ENVS_DIR.parents[1] / "rsc" / "anymal_c" / "anymal_c.xml"))
    np.testing.assert_allclose(draws, [[nominal.geom("LF_FOOT").friction[0], nominal.body("base").mass[0], 1.0]] * 2)


def test_an_added_base_mass_makes_the_robot_heavier_in_the_simulation() -> None:
    # Not only a number in the model: mj_setConst must have run, or the dynamics would use stale derived masses.
    heights = []
    for added in (0.0, 30.0):
        cfg = flat_cfg(randomization={"added_base_mass": [added, added]}, push=REMOVE)
        env = make(cfg, num_envs=1, seed=0)
        try:
            env.reset()
            for _ in range(50):
                env.step(np.zeros((1, env.num_acts), dtype=np.float32))
            heights.append(env.wrapper.getState(0)[0][2])
        finally:
            env.close()
    assert heights[1] < heights[0] - 0.005, heights


def test_pushes_kick_the_base_at_the_cfg_period() -> None:
    runs = []
    for push in (REMOVE, {"interval": 0.1, "velocity_x": [0.0, 0.0], "velocity_y": [1.0, 1.0]}):
        env = make(flat_cfg(push=push), num_envs=1, seed=2)
        try:
            env.reset()
            states = []
            for _ in range(5):
                env.step(np.zeros((1, env.num_acts), dtype=np.float32))
                states.append(env.wrapper.getState(0))
            runs.append(states)
        finally:
            env.close()
    for step in range(4):  # before the first push the runs are the same
        np.testing.assert_array_equal(runs[0][step][1], runs[1][step][1])
    qpos, qvel = runs[1][4]
    yaw = base_yaw(qpos)
    kick = qvel[:2] - runs[0][4][1][:2]
    np.testing.assert_allclose(kick, [-math.sin(yaw), math.cos(yaw)], atol=1e-9)  # 1 m/s to the robot's left


def test_observation_noise_is_on_in_training_and_off_when_evaluating() -> None:
    def first_observation(noise: Any, evaluation: bool) -> np.ndarray:
        env = make(flat_cfg(observation_noise=noise), num_envs=2, seed=7, evaluation=evaluation)
        try:
            env.reset()
            return env.observe(update_statistics=False).copy()
        finally:
            env.close()

    clean = first_observation(REMOVE, evaluation=False)
    noisy = first_observation({"scale": 1.0}, evaluation=False)
    evaluated = first_observation({"scale": 1.0}, evaluation=True)
    difference = np.abs(noisy - clean)
    assert np.all(difference[:, 24:36] > 0) and np.all(difference[:, 24:36] <= 0.05 * 1.5 + 1e-6)  # joint velocities
    np.testing.assert_array_equal(difference[:, COMMAND], 0)  # commands are not sensed
    np.testing.assert_array_equal(evaluated, clean)


def test_the_rough_task_scans_the_terrain_and_starts_envs_on_the_lower_levels() -> None:
    cfg = load_cfg(ROUGH)
    env = make(cfg, num_envs=20, seed=0)
    try:
        assert env.num_obs == 48 + 187
        assert env.metric_names == ["linVelError", "yawRateError", "terrainLevel"]
        env.reset()
        env.step(np.zeros((env.num_envs, env.num_acts), dtype=np.float32))
        levels = env.metrics()[:, 2]
        assert np.all(levels == np.round(levels)) and 0 <= levels.min() and levels.max() <= 5 and np.ptp(levels) > 0
        env.reset()
        observation = env.observe(update_statistics=False)
        model = simulated_model(env)
        assert model.hfield_nrow[0] > 1000 and model.ngeom == mujoco.MjModel.from_xml_path(
            str(ENVS_DIR.parents[1] / "rsc" / "anymal_c" / "anymal_c.xml")).ngeom  # the floor made way for the terrain
        tile = cfg["environment"]["terrain"].get("tile_size", 8.0)
        for i in range(env.num_envs):
            qpos, _ = env.wrapper.getState(i)
            level = math.floor(qpos[0] / tile)
            assert 0 <= level <= cfg["environment"]["curriculum"]["max_init_level"], (i, qpos[:3])
        scan = observation[:, 48:] / 5.0
        # Standing on the terrain: a scan value is base height above the ground there minus 0.5 m, so about 0.1 m
        # under a robot placed on its feet (more where it stands on the top of a step).
        assert np.all(np.abs(np.median(scan, axis=1)) < 0.5), np.median(scan, axis=1)
        assert 0.0 < np.median(scan) < 0.2
        assert np.ptp(scan) > 0.05  # not a flat floor
    finally:
        env.close()


def test_terrain_levels_are_read_set_from_the_next_reset_and_a_wrong_count_is_refused_by_name() -> None:
    cfg = load_cfg(ROUGH)
    env = make(cfg, num_envs=4, seed=0)
    flat = make(flat_cfg(), num_envs=2)
    try:
        top = cfg["environment"]["terrain"]["levels"] - 1
        env.set_terrain_levels(np.array([0, 3, top, 99]))
        env.reset()
        np.testing.assert_array_equal(env.terrain_levels, [0, 3, top, top])  # clamped to the terrain's levels
        with pytest.raises(ValueError, match=r"terrain levels must have shape \(4,\), got \(5,\)"):
            env.set_terrain_levels(np.zeros(5))
        np.testing.assert_array_equal(flat.terrain_levels, [-1, -1])  # no terrain curriculum
    finally:
        env.close()
        flat.close()


def test_a_height_scan_without_terrain_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="height_scan.*terrain"):
        make(flat_cfg(height_scan={"spacing": 0.1}))


def test_a_terrain_border_narrower_than_an_episodes_walk_is_refused_by_name() -> None:
    # The first default, 5 m: robots told to walk backwards from level 0 for 20 s fell off the heightfield.
    cfg = load_cfg(ROUGH)
    cfg["environment"]["terrain"]["border"] = 5.0
    with pytest.raises(ValueError, match=r"terrain\.border.*20\.0 s x 1\.41 m/s = 28\.3 m.*walk off the terrain"):
        make(cfg, num_envs=1)
    cfg["environment"]["max_time"] = 5.0  # shorter episodes fit
    make(cfg, num_envs=1).close()


@pytest.mark.parametrize("key, value, words", [
    ("commands", {"resampling_time": 0, "lin_vel_x": [0, 1], "lin_vel_y": [0, 1], "yaw_rate": [0, 1]},
     "commands.resampling_time"),
    ("commands", {"resampling_time": 1, "training_resampling_time": -2, "lin_vel_x": [0, 1], "lin_vel_y": [0, 1],
                  "yaw_rate": [0, 1]}, "commands.training_resampling_time"),
    ("commands", {"resampling_time": 1, "lin_vel_x": [1, 0], "lin_vel_y": [0, 1], "yaw_rate": [0, 1]},
     "commands.lin_vel_x"),
    ("commands", {"resampling_time": 1, "lin_vel_x": [0, 1], "lin_vel_y": [0, 1], "yaw_rate": [0, 1],
                  "heading": [-180, 180]}, "commands.heading"),  # degrees, not radians
    ("randomization", {"added_base_mass": [-100.0, 0.0]}, "randomization.added_base_mass"),
    ("randomization", {"friction": [-1.0, 1.0]}, "randomization.friction"),
    ("push", {"interval": -1.0}, "push.interval"),
    ("randomization", {"frictoin": [0.5, 1.0]}, "randomization.frictoin"),  # a typo is not silently ignored
])
def test_bad_task_keys_are_named(key: str, value: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        make(flat_cfg(**{key: value}))


def test_a_randomized_env_owns_its_parameters_but_shares_textures_and_terrain() -> None:
    cfg = load_cfg(ROUGH)
    cfg["environment"]["randomization"] = {"friction": [0.2, 0.2]}
    env = make(cfg, num_envs=2, seed=0)
    try:
        env.reset()
        model = simulated_model(env)  # env 0's model, serialized field by field
    finally:
        env.close()
    plain = make(load_cfg(ROUGH) | {"environment": {**load_cfg(ROUGH)["environment"], "randomization": {}}},
                 num_envs=1, seed=0)
    try:
        reference = simulated_model(plain)
    finally:
        plain.close()
    assert model.geom("LF_FOOT").friction[0] == pytest.approx(0.2)
    assert reference.geom("LF_FOOT").friction[0] != pytest.approx(0.2)
    np.testing.assert_array_equal(model.tex_data, reference.tex_data)  # what videos draw
    np.testing.assert_array_equal(model.hfield_data, reference.hfield_data)  # what the feet stand on
    assert model.hfield_data.size > 1_000_000


def test_empty_optional_blocks_are_accepted() -> None:
    env = make(flat_cfg(randomization={}, push={}, observation_noise={}), num_envs=1)
    env.close()


def test_action_delay_applies_each_action_one_control_step_later() -> None:
    def states(delay: bool, first_action: float) -> list[np.ndarray]:
        env = make(flat_cfg(action_delay=delay, push=REMOVE), num_envs=1, seed=4)
        try:
            env.reset()
            result = []
            for action in (first_action, 0.0):
                env.step(np.full((1, env.num_acts), action, dtype=np.float32))
                result.append(env.wrapper.getState(0)[0].copy())
            return result
        finally:
            env.close()

    delayed_a, delayed_b = states(True, 0.5), states(True, -0.5)
    np.testing.assert_array_equal(delayed_a[0], delayed_b[0])  # the first action has not reached the drives yet
    assert not np.allclose(delayed_a[1], delayed_b[1])  # one step later it has
    direct_a, direct_b = states(False, 0.5), states(False, -0.5)
    assert not np.allclose(direct_a[0], direct_b[0])


def first_reward_terms(cfg: dict[str, Any], iterations: list[int], evaluation: bool = False) -> np.ndarray:
    """Env 0's weighted reward terms after one step of fixed actions, the trainer having announced `iterations`."""
    env = make(cfg, seed=3, evaluation=evaluation)
    try:
        for iteration in iterations:
            env.curriculum_callback(iteration)
        actions = np.random.default_rng(0).normal(0.0, 0.5, (env.num_envs, env.num_acts)).astype(np.float32)
        return env.transition(actions).reward_terms[0].copy()
    finally:
        env.close()


def test_the_penalty_curriculum_scales_penalties_by_iteration_and_never_when_evaluating() -> None:
    curriculum = {"initial_scale": 0.2, "iterations": 100}
    whole = first_reward_terms(flat_cfg(penalty_curriculum=REMOVE), [])
    penalties = whole < 0
    assert penalties.sum() >= 5 and (whole > 0).sum() == 2  # the two tracking terms are the rewards
    for iterations, scale in (([], 0.2), ([50], 0.6), ([100], 1.0), ([400], 1.0), ([50, -1], 0.6)):
        scaled = first_reward_terms(flat_cfg(penalty_curriculum=curriculum), iterations)
        np.testing.assert_allclose(scaled[penalties], scale * whole[penalties], rtol=1e-6, err_msg=str(iterations))
        np.testing.assert_array_equal(scaled[~penalties], whole[~penalties])
    evaluated = first_reward_terms(flat_cfg(penalty_curriculum=curriculum), [0], evaluation=True)
    np.testing.assert_array_equal(evaluated, first_reward_terms(flat_cfg(penalty_curriculum=REMOVE), [], evaluation=True))


@pytest.mark.parametrize("block, words", [({"initial_scale": 1.5, "iterations": 10}, "initial_scale' must be in"),
                                          ({"initial_scale": 0.1, "iterations": 0}, "iterations' must be >= 1")])
def test_a_bad_penalty_curriculum_is_named(block: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        make(flat_cfg(penalty_curriculum=block))


def test_the_privileged_critic_sees_the_state_without_noise_and_the_drawn_physics() -> None:
    randomization = {"friction": [0.3, 0.6], "added_base_mass": [2.0, 4.0], "motor_strength": [0.8, 0.9]}

    def first_rows(noise: Any, privileged: bool) -> tuple[np.ndarray, np.ndarray, Any]:
        env = make(flat_cfg(observation_noise=noise, randomization=randomization, privileged_critic=privileged),
                   num_envs=3, seed=4)
        try:
            env.reset()
            observation = env.observe(update_statistics=False).copy()
            return observation, env.critic_observation().copy(), simulated_model(env)
        finally:
            env.close()

    noisy, rows, model = first_rows({"scale": 1.0}, privileged=True)
    clean, _, _ = first_rows(REMOVE, privileged=True)
    without_channel, plain_rows, _ = first_rows({"scale": 1.0}, privileged=False)
    assert rows.shape == (3, 48 + 16) and plain_rows.shape == (3, 48)
    np.testing.assert_array_equal(rows[:, :48], noisy)  # the policy's part is the observation...
    np.testing.assert_array_equal(noisy, without_channel)  # ...which the channel leaves as it was
    assert np.all(np.abs(noisy[:, :9] - clean[:, :9]) > 0)
    np.testing.assert_array_equal(rows[:, 48:57], clean[:, :9])  # velocities and gravity without noise
    nominal = mujoco.MjModel.from_xml_path(str(ENVS_DIR.parents[1] / "rsc" / "anymal_c" / "anymal_c.xml"))
    # Env 2's model (simulated_model shows env 0): friction, added base mass and motor strength as drawn.
    np.testing.assert_allclose(rows[0, 61:64], [model.geom("LF_FOOT").friction[0],
                                                model.body("base").mass[0] - nominal.body("base").mass[0],
                                                model.actuator_gear[0, 0]], rtol=1e-6)


def test_the_privileged_critic_knows_which_feet_touch_the_ground() -> None:
    env = make(flat_cfg(privileged_critic=True, push=REMOVE), num_envs=2, seed=0)
    zeros = np.zeros((2, env.num_acts), dtype=np.float32)
    try:
        env.reset()
        for _ in range(40):  # standing still: all four feet down
            step = env.transition(zeros, update_statistics=False)
        np.testing.assert_array_equal(step.critic_observation[:, 57:61], 1.0)
        qpos, qvel = env.wrapper.getState(0)
        qpos[2] += 1.0
        env.wrapper.setState(0, qpos, qvel)
        step = env.transition(zeros, update_statistics=False)  # 0.02 s into a 1 m fall
        np.testing.assert_array_equal(step.critic_observation[:, 57:61], [[0.0] * 4, [1.0] * 4])
    finally:
        env.close()


def test_the_rough_privileged_critic_scans_the_terrain_without_noise() -> None:
    env = make(cfg_with(ROUGH, privileged_critic=True), num_envs=4, seed=0)
    try:
        assert (env.num_obs, env.num_critic_obs) == (48 + 187, 48 + 187 + 16 + 187)
        env.reset()
        observation = env.observe(update_statistics=False)
        rows = env.critic_observation()
        clean_scan, noisy_scan = rows[:, 48 + 187 + 16:], observation[:, 48:]
        assert 0 < np.abs(clean_scan - noisy_scan).max() <= 5 * 0.1 + 1e-5  # legged_gym's 0.1 m, times the scale
    finally:
        env.close()


def test_the_critic_only_values_are_normalized_like_the_observation() -> None:
    cfg = flat_cfg(privileged_critic=True)
    raw = make(cfg, num_envs=4, seed=3)
    normalizing = make_vec_env(ENV, cfg, "test cfg", num_envs=4, num_threads=2, seed=3, normalize_ob=True)
    try:
        mean, var = np.linspace(-1.0, 1.0, 64), np.linspace(0.5, 2.0, 64)
        normalizing.set_statistics(mean, var, 100.0)
        for env in (raw, normalizing):
            env.reset()
            env.observe(update_statistics=False)
        expected = np.clip((raw.critic_observation() - mean) / np.sqrt(var + 1e-8), -10.0, 10.0)
        np.testing.assert_allclose(normalizing.critic_observation(), expected, rtol=1e-5, atol=1e-5)
        normalizing.transition(np.zeros((4, normalizing.num_acts), dtype=np.float32))
        new_mean, _, count = normalizing.get_statistics()
        assert count == 104 and np.all(new_mean[48:60] != mean[48:60])  # the critic's columns are counted too
    finally:
        raw.close()
        normalizing.close()


def test_an_ended_episode_keeps_its_own_privileged_values() -> None:
    # 0.1 s episodes end at every fifth step, and each new one draws its own friction.
    env = make(flat_cfg(privileged_critic=True, max_time=0.1, randomization={"friction": [0.3, 1.2]}), num_envs=3)
    zeros = np.zeros((3, env.num_acts), dtype=np.float32)
    try:
        env.reset()
        for _ in range(4):
            before = env.transition(zeros).critic_observation[:, 61].copy()
        step = env.transition(zeros)
        assert step.truncated.all()
        np.testing.assert_array_equal(step.final_critic_observation[:, 61], before)
        assert np.all(step.critic_observation[:, 61] != before)
    finally:
        env.close()
