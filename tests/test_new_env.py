"""python -m raisimGymTorch.new_env: scaffolded envs build, step, train and rebuild alone; bad requests are refused.

Scaffolding and building happen in a temporary copy of the repository, never in the checkout itself.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from conftest import REPO_ROOT, build_envs, build_log, copy_repository

from raisimGymTorch.new_env import DEFAULT_ROBOT, ENV_FILES, create_env

# A box with two arms on yaw joints: the URDF path (free base, floor and motors added by World).
BOX_URDF = """\
<?xml version="1.0"?>
<robot name="boxbot">
  <link name="base">
    <inertial><mass value="2.0"/><inertia ixx="0.01" ixy="0" ixz="0" iyy="0.03" iyz="0" izz="0.03"/></inertial>
    <collision><geometry><box size="0.4 0.2 0.1"/></geometry></collision>
  </link>
  <link name="left_arm">
    <inertial><origin xyz="0.1 0 0"/><mass value="0.2"/>
      <inertia ixx="0.0001" ixy="0" ixz="0" iyy="0.0008" iyz="0" izz="0.0008"/></inertial>
    <collision><origin xyz="0.1 0 0"/><geometry><box size="0.2 0.04 0.04"/></geometry></collision>
  </link>
  <link name="right_arm">
    <inertial><origin xyz="0.1 0 0"/><mass value="0.2"/>
      <inertia ixx="0.0001" ixy="0" ixz="0" iyy="0.0008" iyz="0" izz="0.0008"/></inertial>
    <collision><origin xyz="0.1 0 0"/><geometry><box size="0.2 0.04 0.04"/></geometry></collision>
  </link>
  <joint name="left_joint" type="revolute">
    <parent link="base"/><child link="left_arm"/><origin xyz="0 0.15 0.08"/><axis xyz="0 0 1"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="10"/>
  </joint>
  <joint name="right_joint" type="revolute">
    <parent link="base"/><child link="right_arm"/><origin xyz="0 -0.15 0.08"/><axis xyz="0 0 1"/>
    <limit lower="-1.5" upper="1.5" effort="10" velocity="10"/>
  </joint>
</robot>
"""

# Gymnasium's planar HalfCheetah: root slide and hinge joints, gear-120 motors commanded in [-1, 1].
HALF_CHEETAH = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / "half_cheetah.xml"

FIXED_BASE_MJCF = """\
<mujoco>
  <worldbody>
    <geom type="plane" size="0 0 1"/>
    <body name="arm"><joint name="hinge" type="hinge"/><geom type="capsule" size="0.05 0.2"/></body>
  </worldbody>
  <actuator><motor joint="hinge"/></actuator>
</mujoco>
"""

MISSING_MESH_MJCF = """\
<mujoco>
  <asset><mesh name="shell" file="shell.stl"/></asset>
  <worldbody>
    <geom type="plane" size="0 0 1"/>
    <body name="base"><freejoint/><geom type="mesh" mesh="shell"/>
      <body name="leg"><joint name="hinge" type="hinge"/><geom type="capsule" size="0.05 0.2"/></body>
    </body>
  </worldbody>
  <actuator><motor joint="hinge"/></actuator>
</mujoco>
"""

# Runs inside the built copy: steps both scaffolded envs with zero actions, trains walker for two
# PPO iterations, and prints one JSON object.
EXERCISE = r"""
import copy, json, sys
from pathlib import Path
import numpy as np
from raisimGymTorch.viz import video
GL = video.select_gl_backend() is not None  # before anything imports mujoco
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.runner import trainer
from ruamel.yaml import YAML

out = {}
for name in ("walker", "boxbot"):
    cfg = load_cfg(ENVS_DIR / name / "cfg.yaml")
    env = make_vec_env(name, cfg, num_envs=4, num_threads=1, normalize_ob=False)
    first = env.observe(False).copy()
    rewards, dones, truncated = [], [], []
    for _ in range(100):
        reward, done = env.step(np.zeros((4, env.num_acts), np.float32))
        rewards.append(reward.tolist()); dones.append(done.tolist()); truncated.append(env.truncated.tolist())
    out[name] = {"num_obs": env.num_obs, "num_acts": env.num_acts, "first": first.tolist(),
                 "last": env.observe(False).tolist(), "rewards": rewards, "dones": dones, "truncated": truncated,
                 "reward_names": env.reward_names, "base_height": cfg["environment"]["base_height"]}
    env.close()

