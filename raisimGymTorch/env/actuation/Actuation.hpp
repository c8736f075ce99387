// How actuator commands become joint torques, behind one interface so that an environment switches drive
// models by cfg, not by code: direct torque, PD, PD limited by a DC motor's torque-speed line, an actuator
// network (NetworkActuation.hpp) or the stand-in series-elastic drive (SeriesElasticActuation.hpp).
// World::integrate asks its Actuation for the torques of every physics step.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <stdexcept>
#include <string>

namespace raisim {

// What an actuation sees at one physics step, one entry per actuator (actuator order).
struct ActuatorState {
  const Eigen::VectorXd& command;         // a joint position target, or the control itself for TorqueActuation
  const Eigen::VectorXd& velocityTarget;  // used by PD only
  const Eigen::VectorXd& position;        // the driven joint's angle (rad) or displacement (m)
  const Eigen::VectorXd& velocity;
  double timestep;                        // s, of the physics step about to run (drive models that integrate)
};

class Actuation {
 public:
  virtual ~Actuation() = default;
  // The cfg name of the model ("torque", "pd", "dc_motor", "network", "series_elastic").
  virtual const char* name() const = 0;
  // How many actuators it was made for, or -1 when it fits any number.
  virtual int actuators() const { return -1; }
  // Whether `command` is a joint position target (true) or the actuator's control itself (false).
  virtual bool tracksPositionTarget() const { return true; }
  // A new episode starts; models with memory forget it.
  virtual void reset() {}
  // Writes the control of every actuator for this physics step into `control` (sized by World).
  virtual void compute(const ActuatorState& state, Eigen::VectorXd& control) = 0;
};

// The command is the control: MuJoCo's ctrl, so a motor's gear scales it and ctrlrange clamps it.
class TorqueActuation final : public Actuation {
 public:
  const char* name() const override { return "torque"; }
  bool tracksPositionTarget() const override { return false; }
  void compute(const ActuatorState& state, Eigen::VectorXd& control) override { control = state.command; }
};

// A DC motor's torque-speed line: the torque available in the direction of motion falls linearly from
// `saturationTorque` at rest to zero at `noLoadSpeed`, and never exceeds `torqueLimit`.
struct DcMotorLimit {
  double saturationTorque = 0, torqueLimit = 0, noLoadSpeed = 0;

  void check() const {
    if (!(saturationTorque > 0 && torqueLimit > 0 && noLoadSpeed > 0))
      throw std::invalid_argument("DC motor parameters must be positive, got saturation torque " +
                                  std::to_string(saturationTorque) + ", torque limit " + std::to_string(torqueLimit) +
                                  ", no-load speed " + std::to_string(noLoadSpeed));
  }

  double clamp(double torque, double speed) const {
    const double upper = std::clamp(saturationTorque * (1.0 - speed / noLoadSpeed), 0.0, torqueLimit);
    const double lower = std::clamp(saturationTorque * (-1.0 - speed / noLoadSpeed), -torqueLimit, 0.0);
    return std::clamp(torque, lower, upper);
  }
};

// kp (target - q) + kd (velocity target - q̇) per actuator; with a DcMotorLimit, what a real drive can give.
// Without the limit, PD control in simulation spins joints far faster than real drives can.
class PdActuation final : public Actuation {
 public:
  PdActuation(Eigen::VectorXd kp, Eigen::VectorXd kd) : kp_(std::move(kp)), kd_(std::move(kd)) {
    if (kp_.size() != kd_.size()) throw std::invalid_argument("PD needs as many d gains as p gains");
    if (!kp_.allFinite() || !kd_.allFinite()) throw std::invalid_argument("PD gains must be finite");
  }

  void setMotorLimit(const DcMotorLimit& limit) {
    limit.check();
    limit_ = limit;
    limited_ = true;
  }

  const char* name() const override { return limited_ ? "dc_motor" : "pd"; }
  int actuators() const override { return static_cast<int>(kp_.size()); }

  void compute(const ActuatorState& state, Eigen::VectorXd& control) override {
    for (Eigen::Index i = 0; i < control.size(); ++i) {
      const double torque = kp_[i] * (state.command[i] - state.position[i]) + kd_[i] * (state.velocityTarget[i] - state.velocity[i]);
      control[i] = limited_ ? limit_.clamp(torque, state.velocity[i]) : torque;
    }
  }

 private:
  Eigen::VectorXd kp_, kd_;
  DcMotorLimit limit_;
  bool limited_ = false;
};

}  // namespace raisim
