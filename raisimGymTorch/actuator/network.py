"""The actuator network and its file, read by env/actuation/ActuatorNetwork.hpp.

The network maps, per joint, the position error e = target - position and the velocity at t, t - lag, ...,
t - (history - 1) lag (in physics steps of the environment) to the joint torque: an MLP with softsign between layers
(Hwangbo et al. 2019, whose ANYmal network took 3 samples 10 ms apart through 3 hidden layers of 32).

File format (little-endian), so that a network trained anywhere can be written for our C++:

    8 bytes   magic "RSGACTNN"
    uint32    version (1)
    uint32    history: samples per input signal
    uint32    lag: physics steps between samples
    float64   input_scale[2 * history]: inputs are multiplied by these before the first layer
              (order: e(t), e(t-lag), ..., v(t), v(t-lag), ...)
    float64   output_scale: the last layer's output times this is the torque (N m)
    uint32    layers
    per layer: uint32 rows, uint32 columns, float64 weight[rows * columns] (row-major), float64 bias[rows]
    nothing after the last layer

Layer 1 has 2 * history columns, every layer as many columns as the previous one has rows, the last layer one row.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAGIC = b"RSGACTNN"
VERSION = 1


class ActuatorNetwork(nn.Module):
    """MLP from scaled history to torque; `forward` takes unscaled inputs (pairs, 2 * history) in SI units."""

    def __init__(self, history: int, lag: int, hidden: tuple[int, ...] = (32, 32),
                 input_scale: np.ndarray | None = None, output_scale: float = 1.0) -> None:
        super().__init__()
        self.history, self.lag = history, lag
        sizes = (2 * history, *hidden, 1)
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=torch.float64) for a, b in zip(sizes[:-1], sizes[1:]))
        scale = np.ones(2 * history) if input_scale is None else np.asarray(input_scale, dtype=np.float64)
        self.register_buffer("input_scale", torch.as_tensor(scale, dtype=torch.float64))
        self.output_scale = float(output_scale)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs * self.input_scale
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = nn.functional.softsign(x)
        return x[..., 0] * self.output_scale

    def save(self, path: str | Path) -> None:
        write_network(path, self.history, self.lag, self.input_scale.numpy(), self.output_scale,
                      [(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in self.layers])


def write_network(path: str | Path, history: int, lag: int, input_scale: np.ndarray, output_scale: float,
                  layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Writes a network in the format above from plain arrays (for networks trained elsewhere)."""
    input_scale = np.asarray(input_scale, dtype="<f8")
    if history < 1 or lag < 1 or input_scale.shape != (2 * history,):
        raise ValueError(f"history {history} and lag {lag} must be >= 1 and input_scale must have {2 * history} values")
    columns = 2 * history
    parts = [MAGIC, struct.pack("<III", VERSION, history, lag), input_scale.tobytes(), struct.pack("<d", output_scale),
             struct.pack("<I", len(layers))]
    for weight, bias in layers:
        weight = np.asarray(weight, dtype="<f8")
        bias = np.asarray(bias, dtype="<f8")
        if weight.ndim != 2 or weight.shape[1] != columns or bias.shape != (weight.shape[0],):
            raise ValueError(f"layer with weight {weight.shape} and bias {bias.shape} does not take {columns} inputs")
        parts += [struct.pack("<II", *weight.shape), weight.tobytes(), bias.tobytes()]
        columns = weight.shape[0]
    if columns != 1:
        raise ValueError(f"the last layer must have one output (the torque), not {columns}")
    Path(path).write_bytes(b"".join(parts))


def read_network(path: str | Path) -> ActuatorNetwork:
    """Reads a network file back into PyTorch (the C++ reader checks the same things)."""
    blob = Path(path).read_bytes()
    if blob[:8] != MAGIC:
        raise ValueError(f"{path} is not an actuator network file (no RSGACTNN header)")
    offset = 8

    def take(fmt: str) -> tuple:
        nonlocal offset
        size = struct.calcsize(fmt)
        if offset + size > len(blob):
            raise ValueError(f"{path} is truncated at byte {offset}")
        values = struct.unpack_from(fmt, blob, offset)
        offset += size
        return values

    version, history, lag = take("<III")
    if version != VERSION:
        raise ValueError(f"{path} has format version {version}; this reader knows {VERSION}")
    input_scale = np.array(take(f"<{2 * history}d"))
    (output_scale,), (count,) = take("<d"), take("<I")
    layers = []
    for _ in range(count):
        rows, columns = take("<II")
        weight = np.array(take(f"<{rows * columns}d")).reshape(rows, columns)
        layers.append((weight, np.array(take(f"<{rows}d"))))
    if offset != len(blob):
        raise ValueError(f"{path} has {len(blob) - offset} bytes after its last layer")
    network = ActuatorNetwork(history, lag, tuple(w.shape[0] for w, _ in layers[:-1]), input_scale, output_scale)
    with torch.no_grad():
        for layer, (weight, bias) in zip(network.layers, layers):
            if layer.weight.shape != weight.shape:
                raise ValueError(f"{path}: layer sizes do not chain ({weight.shape} after {layer.weight.shape})")
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
    return network
