// Random shoves: every `interval` seconds the base's planar velocity changes by a kick drawn from cfg ranges,
// in the base's yaw-aligned frame (x forward, y left), as legged_gym's push_robots does.
//
//   push:
//     interval: 15.0          # s between pushes; 0 turns pushes off
//     velocity_x: [-1.0, 1.0] # m/s added to the forward velocity
//     velocity_y: [-1.0, 1.0] # m/s added to the sideways velocity
#pragma once

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../Config.hpp"

namespace raisim {

class Push {
 public:
  Push() = default;

  explicit Push(const Config& cfg) {
    auto path = [&](const std::string& key) { return cfg.path().empty() ? key : cfg.path() + "." + key; };
    cfg.markRead();
    interval_ = cfg.get<double>("interval", 0.0);
    if (!(interval_ >= 0) || !std::isfinite(interval_))
      throw std::invalid_argument("cfg key '" + path("interval") + "' must be >= 0 s (0: no pushes) (in " + cfg.source() + ")");
    auto range = [&](const std::string& key) {
      const auto values = cfg.has(key) ? cfg[key].as<std::vector<double>>() : std::vector<double>{0.0, 0.0};
      if (values.size() != 2 || !(values[0] <= values[1]) || !(std::abs(values[0]) <= 20) || !(std::abs(values[1]) <= 20))
        throw std::invalid_argument("cfg key '" + path(key) + "' must be [low, high] m/s with low <= high, within +-20 (in " +
                                    cfg.source() + ")");
      return std::uniform_real_distribution<double>(values[0], values[1]);
    };
    vx_ = range("velocity_x");
    vy_ = range("velocity_y");
  }

  bool enabled() const { return interval_ > 0; }

  // Restarts the clock: call at reset.
  void reset() { sincePush_ = 0.0; }

  // Advances the clock by dt; when a push is due, adds the kick to the free base's world-frame velocity
  // `qvel` (MuJoCo's free joint: linear velocity first) for a base whose heading is `yaw`. Returns whether it pushed.
  template <class Generator>
  bool advance(double dt, double yaw, double* qvel, Generator& generator) {
    if (!enabled()) return false;
    sincePush_ += dt;
    if (sincePush_ + 1e-9 < interval_) return false;
    sincePush_ = 0.0;
    const double forward = vx_(generator), left = vy_(generator);
    qvel[0] += std::cos(yaw) * forward - std::sin(yaw) * left;
    qvel[1] += std::sin(yaw) * forward + std::cos(yaw) * left;
    return true;
  }

  double interval() const { return interval_; }

 private:
  double interval_ = 0.0;
  double sincePush_ = 0.0;
  std::uniform_real_distribution<double> vx_{0.0, 0.0}, vy_{0.0, 0.0};
};

}  // namespace raisim
