"""Where the networks and the PPO update run: ``--device auto|cpu|cuda``. The env always steps on the CPU."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """The torch device for a ``--device`` choice.

    ``auto`` takes the GPU when torch sees one, as the original raisimGymTorch recommended for the networks and the
    update; ``cuda`` insists on it.

    Raises:
        ValueError: An unknown choice, or ``cuda`` on a machine where torch sees no CUDA device.
    """
    if name not in DEVICE_CHOICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = f"torch {torch.__version__} was built without CUDA" if torch.version.cuda is None else \
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU"
        raise ValueError(f"--device cuda was asked for, but {build}; use --device cpu (or auto, which falls back "
                         f"to the CPU)")
    return torch.device(name)
