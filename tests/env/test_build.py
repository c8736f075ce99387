"""Building an env kept outside the repository and linked into env/envs, as users of the original do.

A copy of the repository gets a symlink to a throw-away env, rsg_tiny: a box with two arms loaded
from a URDF, which exercises the URDF path (free base 'root', floor 'floor', a motor per joint), the
C++ helpers (bodyId, geomId, contacts, PD control) and the core's handling of diverged physics and
non-finite observations, injected on purpose through cfg keys.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_envs, build_log, copy_repository

pytestmark = pytest.mark.slow

TINY_URDF = """\
<?xml version="1.0"?>
<robot name="tiny">
  <link name="base">
    <inertial>
      <origin xyz="0 0 0"/>
      <mass value="2.0"/>
      <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.03" iyz="0" izz="0.03"/>
    </inertial>
    <collision><geometry><box size="0.4 0.2 0.1"/></geometry></collision>
  </link>
  <link name="left_arm">
    <inertial>
      <origin xyz="0.1 0 0"/>
      <mass value="0.2"/>
      <inertia ixx="0.0001" ixy="0" ixz="0" iyy="0.0008" iyz="0" izz="0.0008"/>
    </inertial>
    <collision><origin xyz="0.1 0 0"/><geometry><box size="0.2 0.04 0.04"/></geometry></collision>
  </link>
  <link name="right_arm">
    <inertial>
      <origin xyz="0.1 0 0"/>
      <mass value="0.2"/>
      <inertia ixx="0.0001" ixy="0" ixz="0" iyy="0.0008" iyz="0" izz="0.0008"/>
    </inertial>
    <collision><origin xyz="0.1 0 0"/><geometry><box size="0.2 0.04 0.04"/></geometry></collision>
  </link>
  <joint name="left_joint" type="revolute">
    <parent link="base"/>
    <child link="left_arm"/>
    <origin xyz="0 0.15 0.08"/>
    <axis xyz="0 0 1"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="10"/>
  </joint>
  <joint name="right_joint" type="revolute">
    <parent link="base"/>
    <child link="right_arm"/>
    <origin xyz="0 -0.15 0.08"/>
    <axis xyz="0 0 1"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="10"/>
  </joint>
</robot>
"""

TINY_CFG = """\
seed: 0
environment:
  num_envs: 2
  num_threads: 2
  simulation_dt: 0.002
  control_dt: 0.01
  max_time: 10.0
  initial_height: 0.5
  p_gain: 2.0
  d_gain: 0.2
  reward:
    height:
      coeff: 1.0
    effort:
      coeff: -0.01
"""

TINY_ENVIRONMENT = r"""
// A box with two arms on yaw joints, dropped onto the floor. The model is a URDF, so World adds
// the free joint 'root', the plane 'floor' and one motor per joint, named like the joint.
#pragma once

#include <cmath>
#include <limits>
#include <string>

