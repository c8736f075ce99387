"""Soak test: step 100 ANYmal envs for 10 million control steps and watch memory and throughput.

    python benchmarks/soak.py            # 100 envs x 100,000 batch steps = 10 million control steps
    python benchmarks/soak.py --quick    # 20 envs x 10,000 batch steps, for CI-like runs

The loop is the trainer's: observe (updating the statistics), step, final observations when an episode
ended, reward terms. Half the envs act with N(0, 0.5) actions and mostly reach the 4 s time limit, half
with N(0, 1.5) and mostly fall, so both kinds of auto-reset happen all the time. At every sample a
separate 10-env VecEnv is also built and closed, so construction and close() are soaked too.

Every `--sample-every` batch steps the script records the resident set size (VmRSS from
/proc/self/status) and the throughput since the previous sample, in control steps per second of
wall-clock time and per CPU-second of this process (the second is what load from other processes on
the machine does not change). It prints a table and writes benchmarks/results/soak[_quick].md.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import RESULTS_DIR, machine_info, markdown_table, module_is_stale  # noqa: E402

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env  # noqa: E402

ACTION_BANK = 997
"""Pre-drawn action batches, cycled: drawing 1,200 normals per step would be a third of the loop's cost."""
WARM_UP_FRACTION = 0.1
"""Samples in the first tenth of the run are allocator and cache warm-up, left out of the verdict."""


