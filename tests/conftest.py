"""Shared by the tests (which import it as `conftest`): rsg_anymal envs and small cfgs built from its cfg.yaml,
and copies of the repository to build envs in.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ruamel.yaml import YAML

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env

REPO_ROOT = Path(__file__).resolve().parents[1]
ANYMAL_CFG = ENVS_DIR / "rsg_anymal" / "cfg.yaml"

# Passed as an environment override, removes the key from the cfg.
REMOVE = object()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: compiles C++ (about half a minute); deselect with -m 'not slow'")


def anymal_cfg(**environment: Any) -> dict[str, Any]:
    """rsg_anymal's cfg.yaml with `environment:` keys overridden (or removed with REMOVE)."""
    return cfg_with(ANYMAL_CFG, **environment)


def cfg_with(path: Path, **environment: Any) -> dict[str, Any]:
    """The cfg file at `path` with `environment:` keys overridden (or removed with REMOVE)."""
    cfg = load_cfg(path)
    for key, value in environment.items():
        if value is REMOVE:
            cfg["environment"].pop(key, None)
        else:
            cfg["environment"][key] = value
    return cfg


def small_cfg_text(environment: dict[str, Any] | None = None, **top_level: Any) -> str:
    """rsg_anymal's cfg.yaml made small for training tests, as YAML text.

    8 envs on 1 thread, 0.2 s episodes, an evaluation every iteration, 32x32 networks, no video; `environment`
    overrides keys of the ``environment:`` section (REMOVE removes one), `top_level` the keys beside it.
    """
    small = {"num_envs": 8, "num_threads": 1, "max_time": 0.2, "eval_every_n": 1}
    cfg = anymal_cfg(**{**small, **(environment or {})})
    cfg.update({"record_video": False, "architecture": {"policy_net": [32, 32], "value_net": [32, 32]}, **top_level})
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(cfg, stream)
    return stream.getvalue()


@pytest.fixture
def make_anymal():
    """Factory of rsg_anymal vec envs, closed at the end of the test.

    ``make_anymal(num_envs=2, num_threads=1, seed=0, normalize_ob=False, clip_obs=10.0, **environment)``;
    the keyword arguments beyond those override keys of the cfg's ``environment:`` section.
    Normalization is off unless asked for, so observations are the raw values.
    """
    created = []

    def factory(
        num_envs: int = 2,
        *,
        num_threads: int | str = 1,
        seed: int = 0,
        normalize_ob: bool = False,
        clip_obs: float = 10.0,
        cfg_source: str = "cfg.yaml",
        **environment: Any,
    ):
        env = make_vec_env(
            "rsg_anymal",
            anymal_cfg(**environment),
            cfg_source,
            num_envs=num_envs,
            num_threads=num_threads,
            seed=seed,
            normalize_ob=normalize_ob,
            clip_obs=clip_obs,
        )
        created.append(env)
        return env

    yield factory
    for env in created:
        env.close()


def step_buffers(module: Any) -> dict[str, np.ndarray]:
    """Valid buffers for a compiled env's setStepBuffers (keyword names as it takes them), all zero."""
    n, ob_dim = module.getNumOfEnvs(), module.getCriticObDim()
    terms, metrics = len(module.getRewardNames()), len(module.getMetricNames())
    return {"observation": np.zeros((n, ob_dim), np.float32), "reward": np.zeros(n, np.float32),
            "done": np.zeros(n, bool), "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool),
            "final_observation": np.zeros((n, ob_dim), np.float32), "reward_terms": np.zeros((n, terms), np.float32),
            "metrics": np.zeros((n, metrics), np.float32)}


def random_actions(num_envs: int, num_acts: int, steps: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """A reproducible (steps, num_envs, num_acts) float32 action sequence."""
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal((steps, num_envs, num_acts))).astype(np.float32)


def assert_identical(a: Any, b: Any, where: str) -> None:
    """Nested dicts and lists of tensors and plain values are equal bit for bit; `where` names the first difference."""
    import torch  # not at the top: child processes import this module, and torch must come after raisimGymTorch

    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{index}]")
    else:
        assert a == b, where


def copy_repository(destination: Path) -> Path:
    """Copies the checkout's files (tracked, and untracked ones that git does not ignore) into `destination`.

    Tests that scaffold or build envs do it in such a copy, so the checkout is never touched.

    Returns:
        `destination`.
    """
    try:
        listing = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the repository is not a git checkout")
    for name in filter(None, listing.stdout.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def build_envs(repo: Path, envs: str, **environment: str) -> subprocess.CompletedProcess:
    """Runs ``python setup.py -q build_ext --inplace`` in `repo` for `envs` (RSG_ENVS, comma-separated).

    Returns:
        The finished build, its output captured as text.
    """
    return subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=repo,
                          env=dict(os.environ, RSG_ENVS=envs, **environment), capture_output=True, text=True)


def build_log(build: subprocess.CompletedProcess) -> str:
    """The tails of a build's output, for the message of a failed assertion."""
    return f"build failed:\n{build.stdout[-3000:]}\n{build.stderr[-5000:]}"


@pytest.fixture
def small_env(make_anymal):
    """small_env(normalize_ob=True, num_envs=4, seed=0) -> an rsg_anymal VecEnv with 0.5 s episodes; closed afterwards."""
    def make(normalize_ob=True, num_envs=4, seed=0):
        return make_anymal(num_envs, seed=seed, normalize_ob=normalize_ob, max_time=0.5)
    return make
