"""The stand-in series-elastic drive in C++ (actuator model `series_elastic`): the drive of actuator/drive.py, run
inside the env's physics step, so that a policy can be played on the drive its actuator network was fitted to."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import anymal_cfg
from raisimGymTorch.actuator.drive import DriveParameters, Loads, simulate_drive
from raisimGymTorch.actuator.excitation import excitation_targets
from raisimGymTorch.env.bin._toolkit import SeriesElasticDrive
from raisimGymTorch.env.make import make_vec_env

PARAMETERS = DriveParameters()
JOINTS = 6


def cpp_drive(delay_periods: int = 1) -> SeriesElasticDrive:
    p = PARAMETERS
    return SeriesElasticDrive(np.full(JOINTS, p.kp), np.full(JOINTS, p.kd), p.torque_limit, p.saturation_torque,
                              p.no_load_speed, delay_periods)


def drive_loads(drive: SeriesElasticDrive, targets: np.ndarray, loads: Loads) -> tuple[np.ndarray, np.ndarray]:
    """The C++ drive moving drive.py's loads, integrated once per control period the way MuJoCo integrates a joint
    (semi-implicit Euler): the env's coupling, with a plain pendulum as the robot. Positions and torques per step."""
    dt = PARAMETERS.control_period
    q, qd = targets[0].copy(), np.zeros(JOINTS)
    positions, torques = [], []
    for target in targets:
        torque = drive.torques(target, q, qd, dt)
        qd = qd + dt * (torque - loads.gravity * np.sin(q)) / loads.inertia
        q = q + dt * qd
        positions.append(q)
        torques.append(torque)
    return np.array(positions), np.array(torques)


def test_the_cpp_drive_moves_loads_like_the_drive_that_makes_the_logs() -> None:
    loads = Loads(inertia=np.linspace(0.04, 0.3, JOINTS), gravity=np.linspace(0.0, 15.0, JOINTS), pulse_rate=0.0)
    targets = excitation_targets(JOINTS, 6.0, PARAMETERS.control_period, seed=3)
    log = simulate_drive(targets, loads, PARAMETERS)
    positions, torques = drive_loads(cpp_drive(), targets, loads)
    rms = lambda x: np.sqrt(np.mean(x ** 2, axis=0))  # noqa: E731
    # The env gets the spring's mean torque over a step; the log holds it at the end of each step.
    over_step = log.torque.copy()
    over_step[1:] = 0.5 * (log.torque[1:] + log.torque[:-1])
    # drive.py integrates the load at 10 kHz too; the env holds it for a 2.5 ms step. What that costs (measured
    # when this was written: 0.28-0.54 N m on torques of 3.6-19 N m RMS, 1-5 mrad) is part of the sim-to-sim gap.
    assert np.all(rms(torques - over_step) < 0.1 * rms(log.torque))
    assert np.all(rms(positions - log.position) < 0.01)
    # The delay is real: without it the same drive follows the targets differently.
    undelayed, _ = drive_loads(cpp_drive(delay_periods=0), targets, loads)
    assert np.all(rms(undelayed - positions) > 1e-4)


def test_reset_rests_the_motors_and_forgets_pending_targets() -> None:
    drive = cpp_drive()
    rng = np.random.default_rng(0)
    inputs = [(rng.uniform(-0.5, 0.5, JOINTS), rng.uniform(-0.2, 0.2, JOINTS), rng.uniform(-2, 2, JOINTS))
              for _ in range(30)]
    first = [drive.torques(*step, 0.0025) for step in inputs]
    drive.reset()
    again = [drive.torques(*step, 0.0025) for step in inputs]
    np.testing.assert_array_equal(again, first)
    # At rest with the target where the joint is, the spring is relaxed: no torque.
    resting = cpp_drive()
    np.testing.assert_allclose(resting.torques(np.full(JOINTS, 0.3), np.full(JOINTS, 0.3), np.zeros(JOINTS), 0.0025),
                               0.0, atol=1e-9)


def test_anymal_stands_on_the_series_elastic_drive_and_restarts_it_with_the_episode() -> None:
    def rollout(actuator: dict, steps: int, reset_after: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        env = make_vec_env("rsg_anymal", anymal_cfg(actuator=actuator, reset_noise=0.0, max_time=100.0), num_envs=2,
                           num_threads=1, seed=0, normalize_ob=False)
        try:
            zero = np.zeros((2, env.num_acts), dtype=np.float32)  # the nominal stance
            observations, torques = [], []
            for step in range(steps):
                if step == reset_after:
                    env.reset()
                env.step(zero)
                observations.append(env.observe(update_statistics=False).copy())
                torques.append(env.reward_terms()[:, env.reward_names.index("torque")].copy())
            return np.array(observations), np.array(torques)
        finally:
            env.close()

    series_elastic, sea_torques = rollout({"model": "series_elastic"}, steps=100)
    dc_motor, dc_torques = rollout({"model": "dc_motor"}, steps=100)
    height = 0  # observation column 0 is the base height (rsg_anymal's Environment.hpp)
    assert np.all(series_elastic[-1, :, height] > 0.4), "ANYmal sagged on its series-elastic drives"
    np.testing.assert_allclose(series_elastic[-1, :, height], dc_motor[-1, :, height], atol=0.02)
    assert not np.allclose(sea_torques[:10], dc_torques[:10], rtol=1e-2), "the drive model made no difference"
    again, _ = rollout({"model": "series_elastic"}, steps=60, reset_after=30)
    np.testing.assert_array_equal(again[30:], series_elastic[:30])


@pytest.mark.parametrize("actuator, message", [
    ({"model": "series_elastic", "spring_stiffness": -1.0}, r"stiffness, motor inertia and rate must be positive"),
    ({"model": "series_elastic", "delay_periods": -2}, r"series-elastic drive parameters"),
    ({"model": "series_elastic", "spring_stifness": 900.0}, r"spring_stifness"),
])
def test_bad_series_elastic_parameters_are_named(actuator: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_vec_env("rsg_anymal", anymal_cfg(actuator=actuator), num_envs=2, num_threads=1)