def resident_kib() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in KiB, from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def trimmed_resident_mib() -> float | None:
    """RSS after glibc's malloc_trim(0) hands freed heap back to the system; None without glibc."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim(0)
    return resident_kib()[0] / 1024


def soak(num_envs: int, batch_steps: int, sample_every: int, threads: int, seed: int,
         churn: bool = True) -> list[dict[str, float]]:
    """Runs the soak loop; returns one record per sample."""
    cfg = load_cfg(ENVS_DIR / "rsg_anymal" / "cfg.yaml")
    env = make_vec_env("rsg_anymal", cfg, "rsg_anymal/cfg.yaml", num_envs=num_envs, num_threads=threads, seed=seed)
    rng = np.random.default_rng(seed)
    scale = np.where(np.arange(num_envs) % 2 == 0, 0.5, 1.5).astype(np.float32)[:, None]
    bank = (scale * rng.standard_normal((ACTION_BANK, num_envs, env.num_acts))).astype(np.float32)

    records = []
    falls = timeouts = 0
    env.observe(update_statistics=True)
    wall, cpu = time.perf_counter(), time.process_time()
    for step in range(1, batch_steps + 1):
        _, done = env.step(bank[step % ACTION_BANK])
        if done.any():
            truncated = env.truncated
            env.final_observation()
            timeouts += int(truncated.sum())
            falls += int((done & ~truncated).sum())
        env.reward_terms()
        env.observe(update_statistics=True)
        if step % sample_every == 0 or step == batch_steps:
            now_wall, now_cpu = time.perf_counter(), time.process_time()
            steps = (step - (records[-1]["batch_steps"] if records else 0)) * num_envs
            rss, peak = resident_kib()
            records.append({
                "batch_steps": step, "control_steps": step * num_envs, "rss_mib": rss / 1024, "peak_mib": peak / 1024,
                "steps_per_s": steps / (now_wall - wall), "steps_per_cpu_s": steps / max(now_cpu - cpu, 1e-9),
                "falls": falls, "timeouts": timeouts, "diverged": env.diverged_resets,
            })
            if churn:  # a short-lived VecEnv, built and closed outside the timed interval
                make_vec_env("rsg_anymal", cfg, "rsg_anymal/cfg.yaml", num_envs=10, num_threads=1, seed=step).close()
            wall, cpu = time.perf_counter(), time.process_time()
    env.close()
    return records


def verdict(records: list[dict[str, float]]) -> dict[str, float]:
    """Memory growth and throughput spread after warm-up."""
    settled = [r for r in records if r["batch_steps"] > WARM_UP_FRACTION * records[-1]["batch_steps"]] or records
    x = np.array([r["control_steps"] for r in settled], dtype=float)
    rss = np.array([r["rss_mib"] for r in settled])
    slope = float(np.polyfit(x / 1e6, rss, 1)[0]) if len(settled) >= 2 else 0.0
    wall = [r["steps_per_s"] for r in settled]
    cpu = [r["steps_per_cpu_s"] for r in settled]
    return {
        "rss_first": float(rss[0]), "rss_last": float(rss[-1]),
        "rss_min": float(rss.min()), "rss_max": float(rss.max()),
        "rss_slope_mib_per_million": slope,
        "wall_median": statistics.median(wall), "wall_min": min(wall), "wall_max": max(wall),
        "cpu_median": statistics.median(cpu), "cpu_min": min(cpu), "cpu_max": max(cpu),
        "cpu_cv": statistics.pstdev(cpu) / statistics.mean(cpu),
        "first_half_cpu": statistics.median(cpu[: len(cpu) // 2] or cpu),
        "second_half_cpu": statistics.median(cpu[len(cpu) // 2:]),
    }


def report(args: argparse.Namespace, records: list[dict[str, float]], summary: dict[str, float], seconds: float,
           trimmed: float | None) -> str:
    command = " ".join(["python benchmarks/soak.py", *args.argv])
    rows = [[f"{r['control_steps']:,}", f"{r['rss_mib']:.1f}", f"{r['peak_mib']:.1f}", f"{r['steps_per_s']:,.0f}",
             f"{r['steps_per_cpu_s']:,.0f}", f"{r['falls']:,}", f"{r['timeouts']:,}", f"{r['diverged']:,}"]
            for r in records]
    table = markdown_table(["control steps", "RSS MiB", "peak RSS MiB", "steps/s (wall)", "steps/CPU-s", "falls",
                            "time-outs", "diverged"], rows)
    s = summary
    lines = [
        f"# Soak: rsg_anymal, {args.envs} envs, {records[-1]['control_steps']:,} control steps",
        "",
        f"`{command}`",
        "",
        f"One step = one control step of one env (4 MuJoCo steps). {args.envs} envs on {args.threads} OpenMP "
        f"thread(s), seed {args.seed}; per batch step: step, final observations if an episode ended, reward terms, "
        "observe with a statistics update. Half the envs act N(0, 0.5) (mostly time-outs), half N(0, 1.5) (mostly "
        "falls). " + ("At each sample a 10-env VecEnv is also built and closed. " if args.churn else "")
        + f"Total wall time {seconds:.0f} s.",
        "",
        "| machine | |", "|---|---|",
        *[f"| {key} | {value} |" for key, value in machine_info().items()],
        "",
        table,
        "",
        f"After warm-up (the first {WARM_UP_FRACTION:.0%} of the steps left out):",
        "",
        f"- RSS {s['rss_first']:.1f} MiB -> {s['rss_last']:.1f} MiB (range {s['rss_min']:.1f} - {s['rss_max']:.1f}); "
        f"least-squares slope {s['rss_slope_mib_per_million']:+.3f} MiB per million control steps.",
        f"- Throughput per CPU-second: median {s['cpu_median']:,.0f} (min {s['cpu_min']:,.0f}, "
        f"max {s['cpu_max']:,.0f}, "
        f"coefficient of variation {s['cpu_cv']:.1%}); first half {s['first_half_cpu']:,.0f}, second half "
        f"{s['second_half_cpu']:,.0f}.",
        f"- Throughput per wall-clock second: median {s['wall_median']:,.0f} (min {s['wall_min']:,.0f}, max "
        f"{s['wall_max']:,.0f}); this one moves with the load other processes put on the machine.",
        f"- At the end: RSS {records[-1]['rss_mib']:.1f} MiB, "
        + (f"{trimmed:.1f} MiB after malloc_trim(0) (heap that glibc kept after envs were closed, not leaked)."
           if trimmed is not None else "malloc_trim is not available here."),
    ]
    stale = module_is_stale("rsg_anymal")
    if stale:
        lines += ["", f"Note: sources newer than the compiled module: {', '.join(stale)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 envs x 10,000 batch steps (200,000 control steps)")
    parser.add_argument("--envs", type=int, default=None, help="envs in the batch (default 100; 20 with --quick)")
    parser.add_argument("--batch-steps", type=int, default=None,
                        help="batch steps (default 100,000, i.e. 10 million control steps; 10,000 with --quick)")
    parser.add_argument("--samples", type=int, default=40, help="how many samples to take over the run")
    parser.add_argument("--threads", type=int, default=1, help="OpenMP threads of the env (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-churn", dest="churn", action="store_false",
                        help="do not build and close a 10-env VecEnv at each sample (isolates stepping)")
    parser.add_argument("--out", type=Path, default=None, help="markdown report (default benchmarks/results/soak*.md)")
    args = parser.parse_args(argv)
    args.argv = [arg for arg in (sys.argv[1:] if argv is None else argv) if not arg.startswith("--out")]
    args.envs = args.envs or (20 if args.quick else 100)
    batch_steps = args.batch_steps or (10_000 if args.quick else 100_000)
    sample_every = max(1, batch_steps // args.samples)
    name = ("soak_quick" if args.quick else "soak") + ("" if args.churn else "_no_churn")
    out = args.out or RESULTS_DIR / f"{name}.md"

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # diverged resets are counted in the table instead
        records = soak(args.envs, batch_steps, sample_every, args.threads, args.seed, args.churn)
    seconds = time.perf_counter() - started
    text = report(args, records, verdict(records), seconds, trimmed_resident_mib())
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
