"""A series-elastic drive simulated at 10 kHz: the project's stand-in for logs of a real ANYdrive.

We have no robot, so the data a user would log on hardware comes from a drive model with the effects that make a
real series-elastic actuator differ from an ideal PD joint: a motor with its own inertia behind a spring, a torque
loop closed on the spring's deflection, friction, the motor's torque-speed limit, and a control period with one
period of delay. ANYmal C's published drive limits are used as facts (80 N m peak, 120 N m saturation of the
torque-speed line, 7.5 rad/s no-load speed; shared/reference/anymal_c.md), as are the joint-level PD gains its
policies are trained with (80 N m/rad, 2 N m s/rad). Spring stiffness, reflected motor inertia, loop gains and
friction are not published; the defaults below are plausible values, chosen so the drive tracks a 10 Hz target like
a real one, and are parameters, not claims.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import DriveLog


@dataclass(frozen=True)
class DriveParameters:
    """One drive type; units are joint-side (after the gearbox)."""

    kp: float = 80.0                  # joint PD the policy commands through, N m/rad
    kd: float = 2.0                   # N m s/rad
    torque_limit: float = 80.0        # peak joint torque, N m
    saturation_torque: float = 120.0  # torque-speed line: tau_max(w) = saturation * (1 - w / no_load_speed)
    no_load_speed: float = 7.5        # rad/s
    spring_stiffness: float = 2500.0  # N m/rad (assumed)
    spring_damping: float = 2.0       # N m s/rad, spring's own losses (assumed)
    motor_inertia: float = 0.02       # reflected to the joint, kg m^2 (assumed; the MJCF's armature)
    torque_loop_gain: float = 3.0     # motor torque = desired + gain * (desired - spring torque) (assumed)
    torque_loop_damping: float = 5.0  # N m s/rad on the spring's deflection rate (assumed)
    coulomb_friction: float = 1.0     # N m on the motor side (assumed)
    viscous_friction: float = 0.2     # N m s/rad (assumed)
    control_period: float = 0.0025    # s: the rate targets arrive and logs are written (rsg_anymal's simulation_dt)
    delay_periods: int = 1            # a target acts one control period after it is sent
    physics_rate: float = 10_000.0    # Hz of the integration
    measurement_noise: float = 0.0    # std of noise on logged position (rad) and velocity (rad/s x 10)


@dataclass(frozen=True)
class Loads:
    """What each drive moves: a link of inertia `inertia` with a gravity-like torque `gravity * sin(q)`, plus
    external torque pulses (feet striking the ground)."""

    inertia: np.ndarray
    gravity: np.ndarray
    pulse_rate: float = 2.0       # pulses per second per drive
    pulse_torque: float = 30.0    # N m, largest pulse
    pulse_duration: float = 0.03  # s


def random_loads(joints: int, rng: np.random.Generator) -> Loads:
    """Loads spanning ANYmal's links: a shank about the knee (~0.02 kg m^2) to a whole leg about the hip (~0.3)."""
    return Loads(inertia=rng.uniform(0.02, 0.3, joints), gravity=rng.uniform(0.0, 15.0, joints))


def simulate_drive(targets: np.ndarray, loads: Loads, parameters: DriveParameters = DriveParameters(),
                   seed: int = 0) -> DriveLog:
    """Drives each column of `targets` (rad, one row per control period) through its own drive and load.

    Returns the log a real drive would produce: target, measured position, velocity and spring torque.
    """
    p = parameters
    rng = np.random.default_rng(seed)
    samples, joints = targets.shape
    substeps = int(round(p.physics_rate * p.control_period))
    dt = p.control_period / substeps
    q = targets[0].copy()          # joint (output) angle
    qd = np.zeros(joints)
    motor = q.copy()               # motor angle, joint-side
    motor_d = np.zeros(joints)
    pulse = np.zeros(joints)
    pulse_left = np.zeros(joints)
    log = {name: np.zeros((samples, joints)) for name in ("position", "velocity", "torque")}
    pending = [targets[0]] * p.delay_periods
    for k in range(samples):
        pending.append(targets[k])
        target = pending.pop(0)
        # The joint-level PD runs once per control period on the measured state, as on the drive's controller.
        desired = np.clip(p.kp * (target - q) - p.kd * qd, -p.torque_limit, p.torque_limit)
        starts = (pulse_left <= 0) & (rng.random(joints) < loads.pulse_rate * p.control_period)
        pulse = np.where(starts, rng.uniform(-1.0, 1.0, joints) * loads.pulse_torque, np.where(pulse_left > 0, pulse, 0.0))
        pulse_left = np.where(starts, loads.pulse_duration, pulse_left - p.control_period)
        for _ in range(substeps):
            deflection_rate = motor_d - qd
            spring = p.spring_stiffness * (motor - q) + p.spring_damping * deflection_rate
            command = desired + p.torque_loop_gain * (desired - spring) - p.torque_loop_damping * deflection_rate
            upper = np.clip(p.saturation_torque * (1.0 - motor_d / p.no_load_speed), 0.0, p.torque_limit)
            lower = np.clip(p.saturation_torque * (-1.0 - motor_d / p.no_load_speed), -p.torque_limit, 0.0)
            command = np.clip(command, lower, upper)
            friction = p.coulomb_friction * np.tanh(motor_d / 0.01) + p.viscous_friction * motor_d
            motor_d += dt * (command - spring - friction) / p.motor_inertia
            motor += dt * motor_d
            qd += dt * (spring - loads.gravity * np.sin(q) + pulse) / loads.inertia
            q += dt * qd
        spring = p.spring_stiffness * (motor - q) + p.spring_damping * (motor_d - qd)
        log["position"][k] = q + p.measurement_noise * rng.standard_normal(joints)
        log["velocity"][k] = qd + 10.0 * p.measurement_noise * rng.standard_normal(joints)
        log["torque"][k] = spring
    time = np.arange(samples) * p.control_period
    return DriveLog(time=time, target=targets.astype(np.float64), **log)
