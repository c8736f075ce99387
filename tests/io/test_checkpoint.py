"""Checkpoints: everything survives a round trip, writes are atomic, and bad files give errors naming them."""
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from raisimGymTorch.algo.ppo import PPO, Actor, Critic, PPOConfig
from raisimGymTorch.io import atomic_file
from raisimGymTorch.io.checkpoint import (
    check_dimensions,
    load_checkpoint,
    make_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)

from conftest import small_cfg_text

REPO_ROOT = Path(__file__).resolve().parents[2]


def trained_ppo(env, seed=0, steps=5):
    """A PPO on `env` after one update, so that optimizer, lr, generator and statistics are all non-trivial."""
    torch.manual_seed(seed)
    config = PPOConfig(policy_net=[16, 16], value_net=[16, 16])
    ppo = PPO(Actor(env.num_obs, env.num_acts, [16, 16]), Critic(env.num_obs, [16, 16]), env.num_envs, steps, config,
              seed=seed)
    env.reset()
    obs = env.observe()
    for _ in range(steps):
        rewards, dones = env.step(ppo.act(obs).numpy())
        truncated = env.truncated
        ppo.process_step(rewards, dones, truncated, env.final_observation() if truncated.any() else None)
        obs = env.observe()
    ppo.update(obs)
    return ppo


def assert_nested_equal(a, b, where="checkpoint"):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_nested_equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_nested_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_round_trip_keeps_every_field(small_env, tmp_path):
    env = small_env()
    ppo = trained_ppo(env)
    saved = make_checkpoint(ppo, env, iteration=7, env_name="rsg_anymal", cfg_text=small_cfg_text())
    path = save_checkpoint(saved, tmp_path / "full_7.pt")
    loaded = load_checkpoint(path)

    assert_nested_equal(saved, loaded)
    assert loaded["iteration"] == 7 and loaded["env_name"] == "rsg_anymal"
    assert loaded["cfg_text"] == small_cfg_text()
    assert (loaded["obs_dim"], loaded["action_dim"]) == (env.num_obs, env.num_acts)
    assert torch.equal(loaded["actor"]["std"], ppo.actor.std.detach())
    assert loaded["learning_rate"] == ppo.learning_rate
    assert loaded["optimizer"]["state"], "the optimizer's moment estimates are saved"
    mean, var, count = env.get_statistics()
    np.testing.assert_array_equal(loaded["obs_mean"].numpy(), mean)
    np.testing.assert_array_equal(loaded["obs_var"].numpy(), var)
    assert float(loaded["obs_count"]) == count > 0


def test_restore_puts_state_back_into_fresh_objects(small_env, tmp_path):
    env = small_env()
    ppo = trained_ppo(env)
    path = save_checkpoint(make_checkpoint(ppo, env, 3, "rsg_anymal", small_cfg_text()), tmp_path / "full_3.pt")

    other_env = small_env()
    other = trained_ppo(other_env, seed=1)
    assert restore_checkpoint(load_checkpoint(path), other, other_env, path) == 3
    assert_nested_equal(ppo.state_dict(), other.state_dict(), "ppo state")
    for a, b in zip(env.get_statistics(), other_env.get_statistics()):
        np.testing.assert_array_equal(a, b)
    # The restored generator draws what the original draws.
    assert torch.equal(torch.randn(5, generator=ppo.generator), torch.randn(5, generator=other.generator))


def test_statistics_are_saved_in_float64_and_float32_files_still_restore(small_env, tmp_path):
    env = small_env()
    ppo = trained_ppo(env)
    saved = make_checkpoint(ppo, env, 3, "rsg_anymal", small_cfg_text())
    assert saved["obs_mean"].dtype == saved["obs_var"].dtype == torch.float64
    # A file from before the statistics went float64: same version, float32 means and variances.
    old = dict(saved, obs_mean=saved["obs_mean"].float(), obs_var=saved["obs_var"].float())
    path = save_checkpoint(old, tmp_path / "full_3.pt")

    other_env = small_env()
    assert restore_checkpoint(load_checkpoint(path), trained_ppo(other_env, seed=1), other_env, path) == 3
    mean, var, count = other_env.get_statistics()
    np.testing.assert_array_equal(mean, old["obs_mean"].double().numpy())
    np.testing.assert_array_equal(var, old["obs_var"].double().numpy())
    assert count == float(saved["obs_count"])


def test_files_from_before_critic_obs_dim_load_as_critics_that_see_the_observation(small_env, tmp_path):
    env = small_env()
    saved = make_checkpoint(trained_ppo(env), env, 3, "rsg_anymal", small_cfg_text())
    assert saved["critic_obs_dim"] == saved["obs_dim"] == env.num_obs  # rsg_anymal's critic sees no more
    old = {key: value for key, value in saved.items() if key != "critic_obs_dim"}
    loaded = load_checkpoint(save_checkpoint(old, tmp_path / "full_3.pt"))
    assert loaded["critic_obs_dim"] == env.num_obs
    other_env = small_env()
    assert restore_checkpoint(loaded, trained_ppo(other_env, seed=1), other_env, tmp_path / "full_3.pt") == 3


@pytest.mark.parametrize("width", [5, True, 36])
def test_a_critic_obs_dim_that_does_not_fit_the_file_is_named(small_env, tmp_path, width):
    env = small_env()
    saved = dict(make_checkpoint(trained_ppo(env), env, 3, "rsg_anymal", small_cfg_text()), critic_obs_dim=width)
    path = save_checkpoint(saved, tmp_path / "full_3.pt")
    words = "critic_obs_dim is" if width != 36 else r"obs_mean has shape \(35,\), expected \(36,\)"
    with pytest.raises(ValueError, match=f"{path} is damaged: {words}"):
        load_checkpoint(path)


