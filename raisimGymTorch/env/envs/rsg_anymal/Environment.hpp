// ANYmal C learns to walk forward on flat ground: the original raisimGymTorch example task on
// MuJoCo, with the robot model written for this project (rsc/anymal_c/anymal_c.xml).
//
// Reward (coefficients in cfg.yaml): the original's forwardVel and torque terms, plus an alive
// bonus, a tilt penalty, a joint-speed penalty and a heading penalty. Every per-step penalty makes ending the episode
// early (-10) attractive unless staying up pays: the alive bonus does that. The velocity cap and the
// joint-speed penalty make a walk pay better than a gallop (benchmarks/results/learn_anymal.md).
#pragma once

#include <array>
#include <cmath>
#include <random>
#include <string>

#include "RaisimGymEnv.hpp"
#include "actuation/ActuationFromConfig.hpp"
#include "robots/AnymalC.hpp"
#include "sim/GroundClearance.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  static constexpr int kJoints = anymal_c::kJoints;

  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg) {
    world_ = std::make_unique<World>(resourceDir_ + "/anymal_c/anymal_c.xml", simulation_dt_);
    if (world_->nu() != kJoints) throw std::invalid_argument("the ANYmal model must have 12 actuators");

    nominalJointAngles_ = anymal_c::nominalJointAngles();

    // How the joint targets become torques: cfg block `actuator` (dc_motor unless it says otherwise).
    DriveParameters drive{Eigen::VectorXd::Constant(kJoints, cfg["p_gain"].as<double>()),
                          Eigen::VectorXd::Constant(kJoints, cfg["d_gain"].as<double>()), anymal_c::kDrive};
    world_->setActuation(actuationFromConfig(cfg, "dc_motor", drive, kJoints, resourceDir_));
    actionScale_ = cfg["action_std"].as<double>();
    resetNoise_ = cfg.get<double>("reset_noise", 0.0);
    spawnClearance_ = cfg.get<double>("spawn_clearance", 0.002);
    if (!(spawnClearance_ >= 0 && spawnClearance_ < 1))
      throw std::invalid_argument("cfg key 'spawn_clearance' must be in [0, 1) m, got " + std::to_string(spawnClearance_) +
                                  " (in " + cfg.source() + ")");

    velocityCap_ = cfg["forward_velocity_cap"].as<double>();
    floorGeom_ = world_->geomId("floor");
    for (int leg = 0; leg < anymal_c::kLegs; ++leg)
      footGeoms_[leg] = world_->geomId(std::string(anymal_c::kLegNames[leg]) + "_FOOT");

    rewards_.initialize(cfg["reward"], {"forwardVel", "torque", "alive", "orientation", "jointSpeed", "heading"});
    forwardVelocityTerm_ = rewards_.term("forwardVel");
    torqueTerm_ = rewards_.term("torque");
    aliveTerm_ = rewards_.term("alive");
    orientationTerm_ = rewards_.term("orientation");
    jointSpeedTerm_ = rewards_.term("jointSpeed");
    headingTerm_ = rewards_.term("heading");

    obDim_ = 35;
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
    qpos_[3] = 1.0;
    for (int j = 0; j < kJoints; ++j) {
      qpos_[7 + j] = nominalJointAngles_[j] + noise(randomGenerator_);
      qvel_[6 + j] = noise(randomGenerator_);
    }
    world_->setState(qpos_, qvel_);
    // Bent legs reach lower than the nominal stance: lift the robot until nothing starts in the floor.
    placeAboveGround(*world_->model(), *world_->data(), spawnClearance_);
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    jointTarget_ = nominalJointAngles_ + actionScale_ * action.cast<double>();
    world_->setPdTarget(jointTarget_, zeroVelocity_);
    double torqueSquared = 0.0, jointSpeedSquared = 0.0;
    for (int substep = 0; substep < getSubsteps(); ++substep) {
      world_->integrate();
      torqueSquared += world_->jointTorque().squaredNorm();
      jointSpeedSquared += world_->generalizedVelocity().tail<kJoints>().squaredNorm();
    }
    const Eigen::Matrix3d rotation = world_->baseOrientation();
    // World-frame x velocity (the original used the body frame, which pays as much for walking off
    // in a curve: policies trained on it turned by 50-160 degrees within 4 s).
    rewards_.record(forwardVelocityTerm_, std::min(velocityCap_, world_->generalizedVelocity()[0]));
    rewards_.record(torqueTerm_, torqueSquared / getSubsteps());
    rewards_.record(aliveTerm_, 1.0);
    // Tilt: the horizontal part of the world's z axis seen from the body, 0 when level.
    rewards_.record(orientationTerm_, rotation(2, 0) * rotation(2, 0) + rotation(2, 1) * rotation(2, 1));
    rewards_.record(jointSpeedTerm_, jointSpeedSquared / getSubsteps());
    // Every episode starts facing +x; without this term a small turn each step adds up to a circle
    // over 20 s, because forwardVel pays for x speed only and 4 s episodes hide the drift.
    const double heading = yaw(rotation);
    rewards_.record(headingTerm_, heading * heading);
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
    ob[34] = static_cast<float>(yaw(rotation));  // heading, so the policy can see that it turns
  }

  bool isTerminalState(float& terminalReward) final {
    // Only the feet may touch the ground: a knee, shank or the base on the floor is a fall.
    const mjData* data = world_->data();
    for (int c = 0; c < data->ncon; ++c) {
      if (!isFootOrFloor(data->contact[c].geom[0]) || !isFootOrFloor(data->contact[c].geom[1])) {
        terminalReward = terminalReward_;
        return true;
      }
    }
    terminalReward = 0.f;
    return false;
  }

 private:
  // Rotation about the world z axis, in (-pi, pi].
  static double yaw(const Eigen::Matrix3d& rotation) { return std::atan2(rotation(1, 0), rotation(0, 0)); }

  bool isFootOrFloor(int geom) const {
    if (geom == floorGeom_) return true;
    for (int foot : footGeoms_)
      if (geom == foot) return true;
    return false;
  }

  Eigen::VectorXd nominalJointAngles_, jointTarget_, zeroVelocity_, qpos_, qvel_;
  double actionScale_ = 0.3;
  double resetNoise_ = 0.0;
  double spawnClearance_ = 0.002;
  float terminalReward_ = -10.f;
  double velocityCap_ = 1.0;
  int floorGeom_ = 0;
  std::array<int, 4> footGeoms_{};
  int forwardVelocityTerm_ = 0, torqueTerm_ = 0, aliveTerm_ = 0, orientationTerm_ = 0, jointSpeedTerm_ = 0, headingTerm_ = 0;
};

}  // namespace raisim
