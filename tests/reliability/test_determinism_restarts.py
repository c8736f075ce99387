"""Issue 7, item 5: the same seed and cfg reproduce a run bit for bit in a fresh process, and a resume from the
same checkpoint reproduces the same training.

Thread-count independence within a process is tests/env/test_determinism.py. Where bit-identity does not hold:
other CPUs (a different instruction set changes floating-point rounding in MuJoCo and in torch's kernels), other
compilers or flags (e.g. -ffast-math, FMA contraction), other MuJoCo or torch versions. And a resumed run is not
the run that was interrupted: a checkpoint holds networks, optimizer, learning rate, PPO's generator and the
observation statistics, but not the C++ envs' generators or physics state, so `retrain` rebuilds the envs from the
cfg's seed and starts every episode afresh (as the first run's iteration 0 did); only the training state continues.
"""
import subprocess
import sys

from conftest import assert_identical, small_cfg_text
from reliability_helpers import RELIABILITY_DIR, child_environment
from rollout_hash import rollout_hash

from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner import trainer


def hashes_from_fresh_processes(runs):
    processes = [subprocess.Popen([sys.executable, str(RELIABILITY_DIR / "rollout_hash.py"), str(seed), str(threads)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_environment())
                 for seed, threads in runs]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(out.strip())
    return results


def test_a_fresh_process_reproduces_the_rollout():
    here = rollout_hash(seed=8, num_threads=1)
    first, second, two_threads, other_seed = hashes_from_fresh_processes([(8, 1), (8, 1), (8, 2), (9, 1)])
    assert first == second == here, "the same seed gave different rollouts in different processes"
    assert two_threads == here, "the thread count changed the rollout"
    assert other_seed != here, "another seed must give another rollout"


def test_resuming_the_same_checkpoint_twice_trains_identically(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(small_cfg_text({"eval_every_n": 100}))
    options = dict(run_root=tmp_path / "runs", eval_envs=2, update_threads=1, print_function=lambda _: None)
    first = trainer.train("rsg_anymal", cfg, iterations=2, **options)
    resumed = [trainer.train("rsg_anymal", cfg, mode="retrain", weight=first.last_checkpoint, iterations=2, **options)
               for _ in range(2)]
    a, b = (load_checkpoint(run.last_checkpoint) for run in resumed)
    assert a["iteration"] == b["iteration"] == 4
    for key in ("actor", "critic", "optimizer", "learning_rate", "generator", "obs_mean", "obs_var", "obs_count"):
        assert_identical(a[key], b[key], key)
