"""benchmarks/run_all.py --quick: every benchmark script still runs and writes the tables the README points to.

The benchmarks are not tests and nothing here is timed: the quick run only proves that the scripts work, so
these tests check that each table has its rows and that every figure in it is a finite number of the right
sign, never how large it is. The tables go to a temporary folder, so the published ones are left alone.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # the first run compiles the engine loop (benchmarks/engine) for both envs

BENCHMARKS = REPO_ROOT / "benchmarks"
PUBLISHED = BENCHMARKS / "results"
HAVE_ENVPOOL = importlib.util.find_spec("envpool") is not None
NO_ENVPOOL = "EnvPool is not installed, so its runs are left out"
INSTALLED_MUJOCO = importlib.metadata.version("mujoco")
# mujoco_versions.py --quick compares the installed MuJoCo with 4.0.1, fetched from the package index.
QUICK_OTHER_MUJOCO = [version for version in ["4.0.1"] if version != INSTALLED_MUJOCO]


@dataclass(frozen=True)
class Table:
    """What one markdown table of a result file must hold."""

    label: str
    """The column that names the rows."""
    rows: list[str]
    """That column's cells, in order."""
    positive: tuple[str, ...]
    """Columns whose cells hold finite positive numbers (and so do the "min – max" columns right after them)."""
    finite: tuple[str, ...] = ()
    """Columns whose cells hold finite numbers of either sign (a difference of two timings)."""


def throughput_tables() -> list[Table]:
    return [
        Table("run", ["engine loop (C++, no Python, no batch)", "engine loop, half the envs (2)",
                      "engine loop, 2 processes at once (2 + 2 envs)",
                      "vectorized: RaisimGymVecEnv transition (step + observe)",
                      "vectorized: RaisimGymVecEnv transition (step + observe)"],
              ("control steps/s (median)", "physics steps/s", "steps per CPU-second (median)")),
        Table("ratio (wall clock)", ["vectorized 1 thread / ceiling", "vectorized 2 threads / (2 x ceiling)",
                                     "vectorized 2 threads / ceiling",
                                     "engine loop with half the envs / ceiling: what a smaller batch gains per env",
                                     "engine loop 2 processes / (2 x ceiling): what 2 cores give",
                                     "vectorized 2 threads / engine loop 2 processes"], ("median",)),
    ]


