"""rsg_anymal_velocity trained and played from the command line: runner.py's --cfg and --device, tester.py's
--command, on a real (short) training run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ruamel.yaml import YAML

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env
from raisimGymTorch.runner import player, trainer
from raisimGymTorch.runner.device import resolve_device

ENV_DIR = ENVS_DIR / "rsg_anymal_velocity"


def small_flat_cfg(directory: Path, **environment: object) -> Path:
    cfg = load_cfg(ENV_DIR / "cfg_flat.yaml")
    cfg["record_video"] = False
    cfg["environment"].update({"num_envs": 16, "eval_every_n": 100, "max_time": 1.0, **environment})
    cfg["algorithm"]["steps_per_env"] = 10
    path = directory / f"small_flat_{len(list(directory.glob('small_flat*.yaml')))}.yaml"
    with path.open("w") as file:
        YAML(typ="safe", pure=True).dump(cfg, file)
    return path


def small_rough_cfg(directory: Path, name: str, **curriculum: object) -> Path:
    cfg = load_cfg(ENV_DIR / "cfg.yaml")
    cfg["record_video"] = False
    cfg["environment"].update({"num_envs": 8, "eval_every_n": 100, "max_time": 1.0})
    cfg["environment"]["curriculum"].update(curriculum)
    cfg["architecture"].update({"policy_net": [32, 32], "value_net": [32, 32]})
    cfg["algorithm"]["steps_per_env"] = 10
    path = directory / name
    with path.open("w") as file:
        YAML(typ="safe", pure=True).dump(cfg, file)
    return path


def script(name: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ENV_DIR / name), *arguments], capture_output=True, text=True,
                          timeout=600)


def test_runner_trains_with_the_cfg_it_is_given_and_tester_plays_a_command(tmp_path: Path) -> None:
    cfg = small_flat_cfg(tmp_path)
    trained = script("runner.py", "--cfg", str(cfg), "--iterations", "2", "--log-dir", str(tmp_path / "runs"),
                     "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    assert "16 envs x 10 steps = 160 samples per iteration" in trained.stdout
    assert "[runner] networks and PPO update on cpu" in trained.stdout
    iteration_lines = [line for line in trained.stdout.splitlines() if line.startswith("iteration")]
    assert len(iteration_lines) == 2 and all("linVelError" in line and "yawRateError" in line
                                             for line in iteration_lines), iteration_lines
    run_dir = next((tmp_path / "runs" / "rsg_anymal_velocity").iterdir())
    assert (run_dir / cfg.name).read_text() == cfg.read_text()  # the run keeps the cfg it was trained with
    played = script("tester.py", "-w", str(run_dir / "full_2.pt"), "--command", "0.6", "0", "0.2", "--no-video")
    assert played.returncode == 0, played.stderr
    assert "episode 1: return" in played.stdout


def test_runner_names_a_missing_cfg(tmp_path: Path) -> None:
    done = script("runner.py", "--cfg", str(tmp_path / "nope.yaml"), "--iterations", "1")
    assert done.returncode == 1 and "cfg file not found" in done.stderr and "nope.yaml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: --device cuda is valid here")
def test_asking_for_cuda_without_one_is_a_clear_error(tmp_path: Path) -> None:
    assert resolve_device("auto") == torch.device("cpu")
    done = script("runner.py", "--cfg", str(small_flat_cfg(tmp_path)), "--iterations", "1", "--device", "cuda",
                  "--log-dir", str(tmp_path / "runs"))
    assert done.returncode == 1, done.stderr
    assert "--device cuda" in done.stderr and "--device cpu" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("full_*.pt"))


@pytest.mark.parametrize("heading", [None, [-3.1, 3.1]])
def test_a_fixed_command_is_held_through_resampling(heading: list[float] | None) -> None:
    cfg = load_cfg(ENV_DIR / "cfg_flat.yaml")
    cfg["environment"]["commands"]["resampling_time"] = 0.1
    if heading is not None:  # the yaw rate asked for, not one steering to a drawn heading
        cfg["environment"]["commands"]["heading"] = heading
    fixed = player.with_fixed_command(cfg, [0.6, 0.0, 0.2], "cfg_flat.yaml")
    env = make_vec_env("rsg_anymal_velocity", fixed, num_envs=2, num_threads=1, normalize_ob=False, evaluation=True)
    try:
        env.reset()
        for _ in range(20):
            command = env.observe(update_statistics=False)[:, 9:12] / [2.0, 2.0, 0.25]
            np.testing.assert_allclose(command, [[0.6, 0.0, 0.2]] * 2, atol=1e-6)
            env.step(np.zeros((2, env.num_acts), dtype=np.float32))
    finally:
        env.close()
    assert cfg["environment"]["commands"]["lin_vel_x"] == [-1.0, 1.0]  # the caller's cfg is not changed


def test_a_command_for_an_env_without_commands_is_refused() -> None:
    cfg = load_cfg(ENVS_DIR / "rsg_anymal" / "cfg.yaml")
    with pytest.raises(ValueError, match="no 'environment.commands' block"):
        player.with_fixed_command(cfg, [0.5, 0.0, 0.0], "rsg_anymal/cfg.yaml")
    with pytest.raises(ValueError, match="three finite numbers"):
        player.with_fixed_command(load_cfg(ENV_DIR / "cfg_flat.yaml"), [0.5, float("nan"), 0.0], "cfg_flat.yaml")


@pytest.mark.parametrize("random_start", [True, False])
def test_training_starts_the_episodes_at_random_points_of_the_time_limit(tmp_path: Path, random_start: bool) -> None:
    # 1 s episodes (50 steps) and rollouts of 10 steps: with random starts about a fifth of the 32 episodes end
    # within the first rollout; without them none can (a fall within 0.2 s does not happen here).
    cfg = small_flat_cfg(tmp_path, num_envs=32, random_episode_start=random_start)
    lines: list[str] = []
    trainer.train("rsg_anymal_velocity", cfg, iterations=1, run_root=tmp_path / "runs", eval_envs=1,
                  print_function=lines.append, device="cpu")
    first = next(line for line in lines if line.startswith("iteration"))
    assert ("no episode ended" not in first) == random_start, first


def test_a_privileged_critic_trains_resumes_and_its_policy_plays_on_the_observation_alone(tmp_path: Path) -> None:
    cfg = small_flat_cfg(tmp_path, privileged_critic=True)
    lines: list[str] = []
    first = trainer.train("rsg_anymal_velocity", cfg, iterations=2, run_root=tmp_path / "runs", eval_envs=1,
                          print_function=lines.append, device="cpu")
    checkpoint = torch.load(first.last_checkpoint, weights_only=True)
    assert (checkpoint["obs_dim"], checkpoint["critic_obs_dim"]) == (48, 64)
    assert checkpoint["actor"]["architecture.0.weight"].shape[1] == 48
    assert checkpoint["critic"]["architecture.0.weight"].shape[1] == 64
    assert checkpoint["obs_mean"].shape == (64,) and checkpoint["obs_var"][48:].sum() > 0
    exported = torch.jit.load(first.last_checkpoint.with_name("policy_2.pt"))
    assert exported(torch.zeros(1, 48)).shape == (1, 12)

    resumed = trainer.train("rsg_anymal_velocity", cfg, mode="retrain", weight=first.last_checkpoint, iterations=1,
                            run_root=tmp_path / "runs", eval_envs=1, print_function=lines.append, device="cpu")
    assert resumed.iteration == 3
    result, _ = player.play(resumed.last_checkpoint, record_video=False, print_function=lines.append)
    assert len(result.returns) == 1

    # Without the channel in the cfg, the same checkpoint does not fit training (the critic's rows are narrower)...
    plain = small_flat_cfg(tmp_path)
    with pytest.raises(ValueError, match="critic observation size 64.*has critic observation size 48"):
        trainer.train("rsg_anymal_velocity", plain, mode="retrain", weight=resumed.last_checkpoint, iterations=1,
                      run_root=tmp_path / "runs", eval_envs=1, print_function=lines.append, device="cpu")
    # ...but its policy, which never sees the critic's values, plays there.
    result, _ = player.play(resumed.last_checkpoint, record_video=False, cfg_path=plain, print_function=lines.append)
    assert len(result.returns) == 1


def test_a_resumed_rough_run_puts_its_robots_back_on_the_levels_they_had_reached(tmp_path: Path) -> None:
    # The curriculum is frozen, so every level stays where the run put it: the first run's random start levels
    # (0-5) are saved, and the resumed run, whose cfg would start all robots on level 9, must walk on them.
    def train(cfg: Path, **resume: object) -> tuple[dict, list[str]]:
        lines: list[str] = []
        result = trainer.train("rsg_anymal_velocity", cfg, iterations=2 if not resume else 3,
                               run_root=tmp_path / "runs", eval_envs=1, print_function=lines.append, device="cpu",
                               **resume)
        return torch.load(result.last_checkpoint, weights_only=True), lines

    first, _ = train(small_rough_cfg(tmp_path, "first.yaml", enabled=False))
    levels = first["terrain_levels"]
    assert first["num_envs"] == 8 and levels.shape == (8,) and levels.max() <= 5 and len(set(levels.tolist())) > 1
    saved = next((tmp_path / "runs" / "rsg_anymal_velocity").iterdir()) / "full_2.pt"

    on_nine = small_rough_cfg(tmp_path, "resumed.yaml", enabled=False, min_init_level=9, max_init_level=9)
    resumed, lines = train(on_nine, mode="retrain", weight=saved)
    assert torch.equal(resumed["terrain_levels"], levels)
    iteration = next(line for line in lines if line.startswith("iteration"))
    assert f"terrainLevel {levels.double().mean():.3f}" in iteration, iteration  # the robots walked on them


def test_a_flat_policy_walks_the_rough_curriculum_blind_under_both_kinds_of_command(tmp_path: Path) -> None:
    trained = script("runner.py", "--cfg", str(small_flat_cfg(tmp_path)), "--iterations", "1", "--log-dir",
                     str(tmp_path / "runs"), "--device", "cpu")
    assert trained.returncode == 0, trained.stderr
    checkpoint = next((tmp_path / "runs").rglob("full_0.pt"))
    benchmark = ENV_DIR.parents[3] / "benchmarks" / "curriculum_ceiling.py"
    done = subprocess.run([sys.executable, str(benchmark), "--quick", "--policy", str(checkpoint)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "RSG_BENCH_RESULTS_DIR": str(tmp_path / "out")})
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out" / "curriculum_ceiling_quick.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in text.splitlines()
            if line.startswith(("| yaw rates drawn |", "| heading drawn, yaw rate steered |"))}
    assert len(rows) == 2, text
    for mean_level, curve, fell in rows.values():
        levels = [float(level) for level in curve.split()]
        assert len(levels) == 2 and all(0 <= level <= 9 for level in levels), curve  # 2000 steps: two 20 s points
        assert 0 <= float(mean_level) <= 9 and 0 <= float(fell.strip(" %")) <= 100
