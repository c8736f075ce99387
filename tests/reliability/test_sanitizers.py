"""Issue 7, item 4: the C++ core under AddressSanitizer and UndefinedBehaviorSanitizer.

A copy of the tracked files is built with ``RSG_SANITIZE=1`` (CMake option RSG_SANITIZE: -fsanitize=address,undefined)
for rsg_anymal and rsg_urdf_probe, a throw-away env that loads its model from a URDF, so that World's URDF path
(free base, floor, motors) and its errors run too. A script then constructs envs, steps them through falls,
time-outs and diverged physics, uses two envs from two threads, closes one while it is being stepped, and
walks the error paths: bad cfg keys, NaN, deep and alias-bomb cfgs, wrong arrays, missing and malformed MJCF
and URDF files. The toolkit module is built too: terrain contacts and height scans run inside the field, on its
edges and beyond them. It runs under Python with the sanitizer runtimes preloaded; any report fails the test.
Python leaks by design, so leak detection is off. Compiling takes a few minutes, hence the slow mark.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import build_envs, build_log, copy_repository
from reliability_helpers import TESTS_DIR, describe_exit

pytestmark = pytest.mark.slow

PROBE_ENVIRONMENT = r"""
// A box with one arm, loaded from probe.urdf in the resource dir: exercises World's URDF path.
#pragma once

#include <string>

#include "RaisimGymEnv.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg) {
    world_ = std::make_unique<World>(resourceDir_ + "/probe.urdf", simulation_dt_);
    world_->setPdGains(Eigen::VectorXd::Constant(world_->nu(), 5.0), Eigen::VectorXd::Constant(world_->nu(), 0.5));
    baseBody_ = world_->bodyId("base");
    rewards_.initialize(cfg["reward"], {"height"});
    obDim_ = 2;
    actionDim_ = world_->nu();
    qpos_ = Eigen::VectorXd::Zero(world_->nq());
    qvel_ = Eigen::VectorXd::Zero(world_->nv());
    zero_ = Eigen::VectorXd::Zero(world_->nu());
  }

  void reset() final {
    qpos_.setZero();
    qvel_.setZero();
    qpos_[2] = 0.3;
    qpos_[3] = 1.0;
    world_->setState(qpos_, qvel_);
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    world_->setPdTarget(action.cast<double>(), zero_);
    for (int substep = 0; substep < getSubsteps(); ++substep) world_->integrate();
    rewards_.record(0, world_->bodyPosition(baseBody_)[2]);
    return rewards_.sum();
  }

  void observe(Eigen::Ref<EigenVec> ob) final {
    ob[0] = static_cast<float>(world_->generalizedCoordinate()[2]);
    ob[1] = static_cast<float>(world_->contactCount());
  }

  bool isTerminalState(float& terminalReward) final {
    terminalReward = 0.f;
    return false;
  }

 private:
  Eigen::VectorXd qpos_, qvel_, zero_;
  int baseBody_ = -1;
};

}  // namespace raisim
"""

PROBE_URDF = """<?xml version="1.0"?>
<robot name="probe">
  <link name="base">
    <inertial><mass value="1.0"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <collision><geometry><box size="0.2 0.2 0.1"/></geometry></collision>
  </link>
  <link name="arm">
    <inertial><origin xyz="0.1 0 0"/><mass value="0.1"/>
      <inertia ixx="0.0001" ixy="0" ixz="0" iyy="0.0004" iyz="0" izz="0.0004"/></inertial>
    <collision><origin xyz="0.1 0 0"/><geometry><box size="0.2 0.03 0.03"/></geometry></collision>
  </link>
  <joint name="hinge" type="revolute">
    <parent link="base"/><child link="arm"/><origin xyz="0 0 0.06"/><axis xyz="0 0 1"/>
    <limit lower="-1" upper="1" effort="5" velocity="5"/>
  </joint>
</robot>
"""

PROBE_CFG = """\
environment:
  num_envs: 2
  num_threads: 2
  simulation_dt: 0.002
  control_dt: 0.01
  max_time: 0.2
  reward:
    height:
      coeff: 1.0
"""

# Runs in the sanitized copy; every expectation is an assert, so a wrong outcome also exits non-zero.
EXERCISE = r"""
import os, sys, tempfile, threading, time
import numpy as np
from pathlib import Path
from conftest import anymal_cfg, random_actions, step_buffers
from raisimGymTorch.env.make import RESOURCE_DIR, load_cfg, make_vec_env
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.env.bin import _toolkit, rsg_anymal, rsg_urdf_probe
import warnings
warnings.simplefilter("ignore", RuntimeWarning)
assert Path(rsg_anymal.__file__).is_relative_to(Path.cwd()), f"not the sanitized build: {rsg_anymal.__file__}"
assert b"__asan_report" in Path(rsg_anymal.__file__).read_bytes(), "the module is not instrumented"
assert "libasan" in Path("/proc/self/maps").read_text(), "the ASan runtime is not loaded"

