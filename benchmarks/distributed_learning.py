"""Learning equivalence (issue 6): does a 2-process run learn like a 1-process run with the same total env count?

Trains rsg_anymal from scratch with the shared trainer (the code behind runner.py) for a fixed number of iterations,
once per seed as 1 process x 2 threads and once as 2 processes x 1 thread (torchrun, gloo); the cfg's ``num_envs``
is the total, split over the ranks. The two runs of a seed start from the same network weights and the same env
seeds, but sample actions from different random streams, so they are two draws of the same experiment, not copies.

Per run it keeps the training reward per step averaged over the last fifth of the iterations (all ranks' envs) and
the deterministic evaluation at the end (the trainer's: one episode in each of 10 envs, the same start states for
every run). Across seeds it compares the two configurations with
* Welch's t-test (unequal variances; Welch-Satterthwaite degrees of freedom) and its 95% interval of the difference,
* an exact permutation test of the difference of means (no normality assumed; random splits if there are too many),
* an equivalence check (two one-sided tests at 5%): equivalent if the 90% interval of the difference lies within
  +-``--margin`` times the 1-process mean's magnitude.
A p-value above 0.05 alone only says no difference was detected; with few seeds the interval says how large a
difference could still hide. Nothing here needs scipy.

    python benchmarks/distributed_learning.py            # writes benchmarks/results/distributed_learning_rsg_anymal.md
    python benchmarks/distributed_learning.py --quick    # 2 seeds x 3 tiny iterations; proves the script works
"""
from __future__ import annotations

import argparse
import itertools
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import distributed  # noqa: E402  (its worker runs every training run; see distributed.launch)

ENV = distributed.ENV
CONFIGURATIONS = distributed.CONFIGURATIONS  # (label, processes, threads per process, extra environment)
DEFAULT_ITERATIONS = 60  # the shipped cfg walks (about 1 m/s, 2% falls) by then, and reward still rises
DEFAULT_SEEDS = [1, 2, 3, 4, 5, 6]
EVALUATION_LINE = re.compile(r"return (\S+), length \S+ steps .*falls (\d+)%")
EXACT_PERMUTATION_LIMIT = 200_000
"""Up to this many splits of the runs the permutation test enumerates them all; beyond, it draws that many."""


@dataclass
class Comparison:
    """One metric, the runs of configuration B against those of A (differences are B - A)."""

    metric: str
    a: list[float]
    """One value per seed of configuration A (1 process), B (2 processes)."""
    b: list[float]
    difference: float
    """mean(b) - mean(a)."""
    interval_95: tuple[float, float]
    """Welch interval of the difference, shown in the table."""
    interval_90: tuple[float, float]
    """Welch interval of the difference that the equivalence check (two one-sided tests at 5%) uses."""
    welch_p: float
    permutation_p: float
    margin: float
    """Equivalence margin, in the metric's units."""

    @property
    def verdict(self) -> str:
        if self.welch_p < 0.05 or self.permutation_p < 0.05:
            return "different (p < 0.05)"
        if self.margin > 0 and -self.margin < self.interval_90[0] and self.interval_90[1] < self.margin:
            return f"equivalent within +-{self.margin:.3g}"
        return f"no difference detected; equivalence within +-{self.margin:.3g} not shown (more seeds)"


# --- statistics without scipy ---------------------------------------------------------------------------------