#include "RaisimGymEnv.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg) {
    world_ = std::make_unique<World>(resourceDir_ + "/tiny.urdf", simulation_dt_);
    const mjModel* m = world_->model();
    const int root = mj_name2id(m, mjOBJ_JOINT, "root");
    if (root != 0 || m->jnt_type[root] != mjJNT_FREE) throw std::logic_error("the URDF got no free joint 'root'");
    for (const char* joint : {"left_joint", "right_joint"})
      if (mj_name2id(m, mjOBJ_ACTUATOR, joint) < 0) throw std::logic_error(std::string("no motor named ") + joint);
    baseBody_ = world_->bodyId("base");
    floorGeom_ = world_->geomId("floor");

    const Eigen::VectorXd kp = Eigen::VectorXd::Constant(2, cfg["p_gain"].as<double>());
    const Eigen::VectorXd kd = Eigen::VectorXd::Constant(2, cfg["d_gain"].as<double>());
    // Fault injection: an env that forgets to choose its actuation.
    if (!cfg.get<bool>("forget_actuation", false)) world_->setPdGains(kp, kd);
    initialHeight_ = cfg["initial_height"].as<double>();
    // Fault injection for the tests: the env seeded `nan_env` gets a NaN velocity at episode step
    // `nan_step`; the env seeded `nan_observation_env` reports a NaN base height.
    nanEnv_ = cfg.get<int>("nan_env", -1);
    nanStep_ = cfg.get<int>("nan_step", -1);
    nanObservationEnv_ = cfg.get<int>("nan_observation_env", -1);

    rewards_.initialize(cfg["reward"], {"height", "effort"});
    heightTerm_ = rewards_.term("height");
    effortTerm_ = rewards_.term("effort");
    obDim_ = 6;
    actionDim_ = 2;
    qpos_ = Eigen::VectorXd::Zero(world_->nq());
    qvel_ = Eigen::VectorXd::Zero(world_->nv());
    target_ = Eigen::VectorXd::Zero(2);
    zero_ = Eigen::VectorXd::Zero(2);
  }

  void setSeed(int seed) final {
    RaisimGymEnv::setSeed(seed);
    seed_ = seed;
  }

  void reset() final {
    qpos_.setZero();
    qvel_.setZero();
    qpos_[2] = initialHeight_;
    qpos_[3] = 1.0;
    world_->setState(qpos_, qvel_);
    steps_ = 0;
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    target_ = action.cast<double>();
    world_->setPdTarget(target_, zero_);
    double effort = 0.0;
    for (int substep = 0; substep < getSubsteps(); ++substep) {
      world_->integrate();
      effort += world_->jointTorque().squaredNorm();
    }
    if (seed_ == nanEnv_ && ++steps_ == nanStep_) world_->data()->qvel[0] = std::numeric_limits<double>::quiet_NaN();
    rewards_.record(heightTerm_, world_->bodyPosition(baseBody_)[2]);
    rewards_.record(effortTerm_, effort);
    return rewards_.sum();
  }

  void observe(Eigen::Ref<EigenVec> ob) final {
    const auto qpos = world_->generalizedCoordinate();
    const auto qvel = world_->generalizedVelocity();
    ob[0] = seed_ == nanObservationEnv_ ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(qpos[2]);
    ob.segment<2>(1) = qpos.tail<2>().cast<float>();
    ob.segment<2>(3) = qvel.tail<2>().cast<float>();
    ob[5] = baseTouchesFloor() ? 1.f : 0.f;
  }

  bool isTerminalState(float& terminalReward) final {
    terminalReward = 0.f;
    return false;
  }

 private:
  bool baseTouchesFloor() const {
    const mjData* d = world_->data();
    for (int c = 0; c < world_->contactCount(); ++c) {
      const auto [bodyA, bodyB] = world_->contactBodies(c);
      const bool floorInvolved = d->contact[c].geom[0] == floorGeom_ || d->contact[c].geom[1] == floorGeom_;
      if (floorInvolved && (bodyA == baseBody_ || bodyB == baseBody_)) return true;
    }
    return false;
  }

  Eigen::VectorXd qpos_, qvel_, target_, zero_;
  double initialHeight_ = 0.5;
  int baseBody_ = -1, floorGeom_ = -1;
  int heightTerm_ = 0, effortTerm_ = 0;
  int seed_ = 0, steps_ = 0;
  int nanEnv_ = -1, nanStep_ = -1, nanObservationEnv_ = -1;
};

}  // namespace raisim
"""

# Runs inside the built copy; prints one JSON object for the tests to check.
EXERCISE_TINY = r"""
import json, sys, warnings
import numpy as np
import raisimGymTorch
from raisimGymTorch.env import make
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.env.bin import rsg_tiny

resource_dir = sys.argv[1]
environment = make.load_cfg(resource_dir + "/cfg.yaml")["environment"]
out = {"package": raisimGymTorch.__file__, "module": rsg_tiny.__file__, "available": make.available_envs()}

env = RaisimGymVecEnv(rsg_tiny.RaisimGymEnv(resource_dir, environment), normalize_ob=False)
qpos, qvel = env.wrapper.getState(0)
out.update(nq=len(qpos), nv=len(qvel), nu=env.num_acts, num_obs=env.num_obs, reward_names=env.reward_names)
heights, contact = [], []
for _ in range(100):
    env.step(np.zeros((2, 2), np.float32))
    ob = env.observe(False)
    heights.append(float(ob[0, 0]))
    contact.append(float(ob[0, 5]))
