// A batch of environments stepped in one parallel loop on a ThreadPool: automatic reset with the final
// observation kept, time limits reported apart from failures, diverged simulations reset and counted,
// and observation normalization statistics.
//
// An observation row holds the actor's observation (obDim values) and, after it, what only the critic sees
// (privilegedObDim values, none unless the env declares some): the critic reads the whole row, the actor its
// head. Statistics, normalization and final observations cover the whole row.
//
// Callers hand in buffers they own; each row is written in place by the thread that steps that
// environment. The core assumes validated input: the binding checks shapes, dtypes and values.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "Environment.hpp"
#include "ObservationStatistics.hpp"
#include "ThreadPool.hpp"

namespace raisim {

using EigenRowMajorMatMap = Eigen::Map<EigenRowMajorMat>;
using EigenConstRowMajorMatMap = Eigen::Map<const EigenRowMajorMat>;

template <class ChildEnvironment>
class VectorizedEnvironment {
 public:
  static constexpr int kMaxEnvs = 1 << 20;
  static constexpr int kMaxThreads = 1024;

  // Builds num_envs environments from the `environment:` cfg block; errors name the offending key.
  VectorizedEnvironment(std::string resourceDir, Config cfg) : resourceDir_(std::move(resourceDir)), cfg_(std::move(cfg)) {
    numEnvs_ = cfg_["num_envs"].as<int>();
    if (numEnvs_ < 1 || numEnvs_ > kMaxEnvs)
      throw std::invalid_argument("cfg key 'num_envs' must be between 1 and " + std::to_string(kMaxEnvs) + ", got " +
                                  std::to_string(numEnvs_) + " (in " + cfg_.source() + ")");
    numThreads_ = readThreadCount();
    // Before the envs are built, so that a num_threads the system cannot start fails at once.
    startPool();
    const bool render = cfg_.get<bool>("render", false);
    // Read by the Python runner, not by C++.
    cfg_.markRead({"eval_every_n", "record_video", "random_episode_start"});

    environments_.reserve(numEnvs_);
    for (int i = 0; i < numEnvs_; ++i) {
      try {
        environments_.push_back(std::make_unique<ChildEnvironment>(resourceDir_, cfg_, render && i == 0));
      } catch (const OutOfMemory& error) {
        throw OutOfMemory(std::string(error.what()) + " while building env " + std::to_string(i) + " of num_envs = " +
                          std::to_string(numEnvs_) + " (in " + cfg_.source() + "); lower num_envs");
      }
      environments_.back()->setBatchPlace(i, numEnvs_);
      environments_.back()->init();
      if (i == 0) requireAddressSpaceFor(environments_[0]->getWorld());
    }
    obDim_ = environments_[0]->getObDim();
    privilegedObDim_ = environments_[0]->getPrivilegedObDim();
    actionDim_ = environments_[0]->getActionDim();
    if (obDim_ <= 0 || actionDim_ <= 0 || privilegedObDim_ < 0)
      throw std::logic_error("the environment must set obDim_ and actionDim_ (and privilegedObDim_ >= 0) in its "
                             "constructor (got " + std::to_string(obDim_) + ", " + std::to_string(actionDim_) +
                             " and " + std::to_string(privilegedObDim_) + ")");

    const double maxTime = cfg_.get<double>("max_time", std::numeric_limits<double>::infinity());
    if (!(maxTime > 0))
      throw std::invalid_argument("cfg key 'max_time' must be positive, got " + Config::formatNumber(maxTime) +
                                  " (in " + cfg_.source() + ")");
    const double controlDt = environments_[0]->getControlTimeStep();
    // Beyond 2^62 steps a time limit is no limit, and the cast to an integer would overflow.
    const double steps = maxTime / controlDt + 1e-9;
    maxEpisodeSteps_ = steps > 0x1p62 ? std::numeric_limits<long long>::max()
                                      : std::max(1LL, static_cast<long long>(steps));

    actionScratch_ = EigenRowMajorMat::Zero(numEnvs_, actionDim_);
    episodeSteps_.assign(numEnvs_, 0);
    statistics_ = ObservationStatistics(getCriticObDim());

    setSeed(0);
    reset();
    // After construction, init and a first reset, every key the environment uses has been read.
    requireAllKeysRead();
  }

