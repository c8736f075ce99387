// The velocity a legged robot is told to walk at: forward and sideways speed in its yaw-aligned frame and a
// yaw rate, drawn uniformly from cfg ranges at the start of every episode and again every resampling_time
// seconds (legged_gym's commands). With `heading`, a draw picks a world heading instead of a yaw rate, and the
// yaw-rate command steers towards it at every step (legged_gym's rough-terrain commands): the robot turns to the
// heading and then walks straight, where a drawn yaw rate walks it in circles that end near where they began.
//
//   commands:
//     resampling_time: 10.0     # s between draws within an episode
//     training_resampling_time: 5.0  # optional; s between draws in training envs only (evaluations and the
//                                    # player keep resampling_time), so that training can see more command changes
//                                    # than the task it is judged on
//     lin_vel_x: [-1.0, 1.0]    # m/s, forward
//     lin_vel_y: [-1.0, 1.0]    # m/s, left
//     yaw_rate: [-1.0, 1.0]     # rad/s, counter-clockwise; with heading, the range the steering is clipped to
//     heading: [-3.14, 3.14]    # optional; rad, world frame: yaw-rate command = 0.5 x (heading - yaw) wrapped, clipped
//     standing_below: 0.2       # m/s; a drawn |(vx, vy)| below it becomes (0, 0): the robot learns to stand
//
// A range [v, v] fixes that component (the player's --command does so). Allocation-free after construction.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../Config.hpp"

namespace raisim {

class VelocityCommand {
 public:
  VelocityCommand(const Config& cfg, bool evaluation) {
    auto bad = [&](const std::string& key, const std::string& why) {
      const std::string path = cfg.path().empty() ? key : cfg.path() + "." + key;
      throw std::invalid_argument("cfg key '" + path + "' " + why + " (in " + cfg.source() + ")");
    };
    auto range = [&](const std::string& key, double limit) {
      const auto values = cfg[key].as<std::vector<double>>();
      if (values.size() != 2 || !std::isfinite(values[0]) || !std::isfinite(values[1]) || values[0] > values[1])
        bad(key, "must be [low, high] with low <= high");
      if (std::abs(values[0]) > limit || std::abs(values[1]) > limit)
        bad(key, "must stay within +-" + std::to_string(limit) + "; a command no robot can follow teaches nothing");
      return std::uniform_real_distribution<double>(values[0], values[1]);
    };
    vx_ = range("lin_vel_x", kMaxSpeed);
    vy_ = range("lin_vel_y", kMaxSpeed);
    yawRate_ = range("yaw_rate", kMaxSpeed);
    auto period = [&](const std::string& key) {
      const double seconds = cfg[key].as<double>();
      if (!(seconds > 0) || !std::isfinite(seconds)) bad(key, "must be a positive number of seconds");
      return seconds;
    };
    resamplingTime_ = period("resampling_time");
    // Checked in evaluation envs too, so that a bad value fails where it is written, not first in training.
    if (cfg.has("training_resampling_time")) {
      const double training = period("training_resampling_time");
      if (!evaluation) resamplingTime_ = training;
    }
    if (cfg.has("heading")) {
      const auto values = cfg["heading"].as<std::vector<double>>();
      if (values.size() != 2 || !std::isfinite(values[0]) || !std::isfinite(values[1]) || values[0] > values[1])
        bad("heading", "must be [low, high] with low <= high");
      if (std::abs(values[0]) > 2 * M_PI || std::abs(values[1]) > 2 * M_PI)
        bad("heading", "must stay within +-2 pi: headings are in radians, not degrees");
      heading_.emplace(values[0], values[1]);
    }
    standingBelow_ = cfg.get<double>("standing_below", 0.2);
    if (!(standingBelow_ >= 0) || !std::isfinite(standingBelow_)) bad("standing_below", "must be >= 0 m/s");
  }

  // A new command, and the resampling clock restarted: call at every reset. `yaw` is the robot's heading (rad,
  // world frame), which heading commands steer from.
  template <class Generator>
  void reset(Generator& generator, double yaw) {
    draw(generator);
    sinceDraw_ = 0.0;
    steer(yaw);
  }

  // Advances the clock by dt seconds; draws a new command once resampling_time has passed. Returns whether it did.
  // With heading commands, the yaw rate is then recomputed from the robot's `yaw` whether or not it drew.
  template <class Generator>
  bool advance(double dt, double yaw, Generator& generator) {
    sinceDraw_ += dt;
    const bool drew = sinceDraw_ + 1e-9 >= resamplingTime_;
    if (drew) {
      draw(generator);
      sinceDraw_ = 0.0;
    }
    steer(yaw);
    return drew;
  }

  // (vx, vy, yaw rate).
  const Eigen::Vector3d& value() const { return value_; }
  double planarSpeed() const { return std::hypot(value_[0], value_[1]); }
  // The fastest planar command the ranges allow (m/s).
  double maxPlanarSpeed() const {
    auto largest = [](const std::uniform_real_distribution<double>& d) { return std::max(-d.a(), d.b()); };
    return std::hypot(std::max(0.0, largest(vx_)), std::max(0.0, largest(vy_)));
  }
  double resamplingTime() const { return resamplingTime_; }

 private:
  // No ANYmal-sized robot walks at 10 m/s; beyond it a range is a typo (e.g. degrees for radians).
  static constexpr double kMaxSpeed = 10.0;
  // legged_gym's yaw rate per radian of heading error: with its 1 rad/s range, errors beyond 2 rad turn at the cap.
  static constexpr double kHeadingGain = 0.5;

  template <class Generator>
  void draw(Generator& generator) {
    value_ << vx_(generator), vy_(generator), yawRate_(generator);
    if (std::hypot(value_[0], value_[1]) < standingBelow_) value_.head<2>().setZero();
    if (heading_) targetHeading_ = (*heading_)(generator);
  }

  void steer(double yaw) {
    if (!heading_) return;
    const double error = std::remainder(targetHeading_ - yaw, 2 * M_PI);
    value_[2] = std::clamp(kHeadingGain * error, yawRate_.a(), yawRate_.b());
  }

  std::uniform_real_distribution<double> vx_, vy_, yawRate_;
  std::optional<std::uniform_real_distribution<double>> heading_;
  double targetHeading_ = 0.0;
  double resamplingTime_ = 10.0;
  double standingBelow_ = 0.2;
  double sinceDraw_ = 0.0;
  Eigen::Vector3d value_ = Eigen::Vector3d::Zero();
};

}  // namespace raisim
