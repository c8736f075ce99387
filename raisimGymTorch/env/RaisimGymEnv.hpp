// The contract every environment fills in. An environment is `raisim::ENVIRONMENT` in the
// Environment.hpp of its folder, with the constructor
//   ENVIRONMENT(const std::string& resourceDir, const Config& cfg, bool visualizable)
// that builds its world_ and sets obDim_ and actionDim_ (and privilegedObDim_ if its critic sees more than the
// actor: see observePrivileged).
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "Config.hpp"
#include "Metrics.hpp"
#include "Reward.hpp"
#include "World.hpp"

namespace raisim {

using Dtype = float;
using EigenVec = Eigen::Matrix<Dtype, -1, 1>;
using EigenRowMajorMat = Eigen::Matrix<Dtype, -1, -1, Eigen::RowMajor>;
using EigenBoolVec = Eigen::Matrix<bool, -1, 1>;

class RaisimGymEnv {
 public:
  // More physics steps per control step than this is a cfg mistake, not a simulation.
  static constexpr double kMaxSubsteps = 1e5;
  // Default of cfg key `divergence_speed`: a generalized velocity beyond it (m/s or rad/s) means the
  // simulation has diverged. MuJoCo itself gives up only at 1e10, and an exploding simulation can
  // run on for steps at finite speeds of 1e6 m/s whose observations would wreck the normalization.
  // 1000 m/s is three times the speed of sound, 1000 rad/s about 9500 rpm at a leg joint; random
  // actions reach at most 45 rad/s (ANYmal's joints after a 3 m drop; its base 7 m/s) and 20 rad/s
  // (Ant flipping over; its torso 8 m/s; benchmarks/results/peak_speeds.md), so a sound simulation
  // stays 20x below. An env with genuinely fast parts (a spinning rotor) raises it in its cfg.yaml.
  static constexpr double kDefaultDivergenceSpeed = 1e3;

  // Reads simulation_dt and control_dt from cfg; the environment's constructor does the rest.
  RaisimGymEnv(std::string resourceDir, const Config& cfg)
      : resourceDir_(std::move(resourceDir)), cfg_(cfg) {
    simulation_dt_ = cfg["simulation_dt"].as<double>();
    control_dt_ = cfg["control_dt"].as<double>();
    const double substeps = control_dt_ / simulation_dt_;
    if (!(simulation_dt_ > 0) || !std::isfinite(control_dt_) || !(control_dt_ >= simulation_dt_) ||
        !(substeps <= kMaxSubsteps))
      throw std::invalid_argument("cfg needs finite 0 < simulation_dt <= control_dt with at most " +
                                  std::to_string(static_cast<long long>(kMaxSubsteps)) +
                                  " physics steps per control step, got simulation_dt = " + std::to_string(simulation_dt_) +
                                  ", control_dt = " + std::to_string(control_dt_) + " (in " + cfg.source() + ")");
    // Otherwise a fraction of a physics step would vanish: 0.0199 / 0.01 runs one 0.01 s substep per control
    // step while the env reports a control period of 0.0199 s.
    if (std::abs(substeps - std::round(substeps)) > 1e-6 * substeps) {
      std::ostringstream message;
      message << "cfg key 'control_dt' (" << control_dt_ << " s) must be a whole multiple of 'simulation_dt' ("
              << simulation_dt_ << " s), got " << substeps << " physics steps per control step (in " << cfg.source() << ")";
      throw std::invalid_argument(message.str());
    }
    // Set by the runner and the player for the envs that evaluate a policy: components that only make
    // training harder (observation noise) turn themselves off.
    evaluation_ = cfg.get<bool>("evaluation", false);
    divergenceSpeed_ = cfg.get<double>("divergence_speed", kDefaultDivergenceSpeed);
    if (!(divergenceSpeed_ > 0))
      throw std::invalid_argument("cfg key 'divergence_speed' must be positive, got " +
                                  std::to_string(divergenceSpeed_) + " (in " + cfg.source() + ")");
  }
  virtual ~RaisimGymEnv() = default;
  RaisimGymEnv(const RaisimGymEnv&) = delete;
  RaisimGymEnv& operator=(const RaisimGymEnv&) = delete;