  // Starts a new episode in every environment.
  void reset() {
    runInParallel([&](int i) {
      environments_[i]->reset();
      episodeSteps_[i] = 0;
    });
  }

  // Caller-owned buffers that one step fills, one row per environment.
  struct StepBuffers {
    EigenRowMajorMatMap observation;       // after the step, and after the reset of an ended episode (whole rows)
    Eigen::Map<EigenVec> reward;
    Eigen::Map<EigenBoolVec> done;         // the episode ended, for any reason
    Eigen::Map<EigenBoolVec> terminated;   // ... by failure or diverged physics: nothing after it to bootstrap
    Eigen::Map<EigenBoolVec> truncated;    // ... by the time limit
    EigenRowMajorMatMap finalObservation;  // the ended episode's last observation; other rows are left as they were
    EigenRowMajorMatMap rewardTerms;       // this step's weighted reward terms
    EigenRowMajorMatMap metrics;           // this step's metrics
  };

  // Writes every observation row into `ob` (numEnvs x getCriticObDim()); optionally folds them into the
  // running statistics first; then normalizes and clips in place if normalization is on.
  void observe(EigenRowMajorMatMap ob, bool updateStatistics) {
    runInParallel([&](int i) { observeRow(*environments_[i], ob.row(i)); });
    finishObservations(ob, updateStatistics);
  }

  // Steps every environment with its row of `action` and fills `out` in one parallel loop. An environment
  // whose episode ends (failure, time limit or diverged physics) keeps its final observation and starts a new
  // episode at once. With `observe` false the observation and the statistics are left alone (the original API's
  // step(), followed by its own observe()). Final observations are normalized with the statistics from before
  // this step's observations are folded in, as a separate observe() after the step would have found them.
  // Returns how many environments diverged.
  int step(EigenConstRowMajorMatMap action, StepBuffers& out, bool observe, bool updateStatistics) {
    std::atomic<int> diverged{0};
    runInParallel([&](int i) {
      ChildEnvironment& env = *environments_[i];
      // A private copy per env: the environment API takes a mutable vector and must not write into
      // the caller's array.
      Eigen::Map<EigenVec> actionRow(actionScratch_.row(i).data(), actionDim_);
      actionRow = action.row(i).transpose();
      float stepReward = env.step(actionRow);
      ++episodeSteps_[i];
      copyInto(env.getRewards().values(), out.rewardTerms.row(i));
      copyInto(env.getMetrics().values(), out.metrics.row(i));
      float terminalReward = 0.f;
      bool failed = false, timeUp = false;
      auto finalObservation = out.finalObservation.row(i);
      if (!env.isStable() || !std::isfinite(stepReward)) {
        // Nothing from a diverged state is worth learning from: no reward, no final observation.
        ++diverged;
        stepReward = 0.f;
        failed = true;
        finalObservation.setZero();
      } else if (env.isTerminalState(terminalReward)) {
        stepReward += terminalReward;
        failed = true;
        observeNormalized(env, finalObservation);
      } else if (episodeSteps_[i] >= maxEpisodeSteps_) {
        timeUp = true;
        observeNormalized(env, finalObservation);
      }
      out.reward[i] = stepReward;
      out.done[i] = failed || timeUp;
      out.terminated[i] = failed;
      out.truncated[i] = timeUp;
      if (failed || timeUp) {
        env.reset();
        episodeSteps_[i] = 0;
      }
      if (observe) observeRow(env, out.observation.row(i));
    });
    divergedResets_ += diverged.load();
    if (observe) finishObservations(out.observation, updateStatistics);
    return diverged.load();
  }

  // env i gets seed + i, so the same seed reproduces every environment whatever the thread count.
  void setSeed(int seed) {
    for (int i = 0; i < numEnvs_; ++i) environments_[i]->setSeed(seed + i);
  }

