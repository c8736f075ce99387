// Where a posed robot's lowest collision geometry is, so that resets can place it just above the
// ground whatever the joint noise: a fixed spawn height puts a shank inside the floor once the
// legs are bent far enough, and the episode then ends at its first step.
#pragma once

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace raisim {

// Lowest world z of a geom in the pose of `data` (after mj_kinematics). Exact for spheres,
// capsules, cylinders and boxes; other shapes use their bounding box, which can only overestimate
// the depth and so errs toward spawning higher.
inline double lowestPointOfGeom(const mjModel& model, const mjData& data, int geom) {
  const mjtNum* size = model.geom_size + 3 * geom;
  const mjtNum* rotation = data.geom_xmat + 9 * geom;  // row-major; row 2 = world z in the geom frame
  const double zx = std::abs(rotation[6]), zy = std::abs(rotation[7]), zz = std::abs(rotation[8]);
  const double centre = data.geom_xpos[3 * geom + 2];
  switch (model.geom_type[geom]) {
    case mjGEOM_SPHERE:
      return centre - size[0];
    case mjGEOM_CAPSULE:
      return centre - zz * size[1] - size[0];
    case mjGEOM_CYLINDER:
      return centre - zz * size[1] - size[0] * std::sqrt(std::max(0.0, 1.0 - zz * zz));
    case mjGEOM_BOX:
      return centre - zx * size[0] - zy * size[1] - zz * size[2];
    default: {
      const mjtNum* box = model.geom_aabb + 6 * geom;  // centre and half sizes in the geom frame
      const double offset = rotation[6] * box[0] + rotation[7] * box[1] + rotation[8] * box[2];
      return centre + offset - zx * box[3] - zy * box[4] - zz * box[5];
    }
  }
}

// Lowest world z over every geom that can collide, except the ground itself (planes and
// heightfields). Call after mj_kinematics or mj_forward.
inline double lowestCollisionPoint(const mjModel& model, const mjData& data) {
  double lowest = std::numeric_limits<double>::infinity();
  for (int geom = 0; geom < model.ngeom; ++geom) {
    const int type = model.geom_type[geom];
    if (type == mjGEOM_PLANE || type == mjGEOM_HFIELD) continue;
    if (model.geom_contype[geom] == 0 && model.geom_conaffinity[geom] == 0) continue;
    lowest = std::min(lowest, lowestPointOfGeom(model, data, geom));
  }
  return lowest;
}

// Raises or lowers the free base (qpos[2]) so that the lowest collision geometry sits `clearance`
// metres above a ground at height `groundHeight`, and recomputes the derived quantities.
inline void placeAboveGround(const mjModel& model, mjData& data, double clearance, double groundHeight = 0.0) {
  mj_kinematics(&model, &data);
  data.qpos[2] += groundHeight + clearance - lowestCollisionPoint(model, data);
  mj_forward(&model, &data);
}

}  // namespace raisim