EXPECTED: dict[str, list[Table]] = {
    "throughput_rsg_anymal_quick.md": throughput_tables(),
    "throughput_rsg_ant_quick.md": throughput_tables(),
    "versus_ant_quick.md": [
        Table("run", ["rsg_ant (RaisimGymVecEnv, num_threads 2)",
                      "rsg_ant's engine loop, 2 processes of half the envs (C++, no Python)",
                      *(["EnvPool Ant-v5 (sync, num_threads 2)"] * HAVE_ENVPOOL),
                      "Ant-v5 on mjbatch (num_threads 2, the task in NumPy)",
                      "Gymnasium Ant-v5, SyncVectorEnv", "Gymnasium Ant-v5, AsyncVectorEnv (shared_memory)"],
              ("envs", "timed batch steps", "steps/s (median)")),
        Table("ratio (within each repetition)", [*(["rsg_ant / EnvPool"] * HAVE_ENVPOOL), "rsg_ant / mjbatch",
                                                 "engine loop 2 processes / mjbatch: the most any Ant-v5 on this "
                                                 "MuJoCo could lead by",
                                                 "rsg_ant / engine loop 2 processes",
                                                 "rsg_ant / Gymnasium's best (per repetition)"],
              ("envs", "median")),
    ],
    "versus_anymal_quick.md": [
        Table("run", ["rsg_anymal (RaisimGymVecEnv, num_threads 2)", "ANYmal as a Gymnasium MujocoEnv, SyncVectorEnv"],
              ("envs", "timed batch steps", "steps/s (median)")),
        Table("ratio (within each repetition)", ["rsg_anymal / gym sync"], ("envs", "median")),
    ],
    "overhead_quick.md": [
        Table("run", ["rsg_anymal, 1 env, num_threads 1: transition (step + observe)",
                      "rsg_ant, 1 env, num_threads 1: transition (step + observe)",
                      *(["EnvPool Ant-v5, 1 env, num_threads 1: step (returns the observation)"] * HAVE_ENVPOOL)],
              ("us per call (median)", "engine loop us per step (median)"),
              finite=("overhead us per call (median)",)),
        # Ratios of overheads: an overhead below the noise of the physics time is negative.
        *[Table("ratio (within each repetition)", ["rsg_ant overhead / EnvPool overhead",
                                                   "rsg_anymal overhead / EnvPool overhead"],
                (), finite=("median",))] * HAVE_ENVPOOL,
    ],
    "scaling_rsg_anymal_quick.md": [
        Table("envs", ["1", "10"], ("timed batch steps", "steps/s (median)", "RSS of construction (MiB)",
                                    "RSS per env (KiB)")),
    ],
    "train_rsg_anymal_quick.md": [
        Table("run", ["1"], ("samples", "samples/s", "rollout-only samples/s", "rollout share")),
        Table("summary over runs (iterations 2+)", ["samples/s (rollout + update)",
                                                    "the env alone: transition samples/s, same envs and threads",
                                                    "training ÷ the env alone (within each repetition)",
                                                    "the same with a rollout that costs only the env's time "
                                                    "(env alone + update)",
                                                    "rollout share of the time"],
              ("median",)),
    ],
    "soak_quick.md": [
        Table("control steps", ["4,000", "8,000", "12,000", "16,000", "20,000"],
              ("RSS MiB", "peak RSS MiB", "steps/s (wall)", "steps/CPU-s")),
    ],
    "distributed_rsg_anymal_quick.md": [
        Table("run", ["1 process x 2 threads", "2 processes x 1 thread (torchrun, gloo)"],
              ("samples/s (median)", "samples per CPU-second (median)")),
        Table("ratio of samples/s (within each repetition)",
              ["2 processes x 1 thread (torchrun, gloo) / 1 process x 2 threads"], ("median",)),
    ],
    "distributed_learning_rsg_anymal_quick.md": [
        Table("metric", ["training reward per step, last fifth of the iterations",
                         "deterministic evaluation return at the end (10 episodes)"], (),
              finite=("1 process x 2 threads (mean +- sd)", "2 processes x 1 thread (torchrun, gloo) (mean +- sd)",
                      "difference", "95% interval", "Welch p", "permutation p")),
        Table("run", ["1 process x 2 threads"] * 2 + ["2 processes x 1 thread (torchrun, gloo)"] * 2,
              ("seed", "wall time"), finite=("reward, first fifth", "reward, last fifth", "evaluation return")),
    ],
    "mujoco_versions_quick.md": [
        Table("MuJoCo", [f"{INSTALLED_MUJOCO} (installed)", *QUICK_OTHER_MUJOCO] * 2,
              ("control steps/s (median)", f"÷ {INSTALLED_MUJOCO} (median)")),
    ],
    "terrain_contact_normals_quick.md": [
        Table("geom", [geom for geom in ["base (box 0.29 0.07 0.09)", "base (box 0.055 0.07 0.09)",
                                         "hip drive (cylinder 0.05 0.07)", "thigh (box 0.0375 0.03 0.1415)",
                                         "knee drive (cylinder 0.05 0.07)", "shank (capsule 0.0175 0.14125)",
                                         "foot (sphere 0.03)"] for _ in range(2)],
              tuple(f"{whose}: {column}" for whose in ("ours", "MuJoCo's")
                    for column in ("poses touching", "contacts per pose")),
              finite=tuple(f"{whose}: {column}" for whose in ("ours", "MuJoCo's")
                           for column in ("tilted > 5°", "worst tilt (°)"))),
    ],
    "thread_scaling_quick.md": [
        Table("threads", ["1", "2"], ("rsg_anymal steps/s (× 1 thread)", "rsg_ant steps/s (× 1 thread)",
                                      "trainer samples/s (× 1 thread)", "rollout / update per iteration (s)")),
    ],
}


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every table in `text` as (header cells, rows of cells)."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            tables.append((block[0], block[2:]))  # block[1] is the |---| line
            block = []
    return tables


def numbers(cell: str) -> list[float]:
    """The numbers in a cell: '10,688' -> [10688.0], '0.82 – 0.97' -> [0.82, 0.97], '46%' -> [46.0]."""
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", cell)]


def judged_as(header: list[str], index: int) -> str:
    """The column whose rule a cell follows: a "min – max" column is the spread of the median before it."""
    while header[index] == "min – max":
        index -= 1
    return header[index]


def child_environment(*first_on_path: Path, **extra: str) -> dict[str, str]:
    """os.environ for a script of this checkout (whichever raisimGymTorch is installed), plus `extra`."""
    path = [*map(str, first_on_path), str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), **extra)


