// How long each foot has been in the air, and legged_gym's feet_air_time reward: at every touch-down,
// (time in the air - target); steps longer than the target pay, shuffling costs.
#pragma once

#include <array>

namespace raisim {

template <int Feet>
class FootAirTime {
 public:
  explicit FootAirTime(double target = 0.5) : target_(target) {}

  void reset() {
    airTime_.fill(0.0);
    wasInContact_.fill(true);
  }

  // One control step of dt seconds with these contacts; returns the sum over feet that touched down now of
  // (air time - target). A foot counts as landed only after one step in the air, so contact flicker in one
  // step does not count as a step.
  double update(const std::array<bool, Feet>& inContact, double dt) {
    double reward = 0.0;
    for (int foot = 0; foot < Feet; ++foot) {
      if (!inContact[foot]) {
        airTime_[foot] += dt;
      } else if (!wasInContact_[foot]) {
        reward += airTime_[foot] - target_;
        airTime_[foot] = 0.0;
      } else {
        airTime_[foot] = 0.0;
      }
      wasInContact_[foot] = inContact[foot];
    }
    return reward;
  }

  double airTime(int foot) const { return airTime_[foot]; }

 private:
  double target_;
  std::array<double, Feet> airTime_{};
  std::array<bool, Feet> wasInContact_{};
};

}  // namespace raisim
