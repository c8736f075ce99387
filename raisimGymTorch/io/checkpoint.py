"""Checkpoints full_<N>.pt: everything needed to resume training or to deploy, written atomically.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` accepts:

- ``format``, ``version``: mark the file as ours.
- ``iteration``: how many PPO updates the networks have had; training resumes at this iteration.
- ``env_name``, ``cfg_text``: the env folder and the cfg.yaml text of the run, so the file alone rebuilds the env.
- ``obs_dim``, ``action_dim``: sizes the networks were built for; ``critic_obs_dim``: the critic's (``obs_dim`` plus
  the env's critic-only values; files without it were written before critics saw more than the actor, and hold
  ``obs_dim``).
- ``actor`` (its ``std`` entry is the action std), ``critic``, ``optimizer``, ``learning_rate``, ``generator``:
  `PPO.state_dict()`.
- ``obs_mean``, ``obs_var`` (float64 [critic_obs_dim], the actor's observation first), ``obs_count`` (float64
  scalar), ``normalize_ob``, ``clip_obs``: the observation normalization of the training env. Files written
  before the statistics went float64 hold float32 means and variances; they load the same way (widened), so the
  version stayed 1.
- ``num_envs`` (optional): the envs the run stepped per iteration, over all ranks, which a ``--num-envs`` override
  makes differ from ``cfg_text``'s.
- ``terrain_levels`` (optional, int32 [rank 0's envs]): each training env's terrain-curriculum level, so that a
  resumed run goes on where its robots were; absent for envs without a terrain curriculum.
"""
from __future__ import annotations

import io
import math
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raisimGymTorch.algo.ppo import PPO
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.io.atomic_file import remove_stale_temporaries, write_bytes_atomically
from raisimGymTorch.messages import quoted

CHECKPOINT_FORMAT = "raisimGymTorch checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED = {
    "format": str,
    "version": int,
    "iteration": int,
    "env_name": str,
    "cfg_text": str,
    "obs_dim": int,
    "action_dim": int,
    "actor": Mapping,
    "critic": Mapping,
    "optimizer": Mapping,
    "learning_rate": float,
    "generator": torch.Tensor,
    "obs_mean": torch.Tensor,
    "obs_var": torch.Tensor,
    "obs_count": torch.Tensor,
    "normalize_ob": bool,
    "clip_obs": float,
}