def published_files() -> dict[str, tuple[int, int]]:
    return {path.name: (path.stat().st_mtime_ns, path.stat().st_size) for path in PUBLISHED.iterdir()}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Runs `run_all.py --quick` into a temporary folder; returns that folder and the run's stderr."""
    results = tmp_path_factory.mktemp("results")
    before = published_files()
    done = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--results-dir", str(results)],
                          cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-6000:]
    assert published_files() == before, "a quick run wrote into benchmarks/results/"
    return results, done.stderr


def test_every_script_passes_and_writes_only_to_the_results_dir(quick_run):
    results, stderr = quick_run
    assert "[run_all] 9 of 9 passed" in stderr
    assert sorted(path.name for path in results.iterdir()) == sorted(EXPECTED)
    assert (NO_ENVPOOL in stderr) != HAVE_ENVPOOL


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_has_its_rows_and_finite_figures(quick_run, name):
    text = (quick_run[0] / name).read_text()
    tables = [table for table in markdown_tables(text) if table[0][0] != "machine"]
    assert len(tables) == len(EXPECTED[name]), text
    for (header, rows), expected in zip(tables, EXPECTED[name]):
        assert expected.label in header, text
        assert [row[header.index(expected.label)] for row in rows] == expected.rows, text
        for row in rows:
            assert len(row) == len(header), row
            for index, cell in enumerate(row):
                column = judged_as(header, index)
                if column in expected.positive or column in expected.finite:
                    values = numbers(cell)
                    assert values and all(math.isfinite(v) for v in values), f"{name}: {column} = {cell!r}"
                    if column in expected.positive:
                        assert all(v > 0 for v in values), f"{name}: {column} = {cell!r}"
    if name in ("versus_ant_quick.md", "overhead_quick.md"):
        assert (NO_ENVPOOL in text) != HAVE_ENVPOOL
    if name == "versus_ant_quick.md":  # run_all asks for mjbatch, which versus.py installs into a venv of its own
        assert re.search(r"\| mjbatch \| [0-9.]+ \(its own MuJoCo [0-9.]+", text), text


def versus_without_envpool(tmp_path, bench: str) -> subprocess.CompletedProcess:
    """`versus.py <bench> --quick` with EnvPool hidden (a package that fails to import stands for it not being
    installed); its tables go to tmp_path / "out"."""
    (tmp_path / "hide" / "envpool").mkdir(parents=True)
    (tmp_path / "hide" / "envpool" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    environment = child_environment(tmp_path / "hide", RSG_BENCH_RESULTS_DIR=str(tmp_path / "out"))
    return subprocess.run([sys.executable, str(BENCHMARKS / "versus.py"), bench, "--quick"], cwd=REPO_ROOT,
                          env=environment, capture_output=True, text=True, timeout=300)


def test_versus_leaves_envpool_out_with_a_note_when_it_is_missing(tmp_path):
    done = versus_without_envpool(tmp_path, "ant")
    assert done.returncode == 0, done.stderr[-6000:]
    assert NO_ENVPOOL in done.stderr
    text = (tmp_path / "out" / "versus_ant_quick.md").read_text()
    assert NO_ENVPOOL in text and "| envpool | not installed |" in text
    runs, ratios = markdown_tables(text)[:2]
    assert not any("EnvPool" in row[1] for row in runs[1] + ratios[1]), text
    assert len(runs[1]) == 4 and len(ratios[1]) == 2, text


def test_versus_go1_stops_with_a_clear_message_when_envpool_is_missing(tmp_path):
    # go1 has nothing to compare without EnvPool, so it stops before any run instead of leaving it out.
    done = versus_without_envpool(tmp_path, "go1")
    assert done.returncode != 0
    assert f"versus.py go1: {NO_ENVPOOL}" in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "out" / "versus_go1_quick.md").exists()


@pytest.mark.parametrize("arguments, words", [
    (["--envs", "rsg_ant/no_such.yaml"], "--envs rsg_ant/no_such.yaml: there is no"),
    (["--envs", "no_such_env"], "--envs no_such_env: there is no"),
    (["--repeats", "0"], "--repeats must be >= 1, got 0"),
])
def test_mujoco_versions_names_a_bad_argument_before_fetching_anything(arguments, words):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "mujoco_versions.py"), "--versions", "0.0.0", *arguments],
                          cwd=REPO_ROOT, env=child_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "not on the package index" not in done.stdout + done.stderr

