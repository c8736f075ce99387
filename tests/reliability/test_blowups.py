"""Issue 7, item 2: training through physics that blows up now and then stays finite.

tests/env/test_bad_input.py::test_diverged_simulation_is_reset_counted_and_warned covers one env step by step
(reset, counted, warned, zero reward, zero final observation, finite statistics) and
tests/env/test_build.py::test_non_finite_observation_rows_are_left_out_of_the_statistics the normalizer. Here the
trainer runs PPO iterations on ANYmal stepped at 0.05 s with 10x stronger actions, where several envs diverge per
iteration, and nothing it keeps may become NaN or infinite.
"""
import math
import re
import warnings

import pytest
import torch
from conftest import small_cfg_text

from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner import trainer

ITERATIONS = 3


@pytest.fixture(scope="module")
def blown_up_training(tmp_path_factory):
    root = tmp_path_factory.mktemp("blowup")
    cfg = root / "cfg.yaml"
    cfg.write_text(small_cfg_text({"simulation_dt": 0.05, "control_dt": 0.05, "action_std": 3.0, "max_time": 1.0,
                                   "num_envs": 16, "eval_every_n": 1}, seed=3))
    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.train("rsg_anymal", cfg, iterations=ITERATIONS, run_root=root / "runs", eval_envs=2,
                               update_threads=1, print_function=lines.append)
    diverged = [w for w in caught if issubclass(w.category, RuntimeWarning) and "diverged" in str(w.message)]
    checkpoints = [load_checkpoint(result.run_dir / f"full_{i}.pt") for i in range(ITERATIONS + 1)]
    print(f"{len(diverged)} steps with diverged envs in {ITERATIONS} iterations; largest observation variance "
          f"{max(float(c['obs_var'].max()) for c in checkpoints):.3g}")  # shown with -s
    return {"result": result, "lines": lines, "diverged": diverged, "checkpoints": checkpoints}


def tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors(item)


def test_the_physics_did_diverge_and_training_went_on(blown_up_training):
    assert len(blown_up_training["diverged"]) >= ITERATIONS, "the setup must make envs diverge in every iteration"
    assert blown_up_training["result"].iteration == ITERATIONS


def test_parameters_optimizer_and_statistics_stay_finite(blown_up_training):
    for checkpoint in blown_up_training["checkpoints"]:
        for key in ("actor", "critic", "optimizer", "obs_mean", "obs_var", "obs_count"):
            for tensor in tensors(checkpoint[key]):
                if tensor.is_floating_point():
                    assert torch.isfinite(tensor).all(), f"iteration {checkpoint['iteration']}: {key} is not finite"
        assert float(checkpoint["obs_count"]) > 0 or checkpoint["iteration"] == 0
        assert math.isfinite(checkpoint["learning_rate"])


def test_logged_rewards_and_losses_are_finite(blown_up_training):
    progress = [line for line in blown_up_training["lines"] if line.startswith("iteration")]
    assert len(progress) == ITERATIONS
    for line in progress:
        reward = float(re.search(r"average reward\s+(\S+)", line).group(1))
        assert math.isfinite(reward), line
    evaluations = [line for line in blown_up_training["lines"] if line.startswith("[evaluation]")]
    assert evaluations and all("nan" not in line.lower() and "inf " not in line for line in evaluations)


def test_exploding_contacts_do_not_inflate_the_statistics(blown_up_training):
    # An exploding but still finite state (base speeds of 1e6 m/s) counts as diverged beyond divergence_speed
    # (1000 m/s or rad/s), long before MuJoCo's own check at 1e10, so its observations never reach the statistics.
    largest = max(float(checkpoint["obs_var"].max()) for checkpoint in blown_up_training["checkpoints"])
    assert largest < 1e6, f"observation variance reached {largest:.3g}"