out.update(heights=heights, contact=contact)
start = env.observe(False)[:, 1:3].tolist()
target = np.array([[0.5, -0.3], [-0.4, 0.2]], np.float32)
for _ in range(200):
    env.step(target)
out.update(arm_start=start, arm_end=env.observe(False)[:, 1:3].tolist(), arm_target=target.tolist())
env.close()

# An env that never chose how its actuators work is told so at its first step, instead of applying nothing.
forgetful = RaisimGymVecEnv(rsg_tiny.RaisimGymEnv(resource_dir, dict(environment, forget_actuation=True)),
                            normalize_ob=False)
try:
    forgetful.step(np.zeros((2, 2), np.float32))
    out["no_actuation_error"] = None
except Exception as error:
    out["no_actuation_error"] = f"{type(error).__name__}: {error}"
forgetful.close()

# Diverged physics in env 1 at its third step.
cfg = dict(environment, num_envs=3, nan_env=1, nan_step=3)
env = RaisimGymVecEnv(rsg_tiny.RaisimGymEnv(resource_dir, cfg), normalize_ob=True, seed=0)
steps = []
for _ in range(4):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reward, done = env.step(np.zeros((3, 2), np.float32))
    ob = env.observe(True)
    steps.append({"reward": reward.tolist(), "done": done.tolist(), "truncated": env.truncated.tolist(),
                  "diverged_resets": env.diverged_resets, "warnings": [w.category.__name__ for w in caught],
                  "observation_finite": np.isfinite(ob).all(axis=1).tolist()})
mean, var, count = env.get_statistics()
out.update(diverged=steps, diverged_statistics_finite=bool(np.isfinite(mean).all() and np.isfinite(var).all()))
env.close()

# A NaN observation row in env 2 does not reach the statistics.
cfg = dict(environment, num_envs=3, nan_observation_env=2)
env = RaisimGymVecEnv(rsg_tiny.RaisimGymEnv(resource_dir, cfg), normalize_ob=True, seed=0)
ob = env.observe(True)
mean, var, count = env.get_statistics()
out.update(nan_row_finite=np.isfinite(ob).all(axis=1).tolist(), nan_row_count=count,
           nan_row_statistics_finite=bool(np.isfinite(mean).all() and np.isfinite(var).all()))
env.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    """A copy of the repository, with rsg_tiny symlinked in from outside and a folder that is no env."""
    root = tmp_path_factory.mktemp("build")
    repo = copy_repository(root / "repo")
    external = root / "external" / "rsg_tiny"
    external.mkdir(parents=True)
    (external / "Environment.hpp").write_text(TINY_ENVIRONMENT)
    (external / "cfg.yaml").write_text(TINY_CFG)
    (external / "tiny.urdf").write_text(TINY_URDF)
    envs = repo / "raisimGymTorch" / "env" / "envs"
    (envs / "rsg_tiny").symlink_to(external, target_is_directory=True)
    (envs / "not_an_env").mkdir()
    (envs / "not_an_env" / "cfg.yaml").write_text("environment: {}\n")
    return repo


