"""Trains ANYmal to walk.

    python raisimGymTorch/env/envs/rsg_anymal/runner.py [-m retrain -w full_N.pt] [--iterations N]
"""
from pathlib import Path

from raisimGymTorch.runner import trainer


def main() -> int:
    return trainer.main("rsg_anymal", Path(__file__).resolve().with_name("cfg.yaml"))


if __name__ == "__main__":
    raise SystemExit(main())
