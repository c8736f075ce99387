// The project's stand-in for a real series-elastic drive, inside the env: the same drive that
// raisimGymTorch/actuator/drive.py simulates to make "hardware" logs, so that a policy trained against an
// actuator network (or plain PD) can be played on the drive the network was fitted to (sim-to-sim transfer).
//
// Per physics step: the joint PD runs once on the measured state with a target one drive period old, then the
// motor behind the spring is integrated at `physicsRate` while the joint is carried along at its measured
// velocity; MuJoCo receives the spring's mean torque over the step. Units are joint-side, as in drive.py, whose
// DriveParameters hold the same defaults.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "actuation/Actuation.hpp"

namespace raisim {

struct SeriesElasticParameters {
  double springStiffness = 2500.0;  // N m/rad
  double springDamping = 2.0;       // N m s/rad
  double motorInertia = 0.02;       // kg m^2, reflected to the joint
  double torqueLoopGain = 3.0;      // motor torque = desired + gain (desired - spring) - damping (deflection rate)
  double torqueLoopDamping = 5.0;   // N m s/rad
  double coulombFriction = 1.0;     // N m, motor side, smoothed by tanh over 0.01 rad/s
  double viscousFriction = 0.2;     // N m s/rad
  double physicsRate = 10000.0;     // Hz of the motor's integration
  int delayPeriods = 1;             // physics steps between a target and the PD that uses it

  void check() const {
    if (!(springStiffness > 0 && motorInertia > 0 && physicsRate > 0) || springDamping < 0 || torqueLoopGain < 0 ||
        torqueLoopDamping < 0 || coulombFriction < 0 || viscousFriction < 0 || delayPeriods < 0)
      throw std::invalid_argument(
          "series-elastic drive parameters: stiffness, motor inertia and rate must be positive, the rest >= 0");
  }
};

class SeriesElasticActuation final : public Actuation {
 public:
  SeriesElasticActuation(Eigen::VectorXd kp, Eigen::VectorXd kd, const DcMotorLimit& motor,
                         const SeriesElasticParameters& parameters = {})
      : kp_(std::move(kp)), kd_(std::move(kd)), motor_(motor), p_(parameters) {
    if (kp_.size() != kd_.size())
      throw std::invalid_argument("a series-elastic drive needs as many d gains as p gains");
    motor_.check();
    p_.check();
    const Eigen::Index n = kp_.size();
    pending_ = Eigen::MatrixXd::Zero(n, std::max(p_.delayPeriods, 1));
    motorAngle_ = Eigen::VectorXd::Zero(n);
    motorSpeed_ = Eigen::VectorXd::Zero(n);
    target_ = Eigen::VectorXd::Zero(n);
  }

  const char* name() const override { return "series_elastic"; }
  int actuators() const override { return static_cast<int>(kp_.size()); }
  void reset() override { started_ = false; }

  void compute(const ActuatorState& state, Eigen::VectorXd& control) override {
    if (!started_) start(state);
    if (p_.delayPeriods == 0)
      target_ = state.command;
    else
      target_ = pending_.col(slot_);
    pending_.col(slot_) = state.command;
    slot_ = (slot_ + 1) % pending_.cols();
    const int substeps = std::max(1, static_cast<int>(std::lround(p_.physicsRate * state.timestep)));
    const double dt = state.timestep / substeps;
    for (Eigen::Index i = 0; i < control.size(); ++i) {
      const double q = state.position[i], qd = state.velocity[i];
      const double desired = std::clamp(kp_[i] * (target_[i] - q) - kd_[i] * qd, -motor_.torqueLimit,
                                        motor_.torqueLimit);
      double angle = motorAngle_[i], speed = motorSpeed_[i], springSum = 0.0;
      for (int s = 0; s < substeps; ++s) {
        const double jointAngle = q + qd * (s * dt);
        const double deflectionRate = speed - qd;
        const double spring = p_.springStiffness * (angle - jointAngle) + p_.springDamping * deflectionRate;
        const double command = motor_.clamp(
            desired + p_.torqueLoopGain * (desired - spring) - p_.torqueLoopDamping * deflectionRate, speed);
        const double friction = p_.coulombFriction * std::tanh(speed / 0.01) + p_.viscousFriction * speed;
        springSum += spring;
        speed += dt * (command - spring - friction) / p_.motorInertia;
        angle += dt * speed;
      }
      motorAngle_[i] = angle;
      motorSpeed_[i] = speed;
      control[i] = springSum / substeps;
    }
  }

 private:
  // A new episode: the motor rests where the joint is (spring relaxed) and every pending target is this one.
  void start(const ActuatorState& state) {
    motorAngle_ = state.position;
    motorSpeed_ = state.velocity;
    for (Eigen::Index k = 0; k < pending_.cols(); ++k) pending_.col(k) = state.command;
    slot_ = 0;
    started_ = true;
  }

  Eigen::VectorXd kp_, kd_;
  DcMotorLimit motor_;
  SeriesElasticParameters p_;
  Eigen::MatrixXd pending_;  // joints x delayPeriods ring of the targets sent, oldest at slot_
  Eigen::Index slot_ = 0;
  Eigen::VectorXd target_;   // the one the PD uses this step
  Eigen::VectorXd motorAngle_, motorSpeed_;
  bool started_ = false;
};

}  // namespace raisim