@pytest.fixture(scope="module")
def tiny(repo_copy):
    """Builds rsg_tiny in the copy and returns what EXERCISE_TINY printed."""
    build = build_envs(repo_copy, "rsg_tiny")
    assert build.returncode == 0, build_log(build)
    environment = dict(os.environ, PYTHONPATH=str(repo_copy))
    resource_dir = repo_copy / "raisimGymTorch" / "env" / "envs" / "rsg_tiny"
    result = subprocess.run(
        [sys.executable, "-c", EXERCISE_TINY, str(resource_dir)],
        cwd=repo_copy, env=environment, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_symlinked_env_is_built_into_the_copy(repo_copy, tiny):
    assert Path(tiny["package"]).is_relative_to(repo_copy), "the copy's package was imported, not the checkout's"
    module = Path(tiny["module"])
    assert module.parent == repo_copy / "raisimGymTorch" / "env" / "bin" and module.name.startswith("rsg_tiny.")
    assert "rsg_tiny" in tiny["available"] and "not_an_env" not in tiny["available"]


def test_urdf_gets_a_free_base_and_a_motor_per_joint(tiny):
    assert (tiny["nq"], tiny["nv"], tiny["nu"]) == (7 + 2, 6 + 2, 2)
    assert tiny["num_obs"] == 6
    assert tiny["reward_names"] == ["height", "effort"]


def test_robot_falls_onto_the_floor_and_rests_there(tiny):
    heights, contact = tiny["heights"], tiny["contact"]
    assert heights[0] < 0.5, "released at 0.5 m, the base falls"
    assert heights[10] < heights[0] - 0.05
    resting = heights[-20:]
    assert max(resting) - min(resting) < 1e-3, "after a second the base lies still"
    assert 0.03 < resting[-1] < 0.07, "on the floor: half the box height (0.05 m) above it"
    assert contact[0] == 0.0 and contact[-1] == 1.0, "base-floor contact found through bodyId/geomId/contacts"


def test_pd_control_moves_the_arms_to_their_targets(tiny):
    for start, end, target in zip(tiny["arm_start"], tiny["arm_end"], tiny["arm_target"]):
        for q0, q1, goal in zip(start, end, target):
            assert abs(q0) < 1e-3
            assert abs(q1 - goal) < 0.05 * abs(goal), f"joint at {q1}, target {goal}"


def test_an_env_without_actuation_is_told_so(tiny):
    assert tiny["no_actuation_error"] is not None, "stepping must not silently apply no torque"
    assert "no actuation chosen" in tiny["no_actuation_error"] and "setPdGains" in tiny["no_actuation_error"]


def test_diverged_env_is_reset_alone_with_a_warning(tiny):
    before, at, after = tiny["diverged"][1], tiny["diverged"][2], tiny["diverged"][3]
    assert before["done"] == [False, False, False] and before["warnings"] == []
    assert at["done"] == [False, True, False]
    assert at["truncated"] == [False, False, False]
    assert at["reward"][1] == 0.0 and at["reward"][0] != 0.0
    assert at["diverged_resets"] == 1
    assert at["warnings"] == ["RuntimeWarning"]
    assert at["observation_finite"] == [True, True, True], "the diverged env was reset to a finite state"
    assert after["done"] == [False, False, False] and after["diverged_resets"] == 1 and after["warnings"] == []
    assert after["reward"][1] == tiny["diverged"][0]["reward"][1], "env 1 replays a fresh episode's first step"
    assert tiny["diverged_statistics_finite"]


def test_non_finite_observation_rows_are_left_out_of_the_statistics(tiny):
    assert tiny["nan_row_finite"] == [True, True, False]
    assert tiny["nan_row_count"] == 2.0
    assert tiny["nan_row_statistics_finite"]


def test_unknown_env_in_rsg_envs_fails_listing_the_available_ones(repo_copy):
    result = build_envs(repo_copy, "nonexistent")
    assert result.returncode != 0
    assert "nonexistent" in result.stderr
    assert "rsg_tiny" in result.stderr and "rsg_anymal" in result.stderr


def test_folder_without_environment_hpp_is_not_an_env(repo_copy):
    result = build_envs(repo_copy, "not_an_env")
    assert result.returncode != 0 and "unknown envs ['not_an_env']" in result.stderr


def package_folder(name: str) -> Path:
    return Path(list(importlib.util.find_spec(name).submodule_search_locations)[0])


def test_cmake_skips_a_folder_without_environment_hpp(repo_copy, tmp_path):
    import pybind11

    configure = subprocess.run(
        [
            "cmake", "-S", str(repo_copy), "-B", str(tmp_path / "cmake"),
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DMUJOCO_DIR={package_folder('mujoco')}",
            f"-DEIGEN_INCLUDE_DIR={package_folder('eigency') / 'eigen'}",
        ],
        capture_output=True, text=True,
    )
    assert configure.returncode == 0, configure.stderr
    built = [line for line in configure.stdout.splitlines() if "raisimGymTorch environments:" in line]
    assert len(built) == 1
    names = built[0].split(":", 1)[1].strip().split(";")
    assert "rsg_tiny" in names and "rsg_anymal" in names and "not_an_env" not in names
