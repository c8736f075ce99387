"""Fits an actuator network to a drive log and reports its held-out error beside the ideal PD model's."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import DriveLog, history_pairs
from .network import ActuatorNetwork


@dataclass
class FitReport:
    network_rms: float
    """Held-out torque error of the network (N m, RMS)."""
    pd_rms: float
    """Held-out torque error of the ideal joint PD the environments use without a network (N m, RMS)."""
    torque_rms: float
    """RMS of the held-out torque itself, for scale."""
    train_pairs: int
    validation_pairs: int


def pd_torque(inputs: np.ndarray, history: int, kp: float, kd: float, limit: float) -> np.ndarray:
    """What an ideal PD joint would apply for the newest sample of each input row."""
    return np.clip(kp * inputs[:, 0] - kd * inputs[:, history], -limit, limit)


def split_log(log: DriveLog, validation_share: float) -> tuple[DriveLog, DriveLog]:
    """Splits by time: the last `validation_share` of the log is held out, so validation is a future trajectory."""
    cut = int(log.num_samples * (1.0 - validation_share))

    def part(rows: slice) -> DriveLog:
        return DriveLog(log.time[rows], log.target[rows], log.position[rows], log.velocity[rows], log.torque[rows])

    return part(slice(0, cut)), part(slice(cut, None))


def fit_network(log: DriveLog, history: int = 3, lag: int = 2, hidden: tuple[int, ...] = (32, 32), epochs: int = 300,
                validation_share: float = 0.2, seed: int = 0, batch: int = 4096, pd_gains: tuple[float, float, float] = (80.0, 2.0, 80.0),
                print_function=print) -> tuple[ActuatorNetwork, FitReport]:
    """Trains with Adam on mini-batches; returns the network and its held-out report."""
    torch.manual_seed(seed)
    train_log, validation_log = split_log(log, validation_share)
    train_x, train_y = history_pairs(train_log, history, lag)
    valid_x, valid_y = history_pairs(validation_log, history, lag)
    scale = 1.0 / np.maximum(train_x.std(axis=0), 1e-6)
    network = ActuatorNetwork(history, lag, hidden, scale, output_scale=float(max(train_y.std(), 1e-6)))
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    x, y = torch.from_numpy(train_x), torch.from_numpy(train_y)
    vx, vy = torch.from_numpy(valid_x), torch.from_numpy(valid_y)
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            loss = torch.mean(((network(x[rows]) - y[rows]) / network.output_scale) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch % max(1, epochs // 10) == 0 or epoch == epochs - 1:
            with torch.no_grad():
                rms = torch.sqrt(torch.mean((network(vx) - vy) ** 2)).item()
            print_function(f"[fit] epoch {epoch + 1:4d}/{epochs}: held-out torque error {rms:.3f} N m RMS")
    with torch.no_grad():
        network_rms = torch.sqrt(torch.mean((network(vx) - vy) ** 2)).item()
    pd = pd_torque(valid_x, history, *pd_gains)
    report = FitReport(network_rms=network_rms, pd_rms=float(np.sqrt(np.mean((pd - valid_y) ** 2))),
                       torque_rms=float(np.sqrt(np.mean(valid_y ** 2))), train_pairs=len(x), validation_pairs=len(vx))
    return network, report


def plot_held_out(network: ActuatorNetwork, log: DriveLog, validation_share: float, path: Path, joint: int = 0,
                  seconds: float = 3.0) -> Path:
    """Predicted vs measured torque over the start of the held-out trajectory of one joint."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, held_out = split_log(log, validation_share)
    single = DriveLog(held_out.time, held_out.target[:, [joint]], held_out.position[:, [joint]],
                      held_out.velocity[:, [joint]], held_out.torque[:, [joint]])
    inputs, measured = history_pairs(single, network.history, network.lag)
    count = min(len(measured), int(seconds / log.period))
    with torch.no_grad():
        predicted = network(torch.from_numpy(inputs[:count])).numpy()
    pd = pd_torque(inputs[:count], network.history, 80.0, 2.0, 80.0)
    t = np.arange(count) * log.period
    figure, axis = plt.subplots(figsize=(9, 3.2))
    axis.plot(t, measured[:count], label="measured (drive)", color="black", linewidth=1.5)
    axis.plot(t, predicted, label="actuator network", color="tab:orange", linewidth=1.0)
    axis.plot(t, pd, label="ideal PD", color="tab:blue", linewidth=0.8, alpha=0.7)
    axis.set_xlabel("held-out time (s)")
    axis.set_ylabel("torque (N m)")
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
