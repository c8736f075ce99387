"""rsg_anymal's model and resets as a user relies on them: joints stop at ANYmal C's limits, no episode starts
inside the floor whatever the reset noise, and the policy can see and is paid for keeping its heading."""
from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from conftest import anymal_cfg
from raisimGymTorch.env.make import ENVS_DIR, make_vec_env

FOOT_GEOMS = {f"{leg}_FOOT" for leg in ("LF", "RF", "LH", "RH")}
# shared/reference/anymal_c.md: ANYbotics' description of ANYmal C.
PUBLIC_RANGES = {"LF_HAA": (-0.72, 0.49), "LH_HAA": (-0.72, 0.49), "RF_HAA": (-0.49, 0.72), "RH_HAA": (-0.49, 0.72),
                 **{f"{leg}_{joint}": (-3 * math.pi, 3 * math.pi) for leg in ("LF", "RF", "LH", "RH")
                    for joint in ("HFE", "KFE")}}


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(ENVS_DIR.parents[1] / "rsc" / "anymal_c" / "anymal_c.xml"))


def test_every_leg_joint_has_the_public_range(model: mujoco.MjModel) -> None:
    for name, (low, high) in PUBLIC_RANGES.items():
        joint = model.joint(name)
        assert joint.limited[0], name
        assert joint.range == pytest.approx([low, high], abs=1e-4), name


@pytest.mark.parametrize("name, direction", [("LF_HAA", 1.0), ("RF_HAA", -1.0), ("LH_KFE", 1.0), ("RH_HFE", -1.0)])
def test_a_joint_driven_into_its_limit_stops_there(model: mujoco.MjModel, name: str, direction: float) -> None:
    data = mujoco.MjData(model)
    model.opt.gravity[:] = 0  # the base floats: only the driven joint moves
    joint = model.joint(name)
    limit = joint.range[1] if direction > 0 else joint.range[0]
    data.qpos[2] = 2.0
    data.qpos[joint.qposadr[0]] = limit - direction * 0.05
    actuator = model.actuator(name).id
    deepest = 0.0
    for _ in range(800):  # 2 s at 80 N m, the drives' peak torque, pushing outward
        data.ctrl[actuator] = direction * 80.0
        mujoco.mj_step(model, data)
        deepest = max(deepest, direction * (data.qpos[joint.qposadr[0]] - limit))
    assert deepest < 0.05, f"{name} went {deepest:.3f} rad past its limit"


def test_no_reset_starts_with_a_body_on_the_floor(model: mujoco.MjModel) -> None:
    # 0.3 rad of joint noise put a shank inside the floor in 35 of 50 episodes when spawning at a fixed height.
    env = make_vec_env("rsg_anymal", anymal_cfg(reset_noise=0.3, max_time=0.05), num_envs=100, num_threads=1, seed=3)
    data = mujoco.MjData(model)
    floor = model.geom("floor").id
    feet = {model.geom(name).id for name in FOOT_GEOMS}
    try:
        actions = np.zeros((env.num_envs, env.num_acts), np.float32)
        touching, heights = [], []
        for _ in range(10):  # max_time 0.05 s: a fresh reset every 5 steps
            for _ in range(5):
                env.step(actions)
            for i in range(env.num_envs):
                qpos, qvel = env.wrapper.getState(i)
                data.qpos[:], data.qvel[:] = qpos, qvel
                mujoco.mj_forward(model, data)
                heights.append(qpos[2])
                touching += [contact.geom1 if contact.geom2 == floor else contact.geom2
                             for contact in data.contact[:data.ncon] if floor in (contact.geom1, contact.geom2)]
        assert not [model.geom(geom).name for geom in touching if geom not in feet]
        assert np.ptp(heights) > 0.01, "the spawn height should follow the legs' pose"
    finally:
        env.close()


def test_reset_places_the_lowest_geometry_just_above_the_floor(model: mujoco.MjModel) -> None:
    env = make_vec_env("rsg_anymal", anymal_cfg(reset_noise=0.3, spawn_clearance=0.002), num_envs=20,
                       num_threads=1, seed=5)
    data = mujoco.MjData(model)
    try:
        for i in range(env.num_envs):
            data.qpos[:] = env.wrapper.getState(i)[0]
            mujoco.mj_kinematics(model, data)
            lowest = min(data.geom_xpos[g, 2] - model.geom_size[g, 0] for g in range(model.ngeom)
                         if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE)
            assert lowest >= 0.002 - 1e-9
            assert lowest < 0.002 + 0.1  # a foot or a shank end is near the floor, not 10 cm above it
    finally:
        env.close()


def test_the_observation_ends_with_the_heading_and_turning_is_penalized() -> None:
    env = make_vec_env("rsg_anymal", anymal_cfg(reset_noise=0.0), num_envs=1, num_threads=1, seed=0,
                       normalize_ob=False)
    try:
        assert env.num_obs == 35
        qpos, qvel = env.wrapper.getState(0)
        yaw = 0.4
        qpos[3:7] = [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)]
        env.wrapper.setState(0, qpos, qvel)
        assert env.observe(update_statistics=False)[0, 34] == pytest.approx(yaw, abs=1e-5)
        env.step(np.zeros((1, env.num_acts), np.float32))
        heading = env.get_reward_info()[0]["heading"]
        assert heading == pytest.approx(-1.0 * yaw**2, rel=0.1)  # coeff -1 on yaw^2 (cfg.yaml)
    finally:
        env.close()
