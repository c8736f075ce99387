"""Trains ANYmal C to follow velocity commands on rough terrain (--cfg cfg_flat.yaml: on flat ground).

    python raisimGymTorch/env/envs/rsg_anymal_velocity/runner.py [--cfg cfg_flat.yaml] [-m retrain -w full_N.pt] [--iterations N]
"""
from pathlib import Path

from raisimGymTorch.runner import trainer


def main() -> int:
    return trainer.main("rsg_anymal_velocity", Path(__file__).resolve().with_name("cfg.yaml"))


if __name__ == "__main__":
    raise SystemExit(main())
