// Penalties that count more as training goes on: the scale of every reward term with a negative coefficient
// rises linearly from `initial_scale` at iteration 0 to 1 at `iterations`, then stays at 1. Evaluation envs
// always count them in full.
//
//   penalty_curriculum:
//     initial_scale: 0.1   # the penalties' weight at iteration 0, in [0, 1]
//     iterations: 400      # training iterations until they count in full
//
// Why: with legged_gym's wide initial exploration (action std 1) the penalties of a random policy outweigh the
// tracking terms several times over, so with only_positive_rewards every step's total is 0 and PPO has no
// signal to follow; README.md, "Learning results", has the runs.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>

#include "../Config.hpp"

namespace raisim {

class PenaltyCurriculum {
 public:
  explicit PenaltyCurriculum(const Config& cfg) {
    auto path = [&](const std::string& key) { return cfg.path().empty() ? key : cfg.path() + "." + key; };
    initialScale_ = cfg["initial_scale"].as<double>();
    if (!(initialScale_ >= 0 && initialScale_ <= 1))
      throw std::invalid_argument("cfg key '" + path("initial_scale") + "' must be in [0, 1] (in " + cfg.source() + ")");
    iterations_ = cfg["iterations"].as<long long>();
    if (iterations_ < 1)
      throw std::invalid_argument("cfg key '" + path("iterations") + "' must be >= 1 (in " + cfg.source() + ")");
  }

  // The penalties' scale during training iteration `iteration` (from 0).
  double scale(long long iteration) const {
    const double progress = std::clamp(static_cast<double>(iteration) / static_cast<double>(iterations_), 0.0, 1.0);
    return initialScale_ + (1.0 - initialScale_) * progress;
  }

 private:
  double initialScale_ = 1.0;
  long long iterations_ = 1;
};

}  // namespace raisim
