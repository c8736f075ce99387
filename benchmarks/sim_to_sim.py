"""Sim-to-sim transfer through an actuator network: train rsg_anymal with the network in the loop, then play the
policy on the drive the network was fitted to (the stand-in series-elastic drive, our "hardware") and on PD.

1. Drive data from the stand-in drive (raisimGymTorch/actuator/drive.py) and a network fitted to it, as
   `python -m raisimGymTorch.actuator generate|fit` make them.
2. Two policies from scratch with the shipped cfg.yaml and the same seed and iterations (benchmarks/learn_anymal.py):
   one with `actuator: {model: network}`, one with the shipped DC-motor PD.
3. Each policy's deterministic walk on every drive model: the network, the stand-in drive (`series_elastic`, the
   same drive in C++ inside the physics step; also with two more periods of delay than the network was fitted to),
   the DC-motor PD and ideal PD. Per model: forward velocity and falls
   over `--episodes` 4 s episodes, net speed, heading change and falls over 20 s episodes.

The drop from the training drive to `series_elastic` is the sim-to-sim gap: what a policy loses when the drive it
meets is the one the network stands for.

    python benchmarks/sim_to_sim.py [--iterations 200]
    python benchmarks/sim_to_sim.py --network-policy RUN/full_200.pt --pd-policy RUN/full_200.pt  # play only

Writes benchmarks/results/sim_to_sim.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import raisimGymTorch  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads libgomp)
import numpy as np
from ruamel.yaml import YAML

import learn_anymal
from common import markdown_table
from learn_anymal import SHIPPED_CFG, cpu_model, engine_speed, evaluate, evaluate_long
from raisimGymTorch.actuator.drive import DriveParameters, random_loads, simulate_drive
from raisimGymTorch.actuator.excitation import excitation_targets
from raisimGymTorch.actuator.fit import fit_network
from raisimGymTorch.env.make import load_cfg
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner.training_config import parse_training_config

ROOT = Path(__file__).resolve().parents[1]
# (row label, actuator block); the network's file is added from the network policy's cfg.
PLAYED_ON = [
    ("network", {"model": "network"}),
    ("series_elastic", {"model": "series_elastic"}),
    ("series_elastic, 3 periods of delay (7.5 ms)", {"model": "series_elastic", "delay_periods": 3}),
    ("dc_motor", {"model": "dc_motor"}),
    ("pd", {"model": "pd"}),
]


def fit_drive_network(folder: Path, seconds: float, epochs: int) -> Path:
    """The network of step 1, fitted on `seconds` of 16 stand-in drives (what `generate` and `fit` do)."""
    parameters = DriveParameters()
    targets = excitation_targets(16, seconds, parameters.control_period, seed=0)
    log = simulate_drive(targets, random_loads(16, np.random.default_rng(0)), parameters, seed=0)
    network, report = fit_network(log, epochs=epochs)
    path = folder / "drive.net"
    network.save(path)
    print(f"[sim2sim] network fitted: held-out torque error {report.network_rms:.2f} N m RMS -> {path}", flush=True)
    return path


def train_policy(folder: Path, cfg: dict, iterations: int) -> Path:
    """Trains with learn_anymal (its table and curve land in `folder`) and returns the last checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / "cfg.yaml"
    YAML(typ="safe", pure=True).dump(cfg, cfg_path)
    learn_anymal.main(["--cfg", str(cfg_path), "--iterations", str(iterations), "--minutes", "600", "--run-root",
                       str(folder / "runs"), "--markdown", str(folder / "learn.md"), "--curve",
                       str(folder / "curve.png"), "--strip", str(folder / "strip.png"), "--quiet"])
    return max((folder / "runs").rglob("full_*.pt"), key=lambda p: int(p.stem.split("_")[1]))


def training_actuator(checkpoint: Path) -> dict:
    cfg = parse_training_config(load_checkpoint(checkpoint)["cfg_text"], str(checkpoint)).cfg
    return dict(cfg["environment"].get("actuator", {"model": "dc_motor"}))


def play(checkpoint: Path, network_file: str, episodes: int, long_seconds: float) -> list[list[str]]:
    rows = []
    trained_on = training_actuator(checkpoint)["model"]
    for label, actuator in PLAYED_ON:
        if actuator["model"] == "network":
            actuator = {**actuator, "file": network_file}
        short = evaluate(checkpoint, episodes, threads=2, actuator=actuator)
        long = evaluate_long(checkpoint, episodes, long_seconds, threads=2, actuator=actuator)
        label = f"**{label}** (trained on)" if label == trained_on else label
        rows.append([label, f"{short.velocity:.2f}", f"{100 * short.fall_rate:.0f}%", f"{long.net_speed:.2f}",
                     f"{long.heading_change_mean:.1f}", f"{100 * long.fall_rate:.0f}%"])
        print(f"[sim2sim] {checkpoint.parent.name} trained on {trained_on}, played on {label}: "
              f"{' | '.join(rows[-1][1:])}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200, help="PPO iterations of each policy")
    parser.add_argument("--drive-seconds", type=float, default=40.0, help="stand-in drive data to fit on")
    parser.add_argument("--epochs", type=int, default=300, help="network fitting epochs")
    parser.add_argument("--network-policy", help="checkpoint trained with the network (skips steps 1-2 for it)")
    parser.add_argument("--pd-policy", help="checkpoint trained with the DC-motor PD (skips its training)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--long-seconds", type=float, default=20.0)
    parser.add_argument("--work", default="/tmp/sim_to_sim", help="folder for the network, runs and their tables")
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "sim_to_sim.md"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    if args.network_policy:
        network_policy = Path(args.network_policy)
    else:
        cfg = load_cfg(SHIPPED_CFG)
        cfg["environment"]["actuator"] = {"model": "network",
                                          "file": str(fit_drive_network(work, args.drive_seconds, args.epochs))}
        network_policy = train_policy(work / "network", cfg, args.iterations)
    pd_policy = Path(args.pd_policy) if args.pd_policy else train_policy(work / "dc_motor", load_cfg(SHIPPED_CFG),
                                                                       args.iterations)
    network_actuator = training_actuator(network_policy)
    network_file = network_actuator.get("file")
    if network_actuator["model"] != "network" or not network_file:
        raise SystemExit(f"{network_policy} was not trained with an actuator network")

    speed = engine_speed()
    header = ["played on", "velocity (m/s, 4 s)", "falls (4 s)", f"net speed (m/s, {args.long_seconds:g} s)",
              "heading change (°)", f"falls ({args.long_seconds:g} s)"]
    sections = []
    for title, checkpoint in (("Trained with the actuator network", network_policy),
                              ("Trained with the DC-motor PD (the shipped cfg)", pd_policy)):
        rows = play(checkpoint, network_file, args.episodes, args.long_seconds)
        sections += [f"## {title}", "", f"`{checkpoint}`", "", markdown_table(header, rows), ""]
    lines = [
        "# Sim-to-sim: actuator network -> stand-in series-elastic drive",
        "",
        f"`python benchmarks/sim_to_sim.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {cpu_model()}, {platform.machine()}; engine loop {speed:,.0f} rsg_anymal env steps/s (100 envs, "
        f"one thread, same run). Deterministic policies; {args.episodes} episodes per row, the trainer's evaluation "
        "seeds. `series_elastic` is the drive the network was fitted to (actuator/drive.py's stand-in, in C++ inside "
        "the physics step): the \"hardware\" of this comparison.",
        "",
        *sections,
    ]
    Path(args.markdown).write_text("\n".join(lines))
    print(f"[sim2sim] wrote {args.markdown}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