  // Called once after construction and setBatchPlace, before the first reset.
  virtual void init() {}
  // Where this env sits in its batch (VectorizedEnvironment sets it before init(), so that init() can,
  // e.g., spread its envs over terrain types).
  void setBatchPlace(int index, int count) {
    if (count < 1 || index < 0 || index >= count)
      throw std::invalid_argument("env index " + std::to_string(index) + " is not in [0, " + std::to_string(count) + ")");
    envIndex_ = index;
    batchSize_ = count;
  }
  int envIndex() const { return envIndex_; }
  int batchSize() const { return batchSize_; }
  // Whether this env evaluates a policy (cfg key `evaluation`, set by the runner and the player).
  bool isEvaluation() const { return evaluation_; }
  // Starts a new episode. Draw any randomness from randomGenerator_ so that seeding reproduces it.
  virtual void reset() = 0;
  // Writes the observation (obDim_ values) of the current state into `ob`.
  virtual void observe(Eigen::Ref<EigenVec> ob) = 0;
  // Writes what only the critic sees (privilegedObDim_ values, e.g. noise-free velocities, friction) into `ob`.
  // Called right after observe(), so it may reuse what observe() computed. The critic's input is the
  // observation followed by these values; the policy never sees them, so a deployed policy does not need them.
  virtual void observePrivileged(Eigen::Ref<EigenVec> ob) { static_cast<void>(ob); }
  // Applies `action` (actionDim_ values) for control_dt_ seconds and returns the reward.
  virtual float step(const Eigen::Ref<EigenVec>& action) = 0;
  // Whether the episode has failed; sets `terminalReward` (added to the step's reward) if so.
  virtual bool isTerminalState(float& terminalReward) = 0;
  // Whether isTerminalState can ever say an episode failed; evaluations report falls only for envs that can.
  virtual bool canFail() const { return true; }
  // Called by the trainer before each iteration's rollout with that iteration's number (from 0, continuing
  // after a resume), or with -1 by a caller that does not count (the original API). The default calls the
  // original, argument-less hook. VectorizedEnvironment calls it through this class, so an env may override
  // either one without hiding the other.
  virtual void curriculumUpdate(long long iteration) {
    static_cast<void>(iteration);
    curriculumUpdate();
  }
  virtual void curriculumUpdate() {}
  // The env's place in a terrain curriculum (-1: it has none). A checkpoint keeps the levels, so that a
  // resumed run goes on where its robots were rather than starting its curriculum over.
  virtual int terrainLevel() const { return -1; }
  // Takes effect at the next reset; an env without a terrain curriculum ignores it.
  virtual void setTerrainLevel(int level) { static_cast<void>(level); }
  // Releases what the environment holds beyond its members.
  virtual void close() {}
  // Seeds this environment's random generator; VectorizedEnvironment gives env i the seed `seed + i`.
  virtual void setSeed(int seed) { randomGenerator_.seed(static_cast<std::mt19937::result_type>(seed)); }
  // Whether the physics is sound (finite, no speed beyond divergence_speed); VectorizedEnvironment
  // resets a diverged environment and counts it.
  virtual bool isStable() const { return world_ == nullptr || world_->isStable(divergenceSpeed_); }

  int getObDim() const { return obDim_; }
  int getPrivilegedObDim() const { return privilegedObDim_; }
  int getActionDim() const { return actionDim_; }
  double getSimulationTimeStep() const { return simulation_dt_; }
  double getControlTimeStep() const { return control_dt_; }
  // Physics steps per control step.
  int getSubsteps() const { return static_cast<int>(control_dt_ / simulation_dt_ + 1e-10); }
  const Reward& getRewards() const { return rewards_; }
  // What the env measures beside its reward (none unless it declares some in metrics_).
  const Metrics& getMetrics() const { return metrics_; }
  // The range each action dimension is meant to take (adapters turn it into action spaces); left
  // empty, the action is unbounded.
  const EigenVec& getActionLowerBound() const { return actionLowerBound_; }
  const EigenVec& getActionUpperBound() const { return actionUpperBound_; }
  World* getWorld() { return world_.get(); }
  const World* getWorld() const { return world_.get(); }

 protected:
  std::string resourceDir_;
  const Config& cfg_;
  std::unique_ptr<World> world_;
  Reward rewards_;
  Metrics metrics_;
  double simulation_dt_ = 0.001;
  double control_dt_ = 0.01;
  double divergenceSpeed_ = kDefaultDivergenceSpeed;
  int obDim_ = 0;
  int privilegedObDim_ = 0;
  int actionDim_ = 0;
  int envIndex_ = 0;
  int batchSize_ = 1;
  bool evaluation_ = false;
  EigenVec actionLowerBound_, actionUpperBound_;
  std::mt19937 randomGenerator_;
};

}  // namespace raisim
