"""Actuator network fidelity and cost: how well each drive model predicts the stand-in drive's torque, and what the
network costs per physics step.

1. Drive data: `--train-seconds` of excitation on 16 drives (each with its own load) for fitting, and an independent
   log (other seed, other loads, other targets) held out.
2. Fit the network (raisimGymTorch.actuator.fit) on the first log.
3. On the held-out log, torque error (RMS, N m) of: the network, the ideal PD the envs use by default
   (80 (q* - q) - 2 q', clipped to 80), and the DC-motor PD (the same with ANYdrive's torque-speed line).
4. Cost: the C++ network (the _toolkit binding of env/actuation/ActuatorNetwork.hpp) for ANYmal's 12 joints per
   physics step, beside one rsg_anymal physics step on this machine (the env's own speed, measured in the same run).

    python benchmarks/actuator_fidelity.py [--train-seconds 40] [--epochs 300]

Writes benchmarks/results/actuator_fidelity.md and docs/actuator_fit.png.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import raisimGymTorch  # noqa: F401
import numpy as np

from raisimGymTorch.actuator.data import history_pairs
from raisimGymTorch.actuator.drive import DriveParameters, random_loads, simulate_drive
from raisimGymTorch.actuator.excitation import excitation_targets
from raisimGymTorch.actuator.fit import fit_network, plot_held_out
from raisimGymTorch.env.bin._toolkit import ActuatorNetworkHistory
from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env

ROOT = Path(__file__).resolve().parents[1]


def drive_log(joints: int, seconds: float, seed: int):
    parameters = DriveParameters()
    targets = excitation_targets(joints, seconds, parameters.control_period, seed=seed)
    return simulate_drive(targets, random_loads(joints, np.random.default_rng(seed)), parameters, seed)


def model_errors(network, log) -> dict[str, float]:
    import torch

    inputs, torque = history_pairs(log, network.history, network.lag)
    error, velocity = inputs[:, 0], inputs[:, network.history]
    ideal = np.clip(80.0 * error - 2.0 * velocity, -80.0, 80.0)
    upper = np.clip(120.0 * (1.0 - velocity / 7.5), 0.0, 80.0)
    lower = np.clip(120.0 * (-1.0 - velocity / 7.5), -80.0, 0.0)
    dc_motor = np.clip(80.0 * error - 2.0 * velocity, lower, upper)
    with torch.no_grad():
        predicted = network(torch.from_numpy(inputs)).numpy()
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    return {"actuator network": rms(predicted - torque), "ideal PD": rms(ideal - torque),
            "DC-motor PD": rms(dc_motor - torque), "torque itself": rms(torque)}


def control_steps_per_second(actuator: dict, seconds: float) -> float:
    """rsg_anymal control steps/s on one thread (100 envs, fixed random actions) with `actuator` as its drive model."""
    cfg = load_cfg(ENVS_DIR / "rsg_anymal" / "cfg.yaml")
    cfg["environment"]["actuator"] = actuator
    env = make_vec_env("rsg_anymal", cfg, num_envs=100, num_threads=1, seed=0, normalize_ob=False)
    try:
        actions = np.random.default_rng(0).normal(0, 1, (100, env.num_acts)).astype(np.float32)
        env.step(actions)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            env.step(actions)
            steps += 100
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


def cost_in_the_env(network_file: Path, repetitions: int = 5, seconds: float = 3.0) -> tuple[float, float, float]:
    """Median steps/s with the DC-motor PD, with the network, and of their per-repetition ratio (alternated runs)."""
    pd, net, ratios = [], [], []
    for _ in range(repetitions):
        pd.append(control_steps_per_second({"model": "dc_motor"}, seconds))
        net.append(control_steps_per_second({"model": "network", "file": str(network_file)}, seconds))
        ratios.append(net[-1] / pd[-1])
    return float(np.median(pd)), float(np.median(net)), float(np.median(ratios))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-seconds", type=float, default=40.0)
    parser.add_argument("--held-out-seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "actuator_fidelity.md"))
    parser.add_argument("--plot", default=str(ROOT / "docs" / "actuator_fit.png"))
    args = parser.parse_args(argv)

    control_steps_per_second({"model": "dc_motor"}, 0.1)  # first: a missing build fails before minutes of fitting
    print("[fidelity] simulating drive data ...", flush=True)
    train, held_out = drive_log(16, args.train_seconds, seed=0), drive_log(16, args.held_out_seconds, seed=1)
    network, report = fit_network(train, epochs=args.epochs)
    errors = model_errors(network, held_out)
    plot = plot_held_out(network, held_out, 1.0, Path(args.plot), joint=3)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "drive.net"
        network.save(path)
        drives = ActuatorNetworkHistory(str(path), 12)
        drives.seconds_per_step(1000)
        network_seconds = float(np.median([drives.seconds_per_step(20000) for _ in range(5)]))
        pd_rate, network_rate, ratio = cost_in_the_env(path)
    hidden = " x ".join(str(layer.out_features) for layer in network.layers[:-1])

    lines = [
        "# Actuator network: fidelity and cost",
        "",
        f"`python benchmarks/actuator_fidelity.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}; the numbers of one run.",
        "",
        "Data: the stand-in series-elastic drive (raisimGymTorch/actuator/drive.py; simulated, no hardware), 16 drives "
        f"with random loads; fitted on {args.train_seconds:g} s of excitation (seed 0), errors measured on an "
        f"independent {args.held_out_seconds:g} s log (seed 1: other loads, other targets). Network: history "
        f"{network.history} samples {network.lag} periods apart of position error and velocity, hidden {hidden}, "
        f"softsign, {args.epochs} epochs.",
        "",
        "| model | held-out torque error (N m RMS) |",
        "|---|---|",
        *[f"| {name} | {value:.2f} |" for name, value in errors.items()],
        "",
        f"Cost: the C++ network for ANYmal's 12 joints takes {network_seconds * 1e6:.2f} µs per physics step "
        f"({network_seconds * 1e9 / 12:.0f} ns per joint) on its own. In rsg_anymal (cfg `actuator:`; 100 envs, one "
        f"thread, fixed random actions, 5 alternated runs of 3 s): {pd_rate:,.0f} control steps/s with the DC-motor PD, "
        f"{network_rate:,.0f} with the network, **ratio {ratio:.2f}** (median of the per-run ratios). The original "
        "raisimGymTorch reported ~500k steps/s with an actuator network on a 16-core Ryzen 3950X (~31k per core at "
        f"up to 4.7 GHz, RaiSim); this is {network_rate:,.0f} per core of this machine with MuJoCo, shared with other "
        "work while it ran.",
        "",
        f"![predicted vs measured torque]({os.path.relpath(Path(args.plot).resolve(), Path(args.markdown).resolve().parent)})",
        "",
    ]
    path = Path(args.markdown)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print("\n".join(lines), flush=True)
    print(f"[fidelity] wrote {path} and {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
