// ANYmal C learns to walk forward on flat ground: the original raisimGymTorch example task on
// MuJoCo, with the robot model written for this project (rsc/anymal_c/anymal_c.xml).
#pragma once

#include <array>
#include <cmath>
#include <random>
#include <string>

#include "RaisimGymEnv.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  static constexpr int kJoints = 12;

  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg) {
    world_ = std::make_unique<World>(resourceDir_ + "/anymal_c/anymal_c.xml", simulation_dt_);
    if (world_->nu() != kJoints) throw std::invalid_argument("the ANYmal model must have 12 actuators");

    // Joint order LF, RF, LH, RH x HAA, HFE, KFE; knees bent toward the body centre.
    nominalJointAngles_.resize(kJoints);
    nominalJointAngles_ << 0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8;
    nominalBaseHeight_ = 0.55;

    world_->setPdGains(Eigen::VectorXd::Constant(kJoints, cfg["p_gain"].as<double>()),
                       Eigen::VectorXd::Constant(kJoints, cfg["d_gain"].as<double>()));
    // ANYdrive limits: 80 N m, 7.5 rad/s (saturation 120 N m in the DC-motor model).
    world_->setMotorModel(120.0, 80.0, 7.5);
    actionScale_ = cfg["action_std"].as<double>();
    resetNoise_ = cfg.get<double>("reset_noise", 0.0);

    for (const char* leg : {"LF", "RF", "LH", "RH"}) footBodies_[footCount_++] = world_->bodyId(std::string(leg) + "_SHANK");

    rewards_.initialize(cfg["reward"], {"forwardVel", "torque"});
    forwardVelocityTerm_ = rewards_.term("forwardVel");
    torqueTerm_ = rewards_.term("torque");

    obDim_ = 34;
    actionDim_ = kJoints;
    qpos_ = Eigen::VectorXd::Zero(world_->nq());
    qvel_ = Eigen::VectorXd::Zero(world_->nv());
    jointTarget_ = nominalJointAngles_;
    zeroVelocity_ = Eigen::VectorXd::Zero(kJoints);
  }

  void reset() final {
    std::uniform_real_distribution<double> noise(-resetNoise_, resetNoise_);
    qpos_.setZero();
    qvel_.setZero();
    qpos_[2] = nominalBaseHeight_;
    qpos_[3] = 1.0;
    for (int j = 0; j < kJoints; ++j) {
      qpos_[7 + j] = nominalJointAngles_[j] + noise(randomGenerator_);
      qvel_[6 + j] = noise(randomGenerator_);
    }
    world_->setState(qpos_, qvel_);
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    jointTarget_ = nominalJointAngles_ + actionScale_ * action.cast<double>();
    world_->setPdTarget(jointTarget_, zeroVelocity_);
    double torqueSquared = 0.0;
    for (int substep = 0; substep < getSubsteps(); ++substep) {
      world_->integrate();
      torqueSquared += world_->jointTorque().squaredNorm();
    }
    rewards_.record(forwardVelocityTerm_, std::min(4.0, world_->baseLinearVelocityInBodyFrame()[0]));
    rewards_.record(torqueTerm_, torqueSquared / getSubsteps());
    return rewards_.sum();
  }

  void observe(Eigen::Ref<EigenVec> ob) final {
    const auto qpos = world_->generalizedCoordinate();
    const auto qvel = world_->generalizedVelocity();
    const Eigen::Matrix3d rotation = world_->baseOrientation();
    ob[0] = static_cast<float>(qpos[2]);
    ob.segment<3>(1) = rotation.row(2).transpose().cast<float>();  // world z axis seen from the body
    ob.segment<12>(4) = qpos.tail<12>().cast<float>();
    ob.segment<3>(16) = world_->baseLinearVelocityInBodyFrame().cast<float>();
    ob.segment<3>(19) = world_->baseAngularVelocityInBodyFrame().cast<float>();
    ob.segment<12>(22) = qvel.tail<12>().cast<float>();
  }

  bool isTerminalState(float& terminalReward) final {
    // Only the shanks (which carry the feet) may touch the ground.
    for (int c = 0; c < world_->contactCount(); ++c) {
      const auto [bodyA, bodyB] = world_->contactBodies(c);
      if (!isFoot(bodyA) || !isFoot(bodyB)) {
        terminalReward = terminalReward_;
        return true;
      }
    }
    terminalReward = 0.f;
    return false;
  }

 private:
  bool isFoot(int body) const {
    if (body == 0) return true;  // the world (floor) side of a contact
    for (int foot : footBodies_)
      if (body == foot) return true;
    return false;
  }

  Eigen::VectorXd nominalJointAngles_, jointTarget_, zeroVelocity_, qpos_, qvel_;
  double nominalBaseHeight_ = 0.55;
  double actionScale_ = 0.3;
  double resetNoise_ = 0.0;
  float terminalReward_ = -10.f;
  std::array<int, 4> footBodies_{};
  int footCount_ = 0;
  int forwardVelocityTerm_ = 0, torqueTerm_ = 0;
};

}  // namespace raisim
