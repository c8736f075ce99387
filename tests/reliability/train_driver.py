"""runner.py's command line with the run directories under a given folder, for the crash tests.

    python train_driver.py <run_root> <cfg.yaml> [runner.py arguments]

Exactly rsg_anymal/runner.py (trainer.main), except that run directories go to <run_root>/rsg_anymal/ instead of
raisimGymTorch/data/rsg_anymal/.
"""
import sys
from pathlib import Path

from raisimGymTorch.io import run_directory
from raisimGymTorch.runner import trainer

if __name__ == "__main__":
    run_directory.DATA_DIR = Path(sys.argv[1])
    raise SystemExit(trainer.main("rsg_anymal", sys.argv[2], sys.argv[3:]))
