"""Training throughput of one process with 2 threads against 2 processes (torchrun, gloo) with 1 thread each.

Both train rsg_anymal with the shared trainer (the code behind runner.py) on the same total number of envs:
the 2-process run splits cfg num_envs over its ranks. Each run is a fresh launch; the runs of one repetition go
back to back in a rotating order (the machine is shared and noisy) and the tables give medians over repetitions.

One "sample" is one control step of one env (4 MuJoCo steps for rsg_anymal) that PPO trains on; samples/s is
measured over whole iterations (rollout, statistics merge, PPO update, log) after the first, so start-up, the
first checkpoint and evaluation are not counted. Per CPU-second figures divide by the CPU time of all processes
and threads over the same iterations.

With ``--learning N`` it also trains N iterations per configuration and seed and compares the average reward
per step of the last iterations and a deterministic evaluation at the end: the same total env count should
learn alike. distributed_learning.py makes that comparison over several seeds, with statistical tests.

    python benchmarks/distributed.py                     # writes benchmarks/results/distributed_rsg_anymal.md
    python benchmarks/distributed.py --quick             # seconds; proves the script works
    python benchmarks/distributed.py --learning 40 --seeds 1 2
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from ruamel.yaml import YAML  # noqa: E402

from raisimGymTorch.env.make import ENVS_DIR, load_cfg  # noqa: E402

ENV = "rsg_anymal"
CONFIGURATIONS = [
    # label, processes, threads per process, extra environment variables; OpenMP waits passively in both (the
    # package's default, inherited from this process)
    ("1 process x 2 threads", 1, 2, {}),
    ("2 processes x 1 thread (torchrun, gloo)", 2, 1, {}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=None, help="total envs (default: the cfg's)")
    parser.add_argument("--iterations", type=int, default=5, help="iterations per timed run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration; 0 skips timing")
    parser.add_argument("--quick", action="store_true", help="16 envs, 0.5 s episodes, 3 iterations")
    parser.add_argument("--learning", type=int, default=0, metavar="N",
                        help="also train N iterations per configuration and seed and compare learning")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds of the learning comparison")
    parser.add_argument("--output", type=Path, default=None, help="markdown file (default benchmarks/results/...)")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cfg", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.output is None:
        name = "learning" if args.repeats == 0 else "quick" if args.quick else ""
        args.output = common.RESULTS_DIR / f"distributed_{ENV}{'_' + name if name else ''}.md"
    return args


def worker(args: argparse.Namespace) -> int:
    """One training run (one rank of it under torchrun); rank 0 writes its measurements to ``args.worker``."""
    import torch

    from raisimGymTorch.runner import rollout_statistics, trainer
    from raisimGymTorch.runner.distributed import Distributed

    distributed = Distributed.from_environment()
    marks: list[tuple[float, float]] = []
    clear = rollout_statistics.RolloutStatistics.clear

    def marked_clear(self: rollout_statistics.RolloutStatistics) -> None:  # called as every iteration starts
        marks.append((time.perf_counter(), time.process_time()))
        clear(self)

    rollout_statistics.RolloutStatistics.clear = marked_clear  # type: ignore[method-assign]
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as root:
        result = trainer.train(ENV, args.cfg, iterations=args.iterations, run_root=root, eval_envs=10,
                               update_threads=args.threads, seed=args.seed, print_function=lines.append,
                               distributed=distributed)
        evaluation = [line for line in lines if line.startswith("[evaluation]")]
    marks = marks[1:]  # the first clear() is the object's construction
    measured = {"wall": marks[-1][0] - marks[1][0], "cpu": marks[-1][1] - marks[1][1], "iterations": len(marks) - 2}
    rewards = [float(line.split("average reward")[1].split("|")[0]) for line in lines if line.startswith("iteration")]
    gathered: list[Any] = [measured]
    if distributed.world_size > 1:
        gathered = [None] * distributed.world_size
        torch.distributed.all_gather_object(gathered, measured)
    if distributed.is_main:
        args.worker.write_text(json.dumps({
            "wall": max(m["wall"] for m in gathered), "cpu": sum(m["cpu"] for m in gathered),
            "iterations": measured["iterations"], "rewards": rewards, "final_evaluation": evaluation[-1],
            "last_checkpoint": str(result.last_checkpoint)}))
    distributed.close()
    return 0


def launch(processes: int, threads: int, cfg: Path, iterations: int, extra_env: dict[str, str], out: Path,
           seed: int | None = None) -> dict[str, Any]:
    """Runs one configuration in fresh processes and returns what its rank 0 measured."""
    script = [str(Path(__file__).resolve()), "--worker", str(out), "--cfg", str(cfg), "--threads", str(threads),
              "--iterations", str(iterations)] + ([] if seed is None else ["--seed", str(seed)])
    if processes == 1:
        command = [sys.executable, *script]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   *script]
    environment = {**os.environ, **extra_env, "OMP_NUM_THREADS": str(threads)}
    environment["PYTHONPATH"] = os.pathsep.join([str(common.ROOT), environment.get("PYTHONPATH", "")])
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=common.ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(out.read_text())


def write_cfg(path: Path, threads: int, num_envs: int | None, quick: bool, eval_every_n: int) -> dict[str, Any]:
    cfg = copy.deepcopy(load_cfg(ENVS_DIR / ENV / "cfg.yaml"))
    cfg["record_video"] = False
    cfg["environment"].update({"num_threads": threads, "eval_every_n": eval_every_n})
    if quick:
        cfg["environment"].update({"num_envs": 16, "max_time": 0.5})
    if num_envs is not None:
        cfg["environment"]["num_envs"] = num_envs
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    path.write_text(stream.getvalue())
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker(args)
    if args.quick:
        args.iterations, args.repeats = 3, min(args.repeats, 3)
    if args.iterations < 3:
        raise SystemExit("--iterations must be at least 3 (the first is not timed)")
    info = common.machine_info()
    import torch

    info["torch"] = torch.__version__
    samples: dict[str, list[float]] = {label: [] for label, *_ in CONFIGURATIONS}
    per_cpu: dict[str, list[float]] = {label: [] for label, *_ in CONFIGURATIONS}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfgs = {threads: tmp / f"cfg_{threads}.yaml" for threads in (1, 2)}
        for threads, path in cfgs.items():
            cfg = write_cfg(path, threads, args.num_envs, args.quick, eval_every_n=10**6)
        environment = cfg["environment"]
        steps_per_iteration = environment["num_envs"] * round(environment["max_time"] / environment["control_dt"])
        for repeat in range(args.repeats):
            order = CONFIGURATIONS[repeat % len(CONFIGURATIONS):] + CONFIGURATIONS[:repeat % len(CONFIGURATIONS)]
            for label, processes, threads, extra in order:
                measured = launch(processes, threads, cfgs[threads], args.iterations, extra, tmp / "out.json")
                samples[label].append(measured["iterations"] * steps_per_iteration / measured["wall"])
                per_cpu[label].append(measured["iterations"] * steps_per_iteration / measured["cpu"])
                print(f"[{repeat + 1}/{args.repeats}] {label}: {samples[label][-1]:,.0f} samples/s, "
                      f"{per_cpu[label][-1]:,.0f} per CPU-second", flush=True)

        learning_rows = []
        if args.learning:
            for label, processes, threads, extra in CONFIGURATIONS:
                for seed in args.seeds:
                    cfg_path = tmp / f"learn_{threads}.yaml"
                    write_cfg(cfg_path, threads, args.num_envs, args.quick, eval_every_n=args.learning)
                    started = time.perf_counter()
                    measured = launch(processes, threads, cfg_path, args.learning, extra, tmp / "out.json", seed)
                    rewards = measured["rewards"]
                    tail = max(1, len(rewards) // 5)
                    learning_rows.append([label, str(seed), f"{statistics.mean(rewards[:tail]):.4f}",
                                          f"{statistics.mean(rewards[-tail:]):.4f}",
                                          measured["final_evaluation"].split(": ", 1)[1],
                                          f"{time.perf_counter() - started:.0f} s"])
                    print(f"[learning] {label}, seed {seed}: {learning_rows[-1][2:]}", flush=True)

    command = "python benchmarks/distributed.py" + " ".join(
        [""] + (["--quick"] if args.quick else []) + ([f"--num-envs {args.num_envs}"] if args.num_envs else [])
        + ([f"--repeats {args.repeats}"] if args.repeats != 3 else [])
        + ([f"--learning {args.learning} --seeds {' '.join(map(str, args.seeds))}"] if args.learning else []))
    text = [f"# Distributed training: {ENV}", "", f"`{command}`", "",
            f"{environment['num_envs']} envs in total (split over the ranks of a multi-process run), "
            f"{steps_per_iteration} samples per iteration. One sample = one control step of one env (4 MuJoCo "
            "steps) that PPO trains on.", ""]
    if args.repeats:
        text += throughput_tables(args, samples, per_cpu)
    if learning_rows:
        text += [f"Learning: {args.learning} iterations per run; average reward per step over the first and last "
                 "fifth of the iterations (all ranks' envs), and the deterministic evaluation at the end.", "",
                 _table(["run", "seed", "reward, first fifth", "reward, last fifth", "final evaluation", "wall time"],
                        learning_rows), ""]
    text += [_table(["machine", ""], [[k, v] for k, v in info.items()]), ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(text))
    print("\n".join(text))
    print(f"written to {args.output}")
    return 0


def throughput_tables(args: argparse.Namespace, samples: dict[str, list[float]], per_cpu: dict[str, list[float]]
                      ) -> list[str]:
    """The markdown lines of the timed runs."""
    rows, ratios = [], []
    for label, processes, threads, _ in CONFIGURATIONS:
        median, low, high = _summary(samples[label])
        cpu_median, cpu_low, cpu_high = _summary(per_cpu[label])
        rows.append([label, str(processes * threads), _number(median),
                     f"{_number(low)} – {_number(high)}", _number(cpu_median),
                     f"{_number(cpu_low)} – {_number(cpu_high)}"])
    reference = CONFIGURATIONS[1][0]
    for label, *_ in CONFIGURATIONS[:1]:
        within = [b / a for a, b in zip(samples[label], samples[reference])]
        ratios.append([f"{reference} / {label}", f"{statistics.median(within):.2f}",
                       f"{min(within):.2f} – {max(within):.2f}"])
    return [f"{args.iterations} iterations per run, the first not timed; median of {args.repeats} runs (min – max), "
            "each a fresh launch, in rotating order. Per CPU-second: samples divided by the CPU time of all "
            "processes and threads over the timed iterations, i.e. the work done per core whatever share of the "
            "machine a run got; samples/s (wall clock) also depends on that share (see the load average).", "",
            _table(["run", "cores used", "samples/s (median)", "min – max", "samples per CPU-second (median)",
                    "min – max"], rows), "",
            _table(["ratio of samples/s (within each repetition)", "median", "min – max"], ratios), ""]


def _summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


if __name__ == "__main__":
    raise SystemExit(main())
