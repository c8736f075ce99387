"""Trains the Ant (Gymnasium Ant-v5) to run forward.

    python raisimGymTorch/env/envs/rsg_ant/runner.py [-m retrain -w full_N.pt] [--iterations N]
"""
from pathlib import Path

from raisimGymTorch.runner import trainer


def main() -> int:
    return trainer.main("rsg_ant", Path(__file__).resolve().with_name("cfg.yaml"))


if __name__ == "__main__":
    raise SystemExit(main())