  // Makes env i's current episode count as already k steps old, k drawn uniformly from [0, time limit) with
  // seed + i. Without it every env resets on the same step: a rollout sees all first steps at once and the
  // average reward swings with the episode clock (legged_gym draws the same random initial episode length).
  // A no-op without a time limit.
  void randomizeEpisodeProgress(int seed) {
    if (maxEpisodeSteps_ == std::numeric_limits<long long>::max()) return;
    for (int i = 0; i < numEnvs_; ++i) {
      std::mt19937_64 generator(static_cast<std::uint64_t>(static_cast<long long>(seed) + i));
      episodeSteps_[i] = std::uniform_int_distribution<long long>(0, maxEpisodeSteps_ - 1)(generator);
    }
  }

  void setNormalization(bool enabled, float clip) {
    if (!(clip > 0)) throw std::invalid_argument("clip_obs must be positive, got " + std::to_string(clip));
    normalize_ = enabled;
    clipObservation_ = clip;
  }

  // `iteration`: the training iteration about to start, or -1 when the caller does not say.
  void curriculumUpdate(long long iteration) {
    for (auto& env : environments_) static_cast<RaisimGymEnv&>(*env).curriculumUpdate(iteration);
  }

  std::vector<int> getTerrainLevels() const {
    std::vector<int> levels;
    levels.reserve(environments_.size());
    for (const auto& env : environments_) levels.push_back(static_cast<const RaisimGymEnv&>(*env).terrainLevel());
    return levels;
  }

  void setTerrainLevels(const std::vector<int>& levels) {
    if (levels.size() != environments_.size())
      throw std::invalid_argument("setTerrainLevels: " + std::to_string(levels.size()) + " levels for " +
                                  std::to_string(environments_.size()) + " envs");
    for (std::size_t i = 0; i < levels.size(); ++i)
      static_cast<RaisimGymEnv&>(*environments_[i]).setTerrainLevel(levels[i]);
  }

  void close() {
    for (auto& env : environments_) env->close();
  }

  const std::vector<std::string>& getRewardNames() const { return environments_[0]->getRewards().names(); }

  const std::vector<std::string>& getMetricNames() const { return environments_[0]->getMetrics().names(); }

  ObservationStatistics& statistics() { return statistics_; }
  const ObservationStatistics& statistics() const { return statistics_; }
  ChildEnvironment& environment(int i) { return *environments_.at(i); }

  int getObDim() const { return obDim_; }
  int getPrivilegedObDim() const { return privilegedObDim_; }
  // The width of an observation row: the actor's observation, then the critic-only values.
  int getCriticObDim() const { return obDim_ + privilegedObDim_; }
  int getActionDim() const { return actionDim_; }
  int getNumOfEnvs() const { return numEnvs_; }
  int getNumThreads() const { return numThreads_; }
  long long getDivergedResets() const { return divergedResets_; }
  long long getMaxEpisodeSteps() const { return maxEpisodeSteps_; }
  const std::string& getResourceDir() const { return resourceDir_; }

