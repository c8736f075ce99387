// Gymnasium's Ant-v5, step for step: the same model file (gymnasium's assets/ant.xml, found through
// cfg.yaml's `resources:`), the same observation, reward terms, termination and reset noise.
// tests/env/test_ant_parity.py checks it against gymnasium.make("Ant-v5").
//
// What Ant-v5 does, and therefore what this file does:
// - the action is written to ctrl unclipped; MuJoCo clamps ctrl to ctrlrange (+-1) inside mj_step,
//   while ctrl_cost is computed from the unclipped action;
// - one step is control_dt / simulation_dt (frame_skip, 5) mj_step calls, then one
//   mj_rnePostConstraint so that cfrc_ext holds the contact forces of the last physics step;
// - forward velocity is the change of the torso's xpos (not qpos) over the step divided by
//   timestep * frame_skip; xpos after mj_step is that of the state before its last integration;
// - the healthy reward is paid only while healthy (v5; v4 also paid it on the failing step);
// - the contact cost sums over every body's clipped cfrc_ext, the observation holds those of
//   bodies 1.. (the world body's are left out);
// - reset: qpos = qpos0 + U(-s, s) on every coordinate (quaternion included, not renormalized),
//   qvel = s * N(0, 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "RaisimGymEnv.hpp"

namespace raisim {

class ENVIRONMENT : public RaisimGymEnv {
 public:
  ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
      : RaisimGymEnv(resourceDir, cfg) {
    const std::string modelFile = resourceDir_ + "/ant.xml";
    // One robot on a plane: island discovery and the midphase only cost time, and without them the trajectory
    // is bit-identical (so Gymnasium parity holds); Gymnasium's file cannot say so itself.
    world_ = std::make_unique<World>(loadModel(modelFile, simulation_dt_, mjDSBL_ISLAND | mjDSBL_MIDPHASE), modelFile);
    const mjModel* m = world_->model();

    // Ant-v5 is defined by the file's timestep; another simulation_dt would be another task.
    const double declaredDt = declaredTimeStep(modelFile);
    if (std::abs(simulation_dt_ - declaredDt) > 1e-12 * declaredDt)
      throw std::invalid_argument("cfg key 'simulation_dt' must equal the timestep of '" + modelFile + "' (" +
                                  std::to_string(declaredDt) + "), got " + std::to_string(simulation_dt_) + " (in " +
                                  cfg.source() + ")");
    frameSkip_ = getSubsteps();
    if (std::abs(frameSkip_ * simulation_dt_ - control_dt_) > 1e-9 * control_dt_)
      throw std::invalid_argument("cfg key 'control_dt' must be a whole number of simulation_dt steps (Ant-v5: 5 x " +
                                  std::to_string(simulation_dt_) + "), got " + std::to_string(control_dt_) + " (in " +
                                  cfg.source() + ")");
    // Gymnasium's dt is model timestep * frame_skip; dividing by the same product keeps the
    // forward reward bit-identical.
    stepDuration_ = m->opt.timestep * frameSkip_;

    mainBody_ = world_->bodyId(cfg["main_body"].as<std::string>());
    const auto healthyZ = cfg["healthy_z_range"].as<std::vector<double>>();
    const auto forceRange = cfg["contact_force_range"].as<std::vector<double>>();
    if (healthyZ.size() != 2 || !(healthyZ[0] <= healthyZ[1]))
      throw std::invalid_argument("cfg key 'healthy_z_range' must be [low, high] with low <= high (in " + cfg.source() + ")");
    if (forceRange.size() != 2 || !(forceRange[0] <= forceRange[1]))
      throw std::invalid_argument("cfg key 'contact_force_range' must be [low, high] with low <= high (in " +
                                  cfg.source() + ")");
    healthyZLow_ = healthyZ[0];
    healthyZHigh_ = healthyZ[1];
    contactForceLow_ = forceRange[0];
    contactForceHigh_ = forceRange[1];
    resetNoiseScale_ = cfg["reset_noise_scale"].as<double>();
    if (!(resetNoiseScale_ >= 0))
      throw std::invalid_argument("cfg key 'reset_noise_scale' must be >= 0, got " + std::to_string(resetNoiseScale_) +
                                  " (in " + cfg.source() + ")");
    terminateWhenUnhealthy_ = cfg["terminate_when_unhealthy"].as<bool>();
    includeContactForces_ = cfg["include_cfrc_ext_in_observation"].as<bool>();

    rewards_.initialize(cfg["reward"], {"forward", "healthy", "ctrl_cost", "contact_cost"});
    forwardTerm_ = rewards_.term("forward");
    healthyTerm_ = rewards_.term("healthy");
    controlCostTerm_ = rewards_.term("ctrl_cost");
    contactCostTerm_ = rewards_.term("contact_cost");

    // qpos without the torso's x and y, qvel, and cfrc_ext of every body but the world.
    obDim_ = (m->nq - 2) + m->nv + (includeContactForces_ ? 6 * (m->nbody - 1) : 0);
    actionDim_ = m->nu;
    actionLowerBound_ = EigenVec::Constant(actionDim_, -std::numeric_limits<float>::infinity());
    actionUpperBound_ = EigenVec::Constant(actionDim_, std::numeric_limits<float>::infinity());
    for (int i = 0; i < m->nu; ++i) {
      if (!m->actuator_ctrllimited[i]) continue;
      actionLowerBound_[i] = static_cast<float>(m->actuator_ctrlrange[2 * i]);
      actionUpperBound_[i] = static_cast<float>(m->actuator_ctrlrange[2 * i + 1]);
    }
    qpos_ = Eigen::VectorXd::Zero(m->nq);
    qvel_ = Eigen::VectorXd::Zero(m->nv);
  }

