// Named measurements an environment reports beside its reward (a tracking error, the terrain level reached):
// recorded every step, averaged by the trainer over a rollout's steps and shown on the console and in
// TensorBoard. Unlike reward terms they carry no coefficient and do not enter the reward.
#pragma once

#include <string>
#include <vector>

namespace raisim {

class Metrics {
 public:
  // Declares the metrics this environment records, in the order of record()'s indices.
  void declare(std::vector<std::string> names) {
    names_ = std::move(names);
    values_.assign(names_.size(), 0.0);
  }

  void record(int metric, double value) { values_[metric] = value; }

  const std::vector<std::string>& names() const { return names_; }
  const std::vector<double>& values() const { return values_; }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::vector<double> values_;
};

}  // namespace raisim