 private:
  // The cores this process may run on (its affinity mask, as taskset and cgroups' cpusets set it).
  static int availableCores() {
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  int readThreadCount() const {
    if (!cfg_.has("num_threads")) return availableCores();
    const Config& node = cfg_["num_threads"];
    if (node.isString()) {
      if (node.as<std::string>() == "auto") return availableCores();
      throw std::invalid_argument("cfg key 'num_threads' must be 'auto' or a positive integer (in " + cfg_.source() + ")");
    }
    const int threads = node.as<int>();
    if (threads < 1 || threads > kMaxThreads)
      throw std::invalid_argument("cfg key 'num_threads' must be 'auto' or between 1 and " + std::to_string(kMaxThreads) +
                                  ", got " + std::to_string(threads) + " (in " + cfg_.source() + ")");
    return threads;
  }

  // Refuses at once, rather than after filling memory env by env, a num_envs whose simulation data
  // cannot fit under the address-space limit. Only that limit is checked: MuJoCo's arena is mostly
  // reserved, not touched (50 ANYmal envs map 700 MB but use 10 MB), so free physical memory says
  // little; World's own check catches every other shortage when it comes.
  void requireAddressSpaceFor(const World* world) const {
    const auto left = addressSpaceLeft();
    if (world == nullptr || !left) return;
    const double perEnv = static_cast<double>(world->dataBytes());
    const double needed = perEnv * (numEnvs_ - 1);
    if (needed > *left)
      throw OutOfMemory("num_envs = " + std::to_string(numEnvs_) + " needs about " + bytesText(needed + perEnv) +
                        " of simulation data (" + bytesText(perEnv) + " per env: MuJoCo's mjData buffer and arena), "
                        "but the address-space limit (RLIMIT_AS, ulimit -v) leaves " + bytesText(*left) +
                        "; lower num_envs (in " + cfg_.source() + ") or raise the limit");
  }

  void requireAllKeysRead() const {
    const auto unread = cfg_.unreadKeys();
    if (unread.empty()) return;
    std::string unknown, known;
    for (const auto& key : unread) unknown += (unknown.empty() ? "'" : ", '") + key + "'";
    for (const auto& key : cfg_.readKeys()) known += (known.empty() ? "" : ", ") + key;
    throw std::invalid_argument("unknown cfg key " + unknown + " in " + cfg_.source() + "; keys this environment reads: " + known);
  }

  void startPool() const {
    pool_ = std::make_unique<ThreadPool>(numThreads_);
    poolPid_ = getpid();
  }

  // Folds a batch of raw observations into the statistics if asked, then normalizes it in place if normalization is on.
  void finishObservations(EigenRowMajorMatMap ob, bool updateStatistics) {
    if (updateStatistics) statistics_.update(ob);
    if (normalize_) runInParallel([&](int i) { statistics_.normalize(ob.row(i), clipObservation_); });
  }

  template <class Row>
  void observeRow(ChildEnvironment& env, Row&& row) const {
    env.observe(row.head(obDim_).transpose());
    if (privilegedObDim_ > 0) env.observePrivileged(row.tail(privilegedObDim_).transpose());
  }

  template <class Row>
  void observeNormalized(ChildEnvironment& env, Row&& row) const {
    observeRow(env, row);
    if (normalize_) statistics_.normalize(row, clipObservation_);
  }

  template <class Row>
  static void copyInto(const std::vector<double>& values, Row&& row) {
    for (std::size_t k = 0; k < values.size(); ++k) row[static_cast<Eigen::Index>(k)] = static_cast<float>(values[k]);
  }

  // Runs body(i) for every environment on numThreads_ threads; the first exception is rethrown after the loop.
  template <class Body>
  void runInParallel(Body&& body) const {
    if (getpid() != poolPid_) {
      // This process is a fork() child: the pool's workers stayed in the parent, and its mutex may have
      // been copied locked. Destroying it would join threads that are not here, so it is left alone
      // (its few kilobytes stay allocated) and a pool of this process's own is started.
      static_cast<void>(pool_.release());
      startPool();
    }
    pool_->run(numEnvs_, body);
  }

  std::string resourceDir_;
  Config cfg_;
  int numEnvs_ = 0;
  int numThreads_ = 1;
  int obDim_ = 0;
  int privilegedObDim_ = 0;
  int actionDim_ = 0;
  bool normalize_ = true;
  float clipObservation_ = 10.f;
  long long maxEpisodeSteps_ = 0;
  long long divergedResets_ = 0;
  std::vector<std::unique_ptr<ChildEnvironment>> environments_;
  std::vector<long long> episodeSteps_;
  EigenRowMajorMat actionScratch_;
  ObservationStatistics statistics_;
  // Mutable: const methods run loops too, and a fork child replaces the pool it inherited.
  mutable std::unique_ptr<ThreadPool> pool_;
  mutable pid_t poolPid_ = 0;
};

}  // namespace raisim
