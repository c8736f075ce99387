"""Scaffolds a new environment: python -m raisimGymTorch.new_env NAME [--robot path.urdf|path.xml]

Writes env/envs/NAME/ (Environment.hpp, cfg.yaml, runner.py, tester.py) from the templates in
templates/new_env/: a floating-base robot (a free joint first, or any URDF) gets the walking template, a planar or
fixed-base robot the jointed_base/ one. A robot inside an installed Python package (e.g. gymnasium's models) is
loaded from there through the cfg's `resources:`; any other is copied into rsc/NAME/. The environment moves the
robot forward from the model's qpos0 pose; it compiles and trains as written, and is meant to be edited. Nothing
is overwritten: an existing env folder or rsc/NAME is an error.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import keyword
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from string import Template

import mujoco
import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates" / "new_env"
DEFAULT_ROBOT = PACKAGE_DIR / "rsc" / "anymal_c" / "anymal_c.xml"
ENV_FILES = ("Environment.hpp", "cfg.yaml", "runner.py", "tester.py")
# Written into cfg.yaml; the gains are derived for this physics step.
SIMULATION_DT = 0.0025
MAX_P_GAIN, MAX_D_GAIN = 80.0, 2.0
BASE_CLEARANCE = 0.02
# CMake reserves these target names, and every env is a CMake target.
RESERVED_NAMES = {"all", "clean", "help", "install", "test", "package", "package_source", "edit_cache",
                  "rebuild_cache", "preinstall", "zero_check", "all_build", "run_tests"}
MAX_COPIED_FOLDER_BYTES = 200 * 2**20


def check_name(name: str, package_dir: Path = PACKAGE_DIR) -> None:
    """Raises ValueError unless `name` can be a new env: a free Python identifier and CMake target."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"env name {name!r} must be a Python identifier starting with a letter "
                         "(letters, digits, underscores), e.g. my_robot")
    if name.lower() in RESERVED_NAMES:
        raise ValueError(f"env name {name!r} is reserved by CMake; choose another")
    for taken in (package_dir / "env" / "envs" / name, package_dir / "rsc" / name):
        if taken.exists() or taken.is_symlink():
            raise ValueError(f"{taken} already exists; choose another name or remove it")


def load_robot(path: Path) -> mujoco.MjModel:
    """The model World will build from `path`: a URDF gets a free base, a floor and joint motors.

    Raises:
        ValueError: MuJoCo rejects the file, or the model does not fit the templates (plain motors on hinge or
            slide joints; a floating base also needs a floor).
    """
    # MuJoCo appends its warnings (e.g. a deprecated compiler attribute) to MUJOCO_LOG.TXT in the working
    # directory; load in a scratch one so that the user's folder stays clean.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        model = _compile_robot(path)
    check_fits_template(model, path)
    return model


def _compile_robot(path: Path) -> mujoco.MjModel:
    try:
        if path.suffix.lower() == ".urdf":
            spec = mujoco.MjSpec.from_file(str(path))
            root = spec.worldbody.first_body()
            if root is None:
                raise ValueError(f"URDF file '{path}' has no link")
            root.add_freejoint().name = "root"
            floor = spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1])
            floor.name = "floor"
            for joint in spec.joints:
                if joint.type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                    motor = spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
                    motor.set_to_motor()
            model = spec.compile()
        else:
            model = mujoco.MjModel.from_xml_path(str(path))
    except ValueError as error:
        raise ValueError(f"MuJoCo rejected robot file '{path}': {error}") from error
    return model


def has_floating_base(model: mujoco.MjModel) -> bool:
    return model.njnt > 0 and model.jnt_type[0] == int(mujoco.mjtJoint.mjJNT_FREE)


def check_fits_template(model: mujoco.MjModel, path: Path) -> None:
    if model.nbody < 2:
        raise ValueError(f"'{path}' has no body below the world")
    if not has_floating_base(model) and mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, 1) is None:
        raise ValueError(f"'{path}': name the robot's root body (the template measures its forward speed by name)")
    if model.nu == 0:
        raise ValueError(f"'{path}' has no actuators: add a <motor joint=...> per joint the policy drives")
    one_dof = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    for i in range(model.nu):
        joint = model.actuator_trnid[i, 0]
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, i) or f"#{i}"
        if model.actuator_trntype[i] != int(mujoco.mjtTrn.mjTRN_JOINT) or model.jnt_type[joint] not in one_dof:
            raise ValueError(f"'{path}': actuator {name} must drive a hinge or slide joint (PD control per joint)")
        if model.actuator_biastype[i] != int(mujoco.mjtBias.mjBIAS_NONE):
            raise ValueError(f"'{path}': actuator {name} is a servo; the template computes PD torques itself and "
                             "needs plain <motor> actuators")
    if has_floating_base(model) and not np.any(model.geom_bodyid == 0):
        raise ValueError(f"'{path}' has no floor: add <geom type=\"plane\" size=\"0 0 1\"/> to <worldbody>")


