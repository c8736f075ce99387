"""Deployment files of a NormalizedPolicy: TorchScript (always) and ONNX (when the onnx package is installed)."""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import torch
from torch import nn


def export_torchscript(policy: nn.Module, path: str | Path) -> Path:
    """Scripts `policy` and saves it atomically; load it with ``torch.jit.load(path)`` (Python or libtorch C++).

    Args:
        policy: A `NormalizedPolicy`: raw observations [B, obs_dim] in, actions [B, action_dim] out.
        path: Destination, e.g. ``<run_dir>/policy_200.pt``.

    Returns:
        `path`.
    """
    path = Path(path)
    # torch 2.13 marks TorchScript deprecated in favour of torch.export; it is still what libtorch loads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(policy.eval())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        scripted.save(str(temporary))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def export_onnx(policy: nn.Module, obs_dim: int, path: str | Path) -> Path | None:
    """Exports `policy` as ONNX with a dynamic batch size if the ``onnx`` package is importable.

    Args:
        policy: A `NormalizedPolicy`.
        obs_dim: Observation size, for the example input.
        path: Destination, e.g. ``<run_dir>/policy_200.onnx``.

    Returns:
        `path`, or None if onnx is not installed or the export failed (a warning says why).
    """
    if importlib.util.find_spec("onnx") is None:
        return None
    path = Path(path)
    example = torch.zeros(1, obs_dim)
    names = {"input_names": ["observation"], "output_names": ["action"]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if importlib.util.find_spec("onnxscript") is not None:
                torch.onnx.export(policy.eval(), (example,), str(path), dynamo=True,
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
            else:
                torch.onnx.export(policy.eval(), (example,), str(path), dynamo=False,
                                  dynamic_axes={"observation": {0: "batch"}, "action": {0: "batch"}}, **names)
    except Exception as error:  # an optional format must not stop training
        warnings.warn(f"ONNX export to {path} failed: {error}", RuntimeWarning, stacklevel=2)
        return None
    return path
