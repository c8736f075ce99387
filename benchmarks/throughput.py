"""Control steps per second of our vectorized env against the engine ceiling, measured in one run.

The engine ceiling is benchmarks/engine/engine_loop.cpp: one C++ thread stepping the same
Environment.hpp with the same actions, no Python and no batch. Each repetition measures, back to back
in a rotating order (the machine is shared and noisy), each in a fresh process:

* the engine loop, 1 thread, all envs;
* the engine loop, 1 thread, half the envs: a smaller batch per process runs faster per env (its simulation
  data stays nearer the core), which the next run enjoys and a batch shared by threads does not;
* two engine loops at once, half the envs each: what two cores give without our library;
* RaisimGymVecEnv with num_threads 1 and 2, calling step and observe once per control step like a
  trainer's rollout (benchmarks/vec_loop.py).

Ratios are taken within each repetition; the tables give their median, min and max. Before timing, an
unnormalized pass checks that the engine loop and the vectorized env (1 and 2 threads) produce the same
rewards, episode ends and final observations, i.e. do the same work.

    python benchmarks/throughput.py --env rsg_anymal            # full run, writes benchmarks/results/
    python benchmarks/throughput.py --env rsg_anymal --quick    # seconds; proves the script works
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env, resource_dir  # noqa: E402

VERIFY_STEPS = 500
VEC_LOOP = Path(__file__).resolve().parent / "vec_loop.py"


@dataclass
class Run:
    """One measured configuration: returns (control steps per wall second, per CPU second)."""

    label: str
    threads: int
    measure: Callable[[], tuple[float, float]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="rsg_anymal", help="env folder name (default rsg_anymal)")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000, help="control steps per env and measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None, help="default: the cfg's seed")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the vectorized env without normalization/statistics, and step alone")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI (well under 30 s)")
    parser.add_argument("--output", type=Path, default=None,
                        help="markdown file (default benchmarks/results/throughput_<env>[_quick].md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.steps, args.repeats = 4, 40, 3
    if args.num_envs < 2 or args.steps < 1 or args.repeats < 1:
        parser.error("need --num-envs >= 2, --steps >= 1, --repeats >= 1")
    if args.output is None:
        args.output = common.RESULTS_DIR / f"throughput_{args.env}{'_quick' if args.quick else ''}.md"
    return args


def run_vec_loop(env_name: str, num_envs: int, threads: int, steps: int, seed: int, actions: Path,
                 flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """Runs benchmarks/vec_loop.py in a fresh Python process and returns its JSON line."""
    command = [sys.executable, str(VEC_LOOP), "--env", env_name, "--num-envs", str(num_envs), "--threads",
               str(threads), "--steps", str(steps), "--seed", str(seed), "--actions", str(actions), *flags]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def check_same_work(engine: dict[str, Any], vectorized: dict[str, Any], label: str) -> None:
    """Raises RuntimeError if the two runs did not follow the same trajectories."""
    keys = ("dones", "timeouts", "reward_sum", "observation_sum")
    same = (engine["dones"] == vectorized["dones"] and engine["timeouts"] == vectorized["timeouts"]
            and np.isclose(engine["reward_sum"], vectorized["reward_sum"], rtol=1e-9, atol=1e-9)
            and np.isclose(engine["observation_sum"], vectorized["observation_sum"], rtol=1e-9, atol=1e-9))
    if not same:
        raise RuntimeError(f"the engine loop and the {label} vectorized env diverged, so they did not do the same work: "
                           f"{keys} engine {[engine[k] for k in keys]} vs vectorized {[vectorized[k] for k in keys]}; "
                           "is the compiled module older than its sources?")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg_path = ENVS_DIR / args.env / "cfg.yaml"
    cfg = load_cfg(cfg_path)
    seed = int(cfg.get("seed", 0)) if args.seed is None else args.seed
    stale = common.module_is_stale(args.env)
    if stale:
        print(f"warning: the compiled {args.env} module is older than {', '.join(stale)}; rebuild it with "
              f"RSG_ENVS={args.env} python setup.py build_ext --inplace", file=sys.stderr)
    info = common.machine_info()  # before the runs: the load average at start
    executable = common.build_engine_loop(args.env)

    probe = make_vec_env(args.env, cfg, str(cfg_path), num_envs=1, num_threads=1, seed=seed)
    action_dim = probe.num_acts
    control_dt, simulation_dt = probe.wrapper.getControlTimeStep(), probe.wrapper.getSimulationTimeStep()
    probe.close()
    substeps = int(control_dt / simulation_dt + 1e-10)
    total = args.steps * args.num_envs
    half = args.num_envs // 2

    with tempfile.TemporaryDirectory(prefix="rsg_bench_") as tmp_name:
        tmp = Path(tmp_name)
        common.write_cfg_dump(dict(cfg["environment"], num_envs=args.num_envs), tmp / "cfg.txt")
        # One N(0, 1) float32 action file feeds every run, C++ and Python alike.
        actions = tmp / "actions.bin"
        np.random.default_rng(seed).standard_normal((min(args.steps, 1000), args.num_envs, action_dim),
                                                    dtype=np.float32).tofile(actions)
        engine_kwargs = dict(resource_dir=resource_dir(cfg), cfg_dump=tmp / "cfg.txt", cfg_source=str(cfg_path),
                             actions=actions, num_envs=args.num_envs, seed=seed)

        verify_steps = min(args.steps, VERIFY_STEPS)
        engine_check = common.engine_result(common.run_engine_loop(executable, steps=verify_steps, **engine_kwargs))
        for threads in (1, 2):
            check_same_work(engine_check, run_vec_loop(args.env, args.num_envs, threads, verify_steps, seed, actions,
                                                       ("--checksums",)), f"{threads}-thread")

        def engine_loop(env_count: int) -> Callable[[], tuple[float, float]]:
            def measure() -> tuple[float, float]:
                result = common.engine_result(common.run_engine_loop(executable, steps=args.steps,
                                                                     env_count=env_count, **engine_kwargs))
                env_steps = env_count * args.steps
                return env_steps / result["seconds"], env_steps / result["cpu_seconds"]
            return measure

        def engine_pair() -> tuple[float, float]:
            seconds, cpu_seconds = common.run_engine_pair(executable, steps=args.steps, **engine_kwargs)
            return total / seconds, total / cpu_seconds

        def vectorized(threads: int, *flags: str) -> Callable[[], tuple[float, float]]:
            def measure() -> tuple[float, float]:
                result = run_vec_loop(args.env, args.num_envs, threads, args.steps, seed, actions, flags)
                return total / result["seconds"], total / result["cpu_seconds"]
            return measure

        runs = {
            "engine": Run("engine loop (C++, no Python, no batch)", 1, engine_loop(args.num_envs)),
            "engine_half": Run(f"engine loop, half the envs ({half})", 1, engine_loop(half)),
            "engine2": Run(f"engine loop, 2 processes at once ({half} + {args.num_envs - half} envs)", 2, engine_pair),
            "vec1": Run("vectorized: RaisimGymVecEnv transition (step + observe)", 1, vectorized(1)),
            "vec2": Run("vectorized: RaisimGymVecEnv transition (step + observe)", 2, vectorized(2)),
        }
        if args.breakdown:
            runs["vec1_raw"] = Run("vectorized, normalize_ob=False, no statistics update", 1,
                                   vectorized(1, "--no-normalize", "--no-update-statistics"))
            runs["vec1_step"] = Run("vectorized, step only (no observe)", 1, vectorized(1, "--step-only"))
            runs["vec2_raw"] = Run("vectorized, normalize_ob=False, no statistics update", 2,
                                   vectorized(2, "--no-normalize", "--no-update-statistics"))

        wall: dict[str, list[float]] = {key: [] for key in runs}
        cpu: dict[str, list[float]] = {key: [] for key in runs}
        keys = list(runs)
        for repeat in range(args.repeats):
            for key in keys[repeat % len(keys):] + keys[:repeat % len(keys)]:
                per_wall, per_cpu = runs[key].measure()
                wall[key].append(per_wall)
                cpu[key].append(per_cpu)
            print(f"repetition {repeat + 1}/{args.repeats} (steps/s, steps/CPU-s): " +
                  ", ".join(f"{key} {wall[key][-1]:,.0f} {cpu[key][-1]:,.0f}" for key in keys), file=sys.stderr)

    # (label, numerator run, denominator run, denominator multiplier, target, also per CPU second)
    ratio_specs = [
        ("vectorized 1 thread / ceiling", "vec1", "engine", 1, ">= 0.95 (issue 4)", True),
        ("vectorized 2 threads / (2 x ceiling)", "vec2", "engine", 2, ">= 0.90 (issue 4)", True),
        ("vectorized 2 threads / ceiling", "vec2", "engine", 1, ">= 1.7 (issue 2)", False),
        ("engine loop with half the envs / ceiling: what a smaller batch gains per env", "engine_half", "engine", 1,
         "-", True),
        ("engine loop 2 processes / (2 x ceiling): what 2 cores give", "engine2", "engine", 2, "-", True),
        ("vectorized 2 threads / engine loop 2 processes", "vec2", "engine2", 1, ">= 0.97 (issue 16)", True),
    ]
    if args.breakdown:
        ratio_specs += [
            ("vectorized 1 thread, no normalization / ceiling", "vec1_raw", "engine", 1, "-", True),
            ("vectorized 1 thread, step only / ceiling", "vec1_step", "engine", 1, "-", True),
            ("vectorized 2 threads, no normalization / (2 x ceiling)", "vec2_raw", "engine", 2, "-", True),
        ]

    throughput_rows = []
    for key, run in runs.items():
        physics = f"{common.summarize(wall[key])[0] * substeps:,.0f}"
        throughput_rows.append([run.label, str(run.threads), *common.span(wall[key], 0), physics,
                                *common.span(cpu[key], 0)])
    ratio_rows = []
    for label, numerator, denominator, multiplier, target, per_cpu in ratio_specs:
        by_wall = common.span([n / (multiplier * d) for n, d in zip(wall[numerator], wall[denominator])], 3)
        by_cpu = common.span([n / d for n, d in zip(cpu[numerator], cpu[denominator])], 3) if per_cpu else ("-", "")
        ratio_rows.append([label, *by_wall, target, *by_cpu])

    info["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    info["threads compared"] = "1 and 2 (cfg num_threads; the engine loop is single-threaded)"
    command = "python benchmarks/throughput.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        f"# Throughput: {args.env}",
        "",
        f"`{command}`",
        "",
        f"One step = one control step of one env: {substeps} MuJoCo steps (control_dt {control_dt:g} s / "
        f"simulation_dt {simulation_dt:g} s) plus PD torques, reward terms, termination and time-limit checks, "
        f"auto-reset and one observation. Steps/s count all {args.num_envs} envs (batch steps/s x num_envs); "
        f"physics steps/s = steps/s x {substeps}. {args.steps} control steps per measurement, each in a fresh "
        f"process; median of {args.repeats} repetitions (min – max), ratios taken within each repetition. Actions: "
        f"N(0, 1) float32, seed {seed}, one array for every run; a {verify_steps}-step check found identical rewards, "
        "episode ends and observations in the engine loop and the vectorized env (1 and 2 threads).",
        "",
        common.markdown_table(["run", "threads", "control steps/s (median)", "min – max", "physics steps/s",
                               "steps per CPU-second (median)", "min – max"], throughput_rows),
        "",
        common.markdown_table(["ratio (wall clock)", "median", "min – max", "target",
                               "same ratio per CPU-second: median", "min – max"], ratio_rows),
        "",
        "Per CPU-second figures divide by the CPU time the process(es) used (all threads): the work done per core "
        "whatever share of the machine the scheduler granted. The targets are "
        "wall-clock ratios; on a loaded machine they measure the load as much as the code (see the load averages).",
        "",
        common.markdown_table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
    ])
    common.write_result(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