def raises(kind, text, call):
    try:
        call()
    except kind as error:
        assert text in str(error), (text, str(error))
        return
    raise AssertionError(f"expected {kind.__name__} {text!r}")

# Normal use: falls, time-outs, statistics, final observations, reward terms, state round trip.
env = make_vec_env("rsg_anymal", anymal_cfg(max_time=0.3), num_envs=4, num_threads=2, seed=1)
for action in random_actions(4, env.num_acts, 120, seed=2, scale=1.5):
    env.observe(update_statistics=True)
    reward, done = env.step(action)
    env.final_observation(); env.reward_terms(); env.get_reward_info()
    assert np.isfinite(reward).all()
    step = env.transition(action)  # the one-call step: every buffer written by the pool's threads
    assert np.isfinite(step.observation).all() and np.isfinite(step.reward).all()
qpos, qvel = env.wrapper.getState(1)
env.wrapper.setState(1, qpos, qvel)
env.set_statistics(*env.get_statistics())
# Error paths of the arrays.
raises(ValueError, "action contains NaN", lambda: env.step(np.full((4, env.num_acts), np.nan, np.float32)))
raises(TypeError, "dtype float32", lambda: env.step(np.zeros((4, env.num_acts))))
raises(ValueError, "C-contiguous", lambda: env.step(np.zeros((4, 2 * env.num_acts), np.float32)[:, ::2]))
raw = np.zeros(4 * env.num_acts * 4 + 1, np.uint8)
raises(ValueError, "aligned", lambda: env.step(np.frombuffer(raw.data, np.float32, 4 * env.num_acts, 1).reshape(4, -1)))
raises(ValueError, "qpos contains inf", lambda: env.wrapper.setState(0, np.full_like(qpos, np.inf), qvel))
raises(IndexError, "out of range", lambda: env.wrapper.getState(4))
raises(ValueError, "seed must be between", lambda: env.seed(2**31 - 1))
env.close()
raises(RuntimeError, "closed", env.observe)

# Diverged physics.
env = make_vec_env("rsg_anymal", anymal_cfg(simulation_dt=0.2, control_dt=0.2, max_time=1000.0, action_std=100.0),
                   num_envs=4, num_threads=2)
for action in random_actions(4, env.num_acts, 40, seed=0, scale=100.0):
    env.step(action); env.observe(update_statistics=True)
assert env.diverged_resets > 0
env.close()

# Error paths of the cfg and the model files.
raises(ValueError, "unknown cfg key 'rewrad'", lambda: make_vec_env("rsg_anymal", anymal_cfg(rewrad=1), num_envs=2))
raises(ValueError, "is NaN", lambda: make_vec_env("rsg_anymal", anymal_cfg(p_gain=float("nan")), num_envs=2))
environment = anymal_cfg(num_envs=2, num_threads=2)["environment"]
deep = node = {}
for _ in range(100000):
    node["x"] = {}; node = node["x"]
raises(ValueError, "nested deeper", lambda: rsg_anymal.RaisimGymEnv(str(RESOURCE_DIR), {**environment, "deep": deep}))
bomb = [1.0] * 10
for _ in range(7):
    bomb = [bomb] * 10
raises(ValueError, "more than 100000", lambda: rsg_anymal.RaisimGymEnv(str(RESOURCE_DIR), {**environment, "b": bomb}))
scratch = Path(tempfile.mkdtemp())
raises(FileNotFoundError, "model file not found", lambda: rsg_anymal.RaisimGymEnv(str(scratch), environment))
(scratch / "anymal_c").mkdir()
(scratch / "anymal_c" / "anymal_c.xml").write_text("<mujoco><worldbody><body name='a'></worldbody></mujoco>")
raises(ValueError, "MuJoCo rejected", lambda: rsg_anymal.RaisimGymEnv(str(scratch), environment))

# The URDF env: a working one, then broken URDFs.
probe_dir = Path(sys.argv[1])
probe = RaisimGymVecEnv(rsg_urdf_probe.RaisimGymEnv(str(probe_dir), load_cfg(probe_dir / "cfg.yaml")["environment"]))
for _ in range(50):
    probe.step(np.full((2, probe.num_acts), 0.5, np.float32)); probe.observe()
probe.close()
broken = {
    "not xml": "this is not a robot",
    "no link": "<robot name='r'></robot>",
    "joint to a missing link": "<robot name='r'><link name='a'/><joint name='j' type='revolute'><parent link='a'/>"
                               "<child link='ghost'/><axis xyz='0 0 1'/></joint></robot>",
    "missing mesh": "<robot name='r'><link name='a'><collision><geometry><mesh filename='none.stl'/></geometry>"
                    "</collision></link></robot>",
}
probe_environment = {"num_envs": 1, "num_threads": 1, "simulation_dt": 0.002, "control_dt": 0.01,
                     "reward": {"height": {"coeff": 1.0}}}
