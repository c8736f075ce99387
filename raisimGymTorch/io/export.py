"""The deployable policy (observation normalizer + actor mean) and its files: TorchScript (always) and ONNX (with
the ``onnx`` extra installed)."""
from __future__ import annotations

import contextlib
import copy
import io
import importlib.util
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from raisimGymTorch.algo.ppo import Actor
from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv
from raisimGymTorch.io.atomic_file import write_atomically, write_bytes_atomically
from raisimGymTorch.runner.training_config import parse_training_config

# torch's default ONNX exporter (torch.export-based since torch 2.9) needs both; the TorchScript-based one it
# replaced is deprecated, so it is not used as a fallback.
ONNX_PACKAGES = ("onnx", "onnxscript")
ONNX_INSTALL_HINT = "pip install 'raisimGymTorch[onnx]'"


class NormalizedPolicy(nn.Module):
    """Raw observations in, deterministic actions out: what runs on a robot and what gets exported.

    The normalizer is the C++ one, ``clip((x - mean) / sqrt(var + 1e-8), -clip_obs, clip_obs)``, computed in
    float64 as C++ does, with the training env's statistics frozen at construction.
    """

    def __init__(
        self,
        actor_mean: nn.Module,
        obs_mean: torch.Tensor | np.ndarray,
        obs_var: torch.Tensor | np.ndarray,
        clip_obs: float,
        normalize: bool = True,
    ) -> None:
        """Copies the actor's mean network and the statistics.

        Args:
            actor_mean: Maps normalized observations [B, obs_dim] to mean actions [B, action_dim]
                (`Actor.architecture`); deep-copied, so later training does not change this policy.
            obs_mean: Observation means [obs_dim].
            obs_var: Observation variances [obs_dim].
            clip_obs: Normalized observations are clipped to [-clip_obs, clip_obs].
            normalize: False if the policy was trained on raw observations (normalize_ob off).
        """
        super().__init__()
        self.actor_mean = copy.deepcopy(actor_mean).cpu().eval()
        for parameter in self.actor_mean.parameters():
            parameter.requires_grad_(False)
        self.register_buffer("obs_mean", torch.as_tensor(obs_mean).detach().clone().to(torch.float64))
        self.register_buffer("obs_std", torch.sqrt(torch.as_tensor(obs_var).detach().clone().to(torch.float64) + 1e-8))
        self.clip_obs = float(clip_obs)
        self.normalize = bool(normalize)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Returns mean actions [B, action_dim] for raw observations [B, obs_dim]."""
        if self.normalize:
            scaled = (observation.to(torch.float64) - self.obs_mean) / self.obs_std
            observation = scaled.clamp(-self.clip_obs, self.clip_obs)
        return self.actor_mean(observation.to(torch.float32))

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> NormalizedPolicy:
        """Builds the policy of a checkpoint from `checkpoint.load_checkpoint`.

        Raises:
            ValueError: The stored weights do not fit the architecture in the stored cfg.
        """
        config = parse_training_config(checkpoint["cfg_text"], "the cfg stored in the checkpoint").ppo
        actor = Actor(checkpoint["obs_dim"], checkpoint["action_dim"], config.policy_net, config.activation)
        try:
            actor.load_state_dict(checkpoint["actor"])
        except RuntimeError as error:
            raise ValueError(f"the checkpoint's actor does not fit its cfg's architecture: {error}") from error
        width = checkpoint["obs_dim"]  # the statistics' tail describes what only the critic sees
        return cls(actor.architecture, checkpoint["obs_mean"][:width], checkpoint["obs_var"][:width],
                   checkpoint["clip_obs"], checkpoint["normalize_ob"])

    @classmethod
    def from_training(cls, actor: Actor, env: RaisimGymVecEnv) -> NormalizedPolicy:
        """Freezes the current actor and the training env's current statistics of the actor's observation."""
        mean, var, _ = env.get_statistics()
        return cls(actor.architecture, mean[: actor.obs_dim], var[: actor.obs_dim], env.clip_obs, env.normalize_ob)


def export_torchscript(policy: nn.Module, path: str | Path) -> Path:
    """Scripts `policy` and saves it atomically; load it with ``torch.jit.load(path)`` (Python or libtorch C++).

    Args:
        policy: A `NormalizedPolicy`: raw observations [B, obs_dim] in, actions [B, action_dim] out.
        path: Destination, e.g. ``<run_dir>/policy_200.pt``.

    Returns:
        `path`.
    """
    # torch 2.13 marks TorchScript deprecated in favour of torch.export; it is still what libtorch loads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(policy.eval())
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)  # in memory, so that a full disk reports its errno (see write_bytes_atomically)
    return write_bytes_atomically(Path(path), buffer.getbuffer())


def onnx_unavailable_reason() -> str | None:
    """Why `export_onnx` cannot export in this environment, with the command that fixes it; None if it can."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    packages = " and ".join(missing) + (" packages" if len(missing) > 1 else " package")
    return f"ONNX export needs the {packages}: {ONNX_INSTALL_HINT}"


def export_onnx(policy: nn.Module, obs_dim: int, path: str | Path) -> Path | None:
    """Exports `policy` atomically as one self-contained ONNX file with a dynamic batch size.

    Input ``observation`` [batch, obs_dim] float32 (raw, the normalizer is inside), output ``action``
    [batch, action_dim] float32; onnxruntime runs it with ``session.run(None, {"observation": obs})``.

    Args:
        policy: A `NormalizedPolicy`.
        obs_dim: Observation size, for the example input.
        path: Destination, e.g. ``<run_dir>/policy_200.onnx``.

    Returns:
        `path`, or None if the packages are missing or the export failed; a RuntimeWarning then says why
        (once per calling line, as Python shows warnings).
    """
    reason = onnx_unavailable_reason()
    if reason is not None:
        warnings.warn(reason, RuntimeWarning, stacklevel=2)
        return None
    path = Path(path)
    example = (torch.zeros(1, obs_dim),)

    def write(temporary: Path) -> None:
        # external_data=False: the weights stay inside the file instead of in a `<name>.data` beside it.
        torch.onnx.export(policy.eval(), example, str(temporary), dynamo=True, external_data=False, verbose=False,
                          input_names=["observation"], output_names=["action"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},))

    try:
        with _quiet_onnx_exporter():
            return write_atomically(path, write)
    except Exception as error:  # an optional format must not stop training
        warnings.warn(f"ONNX export to {path} failed: {error}", RuntimeWarning, stacklevel=2)
        return None


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Hides what the exporter says about itself but not about the policy: its deprecation notices and its
    'torchvision is not installed. Skipping torchvision::nms' log lines, which read like errors in a training log.
    """
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        exporter_log.setLevel(level)
