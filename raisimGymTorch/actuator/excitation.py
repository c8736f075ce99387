"""Target signals used to identify drives: chirps, steps and smoothed random targets around a nominal angle."""
from __future__ import annotations

import numpy as np


def chirp(samples: int, period: float, amplitude: float, low_hz: float = 0.2, high_hz: float = 12.0) -> np.ndarray:
    """A sine sweeping exponentially from low_hz to high_hz over the signal."""
    t = np.arange(samples) * period
    duration = max(t[-1], period)
    rate = np.log(high_hz / low_hz) / duration
    phase = 2.0 * np.pi * low_hz * (np.exp(rate * t) - 1.0) / rate
    return amplitude * np.sin(phase)


def steps(samples: int, period: float, amplitude: float, rng: np.random.Generator,
          hold: tuple[float, float] = (0.1, 0.6)) -> np.ndarray:
    """Piecewise-constant targets held for a random time each."""
    signal = np.zeros(samples)
    k = 0
    while k < samples:
        length = max(1, int(rng.uniform(*hold) / period))
        signal[k:k + length] = rng.uniform(-amplitude, amplitude)
        k += length
    return signal


def smooth_random(samples: int, period: float, amplitude: float, rng: np.random.Generator,
                  bandwidth_hz: float = 4.0) -> np.ndarray:
    """A random sum of sines up to bandwidth_hz: gait-like targets."""
    t = np.arange(samples) * period
    signal = np.zeros(samples)
    for frequency in rng.uniform(0.3, bandwidth_hz, 8):
        signal += rng.uniform(0.3, 1.0) * np.sin(2.0 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
    return amplitude * signal / max(np.abs(signal).max(), 1e-9)


def excitation_targets(joints: int, seconds: float, period: float, seed: int = 0,
                       nominal: float = 0.0) -> np.ndarray:
    """(samples, joints) targets: each joint gets a chirp, then steps, then smooth random targets (a third each)."""
    rng = np.random.default_rng(seed)
    samples = int(round(seconds / period))
    third = samples // 3
    columns = []
    for _ in range(joints):
        amplitude = rng.uniform(0.2, 0.6)
        columns.append(np.concatenate([
            chirp(third, period, amplitude),
            steps(third, period, amplitude, rng),
            smooth_random(samples - 2 * third, period, amplitude, rng),
        ]))
    return nominal + np.stack(columns, axis=1)
