// An actuator network as an Actuation: the torque of each joint is what the network, fitted to a drive's logs,
// predicts from the joint's recent position errors (target - position) and velocities. The history belongs to
// one env and restarts with its episodes; nothing is allocated after construction.
#pragma once

#include <memory>
#include <string>

#include "actuation/Actuation.hpp"
#include "actuation/ActuatorNetwork.hpp"

namespace raisim {

class NetworkActuation final : public Actuation {
 public:
  NetworkActuation(std::shared_ptr<const ActuatorNetwork> network, int joints)
      : history_(std::move(network), joints), positionError_(Eigen::VectorXd::Zero(joints)) {}

  const char* name() const override { return "network"; }
  int actuators() const override { return history_.joints(); }
  void reset() override { history_.reset(); }

  void compute(const ActuatorState& state, Eigen::VectorXd& control) override {
    positionError_ = state.command - state.position;
    history_.torques(positionError_.data(), state.velocity.data(), control.data());
  }

 private:
  ActuatorNetwork::History history_;
  Eigen::VectorXd positionError_;
};

}  // namespace raisim
