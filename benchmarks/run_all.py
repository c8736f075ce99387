"""Runs every benchmark script of benchmarks/, one after the other, each in a process of its own.

    python benchmarks/run_all.py --quick    # tiny sizes, proves every script still works
    python benchmarks/run_all.py            # the full suite (tens of minutes); writes benchmarks/results/
    python benchmarks/run_all.py --quick --results-dir DIR    # what tests/test_benchmarks.py runs: tables to DIR

Scripts that are missing are skipped with a note. Exits non-zero if any script failed, after running the rest.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments, extra arguments with --quick): the throughput suite for both envs, then the comparisons,
# the soak and distributed runs, thread scaling, MuJoCo versions, the terrain's contact normals. The extras keep the
# quick suite near a minute on 2 cores, plus about 45 s for the learning comparison's 4 launches (start-up, not
# training, is most of that).
SUITE: list[tuple[str, list[str], list[str]]] = [
    ("throughput.py", ["--env", "rsg_anymal"], []),
    ("throughput.py", ["--env", "rsg_ant"], []),
    ("versus.py", ["all", "--mjbatch"], []),
    ("soak.py", [], ["--batch-steps", "1000", "--samples", "5"]),
    ("distributed.py", [], ["--repeats", "1"]),
    ("distributed_learning.py", [], []),
    ("thread_scaling.py", [], []),
    ("mujoco_versions.py", [], []),
    ("terrain_contact_normals.py", [], []),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every script in its --quick mode (CI)")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the scripts write their tables (default benchmarks/results/)")
    args = parser.parse_args(argv)
    environment = dict(os.environ)
    if args.results_dir is not None:  # read by common.py, in every script
        environment["RSG_BENCH_RESULTS_DIR"] = str(args.results_dir.resolve())
    failed: list[str] = []
    total_start = time.perf_counter()
    for script, arguments, quick_extras in SUITE:
        path = HERE / script
        arguments = [*arguments, *(["--quick", *quick_extras] if args.quick else [])]
        command = [sys.executable, str(path), *arguments]
        label = " ".join([script, *arguments])
        if not path.is_file():
            print(f"[run_all] skipped {label}: {path.name} does not exist", file=sys.stderr)
            continue
        start = time.perf_counter()
        result = subprocess.run(command, cwd=HERE.parent, env=environment,
                                stdout=subprocess.DEVNULL if args.quick else None)
        seconds = time.perf_counter() - start
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"[run_all] {label}: {status} in {seconds:.1f} s", file=sys.stderr)
        if result.returncode != 0:
            failed.append(label)
    print(f"[run_all] {len(SUITE) - len(failed)} of {len(SUITE)} passed in {time.perf_counter() - total_start:.1f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
