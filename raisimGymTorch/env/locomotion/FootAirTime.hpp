// How long each foot has been in the air, and legged_gym's feet_air_time reward: at every touch-down,
// (time in the air - target); steps longer than the target pay, shuffling costs.
//
// A foot counts as down when it touches now or touched one step ago, so a contact that flickers off for a
// single control step is no step at all (otherwise every flicker would cost almost the whole target).
#pragma once

#include <array>

namespace raisim {

template <int Feet>
class FootAirTime {
 public:
  explicit FootAirTime(double target = 0.5) : target_(target) {}

  void reset() {
    airTime_.fill(0.0);
    touchedLastStep_.fill(true);
  }

  // One control step of dt seconds with these contacts; returns the sum, over the feet that touched down at
  // this step, of (time in the air, this step included, - target).
  double update(const std::array<bool, Feet>& inContact, double dt) {
    double reward = 0.0;
    for (int foot = 0; foot < Feet; ++foot) {
      const bool down = inContact[foot] || touchedLastStep_[foot];
      touchedLastStep_[foot] = inContact[foot];
      const bool touchDown = down && airTime_[foot] > 0.0;
      airTime_[foot] += dt;
      if (touchDown) reward += airTime_[foot] - target_;
      if (down) airTime_[foot] = 0.0;
    }
    return reward;
  }

  double airTime(int foot) const { return airTime_[foot]; }

 private:
  double target_;
  std::array<double, Feet> airTime_{};
  std::array<bool, Feet> touchedLastStep_{};
};

}  // namespace raisim