# Renderers draw the simulated model: for the URDF robot, with the base, floor and motors C++ added to it.
from raisimGymTorch.viz.model_source import as_model, simulated_model
cfg = load_cfg(ENVS_DIR / "boxbot" / "cfg.yaml")
env = make_vec_env("boxbot", cfg, num_envs=1, num_threads=1, normalize_ob=False)
qpos, qvel = env.wrapper.getState(0)
drawn, in_file = simulated_model(env), as_model(env.wrapper.getModelFile())
out["urdf_render"] = {"state": [len(qpos), len(qvel)], "simulated": [drawn.nq, drawn.nv, drawn.nu],
                      "file": [in_file.nq, in_file.nv, in_file.nu], "frames": 0,
                      "gl": GL}
if out["urdf_render"]["gl"]:
    recorder = video.VideoRecorder(drawn, width=64, height=48)
    for _ in range(3):
        env.step(np.zeros((1, env.num_acts), np.float32))
        recorder.capture(*env.wrapper.getState(0))
    out["urdf_render"]["frames"] = len(recorder.frames)
    recorder.close()
env.close()
if GL:  # the trainer's evaluation video of the URDF env
    cfg["record_video"] = True
    cfg["environment"].update(num_envs=4, num_threads=1, max_time=0.1, eval_every_n=1)
    cfg["architecture"] = {"policy_net": [8], "value_net": [8]}
    YAML(typ="safe", pure=True).dump(cfg, open(sys.argv[1] + "/boxbot.yaml", "w"))
    trainer.train("boxbot", sys.argv[1] + "/boxbot.yaml", run_root=sys.argv[1] + "/boxbot_runs", iterations=1,
                  eval_envs=1, print_function=lambda line: None)
    out["urdf_render"]["videos"] = len(list((Path(sys.argv[1]) / "boxbot_runs").rglob("*.mp4")))

# With the torque model the action is the motors' control: +1 and -1 must end in different poses.
out["torque_model_joint_angles"] = []
for sign in (1.0, -1.0):
    cfg = load_cfg(ENVS_DIR / "walker" / "cfg.yaml")
    cfg["environment"]["actuator"] = {"model": "torque"}
    env = make_vec_env("walker", cfg, num_envs=1, num_threads=1, normalize_ob=False)
    for _ in range(20):
        env.step(np.full((1, env.num_acts), sign, np.float32))
    out["torque_model_joint_angles"].append(env.observe(False)[0, 10:10 + env.num_acts].tolist())
    env.close()

# Drive models built on the robot's motor limit are refused by name where the env gives none (the template's).
out["without_motor_limit"] = {}
for model in ("dc_motor", "series_elastic"):
    cfg = load_cfg(ENVS_DIR / "walker" / "cfg.yaml")
    cfg["environment"]["actuator"] = {"model": model}
    try:
        make_vec_env("walker", cfg, num_envs=1, num_threads=1).close()
        out["without_motor_limit"][model] = "built"
    except ValueError as error:
        out["without_motor_limit"][model] = str(error)

# The planar HalfCheetah, its model read from gymnasium's package: torque actions move its joints, and it trains.
cfg = load_cfg(ENVS_DIR / "cheetah" / "cfg.yaml")
out["cheetah"] = {"resources": cfg.get("resources"), "actuator": cfg["environment"]["actuator"]["model"], "angles": []}
for sign in (1.0, -1.0):
    env = make_vec_env("cheetah", cfg, num_envs=1, num_threads=1, normalize_ob=False)
    out["cheetah"]["num_obs"], out["cheetah"]["num_acts"] = env.num_obs, env.num_acts
    for _ in range(20):
        env.step(np.full((1, env.num_acts), sign, np.float32))
    qpos, _ = env.wrapper.getState(0)
    out["cheetah"]["angles"].append(qpos[3:].tolist())
    out["cheetah"]["can_fail"] = env.wrapper.canFail()
    env.close()
cfg["record_video"] = False
cfg["environment"].update(num_envs=8, num_threads=1, max_time=0.2, eval_every_n=1)
cfg["architecture"] = {"policy_net": [32, 32], "value_net": [32, 32]}
YAML(typ="safe", pure=True).dump(cfg, open(sys.argv[1] + "/cheetah.yaml", "w"))
lines = []
out["cheetah"]["trained_iterations"] = trainer.train(
    "cheetah", sys.argv[1] + "/cheetah.yaml", run_root=sys.argv[1] + "/cheetah_runs", iterations=2, eval_envs=2,
    print_function=lines.append).iteration
out["cheetah"]["evaluations"] = [line for line in lines if "[evaluation]" in line]

