"""Which MuJoCo to pin: our engine loop built against each candidate release, stepped alternately in one run.

The physics is most of an env step, and MuJoCo releases differ in speed, so the version is ours to choose by
measurement (issue 16). For each version this fetches the release's wheel from the package index (`pip download`;
from 4.0 on the binaries live in `mujoco-core`) into build/mujoco-versions/, builds benchmarks/engine's engine
loop against its headers and library, and runs every version's loop on the same envs, actions and seeds, one
fresh process each, in a rotating order per repetition. Ratios divide by the installed (pinned) version within a
repetition. The loops' checksums (reward sum, episode ends, observation sum) say whether a version follows the
same trajectories as the pinned one: a release that changes the physics needs more than a speed check.

A version the index lacks, or one our code does not compile against (e.g. before mjPreContact, which the
terrain's contacts use), is reported and left out.

    python benchmarks/mujoco_versions.py --versions 4.0.1 3.14.0 3.6.0 3.3.7
    python benchmarks/mujoco_versions.py --versions 4.1.0          # the day it is on the index
    python benchmarks/mujoco_versions.py --quick                   # seconds; proves the script works
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, resource_dir  # noqa: E402

WHEEL_CACHE = common.ROOT / "build" / "mujoco-versions"
DEFAULT_ENVS = ["rsg_ant/cfg.yaml", "rsg_anymal/cfg.yaml", "rsg_anymal_velocity/cfg_flat.yaml",
                "rsg_anymal_velocity/cfg.yaml"]
CHECKSUMS = ("reward_sum", "dones", "observation_sum")


@dataclass(frozen=True)
class Workload:
    """One env folder and cfg, written out once for every version's engine loop."""

    env: str
    cfg_name: str
    engine_kwargs: dict

    @property
    def label(self) -> str:
        return f"{self.env}/{self.cfg_name}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="+", default=["4.0.1", "3.14.0", "3.6.0", "3.3.7"],
                        help="MuJoCo releases to compare with the installed one")
    parser.add_argument("--envs", nargs="+", default=DEFAULT_ENVS, metavar="ENV/CFG",
                        help="env folders and their cfg files under raisimGymTorch/env/envs")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=500, help="control steps per measurement")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one other version, two envs")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.versions, args.envs, args.num_envs, args.steps, args.repeats = (
            ["4.0.1"], ["rsg_ant/cfg.yaml", "rsg_anymal/cfg.yaml"], 4, 20, 2)
    for flag in ("num_envs", "steps", "repeats"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    args.cfg_paths = []  # (env, cfg path) per --envs entry
    for spec in args.envs:
        env, _, cfg_name = spec.partition("/")
        cfg_path = ENVS_DIR / env / (cfg_name or "cfg.yaml")
        if not cfg_path.is_file():
            parser.error(f"--envs {spec}: there is no {cfg_path}")
        args.cfg_paths.append((env, cfg_path))
    name = "mujoco_versions" + ("_quick" if args.quick else "")
    args.output = args.output or common.RESULTS_DIR / f"{name}.md"
    return args


def download(version: str) -> Path:
    """The folder holding include/mujoco/mujoco.h and libmujoco.so.* of MuJoCo `version`, fetched once.

    Raises:
        RuntimeError: the index has no such release for this Python (pip's message is included).
    """
    target = WHEEL_CACHE / version
    found = library_dir(target)
    if found is not None:
        return found
    wheels = WHEEL_CACHE / "wheels"
    # From 4.0 on, `mujoco` is pure Python and the binaries ship as `mujoco-core`.
    for package in ("mujoco", "mujoco-core"):
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                               "--dest", str(wheels), f"{package}=={version}"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{package}=={version} is not on the package index: "
                               f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        stem = package.replace("-", "_")
        for wheel in wheels.glob(f"{stem}-{version}-*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(target)
        found = library_dir(target)
        if found is not None:
            return found
    raise RuntimeError(f"the wheels of MuJoCo {version} hold no include/mujoco/mujoco.h beside a libmujoco.so.*")


def library_dir(root: Path) -> Path | None:
    for library in sorted(root.glob("*/libmujoco.so.*")):
        if (library.parent / "include" / "mujoco" / "mujoco.h").is_file():
            return library.parent
    return None


def workloads(args: argparse.Namespace, folder: Path) -> list[Workload]:
    result = []
    for env, cfg_path in args.cfg_paths:
        cfg = load_cfg(cfg_path)
        stem = f"{env}_{cfg_path.stem}"
        common.write_cfg_dump(dict(cfg["environment"], num_envs=args.num_envs), folder / f"{stem}.txt")
        action_dim = common.action_dim(env, cfg, cfg_path)
        # One N(0, 1) float32 action file per workload feeds every version.
        np.random.default_rng(1).standard_normal((min(args.steps, 1000), args.num_envs, action_dim),
                                                 dtype=np.float32).tofile(folder / f"{stem}.bin")
        result.append(Workload(env, cfg_path.name, dict(
            resource_dir=resource_dir(cfg), cfg_dump=folder / f"{stem}.txt", cfg_source=str(cfg_path),
            actions=folder / f"{stem}.bin", num_envs=args.num_envs, seed=int(cfg.get("seed", 0)))))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import mujoco

    info = common.machine_info()
    pinned = mujoco.__version__
    libraries: dict[str, Path] = {pinned: common.package_dir("mujoco")}
    notes: list[str] = []
    for version in dict.fromkeys(args.versions):
        if version == pinned:
            continue
        try:
            libraries[version] = download(version)
        except RuntimeError as error:
            notes.append(f"MuJoCo {version}: {error}")
    versions = list(libraries)

    with tempfile.TemporaryDirectory(prefix="rsg_mjv_") as tmp_name:
        loads = workloads(args, Path(tmp_name))
        executables: dict[tuple[str, str], Path] = {}
        for version in versions:
            for env in dict.fromkeys(load.env for load in loads):
                try:
                    executables[version, env] = common.build_engine_loop(env, libraries[version])
                except RuntimeError as error:
                    first_error = next((line for line in str(error).splitlines() if "error" in line), "")
                    first_error = first_error.replace(f"{common.ENGINE_SOURCE_DIR}/../../", "").strip()
                    notes.append(f"MuJoCo {version}: {env} does not compile: {first_error[:200]}")

        rates: dict[tuple[str, str], list[float]] = {}
        checksums: dict[tuple[str, str], dict] = {}
        for load in loads:
            measured = [v for v in versions if (v, load.env) in executables]
            for repeat in range(args.repeats):
                for version in measured[repeat % len(measured):] + measured[:repeat % len(measured)]:
                    result = common.engine_result(common.run_engine_loop(
                        executables[version, load.env], steps=args.steps, **load.engine_kwargs))
                    rates.setdefault((version, load.label), []).append(args.num_envs * args.steps / result["seconds"])
                    checksums[version, load.label] = {key: result[key] for key in CHECKSUMS}
                print(f"{load.label} repetition {repeat + 1}/{args.repeats}: " + ", ".join(
                    f"{v} {rates[v, load.label][-1]:,.0f}" for v in measured), file=sys.stderr)

    rows = []
    for load in loads:
        base = rates.get((pinned, load.label))
        for version in versions:
            own = rates.get((version, load.label))
            if own is None or base is None:
                continue
            same = checksums[version, load.label] == checksums[pinned, load.label]
            rows.append([version + (" (installed)" if version == pinned else ""), load.label,
                         *common.span(own, 0), *common.span([a / b for a, b in zip(own, base)], 3),
                         "yes" if same else "no: " + ", ".join(
                             f"{k} {checksums[version, load.label][k]:.6g}" for k in CHECKSUMS)])

    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/mujoco_versions.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        "# MuJoCo releases: the engine loop's speed",
        "",
        f"`{command}`",
        "",
        f"benchmarks/engine's engine loop (one thread, no Python) built against each release's wheel, {args.num_envs} "
        f"envs, {args.steps} control steps of N(0, 1) actions per measurement, each in a fresh process; median of "
        f"{args.repeats} repetitions (min – max) in a rotating order, ratios to the installed MuJoCo {pinned} taken "
        "within each repetition. \"Same trajectories\": the run's reward sum, episode ends and observation sum equal "
        "the installed version's.",
        "",
        common.markdown_table(["MuJoCo", "env/cfg", "control steps/s (median)", "min – max",
                               f"÷ {pinned} (median)", "min – max", f"same trajectories as {pinned}"], rows),
        "",
        *([f"- {note}" for note in notes] + [""] if notes else []),
        common.markdown_table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
    ])
    common.write_result(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
