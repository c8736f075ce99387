// Uniform sensor noise on an observation row: value += level * U(-1, 1), one level per entry (legged_gym's
// noise vector). Off in evaluation envs (RaisimGymEnv::isEvaluation) so that a policy is judged on the
// state it is in. Allocation-free after set().
#pragma once

#include <Eigen/Core>
#include <random>

namespace raisim {

class ObservationNoise {
 public:
  // Levels for entries [start, start + count).
  void set(int size, int start, int count, double level) {
    if (levels_.size() != size) levels_ = Eigen::VectorXf::Zero(size);
    levels_.segment(start, count).setConstant(static_cast<float>(level));
  }

  void disable() { enabled_ = false; }
  bool enabled() const { return enabled_ && levels_.size() > 0 && levels_.maxCoeff() > 0.f; }
  const Eigen::VectorXf& levels() const { return levels_; }

  template <class Generator>
  void apply(Eigen::Ref<Eigen::VectorXf> row, Generator& generator) {
    if (!enabled()) return;
    for (Eigen::Index i = 0; i < levels_.size(); ++i)
      if (levels_[i] > 0.f) row[i] += levels_[i] * unit_(generator);
  }

 private:
  bool enabled_ = true;
  Eigen::VectorXf levels_;
  std::uniform_real_distribution<float> unit_{-1.f, 1.f};
};

}  // namespace raisim
