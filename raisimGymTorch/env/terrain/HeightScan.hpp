// Terrain heights at a grid of points around the base, in the base's yaw-aligned frame (legged_gym's
// measured_heights): the grid turns with the robot's heading but not with its roll and pitch.
//
//   height_scan:
//     x: [-0.8, 0.8]     # m, forward range of the grid
//     y: [-0.5, 0.5]     # m, sideways range
//     spacing: 0.1       # m between points -> 17 x 11 = 187 points
//     offset: 0.5        # m; value = base_z - offset - terrain height (0 when standing at nominal height)
//     clip: 1.0          # m; values are clipped to [-clip, clip] (0: no clipping)
// Points are ordered x-major: index = ix * ny + iy, x from low to high, then y from low to high.
// Heights are read from the heightfield directly (bilinear), not by ray casts: 187 look-ups cost far
// less than 187 rays against the heightfield's prisms.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../Config.hpp"
#include "Terrain.hpp"

namespace raisim {

class HeightScan {
 public:
  // The default grid is legged_gym's 17 x 11 points.
  HeightScan() { build(-0.8, 0.8, -0.5, 0.5, 0.1); }

  // Reads the `height_scan` block (or a block that is itself that block); errors name the key.
  explicit HeightScan(const Config& cfg) {
    const std::string& source = cfg.source();
    auto bad = [&](const std::string& key, const std::string& why) {
      const std::string path = cfg.path().empty() ? key : cfg.path() + "." + key;
      throw std::invalid_argument("cfg key '" + path + "' " + why + " (in " + source + ")");
    };
    auto interval = [&](const std::string& key, double low, double high) {
      if (!cfg.has(key)) return std::make_pair(low, high);
      const auto values = cfg[key].as<std::vector<double>>();
      if (values.size() != 2 || !std::isfinite(values[0]) || !std::isfinite(values[1]) || values[0] > values[1])
        bad(key, "must be [low, high] with low <= high");
      return std::make_pair(values[0], values[1]);
    };
    const auto [xLow, xHigh] = interval("x", -0.8, 0.8);
    const auto [yLow, yHigh] = interval("y", -0.5, 0.5);
    const double spacing = cfg.get<double>("spacing", 0.1);
    if (!(spacing > 0.0) || !std::isfinite(spacing)) bad("spacing", "must be a positive number, got " + std::to_string(spacing));
    if ((xHigh - xLow) / spacing * ((yHigh - yLow) / spacing) > 1e6)
      bad("spacing", "gives more than a million scan points; use a coarser spacing");
    offset_ = cfg.get<double>("offset", offset_);
    if (!std::isfinite(offset_)) bad("offset", "must be a finite number");
    clip_ = cfg.get<double>("clip", clip_);
    if (!(clip_ >= 0.0) || !std::isfinite(clip_)) bad("clip", "must be >= 0 (0: no clipping), got " + std::to_string(clip_));
    build(xLow, xHigh, yLow, yHigh, spacing);
  }

  // Number of values measure() writes.
  int size() const { return static_cast<int>(localX_.size()); }
  int nx() const { return nx_; }
  int ny() const { return ny_; }
  double offset() const { return offset_; }
  double clip() const { return clip_; }
  // Point i in the yaw-aligned base frame.
  double localX(int i) const { return localX_[i]; }
  double localY(int i) const { return localY_[i]; }

  // Heading of a base orientation given as MuJoCo's quaternion (w, x, y, z): the yaw measure() expects.
  static double yaw(const double* quaternion) {
    const double w = quaternion[0], x = quaternion[1], y = quaternion[2], z = quaternion[3];
    return std::atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z));
  }

  // Writes base_z - offset - terrain height at every point into `out` (size() values, e.g. a segment of
  // the observation row); allocates nothing.
  void measure(const Terrain& terrain, const double* basePos, double yaw, Eigen::Ref<Eigen::VectorXf> out) const {
    checkSize(out.size());
    measure(terrain, basePos, yaw, out.data());
  }
  void measure(const Terrain& terrain, const double* basePos, double yaw, Eigen::Ref<Eigen::VectorXd> out) const {
    checkSize(out.size());
    measure(terrain, basePos, yaw, out.data());
  }

  // The same into a raw array of size() values.
  template <class Scalar, class = std::enable_if_t<std::is_floating_point_v<Scalar>>>
  void measure(const Terrain& terrain, const double* basePos, double yaw, Scalar* out) const {
    const double c = std::cos(yaw), s = std::sin(yaw);
    const int n = size();
    for (int i = 0; i < n; ++i) {
      const double x = basePos[0] + c * localX_[i] - s * localY_[i];
      const double y = basePos[1] + s * localX_[i] + c * localY_[i];
      double value = basePos[2] - offset_ - terrain.heightAt(x, y);
      if (clip_ > 0.0) value = std::min(clip_, std::max(-clip_, value));
      out[i] = static_cast<Scalar>(value);
    }
  }

 private:
  void checkSize(Eigen::Index given) const {
    if (given != size())
      throw std::invalid_argument("HeightScan::measure: out has " + std::to_string(given) + " values, the scan " +
                                  std::to_string(size()));
  }

  void build(double xLow, double xHigh, double yLow, double yHigh, double spacing) {
    nx_ = static_cast<int>(std::floor((xHigh - xLow) / spacing + 1e-6)) + 1;
    ny_ = static_cast<int>(std::floor((yHigh - yLow) / spacing + 1e-6)) + 1;
    localX_.clear();
    localY_.clear();
    for (int ix = 0; ix < nx_; ++ix)
      for (int iy = 0; iy < ny_; ++iy) {
        localX_.push_back(xLow + ix * spacing);
        localY_.push_back(yLow + iy * spacing);
      }
  }

  int nx_ = 0, ny_ = 0;
  double offset_ = 0.5;
  double clip_ = 1.0;
  std::vector<double> localX_, localY_;
};

}  // namespace raisim