def make_checkpoint(ppo: PPO, env: RaisimGymVecEnv, iteration: int, env_name: str, cfg_text: str,
                    num_envs: int | None = None) -> dict[str, Any]:
    """Gathers the state of a training run into a checkpoint dict.

    Args:
        ppo: The algorithm (networks, optimizer, learning rate, generator).
        env: The training env, whose observation statistics are saved.
        iteration: Number of PPO updates done so far.
        env_name: Env folder name, e.g. ``rsg_anymal``.
        cfg_text: The run's cfg.yaml text.
        num_envs: The envs stepped per iteration over all ranks (default: `env`'s).

    Returns:
        The checkpoint dict (tensors are copies, so later training does not change it).
    """
    mean, var, count = env.get_statistics()
    state = ppo.state_dict()
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "iteration": int(iteration),
        "env_name": env_name,
        "cfg_text": cfg_text,
        "obs_dim": int(ppo.actor.obs_dim),
        "critic_obs_dim": int(ppo.obs_dim),
        "action_dim": int(ppo.actor.action_dim),
        "actor": _cloned(state["actor"]),
        "critic": _cloned(state["critic"]),
        "optimizer": _cloned(state["optimizer"]),
        "learning_rate": float(state["learning_rate"]),
        "generator": state["generator"].clone(),
        "obs_mean": torch.from_numpy(mean.copy()),
        "obs_var": torch.from_numpy(var.copy()),
        "obs_count": torch.tensor(count, dtype=torch.float64),
        "normalize_ob": bool(env.normalize_ob),
        "clip_obs": float(env.clip_obs),
        "num_envs": int(env.num_envs if num_envs is None else num_envs),
    }
    levels = env.terrain_levels
    if levels.size and (levels >= 0).all():
        checkpoint["terrain_levels"] = torch.from_numpy(levels.copy())
    return checkpoint


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """Writes `checkpoint` so that `path` holds either the old file or the complete new one, never a part.

    See `atomic_file.write_atomically`: a temporary file beside `path`, fsynced, renamed over it; temporary
    files that killed writers left in the folder are deleted first.

    Args:
        checkpoint: A dict from `make_checkpoint`.
        path: Destination, e.g. ``<run_dir>/full_200.pt``.

    Returns:
        `path`.

    Raises:
        NoRoomError: No space left on the device (or quota or file-size limit); `path` is unchanged.
        OSError: Writing failed otherwise; `path` is unchanged and the temporary file is removed.
    """
    # Serialized in memory (a checkpoint is a few MB) and written by Python, so a full disk keeps its errno.
    buffer = io.BytesIO()
    torch.save(dict(checkpoint), buffer)
    return write_bytes_atomically(path, buffer.getbuffer())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads and checks a checkpoint with ``torch.load(weights_only=True)`` onto the CPU.

    Temporary files that killed writers left beside it are deleted (`remove_stale_temporaries`):
    a run killed mid-write is resumed by loading from its folder.

    Args:
        path: A ``full_<N>.pt`` file.

    Returns:
        The checkpoint dict.

    Raises:
        FileNotFoundError: There is no such file (the message names it).
        ValueError: The file is corrupt, truncated, one of the run's policy exports, not a raisimGymTorch checkpoint,
            or holds a number no run writes (a NaN or negative learning rate, std, clip_obs or statistic); the
            message names the file and the entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    remove_stale_temporaries(path.parent)
    _refuse_exports(path)
    _check_archive(path)
    try:
        with warnings.catch_warnings():
            # Bytes that happen to open like a pickle of another protocol make torch warn, naming weights_only; the
            # error below says what is wrong with the file without suggesting to load it unsafely.
            warnings.simplefilter("ignore", UserWarning)
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch reports corruption as RuntimeError, UnpicklingError, EOFError, …
        message = str(error)
        if "Weights only load failed" in message:
            # torch's own message suggests loading with weights_only=False, which runs whatever the file names.
            refused = re.search(r"Unsupported global: GLOBAL (\S+)", message)
            if refused:
                raise ValueError(f"{path} is not a readable checkpoint: it asks to build a {refused.group(1)}, "
                                 "which no raisimGymTorch checkpoint contains; it was not loaded, because unpickling "
                                 "it could run code") from None
            detail = re.search(r"WeightsUnpickler error: ([^\n]*)", message)
            message = detail.group(1) if detail else "the safe unpickler refused it"
        raise ValueError(f"{path} is not a readable checkpoint (corrupt or truncated?): {message}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a raisimGymTorch checkpoint (no '{CHECKPOINT_FORMAT}' format marker); "
                         "runner.py writes them as full_<iteration>.pt")
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {checkpoint.get('version')!r}; this code reads version "
                         f"{CHECKPOINT_VERSION}")
    for key, kind in _REQUIRED.items():
        value = checkpoint.get(key)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise ValueError(f"{path} is damaged: entry {key!r} should be {kind.__name__}, got {type(value).__name__}")
    width = checkpoint.setdefault("critic_obs_dim", checkpoint["obs_dim"])
    if isinstance(width, bool) or not isinstance(width, int) or width < checkpoint["obs_dim"]:
        raise ValueError(f"{path} is damaged: critic_obs_dim is {quoted(width)}, but it must be an integer of at least "
                         f"obs_dim ({checkpoint['obs_dim']})")
    for key in ("obs_mean", "obs_var"):
        if tuple(checkpoint[key].shape) != (width,):
            raise ValueError(f"{path} is damaged: {key} has shape {tuple(checkpoint[key].shape)}, expected ({width},)")
    levels = checkpoint.get("terrain_levels")
    if levels is not None and not (isinstance(levels, torch.Tensor) and levels.dim() == 1 and levels.numel() > 0
                                   and not levels.is_floating_point() and bool((levels >= 0).all())):
        raise ValueError(f"{path} is damaged: terrain_levels should be a 1-D tensor of levels >= 0, got "
                         f"{quoted(levels)}")
    envs = checkpoint.get("num_envs")
    if envs is not None and (isinstance(envs, bool) or not isinstance(envs, int) or envs < 1):
        raise ValueError(f"{path} is damaged: num_envs is {quoted(envs)}, but it must be a positive integer")
    _check_values(checkpoint, path)
    return checkpoint


def _check_values(checkpoint: Mapping[str, Any], path: Path) -> None:
    """Raises ValueError naming the file and the entry if a number no run can write was edited into it.

    Without this a negative learning rate trained silently (gradient ascent), and a negative std or a NaN clip_obs
    failed later with a message naming neither the file nor the entry.
    """
    def refuse(key: str, value: Any, rule: str) -> None:
        raise ValueError(f"{path} is damaged: {key} is {quoted(value)}, but {rule}; use a checkpoint written by "
                         "runner.py, or the one before it")

    rate = float(checkpoint["learning_rate"])
    if not (math.isfinite(rate) and rate >= 0.0):
        refuse("learning_rate", rate, "a learning rate must be finite and >= 0")
    clip = float(checkpoint["clip_obs"])
    if not clip > 0.0:  # also refuses NaN
        refuse("clip_obs", clip, "clip_obs must be positive")
    std = checkpoint["actor"].get("std")
    if isinstance(std, torch.Tensor) and std.numel() and not bool(torch.all(torch.isfinite(std) & (std > 0))):
        bad = int(torch.nonzero(~(torch.isfinite(std) & (std > 0))).flatten()[0])
        refuse(f"actor.std[{bad}]", float(std.flatten()[bad]), "an action std must be finite and positive")
    for key in ("obs_mean", "obs_var"):
        values = checkpoint[key].to(torch.float64)
        wrong = ~torch.isfinite(values) if key == "obs_mean" else ~(torch.isfinite(values) & (values >= 0))
        if bool(wrong.any()):
            bad = int(torch.nonzero(wrong).flatten()[0])
            refuse(f"{key}[{bad}]", float(values[bad]),
                   "observation statistics must be finite with non-negative variance")
    count = float(checkpoint["obs_count"])
    if not (math.isfinite(count) and count >= 0.0):
        refuse("obs_count", count, "the observation count must be finite and non-negative")


