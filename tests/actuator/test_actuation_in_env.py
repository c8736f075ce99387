"""The cfg's `actuator` block switches rsg_anymal's drive model without touching its code."""

from pathlib import Path

import numpy as np
import pytest

from conftest import anymal_cfg
from raisimGymTorch.actuator.network import write_network
from raisimGymTorch.env.make import make_vec_env

P_GAIN, D_GAIN = 80.0, 2.0


def write_linear_network(path: Path, weights: list[float], bias: float = 0.0) -> Path:
    """A one-layer network over (error_t, error_t-1, error_t-2, velocity_t, velocity_t-1, velocity_t-2)."""
    write_network(path, history=3, lag=1, input_scale=np.ones(6), output_scale=1.0,
                  layers=[(np.array([weights]), np.array([bias]))])
    return path


def actions(steps: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, size=(steps, 2, 12)).astype(np.float32)


def rollout(actuator: dict, steps: int = 40, reset_after: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Observations and torque terms of `steps` random steps; with `reset_after`, a reset then the same actions again."""
    env = make_vec_env("rsg_anymal", anymal_cfg(actuator=actuator, reset_noise=0.0, max_time=100.0), num_envs=2,
                       num_threads=1, seed=0, normalize_ob=False)
    try:
        sequence = actions(steps if reset_after is None else reset_after)
        observations, torque_terms = [], []
        for step in range(steps):
            if step == reset_after:
                env.reset()
            env.step(sequence[step % len(sequence)])
            observations.append(env.observe(update_statistics=False).copy())
            torque_terms.append(env.reward_terms()[:, env.reward_names.index("torque")].copy())
        return np.array(observations), np.array(torque_terms)
    finally:
        env.close()


def test_a_network_that_computes_pd_walks_like_pd(tmp_path: Path) -> None:
    net = write_linear_network(tmp_path / "pd.net", [P_GAIN, 0, 0, -D_GAIN, 0, 0])
    pd_observations, pd_torques = rollout({"model": "pd"})
    net_observations, net_torques = rollout({"model": "network", "file": str(net)})
    np.testing.assert_allclose(net_observations, pd_observations, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net_torques, pd_torques, rtol=1e-4)
    # The DC motor's torque-speed line is a different drive: the same actions give other torques.
    _, dc_torques = rollout({"model": "dc_motor"})
    assert not np.allclose(dc_torques, pd_torques, rtol=1e-3)


def test_a_constant_network_applies_its_torque_to_every_joint(tmp_path: Path) -> None:
    net = write_linear_network(tmp_path / "constant.net", [0, 0, 0, 0, 0, 0], bias=3.0)
    _, torque_terms = rollout({"model": "network", "file": str(net)}, steps=3)
    coeff = anymal_cfg()["environment"]["reward"]["torque"]["coeff"]
    np.testing.assert_allclose(torque_terms, coeff * 12 * 3.0**2, rtol=1e-6)


def test_the_network_history_restarts_with_the_episode(tmp_path: Path) -> None:
    # A network that remembers: the torque depends on the errors of the two samples before.
    net = write_linear_network(tmp_path / "memory.net", [40.0, 25.0, 15.0, -2.0, 0, 0])
    actuator = {"model": "network", "file": str(net)}
    first, _ = rollout(actuator, steps=20)
    again, _ = rollout(actuator, steps=40, reset_after=20)
    # Without joint noise every episode starts from the same state, and a fresh history replays it exactly.
    np.testing.assert_array_equal(again[20:], first)


@pytest.mark.parametrize("actuator, message", [
    ({"model": "network", "file": "/nonexistent/drive.net"}, r"actuator network file /nonexistent/drive\.net cannot be opened"),
    ({"model": "network"}, r"missing cfg key 'actuator\.file'"),
    ({"model": "hydraulic"}, r"unknown actuator model 'hydraulic'; the models are torque, pd, dc_motor, network"),
])
def test_bad_actuator_choices_are_named_before_stepping(actuator: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_vec_env("rsg_anymal", anymal_cfg(actuator=actuator), num_envs=2, num_threads=1)