def test_an_env_without_terrain_saves_no_levels_and_every_file_says_how_many_envs_it_stepped(small_env):
    env = small_env()
    saved = make_checkpoint(trained_ppo(env), env, 3, "rsg_anymal", small_cfg_text())
    assert "terrain_levels" not in saved and saved["num_envs"] == env.num_envs
    assert make_checkpoint(trained_ppo(env), env, 3, "rsg_anymal", small_cfg_text(), num_envs=64)["num_envs"] == 64


@pytest.mark.parametrize("entry, value, words", [
    ("terrain_levels", torch.tensor([1, -2, 3], dtype=torch.int32), "terrain_levels should be"),
    ("terrain_levels", torch.tensor([1.0, 2.0]), "terrain_levels should be"),
    ("terrain_levels", [1, 2], "terrain_levels should be"),
    ("num_envs", 0, "num_envs is 0"),
    ("num_envs", "8", "num_envs is '8'"),
])
def test_damaged_optional_entries_are_named(small_env, tmp_path, entry, value, words):
    env = small_env()
    saved = dict(make_checkpoint(trained_ppo(env), env, 3, "rsg_anymal", small_cfg_text()), **{entry: value})
    path = save_checkpoint(saved, tmp_path / "full_3.pt")
    with pytest.raises(ValueError, match=f"{path} is damaged: {words}"):
        load_checkpoint(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere/full_5.pt"):
        load_checkpoint(tmp_path / "nowhere" / "full_5.pt")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_file_is_a_value_error_naming_it(small_env, tmp_path, damage):
    env = small_env()
    path = save_checkpoint(make_checkpoint(trained_ppo(env), env, 0, "rsg_anymal", "a: 1"), tmp_path / "full_0.pt")
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}[damage])
    with pytest.raises(ValueError, match=f"{path}.*corrupt or truncated"):
        load_checkpoint(path)


def test_other_torch_files_are_not_checkpoints(tmp_path):
    plain = tmp_path / "weights.pt"
    torch.save({"actor_architecture_state_dict": {}}, plain)  # e.g. the original raisimGymTorch's format
    with pytest.raises(ValueError, match=f"{plain} is not a raisimGymTorch checkpoint"):
        load_checkpoint(plain)

    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    pickled = tmp_path / "evil.pt"
    pickled.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(ValueError, match=str(pickled)):
        load_checkpoint(pickled)  # weights_only=True refuses arbitrary objects


def test_mismatched_sizes_name_both_and_the_file(small_env, tmp_path):
    env = small_env()
    ppo = trained_ppo(env)
    checkpoint = make_checkpoint(ppo, env, 0, "rsg_anymal", "a: 1")
    with pytest.raises(ValueError, match=r"full_0.pt was trained with observation size 35, .* observation size 30"):
        check_dimensions(checkpoint, 30, env.num_acts, tmp_path / "full_0.pt")
    with pytest.raises(ValueError, match=r"action size 12, .* action size 8"):
        check_dimensions(checkpoint, env.num_obs, 8, "full_0.pt")


# --- temporary files of killed writers ------------------------------------------------------------------------


def ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary_of(directory, name, machine, pid):
    path = directory / f".{name}.{machine}.{pid}.0123abcd.tmp"
    path.write_bytes(b"half a checkpoint")
    return path


@pytest.mark.parametrize("operation", ["save", "load"])
def test_temporaries_of_killed_writers_are_removed_by_the_next_save_or_load(small_env, tmp_path, operation):
    env = small_env()
    checkpoint = make_checkpoint(trained_ppo(env), env, 0, "rsg_anymal", "a: 1")
    if operation == "load":
        save_checkpoint(checkpoint, tmp_path / "full_0.pt")
    machine = atomic_file._machine()
    stale = temporary_of(tmp_path, "full_1.pt", machine, ended_pid())
    kept = [
        temporary_of(tmp_path, "full_2.pt", machine, os.getppid()),  # its writer is running
        temporary_of(tmp_path, "full_3.pt", "elsewhere-1", ended_pid()),  # another machine: unknowable
    ]
    others = [tmp_path / ".policy_1.pt.12345.tmp", tmp_path / "notes.tmp"]  # not write_atomically's
    for path in others:
        path.write_text("x")

    if operation == "save":
        save_checkpoint(checkpoint, tmp_path / "full_0.pt")
    else:
        load_checkpoint(tmp_path / "full_0.pt")

    assert not stale.exists()
    assert all(path.exists() for path in kept + others)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in [tmp_path / "full_0.pt", *kept,
                                                                                *others])


def test_a_killed_save_leaves_a_temporary_that_the_next_load_removes(small_env, tmp_path):
    env = small_env()
    path = save_checkpoint(make_checkpoint(trained_ppo(env), env, 0, "rsg_anymal", "a: 1"), tmp_path / "full_0.pt")
    # A writer that dies by SIGKILL between creating its temporary file and renaming it.
    script = (f"import os, signal, torch\n"
              f"from raisimGymTorch.io import atomic_file, checkpoint\n"
              f"def die(*args, **kwargs):\n"
              f"    os.kill(os.getpid(), signal.SIGKILL)\n"
              f"atomic_file.os.replace = die\n"
              f"saved = checkpoint.load_checkpoint({str(path)!r})\n"
              f"checkpoint.save_checkpoint(saved, {str(tmp_path / 'full_1.pt')!r})\n")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    writer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=environment)
    assert writer.returncode == -signal.SIGKILL, writer.stderr
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].startswith(".full_1.pt."), left

    load_checkpoint(path)
    assert [p.name for p in tmp_path.iterdir()] == ["full_0.pt"]
