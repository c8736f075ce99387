"""runner.py and tester.py end to end on rsg_anymal: learning, resuming, stopping, and bad input."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_identical, small_cfg_text

from raisimGymTorch.algo.ppo import PPO
from raisimGymTorch.env.make import ENVS_DIR
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.io.checkpoint import load_checkpoint, save_checkpoint
from raisimGymTorch.runner import player, trainer

REPO_ROOT = Path(__file__).resolve().parents[1]
ANYMAL_DIR = ENVS_DIR / "rsg_anymal"


def write_cfg(directory, environment=None, **top_level):
    """directory/cfg.yaml: the small training cfg, evaluating every second iteration unless told otherwise."""
    path = Path(directory) / "cfg.yaml"
    path.write_text(small_cfg_text({"eval_every_n": 2, **(environment or {})}, **top_level))
    return path


def run(cfg_path, tmp_path, lines=None, **kwargs):
    kwargs.setdefault("eval_envs", 2)
    # Batches this small gain nothing from a second thread, and waking one costs seconds on a busy machine.
    kwargs.setdefault("update_threads", 1)
    printed = [] if lines is None else lines
    return trainer.train("rsg_anymal", cfg_path, run_root=tmp_path / "data", print_function=printed.append, **kwargs)


def average_rewards(lines):
    return [float(line.split("average reward")[1].split("|")[0]) for line in lines if line.startswith("iteration")]


def test_short_training_raises_the_average_reward(tmp_path):
    # 32 envs x 100 steps; 1 s episodes so that every iteration sees whole episodes. Early falls (-10 each)
    # dominate the reward; across seeds 0-7 the last two iterations beat the first two by 0.03-0.06 per step.
    cfg = write_cfg(tmp_path, {"num_envs": 32, "max_time": 1.0, "eval_every_n": 100}, seed=1)
    lines = []
    result = run(cfg, tmp_path, lines, iterations=8)
    rewards = average_rewards(lines)
    assert len(rewards) == 8 and result.iteration == 8
    assert sum(rewards[-2:]) / 2 > sum(rewards[:2]) / 2 + 0.015, rewards


def test_rollout_length_is_one_episode_unless_the_cfg_sets_steps_per_env(tmp_path):
    # 0.2 s episodes at 0.01 s control steps: 20 steps per env by default.
    by_episode, by_cfg = [], []
    run(write_cfg(tmp_path), tmp_path, by_episode, iterations=1)
    run(write_cfg(tmp_path, algorithm={"steps_per_env": 7}), tmp_path, by_cfg, iterations=1)
    assert "[runner] 8 envs x 20 steps = 160 samples per iteration" in by_episode
    assert "[runner] 8 envs x 7 steps = 56 samples per iteration" in by_cfg


def test_run_directory_holds_cfg_code_logs_checkpoints_and_exports(tmp_path):
    cfg = write_cfg(tmp_path)
    lines = []
    result = run(cfg, tmp_path, lines, iterations=3)
    files = sorted(p.name for p in result.run_dir.iterdir())
    assert result.run_dir.parent == tmp_path / "data" / "rsg_anymal"
    assert {"cfg.yaml", "Environment.hpp", "full_0.pt", "full_2.pt", "full_3.pt", "policy_0.pt", "policy_3.pt",
            "policy_0.onnx", "policy_3.onnx"} <= set(files), files  # ONNX: the test extra installs onnx
    assert "[checkpoint] full_3.pt saved; exported policy_3.pt, policy_3.onnx" in lines
    assert any(name.startswith("events.out.tfevents") for name in files)
    assert not [name for name in files if name.endswith(".tmp")], "every atomic write renamed its temporary file"
    assert (result.run_dir / "cfg.yaml").read_text() == cfg.read_text()
    assert result.last_checkpoint == result.run_dir / "full_3.pt"
    assert lines.count(f"[runner] to watch training: tensorboard --logdir {result.run_dir.parent}") == 1
    progress = [line for line in lines if line.startswith("iteration")]
    assert len(progress) == 3 and all("steps/s" in line and "real-time factor" in line for line in progress)
    assert sum(line.startswith("[evaluation]") for line in lines) == 3  # iterations 0, 2 and the end

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for tag in ["PPO/surrogate_loss", "PPO/value_loss", "PPO/learning_rate", "PPO/entropy_coef", "PPO/mean_std",
                "PPO/kl", "Reward/mean_per_step", "Reward/forwardVel", "Reward/torque", "Perf/steps_per_second",
                "Perf/real_time_factor", "Perf/rollout_seconds", "Perf/update_seconds", "Episode/done_rate",
                "Episode/termination_rate", "Episode/timeout_rate", "Episode/length_steps", "Evaluation/return",
                "Evaluation/fall_rate"]:
        assert tag in tags, tag
    assert [event.step for event in events.Scalars("PPO/learning_rate")] == [0, 1, 2]


def test_seeded_runs_write_bit_identical_checkpoints(tmp_path):
    # The trainer's refactors must not change what it computes: the same seed gives the same checkpoint, bit for bit.
    cfg = write_cfg(tmp_path)
    first = load_checkpoint(run(cfg, tmp_path / "a", iterations=3).last_checkpoint)
    second = load_checkpoint(run(cfg, tmp_path / "b", iterations=3).last_checkpoint)
    assert first["iteration"] == 3
    assert_identical(first, second, "checkpoint")


def test_retrain_resumes_exactly(tmp_path):
    cfg = write_cfg(tmp_path)
    first = run(cfg, tmp_path, iterations=2)
    saved = load_checkpoint(first.last_checkpoint)
    assert saved["iteration"] == 2

    lines = []
    second = run(cfg, tmp_path, lines, mode="retrain", weight=first.last_checkpoint, iterations=1)
    # eval_every_n = 2: the resumed run checkpoints iteration 2 before training, i.e. the state right after loading.
    at_load = load_checkpoint(second.run_dir / "full_2.pt")
    for key in ["iteration", "learning_rate", "obs_mean", "obs_var", "obs_count", "generator", "actor", "critic",
                "optimizer"]:
        assert_identical(at_load[key], saved[key], key)
    assert [line.split("|")[0].split()[1] for line in lines if line.startswith("iteration")] == ["2"]
    assert second.iteration == 3 and second.last_checkpoint.name == "full_3.pt"
    final = load_checkpoint(second.last_checkpoint)
    assert final["iteration"] == 3 and float(final["obs_count"]) > float(saved["obs_count"])


def test_learning_rate_settles_and_entropy_weight_decays_at_the_cfg_iterations(tmp_path):
    cfg = write_cfg(tmp_path, algorithm={"settle_at_iteration": 2, "settle_learning_rate": 3e-5,
                                         "entropy_coef": 0.01, "entropy_decay_start": 1, "entropy_decay_end": 3})
    result = run(cfg, tmp_path, iterations=4)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(result.run_dir))
    events.Reload()
    rates = [event.value for event in events.Scalars("PPO/learning_rate")]
    assert len(rates) == 4 and all(rate != pytest.approx(3e-5) for rate in rates[:2]), rates
    assert rates[2:] == pytest.approx([3e-5, 3e-5]), rates
    weights = [event.value for event in events.Scalars("PPO/entropy_coef")]
    assert weights == pytest.approx([0.01, 0.01, 0.005, 0.0]), weights
    assert load_checkpoint(result.last_checkpoint)["learning_rate"] == 3e-5


def test_each_rollout_is_announced_to_the_env_with_its_iteration_also_after_a_resume(tmp_path, monkeypatch):
    announced = []
    real_callback = RaisimGymVecEnv.curriculum_callback

    def callback(self, iteration=-1):
        announced.append(iteration)
        return real_callback(self, iteration)

    monkeypatch.setattr(RaisimGymVecEnv, "curriculum_callback", callback)
    cfg = write_cfg(tmp_path)
    first = run(cfg, tmp_path, iterations=2)
    assert announced == [0, 1]
    run(cfg, tmp_path, mode="retrain", weight=first.last_checkpoint, iterations=2)
    assert announced == [0, 1, 2, 3]


def test_nan_loss_stops_naming_the_iteration_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    cfg = write_cfg(tmp_path, {"eval_every_n": 1})
    real_update = PPO.update
    calls = []

    def update(self, last_obs, iteration):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("non-finite loss nan (simulated)")
        return real_update(self, last_obs, iteration)

    monkeypatch.setattr(PPO, "update", update)
    with pytest.raises(FloatingPointError, match=r"stopped at iteration 1: non-finite loss.*last good checkpoint is "
                                                 r".*full_1\.pt") as raised:
        run(cfg, tmp_path, iterations=5)
    run_dir = next((tmp_path / "data" / "rsg_anymal").iterdir())
    assert sorted(p.name for p in run_dir.glob("full_*.pt")) == ["full_0.pt", "full_1.pt"]
    assert load_checkpoint(run_dir / "full_1.pt")["iteration"] == 1
    assert "iteration 1" in str(raised.value)


def test_sigterm_stops_after_the_iteration_with_a_checkpoint(tmp_path):
    cfg = write_cfg(tmp_path, {"eval_every_n": 100})
    lines = []

    def print_and_signal(line):
        lines.append(line)
        if line.startswith("iteration      1 "):
            os.kill(os.getpid(), signal.SIGTERM)

    handler_before = signal.getsignal(signal.SIGTERM)
    result = trainer.train("rsg_anymal", cfg, run_root=tmp_path / "data", iterations=50, eval_envs=2, update_threads=1,
                           print_function=print_and_signal)
    assert result.stopped_by_signal and result.iteration == 2
    assert load_checkpoint(result.run_dir / "full_2.pt")["iteration"] == 2
    assert any("SIGTERM: stopping after this iteration" in line for line in lines)
    assert signal.getsignal(signal.SIGTERM) is handler_before


def test_bad_weight_files_are_clear_errors(tmp_path, capsys):
    cfg = write_cfg(tmp_path)
    missing = tmp_path / "runs" / "full_9.pt"
    with pytest.raises(FileNotFoundError, match="full_9.pt"):
        run(cfg, tmp_path, mode="retrain", weight=missing, iterations=1)
    corrupt = tmp_path / "full_1.pt"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ValueError, match=f"{corrupt}.*corrupt or truncated"):
        run(cfg, tmp_path, mode="retrain", weight=corrupt, iterations=1)
    assert not (tmp_path / "data").exists(), "nothing is created before the weight file is checked"

    # The command line prints the message instead of a traceback.
    assert trainer.main("rsg_anymal", cfg, ["-m", "retrain", "-w", str(missing)]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    assert trainer.main("rsg_anymal", cfg, ["-m", "retrain"]) == 1
    assert "-w path/to/full_<N>.pt" in capsys.readouterr().err


def test_checkpoint_with_another_observation_size_is_refused(tmp_path):
    cfg = write_cfg(tmp_path)
    result = run(cfg, tmp_path, iterations=0)
    checkpoint = load_checkpoint(result.last_checkpoint)
    # The same file as if the env had 30 observations.
    checkpoint["obs_dim"] = checkpoint["critic_obs_dim"] = 30
    checkpoint["obs_mean"] = checkpoint["obs_mean"][:30].clone()
    checkpoint["obs_var"] = checkpoint["obs_var"][:30].clone()
    for network in ("actor", "critic"):
        checkpoint[network]["architecture.0.weight"] = checkpoint[network]["architecture.0.weight"][:, :30].clone()
    other = save_checkpoint(checkpoint, tmp_path / "full_0.pt")
    message = f"{other} was trained with observation size 30, but the env 'rsg_anymal' has observation size 35"
    with pytest.raises(ValueError, match=message):
        run(cfg, tmp_path, mode="retrain", weight=other, iterations=1)
    with pytest.raises(ValueError, match=message):
        player.play(other, "rsg_anymal", record_video=False)


def test_unknown_cfg_keys_name_key_and_file(tmp_path):
    cfg = write_cfg(tmp_path, algorithm={"learning_rate": 1e-3, "nonsense_rate": 1})
    with pytest.raises(ValueError, match=f"Unknown PPO setting 'nonsense_rate' in {cfg}"):
        run(cfg, tmp_path, iterations=1)
    cfg = write_cfg(tmp_path, trainer={"iterations": 3})
    with pytest.raises(ValueError, match=f"Unknown top-level key 'trainer' in {cfg}"):
        run(cfg, tmp_path, iterations=1)


def test_tester_without_weight_is_friendly(capsys):
    assert player.main("rsg_anymal", []) == 2
    err = capsys.readouterr().err
    assert "tester.py needs a policy to play: pass -w path/to/full_<N>.pt" in err and "Traceback" not in err


def test_tester_plays_a_checkpoint(tmp_path):
    cfg = write_cfg(tmp_path, {"max_time": 0.3})
    result = run(cfg, tmp_path, iterations=1)
    lines = []
    outcome, video_path = player.play(result.last_checkpoint, "rsg_anymal", episodes=2, record_video=False,
                                      print_function=lines.append)
    assert video_path is None and len(outcome.returns) == 2
    assert [line.split(":")[0] for line in lines] == ["episode 1", "episode 2"]
    assert all("length" in line and "return" in line for line in lines)
    assert player.main("rsg_anymal", ["-w", str(result.last_checkpoint), "--no-video"]) == 0


def test_env_folder_scripts_run_nothing_at_import():
    code = ("import runpy, sys; paths = sys.argv[1:]; sys.argv = ['x', '--help'];"
            "[runpy.run_path(p, run_name='not_main') for p in paths]")
    # Importing the scripts (not as __main__) must neither parse arguments nor train.
    done = subprocess.run([sys.executable, "-c", code, str(ANYMAL_DIR / "runner.py"), str(ANYMAL_DIR / "tester.py")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    help_text = subprocess.run([sys.executable, str(ANYMAL_DIR / "runner.py"), "--help"], capture_output=True,
                               text=True, timeout=120)
    assert help_text.returncode == 0 and "--iterations" in help_text.stdout and "retrain" in help_text.stdout


def test_console_shows_episode_return_length_and_eta_and_the_onnx_notice_once(tmp_path, monkeypatch, recwarn):
    from raisimGymTorch.runner import on_policy_runner

    monkeypatch.setattr(on_policy_runner, "onnx_unavailable_reason", lambda: "ONNX export needs the onnx package")
    lines = []
    run(write_cfg(tmp_path, {"eval_every_n": 1}), tmp_path, lines, iterations=3)
    progress = [line for line in lines if line.startswith("iteration")]
    assert len(progress) == 3 and all("| ETA 0:" in line for line in progress), progress
    # 0.2 s episodes of 0.01 s steps: every iteration of this cfg ends episodes.
    assert all("episode return" in line and "length" in line for line in progress), progress
    assert [line for line in lines if "onnx" in line.lower()] == [
        "[export] ONNX export needs the onnx package; exporting TorchScript only"]
    assert not [w for w in recwarn if "onnx" in str(w.message).lower()]
    assert not list((tmp_path / "data").rglob("*.onnx"))


def test_log_dir_chooses_where_runs_are_written(tmp_path):
    cfg = write_cfg(tmp_path)
    assert trainer.main("rsg_anymal", cfg, ["--iterations", "1", "--log-dir", str(tmp_path / "my_runs")]) == 0
    runs = list((tmp_path / "my_runs" / "rsg_anymal").iterdir())
    assert len(runs) == 1 and (runs[0] / "full_1.pt").is_file()
