"""python -m raisimGymTorch.actuator generate|fit: drive data from the stand-in drive, and a network fitted to it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def generate(args: argparse.Namespace) -> int:
    from .drive import DriveParameters, random_loads, simulate_drive
    from .excitation import excitation_targets

    parameters = DriveParameters()
    targets = excitation_targets(args.joints, args.seconds, parameters.control_period, seed=args.seed)
    print(f"[generate] {args.joints} drives x {args.seconds:g} s at {parameters.physics_rate:g} Hz ...", flush=True)
    log = simulate_drive(targets, random_loads(args.joints, np.random.default_rng(args.seed)), parameters, args.seed)
    log.save(args.output)
    print(f"[generate] wrote {args.output}: {log.num_samples} samples x {args.joints} drives, period "
          f"{log.period * 1000:g} ms", flush=True)
    return 0


def fit(args: argparse.Namespace) -> int:
    from .data import load_drive_log
    from .fit import fit_network, plot_held_out

    try:
        log = load_drive_log(args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    network, report = fit_network(log, history=args.history, lag=args.lag, epochs=args.epochs, seed=args.seed)
    network.save(args.output)
    print(f"[fit] held-out torque error: network {report.network_rms:.2f} N m RMS, ideal PD {report.pd_rms:.2f} "
          f"N m RMS (torque itself {report.torque_rms:.1f} N m RMS; {report.train_pairs} training pairs, "
          f"{report.validation_pairs} held out)")
    plot = plot_held_out(network, log, 0.2, Path(args.output).with_suffix(".png"))
    print(f"[fit] wrote {args.output} and {plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raisimGymTorch.actuator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("generate", help="simulate the stand-in series-elastic drive under excitation")
    make.add_argument("output", help="drive log to write (.npz)")
    make.add_argument("--joints", type=int, default=16, help="drives simulated side by side, each with its own load")
    make.add_argument("--seconds", type=float, default=40.0)
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(run=generate)
    train = commands.add_parser("fit", help="fit an actuator network to a drive log")
    train.add_argument("data", help="drive log (.npz: time, target, position, velocity, torque)")
    train.add_argument("-o", "--output", required=True, help="network file to write (read by C++)")
    train.add_argument("--history", type=int, default=3, help="samples of position error and velocity per input")
    train.add_argument("--lag", type=int, default=2, help="log periods between those samples")
    train.add_argument("--epochs", type=int, default=300)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=fit)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