def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by its continued fraction (evaluated with Lentz's method) on the side where it converges fast."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def student_t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` (real, > 0) degrees of freedom."""
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def student_t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = `probability` (> 0.5), by bisection of the two-sided tail."""
    tail = 2.0 * (1.0 - probability)
    low, high = 0.0, 1.0
    while student_t_two_sided_p(high, df) > tail:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if student_t_two_sided_p(middle, df) > tail else (low, middle)
    return 0.5 * (low + high)


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float, float]:
    """Welch's test of mean(b) - mean(a): (difference, standard error, degrees of freedom, two-sided p).

    With no spread in either group the standard error is 0: p is 1 for equal means, else 0.
    """
    difference = statistics.fmean(b) - statistics.fmean(a)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    error = math.sqrt(va + vb)
    if error == 0.0:
        return difference, 0.0, float("inf"), 1.0 if difference == 0.0 else 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return difference, error, df, student_t_two_sided_p(difference / error, df)


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float) -> tuple[float, float]:
    """The Welch interval of mean(b) - mean(a) at `confidence`."""
    difference, error, df, _ = welch(a, b)
    if error == 0.0:
        return difference, difference
    half = student_t_quantile(0.5 + confidence / 2.0, df) * error
    return difference - half, difference + half


def permutation_p(a: Sequence[float], b: Sequence[float], seed: int = 0) -> float:
    """Two-sided p of |mean(b) - mean(a)| over relabellings of the pooled runs (exact when they are few enough)."""
    pooled = np.asarray([*a, *b], dtype=np.float64)
    observed = abs(statistics.fmean(b) - statistics.fmean(a))
    total, size_b = pooled.sum(), len(b)
    # Splits that tie the observed difference count, up to rounding of the sums.
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(len(pooled), size_b) <= EXACT_PERMUTATION_LIMIT:
        picks = np.array(list(itertools.combinations(range(len(pooled)), size_b)))
    else:
        rng = np.random.default_rng(seed)
        picks = np.array([rng.permutation(len(pooled))[:size_b] for _ in range(EXACT_PERMUTATION_LIMIT)])
    sums_b = pooled[picks].sum(axis=1)
    differences = np.abs(sums_b / size_b - (total - sums_b) / (len(pooled) - size_b))
    return float(np.mean(differences >= observed - tolerance))


def compare(metric: str, a: list[float], b: list[float], margin_fraction: float) -> Comparison:
    """Every test of `b` against `a`; the equivalence margin is `margin_fraction` of |mean(a)|."""
    difference, _, _, p = welch(a, b)
    return Comparison(metric, a, b, difference, welch_interval(a, b, 0.95), welch_interval(a, b, 0.90), p,
                      permutation_p(a, b), margin_fraction * abs(statistics.fmean(a)))


# --- the runs --------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"PPO iterations per run (default {DEFAULT_ITERATIONS}; 3 with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"seeds, one run per configuration each (default {' '.join(map(str, DEFAULT_SEEDS))}; "
                             "1 2 with --quick)")
    parser.add_argument("--num-envs", type=int, default=None, help="total envs (default: the cfg's)")
    parser.add_argument("--margin", type=float, default=0.1,
                        help="equivalence margin as a fraction of the 1-process mean's magnitude (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="16 envs, 0.5 s episodes, 3 iterations, seeds 1 2")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"markdown file (default benchmarks/results/distributed_learning_{ENV}[_quick].md)")
    args = parser.parse_args(argv)
    args.iterations = args.iterations or (3 if args.quick else DEFAULT_ITERATIONS)
    args.seeds = args.seeds or ([1, 2] if args.quick else DEFAULT_SEEDS)
    if args.iterations < 2:
        parser.error("--iterations must be at least 2 (the worker times from the second)")
    if len(args.seeds) < 2 or len(set(args.seeds)) != len(args.seeds):
        parser.error("--seeds needs at least two different seeds (a spread is estimated from them)")
    if args.output is None:
        args.output = common.RESULTS_DIR / f"distributed_learning_{ENV}{'_quick' if args.quick else ''}.md"
    return args


def main(argv: list[str] | None = None) -> int:
    """Trains every seed in both configurations, compares them and writes the markdown page."""
    args = parse_args(argv)
    info = common.machine_info()
    import torch

    info["torch"] = torch.__version__
    runs: dict[str, list[dict]] = {label: [] for label, *_ in CONFIGURATIONS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cfgs = {}
        for _, _, threads, _ in CONFIGURATIONS:
            cfgs[threads] = tmp / f"cfg_{threads}.yaml"
            cfg = distributed.write_cfg(cfgs[threads], threads, args.num_envs, args.quick,
                                        eval_every_n=args.iterations)
        environment = cfg["environment"]
        for index, seed in enumerate(args.seeds):
            # Alternate which configuration goes first: the shared machine's load drifts.
            order = CONFIGURATIONS if index % 2 == 0 else CONFIGURATIONS[::-1]
            for label, processes, threads, extra in order:
                run_start = time.perf_counter()
                measured = distributed.launch(processes, threads, cfgs[threads], args.iterations, extra,
                                              tmp / "out.json", seed)
                evaluation = EVALUATION_LINE.search(measured["final_evaluation"])
                if evaluation is None:
                    raise RuntimeError(f"cannot read the evaluation line {measured['final_evaluation']!r}")
                rewards = measured["rewards"]
                tail = max(1, len(rewards) // 5)
                runs[label].append({"seed": seed, "first": statistics.fmean(rewards[:tail]),
                                    "last": statistics.fmean(rewards[-tail:]), "return": float(evaluation[1]),
                                    "falls": int(evaluation[2]), "wall": time.perf_counter() - run_start})
                row = runs[label][-1]
                print(f"[learning] seed {seed}, {label}: reward last fifth {row['last']:.4f}, evaluation return "
                      f"{row['return']:.3f}, falls {row['falls']}%, {row['wall']:.0f} s", flush=True)

    (label_a, *_), (label_b, *_) = CONFIGURATIONS
    comparisons = [
        compare("training reward per step, last fifth of the iterations",
                [r["last"] for r in runs[label_a]], [r["last"] for r in runs[label_b]], args.margin),
        compare("deterministic evaluation return at the end (10 episodes)",
                [r["return"] for r in runs[label_a]], [r["return"] for r in runs[label_b]], args.margin),
    ]
    text = report(args, environment, runs, comparisons, info, time.perf_counter() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}")
    return 0


def report(args: argparse.Namespace, environment: dict, runs: dict[str, list[dict]], comparisons: list[Comparison],
           info: dict[str, str], seconds: float) -> str:
    """The markdown page."""
    command = "python benchmarks/distributed_learning.py" + "".join(
        (" --quick" if args.quick else "", f" --iterations {args.iterations}",
         f" --seeds {' '.join(map(str, args.seeds))}", f" --num-envs {args.num_envs}" if args.num_envs else "",
         f" --margin {args.margin:g}" if args.margin != 0.1 else ""))
    steps = round(environment["max_time"] / environment["control_dt"])
    (label_a, *_), (label_b, *_) = CONFIGURATIONS
    rows = [[label, str(r["seed"]), f"{r['first']:.4f}", f"{r['last']:.4f}", f"{r['return']:.3f}",
             f"{r['falls']}%", f"{r['wall']:.0f} s"] for label, group in runs.items() for r in group]
    summary = []
    for c in comparisons:
        summary.append([c.metric, _mean_sd(c.a), _mean_sd(c.b), f"{c.difference:+.4g}",
                        f"[{c.interval_95[0]:+.4g}, {c.interval_95[1]:+.4g}]", f"{c.welch_p:.3f}",
                        f"{c.permutation_p:.3f}", c.verdict])
    lines = [
        f"# Learning equivalence: {ENV}, {label_a} against {label_b}", "", f"`{command}`", "",
        f"{environment['num_envs']} envs in total (split over the ranks of the 2-process runs), {steps} steps per env "
        f"per iteration, {args.iterations} iterations per run, {len(args.seeds)} seeds per configuration; "
        f"{seconds / 60:.1f} minutes in all. Both configurations of a seed start from the same weights and env seeds "
        "and differ in their action-sampling streams, so each run is an independent draw.", "",
        f"Differences are ({label_b}) - ({label_a}). Welch: t-test with unequal variances, its 95% interval of the "
        "difference; permutation: exact two-sided test of the difference of means over every relabelling of the "
        f"runs (with {len(args.seeds)} seeds per side the smallest possible p is "
        f"{2 / math.comb(2 * len(args.seeds), len(args.seeds)):.3g}). Equivalent: the 90% Welch interval lies "
        f"within +-{args.margin:g} x |mean of {label_a}| (two one-sided tests at 5%).", "",
        common.markdown_table(["metric", f"{label_a} (mean +- sd)", f"{label_b} (mean +- sd)", "difference",
                               "95% interval", "Welch p", "permutation p", "verdict"], summary), "",
        "Every run: training reward per step averaged over the first and the last fifth of its iterations (all "
        "ranks' envs); the deterministic evaluation after the last iteration; wall time including start-up.", "",
        common.markdown_table(["run", "seed", "reward, first fifth", "reward, last fifth", "evaluation return",
                               "falls", "wall time"], rows), "",
        common.markdown_table(["machine", ""], [[k, v] for k, v in info.items()]), "",
    ]
    return "\n".join(lines)


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.fmean(values):.4g} +- {statistics.stdev(values):.2g}"


if __name__ == "__main__":
    raise SystemExit(main())
