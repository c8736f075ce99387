"""What terrain costs: steps/s of ANYmal on the generated terrain with its height scan ÷ on a flat plane
without a scan (issue 13's target: >= 0.8), measured in one run.

    python benchmarks/terrain_cost.py [--quick] [--repeats 5] [--control-steps 5000]

Both runs step the same C++ loop (raisimGymTorch.env.bin._toolkit.legged_rollout): rsc/anymal_c's model,
held by a PD law (kp 80, kd 2, as rsg_anymal) around the nominal pose with N(0, 0.3 rad) target noise,
4 physics steps of 0.0025 s per control step, one thread, no Python in the loop. The terrain run adds
legged_gym's default terrain (10 levels x 20 types of 8 m tiles, 0.1 m samples) with Terrain::addTo in
place of the floor plane, starts a new 2.5 s episode at the next tile origin of a shuffled list of all
200 tiles (falls restart early), and measures the 187-point height scan every
control step. One "step" is one control step (4 physics steps). Runs alternate (flat, terrain, ...) so
that load changes on the shared machine hit both alike; the ratio is the median of the per-pair ratios.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import RESULTS_DIR, machine_info, markdown_table  # noqa: E402

from raisimGymTorch.env.bin import _toolkit  # noqa: E402

ANYMAL_XML = ROOT / "raisimGymTorch" / "rsc" / "anymal_c" / "anymal_c.xml"
# A new episode every 2.5 s (250 control steps), at the next tile in a shuffled list of all 200, so that the
# terrain run samples every tile type and level rather than the first tile's flat platform.
EPISODE_STEPS = 250
NOMINAL = [0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8]


def rollout(terrain, scan, spawns, control_steps: int, seed: int, profile: bool = False) -> dict:
    return _toolkit.legged_rollout(str(ANYMAL_XML), terrain, scan, control_steps, 4, 80.0, 2.0, NOMINAL, 0.55,
                                   0.3, spawns, seed, EPISODE_STEPS, profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred steps: proves the script runs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--control-steps", type=int, default=5000)
    args = parser.parse_args()
    repeats, steps = (2, 200) if args.quick else (args.repeats, args.control_steps)

    terrain = _toolkit.Terrain(None, 1)
    scan = _toolkit.HeightScan()
    spawns = [list(terrain.origin(level, type_)) for level in range(terrain.levels) for type_ in range(terrain.types)]
    random.Random(0).shuffle(spawns)
    variants = {
        "flat plane, no scan": (None, None, [[0.0, 0.0, 0.0]]),
        "terrain, no scan": (terrain, None, spawns),
        "terrain + height scan (187 points)": (terrain, scan, spawns),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    details: dict[str, dict] = {}
    rollout(None, None, [[0.0, 0.0, 0.0]], 100, 0)  # warm caches and the page cache of the model file
    for repeat in range(repeats):
        for name, (t, s, spawn) in variants.items():
            result = rollout(t, s, spawn, steps, repeat)
            rates[name].append(result["control_steps"] / result["seconds"])
            details[name] = result
    # Where the time goes: one more run of each with MuJoCo's stage timers on (they add clock reads, so
    # these runs are not part of the rates above).
    stages = {name: rollout(t, s, spawn, steps, 0, profile=True)["stage_us"] for name, (t, s, spawn) in variants.items()}
    flat = rates["flat plane, no scan"]
    ratios = {name: [r / f for r, f in zip(values, flat)] for name, values in rates.items()}

    rows = [[name, f"{statistics.median(values):,.0f}", f"{min(values):,.0f} – {max(values):,.0f}",
             f"{4 * statistics.median(values):,.0f}", f"{details[name]['mean_contacts']:.1f}",
             str(details[name]['resets'])]
            for name, values in rates.items()]
    ratio_rows = [[f"{name} / flat plane, no scan", f"{statistics.median(values):.3f}",
                   f"{min(values):.3f} – {max(values):.3f}"]
                  for name, values in ratios.items() if name != "flat plane, no scan"]
    stage_names = ["step", "pos_collision", "col_broadphase", "col_narrowphase", "constraint", "pos_kinematics"]
    stage_rows = [[stage] + [f"{stages[name][stage]:.1f}" for name in variants] for stage in stage_names]
    info = machine_info()
    text = "\n\n".join([
        "# Terrain cost: ANYmal on legged_gym's terrain with a height scan vs a flat plane",
        "Command: `python benchmarks/terrain_cost.py" + (" --quick" if args.quick else "") + "`. " +
        __doc__.split("\n\n")[2].replace("\n", " "),
        markdown_table(["run", "control steps/s (median)", "min – max", "physics steps/s", "contacts per step",
                        "episodes started"], rows),
        markdown_table(["ratio", "median", "min – max"], ratio_rows),
        "Target (issue 13): terrain + height scan / flat plane >= 0.8.",
        "Microseconds per physics step in MuJoCo's stages (mjData.timer, separate runs with the timers on; "
        "`constraint` is the solver, whose work grows with the number of contacts):",
        markdown_table(["stage", *variants], stage_rows),
        markdown_table(["", ""], [[k, v] for k, v in info.items()] +
                       [["repeats x control steps", f"{repeats} x {steps}"], ["threads", "1"]]),
    ])
    name = "terrain_cost_quick.md" if args.quick else "terrain_cost.md"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / name).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
