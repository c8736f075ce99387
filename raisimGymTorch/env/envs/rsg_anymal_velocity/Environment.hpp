// ANYmal C follows velocity commands (forward, sideways, turning) on flat ground or on rough terrain:
// legged_gym's ANYmal C task on MuJoCo. cfg_flat.yaml is the flat task; cfg.yaml the rough one, whose
// `terrain:` block builds the terrain and the curriculum and whose `height_scan:` block adds the terrain
// around the robot to the observation.
//
// Observation (legged_gym's order and scales): base linear velocity (x2) and angular velocity (x0.25) in
// the body frame, gravity seen from the body, the command (x2, x2, x0.25), joint angles minus the standing
// pose, joint velocities (x0.05), the last action, then the height scan (x5) if there is one.
// With `privileged_critic: true` the critic also sees what the policy must infer: the velocities and gravity
// without sensor noise, which feet touch the ground, the episode's friction, added base mass and motor
// strength, and the height scan without noise.
// Reward terms and their coefficients are in the cfg; README.md, "Velocity commands", says why each is there.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "RaisimGymEnv.hpp"
#include "actuation/ActuationFromConfig.hpp"
#include "locomotion/FootAirTime.hpp"
#include "locomotion/ObservationNoise.hpp"
#include "locomotion/PenaltyCurriculum.hpp"
#include "locomotion/PhysicsRandomization.hpp"
#include "locomotion/Push.hpp"
#include "locomotion/VelocityCommand.hpp"
#include "robots/AnymalC.hpp"
#include "sim/GroundClearance.hpp"
#include "terrain/HeightScan.hpp"
#include "terrain/TerrainCurriculum.hpp"
#include "terrain/TerrainModel.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  static constexpr int kJoints = anymal_c::kJoints;
  static constexpr int kLegs = anymal_c::kLegs;
  static constexpr int kProprioceptiveDim = 48;
  // Noise-free velocities and gravity (9), foot contacts (4), friction, added base mass, motor strength.
  static constexpr int kPrivilegedStateDim = 16;

  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg), commands_(cfg["commands"], isEvaluation()) {
    const std::string modelFile = resourceDir_ + "/anymal_c/anymal_c.xml";
    if (cfg.has("terrain")) {
      terrainParameters_ = TerrainParameters::fromConfig(cfg["terrain"]);
      const auto seed = static_cast<std::uint64_t>(cfg["terrain"].get<int>("seed", 0));
      terrain_ = Terrain::shared(*terrainParameters_, seed);
      world_ = std::make_unique<World>(loadModelWithTerrain(modelFile, simulation_dt_, terrain_), modelFile);
    } else {
      world_ = std::make_unique<World>(modelFile, simulation_dt_);
    }
    if (world_->nu() != kJoints) throw std::invalid_argument("the ANYmal model must have 12 actuators");
    if (cfg.has("height_scan")) {
      if (terrain_ == nullptr)
        throw std::invalid_argument("cfg key 'height_scan' needs a 'terrain' block to scan (in " + cfg.source() + ")");
      heightScan_.emplace(cfg["height_scan"]);
    }

    nominalJointAngles_ = anymal_c::nominalJointAngles();
    DriveParameters drive{Eigen::VectorXd::Constant(kJoints, cfg["p_gain"].as<double>()),
                          Eigen::VectorXd::Constant(kJoints, cfg["d_gain"].as<double>()), anymal_c::kDrive};
    world_->setActuation(actuationFromConfig(cfg, "dc_motor", drive, kJoints, resourceDir_));
    actionScale_ = cfg["action_scale"].as<double>();
    actionDelay_ = cfg.get<bool>("action_delay", false);
    spawnClearance_ = cfg.get<double>("spawn_clearance", 0.002);
    onlyPositiveRewards_ = cfg.get<bool>("only_positive_rewards", true);
    terminalReward_ = static_cast<float>(cfg.get<double>("terminal_reward", 0.0));

    baseBody_ = world_->bodyId("base");
    for (int leg = 0; leg < kLegs; ++leg) {
      const std::string name = anymal_c::kLegNames[leg];
      footGeoms_[leg] = world_->geomId(name + "_FOOT");
      thighBodies_[leg] = world_->bodyId(name + "_THIGH");
      shankBodies_[leg] = world_->bodyId(name + "_SHANK");
    }
    physics_.emplace(cfg.has("randomization") ? cfg["randomization"] : emptyBlock(), *world_,
                     std::vector<int>(footGeoms_.begin(), footGeoms_.end()), baseBody_);
    if (cfg.has("push")) push_ = Push(cfg["push"]);

    rewards_.initialize(cfg["reward"], {"trackingLinVel", "trackingYawRate", "linVelZ", "angVelXY", "orientation",
                                        "torques", "jointAcc", "actionRate", "collision", "feetAirTime"});
    if (cfg.has("penalty_curriculum")) {
      penaltyCurriculum_.emplace(cfg["penalty_curriculum"]);
      if (!isEvaluation()) rewards_.setPenaltyScale(penaltyCurriculum_->scale(0));
    }

    // Shown by the trainer beside the reward: how well commands are followed, and how far up the terrain the envs are.
    std::vector<std::string> metrics{"linVelError", "yawRateError"};
    if (terrain_ != nullptr) metrics.push_back("terrainLevel");
    metrics_.declare(metrics);

    obDim_ = kProprioceptiveDim + (heightScan_ ? heightScan_->size() : 0);
    if (cfg.get<bool>("privileged_critic", false))
      privilegedObDim_ = kPrivilegedStateDim + (heightScan_ ? heightScan_->size() : 0);
    actionDim_ = kJoints;
    readObservationNoise(cfg);

    qpos_ = Eigen::VectorXd::Zero(world_->nq());
    qvel_ = Eigen::VectorXd::Zero(world_->nv());
    jointTarget_ = nominalJointAngles_;
    zeroVelocity_ = Eigen::VectorXd::Zero(kJoints);
    previousAction_ = Eigen::VectorXf::Zero(kJoints);
    appliedAction_ = Eigen::VectorXf::Zero(kJoints);
    previousJointVelocity_ = Eigen::VectorXd::Zero(kJoints);
    maxTime_ = cfg.get<double>("max_time", 20.0);
    if (terrain_ != nullptr) requireBorderWiderThanAnEpisodesWalk(cfg);
  }

  void init() final {
    // The curriculum spreads the batch over the terrain types, so it needs this env's place in the batch.
    if (terrain_ != nullptr)
      curriculum_.emplace(cfg_.has("curriculum") ? cfg_["curriculum"] : emptyBlock(), *terrainParameters_, envIndex(),
                          batchSize(), terrain_->seed());
  }

  void reset() final {
    if (curriculum_ && episodeSteps_ > 0) {
      const double walked = std::hypot(qposNow(0) - spawn_[0], qposNow(1) - spawn_[1]);
      // A robot that fell is judged against the distance it would have been told to walk in a whole episode.
      const double remaining = fell_ ? commands_.planarSpeed() * std::max(0.0, maxTime_ - episodeSteps_ * control_dt_) : 0.0;
      curriculum_->update(walked, commandedDistance_ + remaining);
    }
    physics_->apply(randomGenerator_);

    std::uniform_real_distribution<double> unit(-1.0, 1.0), scale(0.5, 1.5);
    spawn_ = {0.0, 0.0, 0.0};
    if (curriculum_) {
      const auto& origin = terrain_->origin(curriculum_->level(), curriculum_->type());
      spawn_ = {origin.x + unit(randomGenerator_), origin.y + unit(randomGenerator_), 0.0};
    }
    const double heading = M_PI * unit(randomGenerator_);
    qpos_.setZero();
    qvel_.setZero();
    qpos_[0] = spawn_[0];
    qpos_[1] = spawn_[1];
    qpos_[3] = std::cos(0.5 * heading);
    qpos_[6] = std::sin(0.5 * heading);
    for (int i = 0; i < 6; ++i) qvel_[i] = 0.5 * unit(randomGenerator_);
    for (int j = 0; j < kJoints; ++j) qpos_[7 + j] = nominalJointAngles_[j] * scale(randomGenerator_);
    world_->setState(qpos_, qvel_);
    placeAboveGround(*world_->model(), *world_->data(), spawnClearance_, groundHeightUnderRobot());

    commands_.reset(randomGenerator_, heading);
    push_.reset();
    airTime_.reset();
    previousAction_.setZero();
    previousJointVelocity_ = world_->generalizedVelocity().tail<kJoints>();
    episodeSteps_ = 0;
    commandedDistance_ = 0.0;
    fell_ = false;
    readContacts();
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    // With action_delay the drives receive the previous step's action: one control period of latency.
    if (actionDelay_)
      appliedAction_ = previousAction_;
    else
      appliedAction_ = action;
    jointTarget_ = nominalJointAngles_ + actionScale_ * appliedAction_.cast<double>();
    world_->setPdTarget(jointTarget_, zeroVelocity_);
    double torqueSquared = 0.0;
    for (int substep = 0; substep < getSubsteps(); ++substep) {
      world_->integrate();
      torqueSquared += world_->jointTorque().squaredNorm();
    }
    ++episodeSteps_;
    readContacts();

    const Eigen::Matrix3d rotation = world_->baseOrientation();
    const Eigen::Vector3d v = rotation.transpose() * world_->generalizedVelocity().head<3>();
    const Eigen::Vector3d w = world_->baseAngularVelocityInBodyFrame();
    const Eigen::Vector3d g = gravityInBody(rotation);
    const Eigen::Vector3d& command = commands_.value();
    const auto jointVelocity = world_->generalizedVelocity().tail<kJoints>();
    const double dt = control_dt_;
    rewards_.record(kTrackingLinVel, std::exp(-(command.head<2>() - v.head<2>()).squaredNorm() / kTrackingSigma));
    rewards_.record(kTrackingYawRate, std::exp(-std::pow(command[2] - w[2], 2) / kTrackingSigma));
    rewards_.record(kLinVelZ, v[2] * v[2]);
    rewards_.record(kAngVelXY, w.head<2>().squaredNorm());
    rewards_.record(kOrientation, g.head<2>().squaredNorm());
    rewards_.record(kTorques, torqueSquared / getSubsteps());
    rewards_.record(kJointAcc, ((previousJointVelocity_ - jointVelocity) / dt).squaredNorm());
    rewards_.record(kActionRate, (action - previousAction_).squaredNorm());
    rewards_.record(kCollision, collisions_);
    // Stepping only pays while the robot is told to move; standing still should not be a trot in place.
    const double airTime = airTime_.update(footContact_, dt);
    rewards_.record(kFeetAirTime, commands_.planarSpeed() > 0.1 ? airTime : 0.0);

    metrics_.record(kLinVelError, (command.head<2>() - v.head<2>()).norm());
    metrics_.record(kYawRateError, std::abs(command[2] - w[2]));
    if (curriculum_) metrics_.record(kTerrainLevel, curriculum_->level());

    previousAction_ = action;
    previousJointVelocity_ = jointVelocity;
    commandedDistance_ += commands_.planarSpeed() * dt;
    // After the reward, as legged_gym does: the reward judges the command that was in force.
    const double yaw = HeightScan::yaw(world_->data()->qpos + 3);
    commands_.advance(dt, yaw, randomGenerator_);
    push_.advance(dt, yaw, world_->data()->qvel, randomGenerator_);
    const float total = rewards_.sum();
    return onlyPositiveRewards_ ? std::max(0.f, total) : total;
  }

  void observe(Eigen::Ref<EigenVec> ob) final {
    const auto qpos = world_->generalizedCoordinate();
    const auto qvel = world_->generalizedVelocity();
    const Eigen::Matrix3d rotation = world_->baseOrientation();
    ob.segment<3>(0) = (2.0 * rotation.transpose() * qvel.head<3>()).cast<float>();
    ob.segment<3>(3) = (0.25 * world_->baseAngularVelocityInBodyFrame()).cast<float>();
    ob.segment<3>(6) = gravityInBody(rotation).cast<float>();
    const Eigen::Vector3d& command = commands_.value();
    ob[9] = static_cast<float>(2.0 * command[0]);
    ob[10] = static_cast<float>(2.0 * command[1]);
    ob[11] = static_cast<float>(0.25 * command[2]);
    ob.segment<12>(12) = (qpos.tail<12>() - nominalJointAngles_).cast<float>();
    ob.segment<12>(24) = (0.05 * qvel.tail<12>()).cast<float>();
    ob.segment<12>(36) = previousAction_;
    if (heightScan_) {
      auto scan = ob.segment(kProprioceptiveDim, heightScan_->size());
      heightScan_->measure(*terrain_, qpos.data(), HeightScan::yaw(qpos.data() + 3), scan.data());
      scan *= 5.f;
    }
    noise_.apply(ob, randomGenerator_);
  }

  // In observe()'s scales, so that the critic's clean copy and the policy's noisy one read alike.
  void observePrivileged(Eigen::Ref<EigenVec> ob) final {
    const Eigen::Matrix3d rotation = world_->baseOrientation();
    ob.segment<3>(0) = (2.0 * rotation.transpose() * world_->generalizedVelocity().head<3>()).cast<float>();
    ob.segment<3>(3) = (0.25 * world_->baseAngularVelocityInBodyFrame()).cast<float>();
    ob.segment<3>(6) = gravityInBody(rotation).cast<float>();
    for (int leg = 0; leg < kLegs; ++leg) ob[9 + leg] = footContact_[leg] ? 1.f : 0.f;
    const PhysicsRandomization::Draw& draw = physics_->current();
    ob[13] = static_cast<float>(draw.friction);
    ob[14] = static_cast<float>(draw.addedBaseMass);
    ob[15] = static_cast<float>(draw.motorStrength);
    if (heightScan_) {
      const double* qpos = world_->data()->qpos;
      auto scan = ob.segment(kPrivilegedStateDim, heightScan_->size());
      heightScan_->measure(*terrain_, qpos, HeightScan::yaw(qpos + 3), scan.data());
      scan *= 5.f;
    }
  }

  // The trainer's iteration count drives the penalty curriculum; evaluation envs keep the penalties whole.
  void curriculumUpdate(long long iteration) final {
    if (penaltyCurriculum_ && iteration >= 0 && !isEvaluation()) rewards_.setPenaltyScale(penaltyCurriculum_->scale(iteration));
  }

  bool isTerminalState(float& terminalReward) final {
    fell_ = baseContact_;
    terminalReward = fell_ ? terminalReward_ : 0.f;
    return fell_;
  }

  // The current command (vx, vy, yaw rate), the terrain level (-1 on flat ground) and the episode's friction.
  const Eigen::Vector3d& command() const { return commands_.value(); }
  int terrainLevel() const final { return curriculum_ ? curriculum_->level() : -1; }
  void setTerrainLevel(int level) final {
    if (curriculum_) curriculum_->setLevel(level);
  }
  const PhysicsRandomization::Draw& physicsDraw() const { return physics_->current(); }

 private:
  // Beyond the heightfield there is nothing to stand on: a robot that walks off it falls for the rest of the episode
  // without touching anything, which neither ends the episode nor teaches anything. An episode starts within 1 m of
  // its tile's centre, so the border must hold the farthest walk the commands allow.
  void requireBorderWiderThanAnEpisodesWalk(const Config& cfg) const {
    const double walk = maxTime_ * commands_.maxPlanarSpeed();
    const double room = terrainParameters_->border + 0.5 * terrainParameters_->tileSize - 1.0;
    if (walk > room) {
      char why[256];
      std::snprintf(why, sizeof(why),
                    "(%.1f m) leaves %.1f m beyond the outer tiles' spawn points, less than max_time x the fastest "
                    "command (%.1f s x %.2f m/s = %.1f m): robots would walk off the terrain",
                    terrainParameters_->border, room, maxTime_, commands_.maxPlanarSpeed(), walk);
      throw std::invalid_argument("cfg key 'terrain.border' " + std::string(why) + " (in " + cfg.source() + ")");
    }
  }

  // In the order the constructor declares them to rewards_.
  enum Term { kTrackingLinVel, kTrackingYawRate, kLinVelZ, kAngVelXY, kOrientation, kTorques, kJointAcc, kActionRate,
              kCollision, kFeetAirTime };
  enum Metric { kLinVelError, kYawRateError, kTerrainLevel };
  // legged_gym's tracking_sigma (m^2/s^2 and rad^2/s^2): the reward halves at an error of about 0.42.
  static constexpr double kTrackingSigma = 0.25;

  static const Config& emptyBlock() {
    static const Config empty = Config::mapping("", std::make_shared<const std::string>("(defaults)"));
    return empty;
  }

  double qposNow(int i) const { return world_->generalizedCoordinate()[i]; }

  // World z axis seen from the body, negated: where gravity pulls, (0, 0, -1) when level.
  static Eigen::Vector3d gravityInBody(const Eigen::Matrix3d& rotation) { return -rotation.row(2).transpose(); }

  // The highest ground within the robot's footprint, so that no foot starts inside a step.
  double groundHeightUnderRobot() const {
    if (terrain_ == nullptr) return 0.0;
    double highest = -std::numeric_limits<double>::infinity();
    for (double dx = -0.7; dx <= 0.7; dx += 0.1)
      for (double dy = -0.7; dy <= 0.7; dy += 0.1) highest = std::max(highest, terrain_->heightAt(spawn_[0] + dx, spawn_[1] + dy));
    return highest;
  }

  // Foot contacts, base contact and the count of thighs and shanks (other than the feet) touching anything.
  void readContacts() {
    const mjModel* model = world_->model();
    const mjData* data = world_->data();
    footContact_.fill(false);
    std::array<bool, 2 * kLegs> legPartTouching{};
    baseContact_ = false;
    for (int c = 0; c < data->ncon; ++c) {
      for (int side = 0; side < 2; ++side) {
        const int geom = data->contact[c].geom[side];
        const int body = model->geom_bodyid[geom];
        if (body == baseBody_) baseContact_ = true;
        for (int leg = 0; leg < kLegs; ++leg) {
          if (geom == footGeoms_[leg]) {
            footContact_[leg] = true;
          } else {
            if (body == thighBodies_[leg]) legPartTouching[2 * leg] = true;
            if (body == shankBodies_[leg]) legPartTouching[2 * leg + 1] = true;
          }
        }
      }
    }
    collisions_ = 0;
    for (bool touching : legPartTouching) collisions_ += touching ? 1 : 0;
  }

  // legged_gym's noise levels (in the units of each quantity), times the observation's scale and the cfg's `scale`.
  void readObservationNoise(const Config& cfg) {
    noise_.set(obDim_, 0, 0, 0.0);
    if (!cfg.has("observation_noise")) return;
    const Config& block = cfg["observation_noise"];
    block.markRead();  // every key has legged_gym's default
    const double scale = block.get<double>("scale", 1.0);
    auto level = [&](const std::string& key, double fallback) {
      const double value = block.get<double>(key, fallback);
      if (!(value >= 0) || !std::isfinite(value))
        throw std::invalid_argument("cfg key 'observation_noise." + key + "' must be >= 0 (in " + cfg.source() + ")");
      return value * scale;
    };
    noise_.set(obDim_, 0, 3, 2.0 * level("lin_vel", 0.1));
    noise_.set(obDim_, 3, 3, 0.25 * level("ang_vel", 0.2));
    noise_.set(obDim_, 6, 3, level("gravity", 0.05));
    noise_.set(obDim_, 12, 12, level("joint_pos", 0.01));
    noise_.set(obDim_, 24, 12, 0.05 * level("joint_vel", 1.5));
    const double height = level("height", 0.1);
    if (heightScan_) noise_.set(obDim_, kProprioceptiveDim, heightScan_->size(), 5.0 * height);
    if (isEvaluation()) noise_.disable();
  }

  VelocityCommand commands_;
  std::optional<TerrainParameters> terrainParameters_;
  std::shared_ptr<const Terrain> terrain_;
  std::optional<HeightScan> heightScan_;
  std::optional<TerrainCurriculum> curriculum_;
  std::optional<PhysicsRandomization> physics_;
  std::optional<PenaltyCurriculum> penaltyCurriculum_;
  Push push_;
  ObservationNoise noise_;
  FootAirTime<kLegs> airTime_{0.5};

  Eigen::VectorXd nominalJointAngles_, jointTarget_, zeroVelocity_, qpos_, qvel_, previousJointVelocity_;
  Eigen::VectorXf previousAction_, appliedAction_;
  double actionScale_ = 0.5;
  bool actionDelay_ = false;
  double spawnClearance_ = 0.002;
  bool onlyPositiveRewards_ = true;
  float terminalReward_ = 0.f;
  double maxTime_ = 20.0;

  int baseBody_ = 0;
  std::array<int, kLegs> footGeoms_{}, thighBodies_{}, shankBodies_{};
  std::array<bool, kLegs> footContact_{};
  bool baseContact_ = false;
  int collisions_ = 0;

  std::array<double, 3> spawn_{};
  long long episodeSteps_ = 0;
  double commandedDistance_ = 0.0;
  bool fell_ = false;
};

}  // namespace raisim
