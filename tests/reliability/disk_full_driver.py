"""A training run whose disk fills up between two checkpoints, for test_disk_full.py.

    python disk_full_driver.py <run_root> <cfg.yaml> fill|fsize

Trains one iteration (full_0.pt and full_1.pt), then makes the next write impossible for real: ``fill`` writes a
filler file until the file system says ENOSPC (run_root must be a small tmpfs), ``fsize`` lowers RLIMIT_FSIZE
below a checkpoint's size, so writes past it fail with EFBIG (Python ignores SIGXFSZ). Then it asks for one more
iteration, whose first act is to write full_1.pt again, and prints one JSON line: the error, and whether
full_1.pt still loads.
"""
import errno
import json
import resource
import sys
from pathlib import Path

from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner.distributed import SingleProcess
from raisimGymTorch.runner.on_policy_runner import OnPolicyRunner, RunnerOptions
from raisimGymTorch.runner.training_config import load_training_config


def fill(folder: Path) -> None:
    chunk = b"\0" * 65536
    with open(folder / "filler", "wb", buffering=0) as filler:
        while True:
            try:
                filler.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
                if not chunk:
                    return


if __name__ == "__main__":
    run_root, cfg, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    config = load_training_config(cfg)
    lines: list[str] = []
    runner = OnPolicyRunner("rsg_anymal", config, cfg, SingleProcess(), RunnerOptions(run_root=run_root, eval_envs=1,
                                                                                         print_function=lines.append))
    outcome = {}
    try:
        runner.learn(1)
        last = runner.run_dir / "full_1.pt"
        size = last.stat().st_size
        if how == "fill":
            fill(run_root)
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size // 2, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            runner.learn(1)
            outcome["error"] = None
        except OSError as error:
            outcome.update(error=str(error), type=type(error).__name__, errno=error.errno)
    finally:
        runner.close()
    outcome["run_dir"] = str(runner.run_dir)
    outcome["temporaries"] = [path.name for path in runner.run_dir.glob(".*.tmp")]
    outcome["last_loads"] = load_checkpoint(last)["iteration"] == 1
    print(json.dumps(outcome))
