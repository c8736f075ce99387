"""Thread scaling: env steps/s of rsg_anymal and rsg_ant, and the trainer's samples/s end to end, from one thread
to every core of the machine.

* env: ``transition`` (step + observe) of ``--num-envs`` envs under fixed random actions, ``--seconds`` per point
  after a warm-up, for each thread count;
* trainer: rsg_anymal's shipped cfg.yaml trained for ``--iterations`` iterations (the first one not counted) with
  ``num_threads`` set to each count, ``--num-envs`` envs, the networks and the update on ``--device``; the
  trainer's own steps/s per iteration, and its rollout and update times.

    python benchmarks/thread_scaling.py [--threads 1,2,4,8,16] [--device auto|cpu|cuda]
    python benchmarks/thread_scaling.py --quick    # 1 and 2 threads, tiny sizes: proves the script works

Writes benchmarks/results/thread_scaling.md and docs/thread_scaling.png (--quick: thread_scaling_quick.md alone).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import numpy as np
import torch
from ruamel.yaml import YAML

from common import RESULTS_DIR, markdown_table
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.runner import trainer
from raisimGymTorch.runner.device import DEVICE_CHOICES, resolve_device

ROOT = Path(__file__).resolve().parents[1]
ITERATION_LINE = re.compile(r"iteration\s+(\d+) \|.*\|\s+([\d.]+) s \(rollout ([\d.]+), update ([\d.]+)\) \|\s+(\d+) steps/s")


def env_rate(name: str, threads: int, num_envs: int, seconds: float) -> float:
    env = make_vec_env(name, load_cfg(ENVS_DIR / name / "cfg.yaml"), num_envs=num_envs, num_threads=threads, seed=0,
                       normalize_ob=False)
    try:
        actions = np.random.default_rng(0).normal(0.0, 1.0, (16, num_envs, env.num_acts)).astype(np.float32)
        for k in range(10):
            env.transition(actions[k % 16], update_statistics=False)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            env.transition(actions[steps % 16], update_statistics=False)
            steps += 1
        return steps * num_envs / (time.perf_counter() - start)
    finally:
        env.close()


def trainer_rate(threads: int, num_envs: int, iterations: int, device: str, folder: Path) -> tuple[float, float, float]:
    """Median samples/s, rollout s and update s of the iterations after the first."""
    cfg = load_cfg(ENVS_DIR / "rsg_anymal" / "cfg.yaml")
    cfg["environment"].update(num_threads=threads, num_envs=num_envs, eval_every_n=10_000)
    cfg["record_video"] = False
    path = folder / f"cfg_{threads}.yaml"
    YAML(typ="safe", pure=True).dump(cfg, path)
    lines: list[str] = []
    trainer.train("rsg_anymal", path, iterations=iterations, run_root=folder / f"runs_{threads}", device=device,
                  eval_envs=1, print_function=lines.append)
    rows = [match.groups() for match in map(ITERATION_LINE.search, lines) if match]
    timed = [row for row in rows if int(row[0]) > 0] or rows
    return (float(np.median([float(row[4]) for row in timed])), float(np.median([float(row[2]) for row in timed])),
            float(np.median([float(row[3]) for row in timed])))


def plot(path: Path, threads: list[int], env_rates: dict[str, list[float]], train_rates: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for name, rates in env_rates.items():
        axis.plot(threads, np.array(rates) / rates[0], "o-", label=f"{name} env (step + observe)")
    axis.plot(threads, np.array(train_rates) / train_rates[0], "s-", label="rsg_anymal trainer, end to end")
    axis.plot(threads, threads, ":", color="grey", label="linear")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log", base=2)
    axis.set_xticks(threads, [str(t) for t in threads])
    axis.set_xlabel("threads")
    axis.set_ylabel("speed-up over one thread")
    axis.set_title(f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cores = os.cpu_count() or 1
    default_threads = ",".join(str(t) for t in [1, 2, 4, 8, 16, 32, 64] if t <= cores)
    parser.add_argument("--threads", default=default_threads, help="comma-separated thread counts")
    parser.add_argument("--num-envs", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--iterations", type=int, default=3, help="trainer iterations per thread count")
    parser.add_argument("--train-envs", type=int, default=256)
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--markdown", default=None, help="default: thread_scaling[_quick].md in the results folder")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "thread_scaling.png"))
    parser.add_argument("--quick", action="store_true", help="1 and 2 threads, tiny sizes, no plot (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.threads, args.num_envs, args.seconds, args.iterations, args.train_envs = "1,2", 16, 0.3, 2, 8
    markdown = Path(args.markdown or RESULTS_DIR / f"thread_scaling{'_quick' if args.quick else ''}.md")
    threads = [int(t) for t in args.threads.split(",")]
    device = str(resolve_device(args.device))  # the trainer takes the name; "auto" resolved once, for the table

    env_rates: dict[str, list[float]] = {"rsg_anymal": [], "rsg_ant": []}
    for name in env_rates:
        for count in threads:
            env_rates[name].append(env_rate(name, count, args.num_envs, args.seconds))
            print(f"[scaling] {name} {count:3d} threads: {env_rates[name][-1]:12,.0f} steps/s", flush=True)
    training = []
    with tempfile.TemporaryDirectory() as folder:
        for count in threads:
            training.append(trainer_rate(count, args.train_envs, args.iterations, device, Path(folder)))
            print(f"[scaling] trainer {count:3d} threads: {training[-1][0]:12,.0f} samples/s (rollout "
                  f"{training[-1][1]:.2f} s, update {training[-1][2]:.2f} s)", flush=True)

    header = ["threads", *[f"{name} steps/s (× 1 thread)" for name in env_rates], "trainer samples/s (× 1 thread)",
              "rollout / update per iteration (s)"]
    rows = []
    for k, count in enumerate(threads):
        cells = [str(count)]
        for rates in env_rates.values():
            cells.append(f"{rates[k]:,.0f} ({rates[k] / rates[0]:.2f})")
        cells.append(f"{training[k][0]:,.0f} ({training[k][0] / training[0][0]:.2f})")
        cells.append(f"{training[k][1]:.2f} / {training[k][2]:.2f}")
        rows.append(cells)
    if not args.quick:
        plot(Path(args.plot), threads, env_rates, [row[0] for row in training])
    lines = [
        "# Thread scaling",
        "",
        f"`python benchmarks/thread_scaling.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {cores} cores ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"torch {torch.__version__}. Env: {args.num_envs} envs, transition (step + observe), random actions, "
        f"{args.seconds:g} s per point. Trainer: rsg_anymal's cfg.yaml with {args.train_envs} envs x 400 steps per "
        f"iteration, networks and update on {device}, median of iterations 1-{args.iterations - 1}. The 1-thread row "
        "is this machine's speed.",
        "",
        markdown_table(header, rows),
        "",
    ]
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text("\n".join(lines))
    print(f"[scaling] wrote {markdown}" + ("" if args.quick else f" and {args.plot}"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
