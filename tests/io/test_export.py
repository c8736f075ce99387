"""The exported policy is the training-time policy: same normalizer as C++, same actor, same actions."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from raisimGymTorch.algo.ppo import Actor
from raisimGymTorch.io import atomic_file
from raisimGymTorch.io.export import NormalizedPolicy, export_onnx, export_torchscript, onnx_unavailable_reason



def env_with_statistics(make_env, steps=30):
    """A normalizing env whose statistics have seen `steps` batches of random-action states."""
    env = make_env(normalize_ob=True, num_envs=8)
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(steps):
        env.observe(update_statistics=True)
        env.step(rng.standard_normal((env.num_envs, env.num_acts)).astype(np.float32))
    return env


def raw_and_normalized(env):
    """The same states observed twice: raw, and normalized by C++ with the env's current statistics."""
    env.wrapper.setNormalization(False, env.clip_obs)
    raw = env.observe(update_statistics=False).copy()
    env.wrapper.setNormalization(True, env.clip_obs)
    normalized = env.observe(update_statistics=False).copy()
    return raw, normalized


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_export_matches_policy_and_cpp_normalization(small_env, tmp_path):
    env = env_with_statistics(small_env)
    torch.manual_seed(0)
    actor = Actor(env.num_obs, env.num_acts, [32, 32])
    torch.nn.init.normal_(actor.architecture[-1].weight, std=0.5)  # a non-trivial output layer
    policy = NormalizedPolicy.from_training(actor, env)
    exported = torch.jit.load(str(export_torchscript(policy, tmp_path / "policy_0.pt")))

    raw, cpp_normalized = raw_and_normalized(env)
    raw[0, :5] = 1e6  # far outside the statistics: the clip must match too
    cpp_normalized[0, :5] = env.clip_obs
    with torch.no_grad():
        from_export = exported(torch.from_numpy(raw))
        from_policy = policy(torch.from_numpy(raw))
        from_actor = actor.act_deterministic(torch.from_numpy(cpp_normalized))

    assert torch.equal(from_export, from_policy)
    torch.testing.assert_close(from_policy, from_actor, rtol=1e-5, atol=1e-5)
    assert from_policy.abs().max() > 0.1, "the comparison is not between near-zero outputs"


def test_an_export_removes_what_a_killed_export_left(small_env, tmp_path):
    env = small_env(num_envs=2)
    policy = NormalizedPolicy.from_training(Actor(env.num_obs, env.num_acts, [8]), env)
    dead_writer = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_writer.wait()
    left = tmp_path / f".policy_1.pt.{atomic_file._machine()}.{dead_writer.pid}.0123abcd.tmp"
    left.write_bytes(b"half a policy")

    export_torchscript(policy, tmp_path / "policy_2.pt")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy_2.pt"]


def test_policy_is_a_frozen_copy(small_env):
    env = env_with_statistics(small_env, steps=3)
    actor = Actor(env.num_obs, env.num_acts, [8])
    policy = NormalizedPolicy.from_training(actor, env)
    obs = torch.randn(2, env.num_obs)
    before = policy(obs)
    with torch.no_grad():
        actor.architecture[-1].bias.add_(1.0)
    env.observe(update_statistics=True)
    assert torch.equal(policy(obs), before)


def test_without_normalization_the_policy_is_the_actor(small_env):
    env = small_env(normalize_ob=False)
    actor = Actor(env.num_obs, env.num_acts, [8])
    policy = NormalizedPolicy.from_training(actor, env)
    obs = 100 * torch.randn(3, env.num_obs)
    assert torch.equal(policy(obs), actor.act_deterministic(obs).detach())


def test_onnx_export_matches_policy_and_cpp_normalization(small_env, tmp_path):
    # Not skipped when missing: the test extra installs onnx, onnxscript and onnxruntime (what a robot runs), and a
    # skip here once hid that the ONNX export had never run.
    import onnxruntime

    assert onnx_unavailable_reason() is None, onnx_unavailable_reason()
    env = env_with_statistics(small_env)
    torch.manual_seed(0)
    actor = Actor(env.num_obs, env.num_acts, [32, 32])
    torch.nn.init.normal_(actor.architecture[-1].weight, std=0.5)
    policy = NormalizedPolicy.from_training(actor, env)
    path = export_onnx(policy, env.num_obs, tmp_path / "policy_0.onnx")
    assert path == tmp_path / "policy_0.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy_0.onnx"], "one self-contained file, no leftovers"

    raw, cpp_normalized = raw_and_normalized(env)  # 8 rows: not the batch size of the export's example input
    raw[0, :5] = 1e6
    cpp_normalized[0, :5] = env.clip_obs
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (from_onnx,) = session.run(["action"], {"observation": raw})
    with torch.no_grad():
        from_policy = policy(torch.from_numpy(raw)).numpy()
        from_actor = actor.act_deterministic(torch.from_numpy(cpp_normalized)).numpy()

    assert from_onnx.dtype == np.float32 and from_onnx.shape == (env.num_envs, env.num_acts)
    np.testing.assert_allclose(from_onnx, from_policy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_onnx, from_actor, rtol=1e-5, atol=1e-5)
    assert np.abs(from_policy).max() > 0.1, "the comparison is not between near-zero outputs"


def test_onnx_export_without_onnx_says_how_to_get_it(small_env, tmp_path, monkeypatch):
    env = small_env(normalize_ob=False)
    policy = NormalizedPolicy.from_training(Actor(env.num_obs, env.num_acts, [8]), env)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnx" else real_find_spec(name, *args))
    with pytest.warns(RuntimeWarning, match=r"needs the onnx package.*pip install 'raisimGymTorch\[onnx\]'"):
        assert export_onnx(policy, env.num_obs, tmp_path / "policy_0.onnx") is None
    assert not (tmp_path / "policy_0.onnx").exists()
