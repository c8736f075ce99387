"""Deployment files of a NormalizedPolicy: TorchScript (always) and ONNX (with the ``onnx`` extra installed)."""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from raisimGymTorch.io.atomic_file import write_atomically

# torch's default ONNX exporter (torch.export-based since torch 2.9) needs both; the TorchScript-based one it
# replaced is deprecated, so it is not used as a fallback.
ONNX_PACKAGES = ("onnx", "onnxscript")
ONNX_INSTALL_HINT = "pip install 'raisimGymTorch[onnx]'"


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
    return write_atomically(Path(path), lambda temporary: scripted.save(str(temporary)))


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