  void reset() final {
    const mjModel* m = world_->model();
    // Local distributions: normal_distribution caches a value, which would survive setSeed.
    std::uniform_real_distribution<double> uniform(-resetNoiseScale_, resetNoiseScale_);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int i = 0; i < m->nq; ++i) qpos_[i] = m->qpos0[i] + uniform(randomGenerator_);
    for (int i = 0; i < m->nv; ++i) qvel_[i] = resetNoiseScale_ * normal(randomGenerator_);
    world_->setState(qpos_, qvel_);
  }

  float step(const Eigen::Ref<EigenVec>& action) final {
    const mjModel* m = world_->model();
    mjData* d = world_->data();
    const double xBefore = d->xpos[3 * mainBody_];
    double actionSquared = 0.0;
    for (int i = 0; i < m->nu; ++i) {
      const double a = action[i];
      d->ctrl[i] = a;
      actionSquared += a * a;
    }
    for (int frame = 0; frame < frameSkip_; ++frame) mj_step(m, d);
    mj_rnePostConstraint(m, d);
    const double xVelocity = (d->xpos[3 * mainBody_] - xBefore) / stepDuration_;

    double contactSquared = 0.0;
    for (int k = 0; k < 6 * m->nbody; ++k) {
      const double force = clippedContactForce(k);
      contactSquared += force * force;
    }
    healthy_ = isHealthy();

    rewards_.record(forwardTerm_, xVelocity);
    rewards_.record(healthyTerm_, healthy_ ? 1.0 : 0.0);
    rewards_.record(controlCostTerm_, actionSquared);
    rewards_.record(contactCostTerm_, contactSquared);
    return rewards_.sum();
  }

  void observe(Eigen::Ref<EigenVec> ob) final {
    const mjModel* m = world_->model();
    const mjData* d = world_->data();
    int k = 0;
    for (int i = 2; i < m->nq; ++i) ob[k++] = static_cast<float>(d->qpos[i]);
    for (int i = 0; i < m->nv; ++i) ob[k++] = static_cast<float>(d->qvel[i]);
    if (includeContactForces_)
      for (int i = 6; i < 6 * m->nbody; ++i) ob[k++] = static_cast<float>(clippedContactForce(i));
  }

  bool isTerminalState(float& terminalReward) final {
    terminalReward = 0.f;
    return terminateWhenUnhealthy_ && !healthy_;
  }

 private:
  // The timestep `path` declares, read once per file.
  static double declaredTimeStep(const std::string& path) {
    static std::mutex mutex;
    static std::map<std::string, double> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto found = cache.find(path);
    if (found != cache.end()) return found->second;
    char error[1024] = "";
    mjSpec* spec = mj_parseXML(path.c_str(), nullptr, error, sizeof(error));
    if (spec == nullptr) throw std::invalid_argument("MuJoCo rejected model file '" + path + "': " + error);
    const double timestep = spec->option.timestep;
    mj_deleteSpec(spec);
    return cache[path] = timestep;
  }

  double clippedContactForce(int k) const {
    return std::clamp(world_->data()->cfrc_ext[k], contactForceLow_, contactForceHigh_);
  }

  // Gymnasium's is_healthy: qpos and qvel finite and the torso height (qpos z) within range.
  bool isHealthy() const {
    const mjModel* m = world_->model();
    const mjData* d = world_->data();
    for (int i = 0; i < m->nq; ++i)
      if (!std::isfinite(d->qpos[i])) return false;
    for (int i = 0; i < m->nv; ++i)
      if (!std::isfinite(d->qvel[i])) return false;
    return healthyZLow_ <= d->qpos[2] && d->qpos[2] <= healthyZHigh_;
  }

  Eigen::VectorXd qpos_, qvel_;
  int frameSkip_ = 5;
  double stepDuration_ = 0.05;
  int mainBody_ = 1;
  double healthyZLow_ = 0.2, healthyZHigh_ = 1.0;
  double contactForceLow_ = -1.0, contactForceHigh_ = 1.0;
  double resetNoiseScale_ = 0.1;
  bool terminateWhenUnhealthy_ = true;
  bool includeContactForces_ = true;
  bool healthy_ = true;
  int forwardTerm_ = 0, healthyTerm_ = 0, controlCostTerm_ = 0, contactCostTerm_ = 0;
};

}  // namespace raisim