cfg = load_cfg(ENVS_DIR / "walker" / "cfg.yaml")
cfg["record_video"] = False
cfg["environment"].update(num_envs=8, num_threads=1, max_time=0.2, eval_every_n=100)
cfg["architecture"] = {"policy_net": [32, 32], "value_net": [32, 32]}
YAML(typ="safe", pure=True).dump(cfg, open(sys.argv[1] + "/cfg.yaml", "w"))
result = trainer.train("walker", sys.argv[1] + "/cfg.yaml", run_root=sys.argv[1] + "/runs", iterations=2,
                       eval_envs=2, print_function=lambda line: None)
out["trained_iterations"] = result.iteration
print(json.dumps(out))
"""


def run(arguments, cwd, **environment):
    return subprocess.run(arguments, cwd=cwd, env=dict(os.environ, PYTHONPATH=str(cwd), **environment),
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("new_env")
    repo = copy_repository(root / "repo")
    (root / "boxbot.urdf").write_text(BOX_URDF)
    return repo


@pytest.fixture(scope="module")
def scaffolded(repo_copy):
    """walker (the default robot) and boxbot (a URDF) scaffolded and built in the copy."""
    outputs = {
        "walker": run([sys.executable, "-m", "raisimGymTorch.new_env", "walker"], repo_copy),
        "boxbot": run([sys.executable, "-m", "raisimGymTorch.new_env", "boxbot", "--robot",
                       str(repo_copy.parent / "boxbot.urdf")], repo_copy),
        "cheetah": run([sys.executable, "-m", "raisimGymTorch.new_env", "cheetah", "--robot", str(HALF_CHEETAH)],
                       repo_copy),
    }
    for name, result in outputs.items():
        assert result.returncode == 0, f"new_env {name} failed:\n{result.stderr}"
    build = build_envs(repo_copy, "walker,boxbot,cheetah")
    assert build.returncode == 0, build_log(build)
    return outputs


@pytest.mark.slow
def test_scaffold_writes_the_env_folder_and_copies_the_robot(repo_copy, scaffolded):
    package = repo_copy / "raisimGymTorch"
    for name in ("walker", "boxbot"):
        assert sorted(p.name for p in (package / "env" / "envs" / name).iterdir()) == sorted(ENV_FILES)
        assert f"RSG_ENVS={name} python setup.py build_ext --inplace" in scaffolded[name].stdout
        assert not (REPO_ROOT / "raisimGymTorch" / "env" / "envs" / name).exists(), "the checkout is untouched"
    assert (package / "rsc" / "walker" / "anymal_c.xml").read_text() == DEFAULT_ROBOT.read_text()
    assert (package / "rsc" / "boxbot" / "boxbot.urdf").read_text() == BOX_URDF
    walker = package / "env" / "envs" / "walker"
    runner = (walker / "runner.py").read_text()
    assert 'trainer.main("walker", Path(__file__).resolve().with_name("cfg.yaml"))' in runner
    assert 'player.main("walker")' in (walker / "tester.py").read_text()
    assert '"/walker/anymal_c.xml"' in (walker / "Environment.hpp").read_text()


@pytest.fixture(scope="module")
def exercised(repo_copy, scaffolded, tmp_path_factory):
    work = tmp_path_factory.mktemp("exercise")
    result = run([sys.executable, "-c", EXERCISE, str(work)], repo_copy)
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_scaffolded_envs_observe_the_template_quantities(exercised):
    for name, joints in (("walker", 12), ("boxbot", 2)):
        env = exercised[name]
        assert (env["num_obs"], env["num_acts"]) == (10 + 2 * joints, joints)
        assert env["reward_names"] == ["forwardVel", "torque"]
        for row in env["first"]:
            assert row[0] == pytest.approx(env["base_height"], abs=1e-6), "reset puts the base at base_height"
            assert row[1:4] == pytest.approx([0.0, 0.0, 1.0], abs=1e-6), "upright: world z is body z"
    # ANYmal's collision geoms sit 2 cm above the floor at qpos0 (the shanks' feet, legs straight).
    assert exercised["walker"]["base_height"] == pytest.approx(0.65, abs=0.02)
    # The box is 0.1 m high; its centre goes to 0.05 m + 2 cm.
    assert exercised["boxbot"]["base_height"] == pytest.approx(0.07, abs=1e-6)


@pytest.mark.slow
def test_default_robot_stands_on_its_nominal_pose(exercised):
    walker = exercised["walker"]
    assert not any(any(step) for step in walker["dones"]), "one second at qpos0 without touching the base"
    for row in walker["last"]:
        assert 0.5 < row[0] < 0.7 and row[3] > 0.99, "still standing upright"


@pytest.mark.slow
def test_base_contact_ends_the_episode_as_a_failure(exercised):
    # boxbot's base is its lowest part, so it lands on it.
    boxbot = exercised["boxbot"]
    first_done = next(t for t, step in enumerate(boxbot["dones"]) if all(step))
    assert first_done < 20
    assert not any(boxbot["truncated"][first_done])
    assert all(reward <= -9.0 for reward in boxbot["rewards"][first_done]), "the terminal reward -10 is paid"


@pytest.mark.slow
def test_renderers_draw_the_urdf_robot_as_simulated(exercised):
    render = exercised["urdf_render"]
    # The URDF file alone has no floating base and no motors: drawing it would misplace every joint.
    assert render["file"] != render["simulated"]
    assert render["simulated"][:2] == render["state"], "the drawn model takes the simulated state"
    assert render["simulated"][2] == 2, "with the motors C++ added"
    assert render["frames"] == (3 if render["gl"] else 0), "with OpenGL, the video of a URDF env records"
    if render["gl"]:
        assert render["videos"] >= 1, "the trainer's evaluation filmed the URDF env"


@pytest.mark.slow
def test_drive_models_that_need_a_motor_limit_are_refused_without_one(exercised):
    assert sorted(exercised["without_motor_limit"]) == ["dc_motor", "series_elastic"]
    for model, message in exercised["without_motor_limit"].items():
        assert "this environment gives no DC motor limit (cfg key 'actuator.model'" in message, (model, message)


@pytest.mark.slow
def test_torque_actions_move_the_joints(exercised):
    plus, minus = np.array(exercised["torque_model_joint_angles"])
    assert np.abs(plus - minus).min() > 1e-3, "every joint responds to the sign of its torque"


@pytest.mark.slow
def test_planar_torque_robot_from_a_package_moves_and_trains(repo_copy, scaffolded, exercised):
    cheetah = exercised["cheetah"]
    assert cheetah["resources"] == {"package": "gymnasium.envs.mujoco", "folder": "assets"}
    assert not (repo_copy / "raisimGymTorch" / "rsc" / "cheetah").exists(), "the robot is not copied"
    assert cheetah["actuator"] == "torque", "motors commanded in [-1, 1] get the torque model"
    assert (cheetah["num_obs"], cheetah["num_acts"]) == (8 + 9, 6), "every qpos but rootx, every qvel"
    plus, minus = np.array(cheetah["angles"])
    assert np.abs(plus - minus).min() > 1e-2, "every joint follows the sign of its torque"
    assert cheetah["trained_iterations"] == 2
    # It has no failure state, so its evaluations report none.
    assert cheetah["can_fail"] is False and cheetah["evaluations"]
    assert not any("falls" in line for line in cheetah["evaluations"]), cheetah["evaluations"]


@pytest.mark.slow
def test_scaffolded_env_trains_with_the_shared_runner(exercised):
    assert exercised["trained_iterations"] == 2


@pytest.mark.slow
def test_editing_one_environment_rebuilds_only_that_env(repo_copy, scaffolded):
    header = repo_copy / "raisimGymTorch" / "env" / "envs" / "walker" / "Environment.hpp"
    header.write_text(header.read_text() + "\n// edited\n")
    build = build_envs(repo_copy, "walker,boxbot,cheetah")
    assert build.returncode == 0, build_log(build)
    compiled = [line for line in build.stdout.splitlines() if "Building CXX object" in line]
    assert len(compiled) == 1 and "walker.dir" in compiled[0], build.stdout


def fake_package(root: Path) -> Path:
    """A package folder with rsg_anymal's env folder and robot, enough for create_env's checks."""
    package = root / "raisimGymTorch"
    (package / "env" / "envs" / "rsg_anymal").mkdir(parents=True)
    (package / "env" / "envs" / "rsg_anymal" / "Environment.hpp").write_text("// taken\n")
    (package / "rsc" / "anymal_c").mkdir(parents=True)
    return package


def created_folders(package: Path) -> list[str]:
    return sorted(str(path.relative_to(package)) for path in package.rglob("*"))


@pytest.mark.parametrize("name", ["1robot", "my-robot", "my robot", "", "class", "_hidden", "test", "ALL"])
def test_bad_names_are_refused(tmp_path, name):
    package = fake_package(tmp_path)
    before = created_folders(package)
    with pytest.raises(ValueError, match="name"):
        create_env(name, package_dir=package)
    assert created_folders(package) == before


@pytest.mark.parametrize("name", ["rsg_anymal", "anymal_c"])
def test_taken_names_are_refused(tmp_path, name):
    package = fake_package(tmp_path)
    before = created_folders(package)
    with pytest.raises(ValueError, match="already exists"):
        create_env(name, package_dir=package)
    assert created_folders(package) == before


def test_cli_refuses_an_existing_env_without_writing(repo_copy):
    envs = repo_copy / "raisimGymTorch" / "env" / "envs"
    before = (envs / "rsg_anymal" / "cfg.yaml").read_text()
    result = run([sys.executable, "-m", "raisimGymTorch.new_env", "rsg_anymal"], repo_copy)
    assert result.returncode == 1
    assert "rsg_anymal" in result.stderr and "already exists" in result.stderr
    assert (envs / "rsg_anymal" / "cfg.yaml").read_text() == before
    result = run([sys.executable, "-m", "raisimGymTorch.new_env", "my-robot"], repo_copy)
    assert result.returncode == 1 and "Python identifier" in result.stderr
    assert not (envs / "my-robot").exists()


def test_unfit_robots_are_refused_and_nothing_is_left_behind(tmp_path):
    package = fake_package(tmp_path / "repo")
    before = created_folders(package)
    (tmp_path / "shell.xml").write_text(MISSING_MESH_MJCF)
    with pytest.raises(ValueError, match="shell.stl"):
        create_env("shell", tmp_path / "shell.xml", package_dir=package)
    with pytest.raises(FileNotFoundError, match="nothing.urdf"):
        create_env("ghost", tmp_path / "nothing.urdf", package_dir=package)
    assert created_folders(package) == before


def test_a_fixed_base_robot_gets_the_jointed_base_template(tmp_path):
    package = fake_package(tmp_path / "repo")
    (tmp_path / "arm.xml").write_text(FIXED_BASE_MJCF)
    env_dir = create_env("arm", tmp_path / "arm.xml", package_dir=package)
    header = (env_dir / "Environment.hpp").read_text()
    assert "no free-floating base" in header and 'bodyId("arm")' in header
    assert "model: pd" in (env_dir / "cfg.yaml").read_text(), "an unlimited motor is driven by PD"
    assert (package / "rsc" / "arm" / "arm.xml").is_file()


def test_a_robot_with_assets_is_copied_with_its_folder(tmp_path):
    package = fake_package(tmp_path / "repo")
    robot_dir = tmp_path / "robot"
    (robot_dir / "meshes").mkdir(parents=True)
    (robot_dir / "meshes" / "shell.obj").write_text(
        "v -0.1 -0.1 -0.1\nv 0.1 -0.1 -0.1\nv 0 0.1 -0.1\nv 0 0 0.1\nf 1 3 2\nf 1 2 4\nf 2 3 4\nf 3 1 4\n")
    (robot_dir / "robot.xml").write_text(
        MISSING_MESH_MJCF.replace('file="shell.stl"', 'file="meshes/shell.obj"'))
    env_dir = create_env("shelly", robot_dir / "robot.xml", package_dir=package)
    assert (package / "rsc" / "shelly" / "meshes" / "shell.obj").is_file()
    assert sorted(p.name for p in env_dir.iterdir()) == sorted(ENV_FILES)


def test_the_scaffold_leaves_no_mujoco_log_in_the_working_directory(tmp_path, monkeypatch):
    # half_cheetah.xml uses a deprecated compiler attribute, which MuJoCo warns about into MUJOCO_LOG.TXT.
    package = fake_package(tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    create_env("cheetah", HALF_CHEETAH, package_dir=package)
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_dir_writes_the_env_elsewhere_and_links_it(tmp_path):
    package = fake_package(tmp_path / "repo")
    robot = tmp_path / "robots" / "arm.xml"
    robot.parent.mkdir()
    robot.write_text(FIXED_BASE_MJCF)
    env_dir = create_env("arm", robot, package_dir=package, folder=tmp_path / "my_envs" / "arm")
    link = package / "env" / "envs" / "arm"
    assert env_dir == tmp_path / "my_envs" / "arm" and link.is_symlink() and link.resolve() == env_dir
    assert sorted(p.name for p in env_dir.iterdir()) == sorted(ENV_FILES)
    assert f'std::make_unique<World>("{robot}", simulation_dt_)' in (env_dir / "Environment.hpp").read_text()
    assert not (package / "rsc" / "arm").exists(), "the robot is loaded where it is, not copied"
    with pytest.raises(ValueError, match="already exists"):
        create_env("arm2", robot, package_dir=package, folder=env_dir)