def _refuse_exports(path: Path) -> None:
    """Raises ValueError if `path` is one of the run's own policy exports rather than a checkpoint.

    torch.load's own error for a TorchScript file ("corrupt or truncated?", load with weights_only=False) would
    send the user the wrong way.
    """
    what = None
    if path.suffix == ".onnx":
        what = "an ONNX export of a policy"
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            return
        if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
            what = "a TorchScript export of a policy"
    if what is None:
        return
    number = re.fullmatch(r"policy_(\d+)", path.stem)
    wanted = path.with_name(f"full_{number.group(1)}.pt") if number else path.with_name("full_<N>.pt")
    raise ValueError(f"{path} is {what} (for deployment), not a checkpoint; runner.py and tester.py take the "
                     f"checkpoint written beside it: -w {wanted}")


def _check_archive(path: Path) -> None:
    """Raises ValueError if a member of the zip archive that torch.save writes fails its CRC-32.

    torch.load does not check the CRCs, so a flipped bit in a tensor's bytes would load as a wrong weight.
    Files that are not zip archives are left to torch.load to refuse.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return
    if damaged is not None:
        raise ValueError(f"{path} is not a readable checkpoint (corrupt or truncated?): {damaged} fails its CRC check")


def check_dimensions(checkpoint: Mapping[str, Any], obs_dim: int, action_dim: int, path: str | Path,
                     critic_obs_dim: int | None = None) -> None:
    """Raises unless the checkpoint's networks fit an env with `obs_dim` observations and `action_dim` actions (and,
    to train on, `critic_obs_dim` values for the critic).

    Raises:
        ValueError: A size differs; the message gives both sizes and the file.
    """
    sizes = [("observation", checkpoint["obs_dim"], obs_dim), ("action", checkpoint["action_dim"], action_dim)]
    if critic_obs_dim is not None:
        sizes.append(("critic observation", checkpoint["critic_obs_dim"], critic_obs_dim))
    for what, saved, wanted in sizes:
        if saved != wanted:
            raise ValueError(f"{path} was trained with {what} size {saved}, but the env "
                             f"'{checkpoint.get('env_name', '?')}' has {what} size {wanted}")


def restore_checkpoint(checkpoint: Mapping[str, Any], ppo: PPO, env: RaisimGymVecEnv, path: str | Path) -> int:
    """Loads a checkpoint into `ppo`, and the observation statistics and terrain levels of `env`.

    Args:
        checkpoint: A dict from `load_checkpoint`.
        ppo: Algorithm built with the checkpoint's cfg.
        env: The training env.
        path: The checkpoint's file, named in error messages.

    Returns:
        The iteration to continue from.

    Raises:
        ValueError: The sizes do not match the env, or the networks do not match the cfg's architecture.
    """
    check_dimensions(checkpoint, env.num_obs, env.num_acts, path, env.num_critic_obs)
    try:
        ppo.load_state_dict(checkpoint)
    except (RuntimeError, KeyError, ValueError) as error:
        raise ValueError(f"{path} does not fit the networks built from the cfg: {error}") from error
    try:
        env.set_statistics(checkpoint["obs_mean"].numpy(), checkpoint["obs_var"].numpy(),
                           float(checkpoint["obs_count"]))
    except ValueError as error:
        raise ValueError(f"{path} is damaged: its obs_mean, obs_var or obs_count: {error}") from None
    levels = checkpoint.get("terrain_levels")
    if levels is not None and (env.terrain_levels >= 0).all():
        # Env i of the run goes back to its level; a run resumed with more (or fewer) envs, or on another rank,
        # repeats the saved levels in order, which keeps their spread.
        env.set_terrain_levels(np.resize(levels.numpy(), env.num_envs))
    return int(checkpoint["iteration"])


def _cloned(state: Any) -> Any:
    """A deep copy of nested dicts/lists of tensors, so the checkpoint does not alias live parameters."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, Mapping):
        return {key: _cloned(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_cloned(value) for value in state]
    return state
