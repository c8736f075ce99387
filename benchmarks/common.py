"""Shared pieces of the benchmark scripts: the engine-ceiling program, the machine description and tables.

The engine loop (benchmarks/engine/) is built by a small CMake project of its own, configured here
with the same MuJoCo and Eigen that setup.py hands the main build, so the main build is untouched.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENGINE_SOURCE_DIR = ROOT / "benchmarks" / "engine"
# Every script writes its tables here. The test suite points it at a temporary folder (run_all.py --results-dir
# sets this variable for the scripts it runs), so a test run never overwrites the published results.
RESULTS_DIR = Path(os.environ.get("RSG_BENCH_RESULTS_DIR") or ROOT / "benchmarks" / "results")
ENV_DIR = ROOT / "raisimGymTorch" / "env"


def package_dir(name: str) -> Path:
    """The folder of an installed Python package (mujoco ships include/ and libmujoco.so.* there)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package '{name}' is missing; pip install {name}")
    return Path(list(spec.submodule_search_locations)[0])


def build_engine_loop(env_name: str, mujoco_dir: Path | None = None) -> Path:
    """Configures and builds benchmarks/engine for `env_name`; returns the engine_loop_<env> executable.

    `mujoco_dir` holds include/ and libmujoco.so.* (default: the installed mujoco package). The build folder
    persists under build/, so a second call only recompiles what changed.

    Raises:
        RuntimeError: CMake failed (its output is included).
    """
    mujoco_dir = mujoco_dir or package_dir("mujoco")
    eigen_dir = package_dir("eigency") / "eigen"
    key = "|".join([sys.executable, str(mujoco_dir), str(eigen_dir), env_name])
    build_dir = ROOT / "build" / f"bench-{env_name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    build_dir.mkdir(parents=True, exist_ok=True)
    commands = [
        ["cmake", "-S", str(ENGINE_SOURCE_DIR), "-B", str(build_dir), f"-DMUJOCO_DIR={mujoco_dir}",
         f"-DEIGEN_INCLUDE_DIR={eigen_dir}", f"-DRSG_BENCH_ENVS={env_name}", "-DCMAKE_BUILD_TYPE=Release"],
        ["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the engine loop failed: {' '.join(command)}\n{result.stdout}{result.stderr}")
    return build_dir / f"engine_loop_{env_name}"


def write_cfg_dump(environment: Mapping[str, Any], path: Path) -> None:
    """Writes the `environment:` cfg block as the flat text that benchmarks/engine/ConfigDump.hpp reads.

    One line per node in pre-order: ``path<TAB>type<TAB>value``; paths as raisim::Config spells them.

    Raises:
        ValueError: a key or string the format cannot carry (a '.', '[', tab or newline in a key, a tab
            or newline in a string), or a value of another type than the YAML loader produces.
    """
    lines: list[str] = []

    def visit(value: Any, node_path: str) -> None:
        if isinstance(value, Mapping):
            if node_path:
                lines.append(f"{node_path}\tmap\t")
            for key, child in value.items():
                if not isinstance(key, str) or not key or any(c in key for c in ".[]\t\n"):
                    raise ValueError(f"cfg key {key!r} under '{node_path}' cannot be written to a cfg dump")
                visit(child, f"{node_path}.{key}" if node_path else key)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{node_path}\tlist\t")
            for index, child in enumerate(value):
                visit(child, f"{node_path}[{index}]")
        elif value is None:
            lines.append(f"{node_path}\tnull\t")
        elif isinstance(value, bool):
            lines.append(f"{node_path}\tbool\t{'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{node_path}\tint\t{value}")
        elif isinstance(value, float):
            lines.append(f"{node_path}\tfloat\t{value!r}")  # repr round-trips exactly
        elif isinstance(value, str):
            if "\t" in value or "\n" in value:
                raise ValueError(f"cfg key '{node_path}': a string with a tab or newline cannot be written to a cfg dump")
            lines.append(f"{node_path}\tstr\t{value}")
        else:
            raise ValueError(f"cfg key '{node_path}' has a value of unsupported type {type(value).__name__}")

    visit(dict(environment), "")
    path.write_text("\n".join(lines) + "\n")


def run_engine_loop(executable: Path, *, resource_dir: Path, cfg_dump: Path, cfg_source: str, actions: Path,
                    steps: int, num_envs: int, seed: int, first_env: int = 0, env_count: int | None = None,
                    ) -> subprocess.Popen:
    """Starts the engine loop; read its result with `engine_result`."""
    command = [str(executable), "--resource-dir", str(resource_dir), "--cfg-dump", str(cfg_dump), "--cfg-source",
               cfg_source, "--actions", str(actions), "--steps", str(steps), "--num-envs", str(num_envs),
               "--seed", str(seed), "--first-env", str(first_env),
               "--env-count", str(num_envs - first_env if env_count is None else env_count)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def engine_result(process: subprocess.Popen) -> dict[str, Any]:
    """The JSON line an engine loop printed.

    Raises:
        RuntimeError: the program failed (its stderr is included).
    """
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"engine loop failed ({process.returncode}): {err.strip()}")
    return json.loads(out)


def run_engine_pair(executable: Path, *, num_envs: int, **engine_kwargs: Any) -> tuple[float, float]:
    """Two engine loops at once, each on half of `num_envs` (the rest of `engine_kwargs` as `run_engine_loop`).

    Returns:
        The slower one's seconds (both ran at once, so the pair's throughput is all env steps over it) and the CPU
        seconds of both.
    """
    half = num_envs // 2
    processes = [run_engine_loop(executable, num_envs=num_envs, first_env=first, env_count=count, **engine_kwargs)
                 for first, count in ((0, half), (half, num_envs - half))]
    results = [engine_result(process) for process in processes]
    return max(r["seconds"] for r in results), sum(r["cpu_seconds"] for r in results)


def module_is_stale(env_name: str) -> list[str]:
    """Sources newer than the compiled module of `env_name`: its numbers would not be comparable."""
    modules = list((ENV_DIR / "bin").glob(f"{env_name}.*.so"))
    if not modules:
        return []
    built = modules[0].stat().st_mtime
    sources = list(ENV_DIR.glob("*.hpp")) + [ENV_DIR / "raisim_gym.cpp"] + list((ENV_DIR / "envs" / env_name).glob("*.hpp"))
    return sorted(str(p.relative_to(ROOT)) for p in sources if p.exists() and p.stat().st_mtime > built)


def _command_output(command: Sequence[str]) -> str:
    try:
        return subprocess.run(list(command), capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "?"


def machine_info() -> dict[str, str]:
    """The facts a reader needs to judge the numbers: CPU, cores, load, library versions, source revision."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    import mujoco

    dirty = _command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "CPU": cpu,
        "cores (usable by this process)": f"{len(os.sched_getaffinity(0))} of {os.cpu_count()}",
        "load average at start (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "MuJoCo": mujoco.__version__,
        "numpy": np.__version__,
        "compiler": _command_output([shutil.which("c++") or "c++", "--version"]).splitlines()[0],
        "source": _command_output(["git", "rev-parse", "--short", "HEAD"]) + (" + uncommitted changes" if dirty else ""),
        "OMP_* / GOMP_* environment": " ".join(f"{k}={v}" for k, v in os.environ.items()
                                               if k.startswith(("OMP_", "GOMP_"))) or "(none)",
    }


def summarize(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def span(values: Sequence[float], digits: int = 0) -> list[str]:
    """Two table cells: the median and "min – max", with `digits` decimals."""
    median, low, high = summarize(values)
    return [f"{median:,.{digits}f}", f"{low:,.{digits}f} – {high:,.{digits}f}"]


def action_dim(env_name: str, cfg: Mapping[str, Any], cfg_path: Path) -> int:
    """The action size of `env_name` with `cfg`, from a one-env instance."""
    from raisimGymTorch.env.make import make_vec_env

    probe = make_vec_env(env_name, cfg, str(cfg_path), num_envs=1, num_threads=1, seed=0)
    try:
        return probe.num_acts
    finally:
        probe.close()


def write_result(text: str, path: Path) -> None:
    """Prints a result file's text, writes it to `path` and says where on stderr."""
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"written to {path}", file=sys.stderr)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

