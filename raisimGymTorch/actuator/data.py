"""Drive logs: the file format a user records on a real robot, and the network's training pairs built from it.

A drive log is an ``.npz`` file with five arrays of shape (samples, joints), all float64 or float32, sampled at a
fixed period (the control period of the environment that will use the network):

    time      s, one column is enough (shape (samples,) or (samples, joints)); must increase uniformly
    target    joint position target sent to the drive (rad)
    position  measured joint position (rad)
    velocity  measured joint velocity (rad/s)
    torque    measured joint torque (N m)

Joints are independent channels: a network is fitted per drive type, so one log may hold many drives of the same
type, or one drive over several sessions as separate columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS = ("time", "target", "position", "velocity", "torque")
MIN_SAMPLES = 200


@dataclass
class DriveLog:
    """A drive log in memory; every array but `time` has shape (samples, joints)."""

    time: np.ndarray
    target: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    torque: np.ndarray

    @property
    def period(self) -> float:
        return float(self.time[1] - self.time[0])

    @property
    def num_samples(self) -> int:
        return self.target.shape[0]

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{name: getattr(self, name) for name in COLUMNS})


def load_drive_log(path: str | Path) -> DriveLog:
    """Reads and checks a drive log; every problem raises ValueError naming the file and the column."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"drive log {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:
        raise ValueError(f"drive log {path} is not a readable .npz file: {error}") from None
    with archive:
        missing = [name for name in COLUMNS if name not in archive.files]
        if missing:
            raise ValueError(f"drive log {path} lacks the column(s) {', '.join(missing)}; it needs {', '.join(COLUMNS)} "
                             f"(it has {', '.join(archive.files) or 'none'})")
        arrays = {name: np.asarray(archive[name], dtype=np.float64) for name in COLUMNS}
    time = arrays.pop("time")
    time = time[:, 0] if time.ndim == 2 else time
    shape = arrays["target"].shape
    for name, values in arrays.items():
        if values.ndim == 1:
            arrays[name] = values = values[:, None]
        if values.ndim != 2 or values.shape != arrays["target"].reshape(shape[0], -1).shape:
            raise ValueError(f"drive log {path}: column '{name}' has shape {values.shape}, but 'target' has {shape}; "
                             "every column but time must be (samples, joints)")
        if not np.isfinite(values).all():
            bad = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(f"drive log {path}: column '{name}' holds a non-finite value at sample {bad[0]}, "
                             f"joint {bad[1]}")
    samples = arrays["target"].shape[0]
    if time.shape != (samples,):
        raise ValueError(f"drive log {path}: 'time' has {time.shape[0] if time.ndim else 0} samples, the other "
                         f"columns {samples}")
    if samples < MIN_SAMPLES:
        raise ValueError(f"drive log {path} has {samples} samples; fitting needs at least {MIN_SAMPLES}")
    steps = np.diff(time)
    if not np.isfinite(time).all() or steps.min() <= 0 or np.ptp(steps) > 1e-6 * max(steps.mean(), 1e-12) + 1e-9:
        raise ValueError(f"drive log {path}: 'time' must increase by a constant period (the control period)")
    return DriveLog(time=time, **arrays)


def history_pairs(log: DriveLog, history: int, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's inputs and targets: per joint and sample t, [e(t), e(t-lag), ..., v(t), v(t-lag), ...] -> torque.

    e = target - position. Samples without a full history are left out. Returns float64 arrays of shapes
    (pairs, 2 * history) and (pairs,).
    """
    error = log.target - log.position
    first = lag * (history - 1)
    if log.num_samples <= first:
        raise ValueError(f"{log.num_samples} samples are too few for a history of {history} x {lag} samples")
    columns = [error[first - k * lag: log.num_samples - k * lag] for k in range(history)]
    columns += [log.velocity[first - k * lag: log.num_samples - k * lag] for k in range(history)]
    inputs = np.stack([column.T.reshape(-1) for column in columns], axis=1)
    return inputs, log.torque[first:].T.reshape(-1)