def nominal_base_height(model: mujoco.MjModel) -> float:
    """Base height at which the lowest collision geom of the robot clears the floor at qpos0."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    floor = max((data.geom_xpos[g, 2] for g in range(model.ngeom) if model.geom_bodyid[g] == 0), default=0.0)
    lowest = np.inf
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    for g in range(model.ngeom):
        collides = model.geom_contype[g] or model.geom_conaffinity[g]
        if model.geom_bodyid[g] == 0 or not collides:
            continue
        center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
        points = data.geom_xpos[g] + (center + corners * half) @ data.geom_xmat[g].reshape(3, 3).T
        lowest = min(lowest, points[:, 2].min())
    if not np.isfinite(lowest):
        return float(model.qpos0[2])
    return float(model.qpos0[2] - (lowest - floor) + BASE_CLEARANCE)


def pd_gains(model: mujoco.MjModel, simulation_dt: float) -> tuple[float, float]:
    """PD gains that stay stable with explicit torques at `simulation_dt` for the lightest joint.

    With joint inertia I (qM's diagonal at qpos0, armature included) a gain kp oscillates at
    sqrt(kp / I); keeping that below 0.25 / dt and kd * dt / I below 0.25 avoids the blow-up of a
    too-stiff explicit controller. ANYmal C gets rsg_anymal's 80 and 2.
    """
    inertia = min(model.dof_M0[model.jnt_dofadr[model.actuator_trnid[i, 0]]] for i in range(model.nu))
    p_gain = min(MAX_P_GAIN, 0.0625 * inertia / simulation_dt**2)
    d_gain = min(MAX_D_GAIN, 0.25 * inertia / simulation_dt)
    return float(f"{p_gain:.2g}"), float(f"{d_gain:.2g}")


def default_actuator_model(model: mujoco.MjModel) -> str:
    """torque for motors commanded in [-1, 1] (models like Gymnasium's, whose gears make the torque), else pd."""
    normalized = all(model.actuator_ctrllimited[i] and -1.0 <= model.actuator_ctrlrange[i, 0]
                     and model.actuator_ctrlrange[i, 1] <= 1.0 for i in range(model.nu))
    return "torque" if normalized else "pd"


def package_resources(robot: Path) -> tuple[str, str] | None:
    """(package, folder) when `robot` lies inside an installed Python package: the cfg's `resources:` then finds
    it there, so it is not copied. The package is the innermost folder with an __init__.py above the robot."""
    for parent in robot.parents:
        if (parent / "__init__.py").is_file():
            top = parent
            while (top.parent / "__init__.py").is_file():
                top = top.parent
            package = ".".join(parent.relative_to(top.parent).parts)
            return package, robot.parent.relative_to(parent).as_posix() or "."
    return None


def references_other_files(path: Path) -> bool:
    """Whether the robot file names meshes, textures or includes (MJCF `file=`, URDF `filename=`)."""
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError:
        return False
    return any("file" in element.attrib or "filename" in element.attrib for element in tree.iter())


def copy_robot(robot: Path, destination: Path) -> Path:
    """Copies the robot file into `destination`, with its whole folder if it references other files."""
    if references_other_files(robot):
        size = sum(f.stat().st_size for f in robot.parent.rglob("*") if f.is_file())
        if size > MAX_COPIED_FOLDER_BYTES:
            raise ValueError(f"'{robot}' references other files, so its folder would be copied, but it holds "
                             f"{size / 2**20:.0f} MB; put the robot and its assets in a folder of their own")
        shutil.copytree(robot.parent, destination)
    else:
        destination.mkdir(parents=True)
        shutil.copy2(robot, destination / robot.name)
    return destination / robot.name


def create_env(name: str, robot: str | Path | None = None, *, package_dir: Path = PACKAGE_DIR,
               folder: str | Path | None = None) -> Path:
    """Creates env/envs/`name` (and rsc/`name` for a copied robot) under `package_dir`; returns the env folder.

    Args:
        name: The new env's name (a Python identifier, not taken).
        robot: A URDF or MJCF file; ANYmal C (rsg_anymal's robot) by default.
        package_dir: The raisimGymTorch package folder to write into.
        folder: Write the env here instead (it must not exist) and link env/envs/`name` to it; the robot is then
            loaded from where it is (or from its Python package), not copied.

    Raises:
        ValueError: a bad or taken name, or a robot file MuJoCo rejects or the template cannot drive.
        FileNotFoundError: the robot file does not exist.
    """
    check_name(name, package_dir)
    robot = Path(robot).resolve() if robot is not None else DEFAULT_ROBOT
    if not robot.is_file():
        raise FileNotFoundError(f"robot file not found: {robot}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", robot.name):
        raise ValueError(f"robot file name {robot.name!r} may hold only letters, digits, '_', '-' and '.' "
                         "(Environment.hpp names it in a string)")
    model = load_robot(robot)
    link = package_dir / "env" / "envs" / name
    env_dir, rsc_dir = (link, package_dir / "rsc" / name) if folder is None else (Path(folder).resolve(), None)
    if folder is not None and (env_dir.exists() or env_dir.is_symlink()):
        raise ValueError(f"{env_dir} already exists; the scaffold writes a new folder")
    resources = package_resources(robot) if robot != DEFAULT_ROBOT else None
    floating = has_floating_base(model)
    resources_line = ""
    try:
        if resources is not None:
            package, package_folder = resources
            robot_path = robot.name
            robot_expression = f'resourceDir_ + "/{robot_path}"'
            resources_line = (f"resources: {{package: {package}, folder: {package_folder}}}  "
                              "# the robot stays in its package\n")
        elif rsc_dir is None:
            robot_path = str(robot)
            robot_expression = json.dumps(robot_path)  # a C++ string literal: JSON escapes are C++ escapes here
        else:
            copied = copy_robot(robot, rsc_dir)
            load_robot(copied)  # the copy must load on its own, e.g. find its meshes
            robot_path = f"{name}/{copied.name}"
            robot_expression = f'resourceDir_ + "/{robot_path}"'

        p_gain, d_gain = pd_gains(model, SIMULATION_DT)
        values = {
            "env_name": name,
            "robot_name": robot.stem,
            "robot_path": robot_path,
            "robot_expression": robot_expression,
            "resources_line": resources_line,
            "robot_source": robot.name if robot == DEFAULT_ROBOT else str(robot),
            "base_height": f"{nominal_base_height(model):.3f}" if floating else "",
            "main_body": mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, 1) or "",
            "actuator_model": default_actuator_model(model),
            "p_gain": p_gain,
            "d_gain": d_gain,
        }
        env_dir.mkdir(parents=True)
        for file_name in ENV_FILES:
            template = TEMPLATE_DIR / f"{file_name}.template"
            if not floating and (TEMPLATE_DIR / "jointed_base" / template.name).is_file():
                template = TEMPLATE_DIR / "jointed_base" / template.name
            (env_dir / file_name).write_text(Template(template.read_text()).substitute(values))
        if folder is not None:
            link.symlink_to(env_dir, target_is_directory=True)
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        if rsc_dir is not None:
            shutil.rmtree(rsc_dir, ignore_errors=True)
        raise
    return env_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raisimGymTorch.new_env", description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the new env's name, e.g. my_robot")
    parser.add_argument("--robot", help="URDF or MJCF file: floating-base, planar or fixed-base (default: ANYmal C)")
    parser.add_argument("--dir", help="write the env folder here and link env/envs/NAME to it; the robot is not "
                                      "copied")
    args = parser.parse_args(argv)
    try:
        env_dir = create_env(args.name, args.robot, folder=args.dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    root = PACKAGE_DIR.parent
    if args.dir is None:
        print(f"created {env_dir.relative_to(root)}/ ({', '.join(ENV_FILES)})")
    else:
        print(f"created {env_dir}/ ({', '.join(ENV_FILES)}), linked from {(PACKAGE_DIR / 'env' / 'envs' / args.name)}")
    if (PACKAGE_DIR / "rsc" / args.name).is_dir():
        print(f"copied the robot into {(PACKAGE_DIR / 'rsc' / args.name).relative_to(root)}/")
    elif args.robot is not None and package_resources(Path(args.robot).resolve()) is not None:
        print("the robot is loaded from its Python package (cfg.yaml: resources)")
    else:
        print(f"the robot is loaded from where it is: {Path(args.robot or DEFAULT_ROBOT).resolve()}")
    print(f"build it (from {root}):  RSG_ENVS={args.name} python setup.py build_ext --inplace   (or: pip install -e .)")
    runner = env_dir / "runner.py"
    print(f"train it:  python {runner.relative_to(root) if runner.is_relative_to(root) else runner}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