for name, text in broken.items():
    folder = scratch / name.replace(" ", "_")
    folder.mkdir()
    (folder / "probe.urdf").write_text(text)
    try:
        rsg_urdf_probe.RaisimGymEnv(str(folder), probe_environment)
    except (ValueError, RuntimeError) as error:
        print(f"URDF {name}: {type(error).__name__}: {str(error)[:120]}")
    else:
        raise AssertionError(f"the URDF '{name}' was accepted")

# Threads: two envs at once, and close() while another thread steps.
envs = [make_vec_env("rsg_anymal", anymal_cfg(), num_envs=4, num_threads=1, seed=s) for s in (1, 2)]
def drive(env):
    for action in random_actions(4, env.num_acts, 40, seed=3):
        env.step(action); env.observe()
threads = [threading.Thread(target=drive, args=(e,)) for e in envs]
for t in threads: t.start()
for t in threads: t.join()
for e in envs: e.close()
for _ in range(5):
    impl = rsg_anymal.RaisimGymEnv(str(RESOURCE_DIR), anymal_cfg(num_envs=8, num_threads=1)["environment"])
    zero = np.zeros((8, impl.getActionDim()), np.float32)
    impl.setStepBuffers(**step_buffers(impl))
    def stepper():
        try:
            while True: impl.step(zero)
        except RuntimeError as error:
            assert "closed" in str(error)
    threads = [threading.Thread(target=stepper) for _ in range(2)]
    for t in threads: t.start()
    time.sleep(0.05)
    impl.close()
    for t in threads: t.join()

# Terrain: the heightfield's own contacts (HeightfieldContacts.hpp) and the height scan, inside the field, at its
# edges and beyond them (robots spawned on the edge fall off it).
terrain = _toolkit.Terrain({"levels": 2, "types": 2, "border": 0.5}, 3)
scan = _toolkit.HeightScan()
for x, y in [(-50.0, -50.0), (0.0, 0.0), (1e6, 3.0), (8.0, 8.0), (-0.5, 4.0), (16.5, 16.5)]:
    assert np.isfinite(scan.measure(terrain, [x, y, 1.0], 0.7, None)).all()
edges = [[-0.45, -0.45, 0.0], [16.45, 3.0, 0.0], [3.0, 16.45, 0.0]]
spawns = [list(terrain.origin(level, kind)) for level in range(2) for kind in range(2)] + edges
nominal = [0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8]
result = _toolkit.legged_rollout(str(RESOURCE_DIR / "anymal_c" / "anymal_c.xml"), terrain, scan, 420, 4, 80.0, 2.0,
                                 nominal, 0.55, 0.6, spawns, 0, 60, False)
assert result["mean_contacts"] > 0 and np.isfinite(result["checksum"]), result
print("exercise passed")
"""


def sanitizer_runtime(name: str) -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no gcc to find the sanitizer runtimes")
    path = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        pytest.skip(f"gcc has no {name}")
    return os.path.realpath(path)


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    """A copy of the repository with rsg_anymal, rsg_urdf_probe and the toolkit built with RSG_SANITIZE=1."""
    preload = [sanitizer_runtime("libasan.so"), sanitizer_runtime("libubsan.so")]
    repo = copy_repository(tmp_path_factory.mktemp("sanitize") / "repo")
    probe = repo / "raisimGymTorch" / "env" / "envs" / "rsg_urdf_probe"
    probe.mkdir()
    (probe / "Environment.hpp").write_text(PROBE_ENVIRONMENT)
    (probe / "probe.urdf").write_text(PROBE_URDF)
    (probe / "cfg.yaml").write_text(PROBE_CFG)
    started = time.perf_counter()
    build = build_envs(repo, "rsg_anymal,rsg_urdf_probe,_toolkit", RSG_SANITIZE="1")
    build_seconds = time.perf_counter() - started
    assert build.returncode == 0, build_log(build)
    cache = next((repo / "build").glob("cmake-*/CMakeCache.txt")).read_text()
    assert "RSG_SANITIZE:BOOL=ON" in cache
    return {"repo": repo, "probe": probe, "preload": preload, "build_seconds": build_seconds}


def test_core_runs_clean_under_asan_and_ubsan(sanitized):
    environment = dict(
        os.environ,
        LD_PRELOAD=":".join(sanitized["preload"]),
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        PYTHONPATH=os.pathsep.join([str(sanitized["repo"]), str(TESTS_DIR)]),
        PYTHONFAULTHANDLER="1",
        OMP_WAIT_POLICY="passive",
    )
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", EXERCISE, str(sanitized["probe"])], cwd=sanitized["repo"],
                            env=environment, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    print(f"sanitized build {sanitized['build_seconds']:.0f} s, exercise {seconds:.0f} s")
    assert "ERROR: AddressSanitizer" not in result.stderr, result.stderr[-6000:]
    assert "runtime error:" not in result.stderr, result.stderr[-6000:]
    assert result.returncode == 0 and "exercise passed" in result.stdout, describe_exit(result)
    assert sum(line.startswith("URDF ") for line in result.stdout.splitlines()) == 4, result.stdout
