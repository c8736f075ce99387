// ANYmal C's constants, shared by every env that drives it (rsc/anymal_c/anymal_c.xml; public figures in
// shared reference anymal_c.md).
#pragma once

#include <Eigen/Core>
#include <array>

#include "../actuation/Actuation.hpp"

namespace raisim::anymal_c {

inline constexpr int kJoints = 12;
inline constexpr int kLegs = 4;
// Leg order of the joints and of every per-leg array: left front, right front, left hind, right hind.
inline constexpr std::array<const char*, kLegs> kLegNames{"LF", "RF", "LH", "RH"};

// ANYdrive's published limits: 80 N m peak, 7.5 rad/s, the torque-speed line through 120 N m at rest.
inline constexpr DcMotorLimit kDrive{120.0, 80.0, 7.5};

// Standing pose, joint order LF, RF, LH, RH x HAA, HFE, KFE; knees bent toward the body centre.
inline Eigen::VectorXd nominalJointAngles() {
  Eigen::VectorXd angles(kJoints);
  angles << 0, 0.4, -0.8, 0, 0.4, -0.8, 0, -0.4, 0.8, 0, -0.4, 0.8;
  return angles;
}

}  // namespace raisim::anymal_c
