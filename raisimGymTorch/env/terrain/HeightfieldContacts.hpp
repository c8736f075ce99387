// Contacts between a robot and a Terrain's heightfield at the cost of a plane's.
//
// MuJoCo collides every geom with a heightfield by running GJK/EPA against each triangular prism under the
// geom's bounding box (mjc_ConvexHField). On legged_gym's terrain that made a physics step 1.9x as slow as
// on a plane (benchmarks/results/terrain_cost.md): a foot sphere meets one to three prisms, each a GJK
// test, and each prism in contact adds its own contact at nearly the same point (4.6 contacts per step
// instead of 2.9), so the solver works harder too; and the legs and base, never rejected by the
// heightfield's one bounding box, pay the prism set-up every step.
//
// installHeightfieldContacts() puts its functions into MuJoCo's collision table (mjCOLLISIONFUNC), for
// heightfields whose name begins with kTerrainPrefix (Terrain::addTo's); every other heightfield keeps
// MuJoCo's function:
// - sphere: the exact distance to the same triangulated surface MuJoCo builds its prisms from, one contact
//   per local minimum of that distance (one on a face or an edge, two in a stair's inner corner);
// - capsule: the same for its two end spheres, and a ridge or bump under its axis between them;
// - box and cylinder: the same for points of theirs as zero-radius spheres (a box's corners, a cylinder's lowest
//   rim points), a ridge that passes under an edge between them, and a peak that reaches into a face;
// - ellipsoids: no contact when the geom's bounding box is above every height sample beneath it (exact: the
//   surface is never higher than its highest sample), found before MuJoCo sets up its GJK objects; otherwise
//   MuJoCo's own function.
// The table is process-wide; installation happens once, before the first terrain model is compiled.
#pragma once

#include <mujoco/mujoco.h>

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

namespace raisim {

namespace heightfield_contacts {

inline constexpr const char* kTerrainPrefix = "terrain";
// At most this many contacts per sphere; a sphere touches at most a floor, a riser and a side wall.
inline constexpr int kMaxSphereContacts = 3;
// Contacts whose normals are within 45 degrees are one: the deepest. A sphere on MuJoCo's prisms got one
// contact per prism it touched, 1.5 per foot on random rough ground and 4.3 per physics step where the plane
// had 2.9; the solver's work grew with them (terrain_cost.md). One contact per direction is what MuJoCo
// gives any other pair of convex geoms; a stair's inner corner (90 degrees) keeps its two.
inline constexpr double kSameDirection = 0.7071;

// MuJoCo's functions, saved before ours replace them.
inline mjfCollision originalFunction[mjNGEOMTYPES] = {};

using Vec = Eigen::Vector3d;
// A geom's orientation as MuJoCo keeps it (row-major; columns are the geom's axes in the world).
using Orientation = Eigen::Map<const Eigen::Matrix<mjtNum, 3, 3, Eigen::RowMajor>>;

inline Orientation orientation(const mjData* d, int g) { return Orientation(d->geom_xmat + 9 * g); }
inline Eigen::Map<const Vec> position(const mjData* d, int g) { return Eigen::Map<const Vec>(d->geom_xpos + 3 * g); }

// A heightfield in its own frame: cell (r, c) spans x in [c, c+1] * dx - size0, y in [r, r+1] * dy - size1,
// and sample (r, c) is at height data[r * ncol + c] * size2. MuJoCo's prisms split each cell along the
// diagonal from (r, c) to (r+1, c+1) (mjc_ConvexHField adds vertex (r+1, c) then (r, c) as it walks a row).
struct Field {
  const float* data;
  int nrow, ncol;
  double size0, size1, size2, dx, dy;

  Field(const mjModel* m, int hfield)
      : data(m->hfield_data + m->hfield_adr[hfield]),
        nrow(m->hfield_nrow[hfield]),
        ncol(m->hfield_ncol[hfield]),
        size0(m->hfield_size[4 * hfield]),
        size1(m->hfield_size[4 * hfield + 1]),
        size2(m->hfield_size[4 * hfield + 2]),
        dx(2.0 * size0 / (ncol - 1)),
        dy(2.0 * size1 / (nrow - 1)) {}

  double height(int r, int c) const { return data[r * ncol + c] * size2; }
  Vec vertex(int r, int c) const { return {c * dx - size0, r * dy - size1, height(r, c)}; }
  // x and y in cells from the field's corner (fractional), and the column and row of the cell they fall in.
  double u(double x) const { return (x + size0) / dx; }
  double v(double y) const { return (y + size1) / dy; }
  int column(double x) const { return std::clamp(static_cast<int>(std::floor(u(x))), 0, ncol - 2); }
  int row(double y) const { return std::clamp(static_cast<int>(std::floor(v(y))), 0, nrow - 2); }

  // The cells overlapping [x0, x1] x [y0, y1]; false if the box reaches past the field (MuJoCo decides there).
  bool cellsUnder(double x0, double x1, double y0, double y1, int& c0, int& c1, int& r0, int& r1) const {
    if (x0 < -size0 || x1 > size0 || y0 < -size1 || y1 > size1) return false;
    c0 = column(x0);
    c1 = column(x1);
    r0 = row(y0);
    r1 = row(y1);
    return true;
  }

  double highestSample(int c0, int c1, int r0, int r1) const {
    float highest = -INFINITY;
    for (int r = r0; r <= r1 + 1; ++r)
      for (int c = c0; c <= c1 + 1; ++c) highest = std::max(highest, data[r * ncol + c]);
    return highest * size2;
  }
};

inline bool isTerrain(const mjModel* m, int hfield) {
  return std::strncmp(m->names + m->name_hfieldadr[hfield], kTerrainPrefix, std::strlen(kTerrainPrefix)) == 0;
}

// `p` in the frame of heightfield geom g.
inline Vec toField(const mjData* d, int g, const mjtNum* p) {
  return orientation(d, g).transpose() * (Eigen::Map<const Vec>(p) - position(d, g));
}

// The point of triangle (a, b, c) closest to p (Ericson, Real-Time Collision Detection, 5.1.5).
inline Vec closestOnTriangle(const Vec& p, const Vec& a, const Vec& b, const Vec& c) {
  const Vec ab = b - a, ac = c - a, ap = p - a;
  const double d1 = ab.dot(ap), d2 = ac.dot(ap);
  if (d1 <= 0 && d2 <= 0) return a;
  const Vec bp = p - b;
  const double d3 = ab.dot(bp), d4 = ac.dot(bp);
  if (d3 >= 0 && d4 <= d3) return b;
  const double vc = d1 * d4 - d3 * d2;
  if (vc <= 0 && d1 >= 0 && d3 <= 0) return a + d1 / (d1 - d3) * ab;
  const Vec cp = p - c;
  const double d5 = ab.dot(cp), d6 = ac.dot(cp);
  if (d6 >= 0 && d5 <= d6) return c;
  const double vb = d5 * d2 - d1 * d6;
  if (vb <= 0 && d2 >= 0 && d6 <= 0) return a + d2 / (d2 - d6) * ac;
  const double va = d3 * d6 - d5 * d4;
  if (va <= 0 && d4 - d3 >= 0 && d5 - d6 >= 0) return b + (d4 - d3) / ((d4 - d3) + (d5 - d6)) * (c - b);
  const double denominator = 1.0 / (va + vb + vc);
  return a + vb * denominator * ab + vc * denominator * ac;
}

// The two triangles of cell (r, c), counter-clockwise seen from above, so that their normals point up.
inline std::array<std::array<Vec, 3>, 2> cellTriangles(const Field& field, int r, int c) {
  const Vec v00 = field.vertex(r, c), v01 = field.vertex(r, c + 1), v10 = field.vertex(r + 1, c),
            v11 = field.vertex(r + 1, c + 1);
  return {{{v00, v11, v10}, {v00, v01, v11}}};
}

inline Vec upwardNormal(const std::array<Vec, 3>& t) { return (t[1] - t[0]).cross(t[2] - t[0]).normalized(); }

// The surface triangle above (x, y) of the field.
inline std::array<Vec, 3> triangleAbove(const Field& field, double x, double y) {
  const int c = field.column(x), r = field.row(y);
  const auto triangles = cellTriangles(field, r, c);
  return field.v(y) - r >= field.u(x) - c ? triangles[0] : triangles[1];  // the diagonal u = v splits the cell
}

// Whether p, the point of one triangle closest to `centre` (at `distance`), is a local minimum of the distance
// to the whole surface: no other triangle through p comes closer. A point on an edge or corner shared with a
// closer triangle gives no contact direction of its own. Without this test a foot sunk 2 cm into flat ground
// also met the next cell's edge at a normal tilted 45-80 degrees, which pushed it sideways; together with the
// shank's contacts such kicks drove joints past 60 rad/s after landings and now and then diverged the simulation.
inline bool isLocalMinimum(const Field& field, const Vec& centre, const Vec& p, double distance) {
  constexpr double kOnSurface = 1e-9;  // m; coordinates stay below 1e3 m, far above double's rounding there
  for (int row = field.row(p.y() - kOnSurface); row <= field.row(p.y() + kOnSurface); ++row) {
    for (int column = field.column(p.x() - kOnSurface); column <= field.column(p.x() + kOnSurface); ++column) {
      for (const auto& t : cellTriangles(field, row, column)) {
        if ((closestOnTriangle(p, t[0], t[1], t[2]) - p).norm() > kOnSurface) continue;
        if ((centre - closestOnTriangle(centre, t[0], t[1], t[2])).norm() < distance - kOnSurface) return false;
      }
    }
  }
  return true;
}

struct Candidate {
  double dist;
  Vec normal;  // from the surface to the sphere's centre
  Vec centre;  // of the sphere that touches: a capsule's is a point of its axis
};

// The deepest contact of each direction (normals within 45 degrees are one), the deepest directions if there are
// more than kMaxSphereContacts.
struct Candidates {
  std::array<Candidate, kMaxSphereContacts> found;
  int count = 0;

  void add(const Candidate& candidate) {
    for (int k = 0; k < count; ++k) {
      if (found[k].normal.dot(candidate.normal) > kSameDirection) {
        if (candidate.dist < found[k].dist) found[k] = candidate;
        return;
      }
    }
    if (count < kMaxSphereContacts) {
      found[count++] = candidate;
      return;
    }
    auto shallowest = std::max_element(found.begin(), found.end(),
                                       [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
    if (candidate.dist < shallowest->dist) *shallowest = candidate;
  }
};

// The contacts of a sphere at `centre` (field frame) whose box lies over cells [c0, c1] x [r0, r1].
inline Candidates sphereCandidates(const Field& field, const Vec& centre, double radius, double margin, int c0, int c1,
                                   int r0, int r1) {
  Candidates contacts;
  if (centre[2] - radius - margin > field.highestSample(c0, c1, r0, r1)) return contacts;
  // A centre below the surface is inside a prism: pushed out along the normal of the triangle above it.
  const auto above = triangleAbove(field, centre[0], centre[1]);
  const Vec up = upwardNormal(above);
  const double height = (centre - above[0]).dot(up);
  if (height < 0) {
    contacts.add({height - radius, up, centre});
    return contacts;
  }
  for (int row = r0; row <= r1; ++row) {
    for (int column = c0; column <= c1; ++column) {
      for (const auto& triangle : cellTriangles(field, row, column)) {
        const Vec closest = closestOnTriangle(centre, triangle[0], triangle[1], triangle[2]);
        const Vec offset = centre - closest;
        const double distance = offset.norm();
        const double dist = distance - radius;
        if (dist >= margin || !isLocalMinimum(field, centre, closest, distance)) continue;
        // The centre on the surface itself (a zero-radius sphere): the triangle's normal is the direction.
        contacts.add({dist, distance > 1e-12 ? Vec(offset / distance) : upwardNormal(triangle), centre});
      }
    }
  }
  return contacts;
}

// Writes `contact` in MuJoCo's convention: the point midway between the two surfaces, the normal from geom 1 (the
// heightfield) to geom 2.
inline void writeContact(const mjData* d, int g1, double radius, const Candidate& contact, mjPreContact& con) {
  const Vec point = contact.centre - (radius + 0.5 * contact.dist) * contact.normal;
  Eigen::Map<Vec>(con.pos) = orientation(d, g1) * point + position(d, g1);
  Eigen::Map<Vec>(con.normal) = orientation(d, g1) * contact.normal;
  con.dist = contact.dist;
  mju_zero3(con.tangent);
}

inline int sphereOnTerrain(const mjModel* m, mjData* d, mjPreContact* con, int g1, int g2, mjtNum margin) {
  const int hfield = m->geom_dataid[g1];
  if (!isTerrain(m, hfield)) return originalFunction[mjGEOM_SPHERE](m, d, con, g1, g2, margin);
  const Field field(m, hfield);
  const Vec centre = toField(d, g1, d->geom_xpos + 3 * g2);
  const double radius = m->geom_size[3 * g2], reach = radius + margin;
  int c0, c1, r0, r1;
  if (!field.cellsUnder(centre[0] - reach, centre[0] + reach, centre[1] - reach, centre[1] + reach, c0, c1, r0, r1))
    return originalFunction[mjGEOM_SPHERE](m, d, con, g1, g2, margin);
  const Candidates contacts = sphereCandidates(field, centre, radius, margin, c0, c1, r0, r1);
  for (int k = 0; k < contacts.count; ++k) writeContact(d, g1, radius, contacts.found[k], con[k]);
  return contacts.count;
}

// The parameters (s, t) in [0, 1] of the closest points of segments p1 + s (q1 - p1) and p2 + t (q2 - p2)
// (Ericson, Real-Time Collision Detection, 5.1.9); s = 0 when they are parallel.
inline std::pair<double, double> closestOnSegments(const Vec& p1, const Vec& q1, const Vec& p2, const Vec& q2) {
  constexpr double kDegenerate = 1e-18;  // m^2: a segment this short is a point
  const Vec d1 = q1 - p1, d2 = q2 - p2, r = p1 - p2;
  const double a = d1.squaredNorm(), e = d2.squaredNorm(), f = d2.dot(r);
  if (a <= kDegenerate) return {0.0, e <= kDegenerate ? 0.0 : std::clamp(f / e, 0.0, 1.0)};
  const double c = d1.dot(r);
  if (e <= kDegenerate) return {std::clamp(-c / a, 0.0, 1.0), 0.0};
  const double b = d1.dot(d2), denominator = a * e - b * b;
  double s = denominator > 0.0 ? std::clamp((b * f - c * e) / denominator, 0.0, 1.0) : 0.0;
  double t = (b * s + f) / e;
  if (t < 0.0) {
    t = 0.0;
    s = std::clamp(-c / a, 0.0, 1.0);
  } else if (t > 1.0) {
    t = 1.0;
    s = std::clamp((b - c) / a, 0.0, 1.0);
  }
  return {s, t};
}

// Half the extent, along each axis of the heightfield's frame, of the box around geom g (MuJoCo's own
// bounding box for these types; the bounding sphere for the rest).
inline Vec halfExtent(const mjModel* m, const mjData* d, int g1, int g) {
  const mjtNum* size = m->geom_size + 3 * g;
  // rotation(k, i): axis i of the geom along axis k of the field.
  const Eigen::Matrix3d rotation = orientation(d, g1).transpose() * orientation(d, g);
  Vec extent;
  for (int k = 0; k < 3; ++k) {
    const double axial = std::abs(rotation(k, 2));
    switch (m->geom_type[g]) {
      case mjGEOM_BOX:
        extent[k] = std::abs(rotation(k, 0)) * size[0] + std::abs(rotation(k, 1)) * size[1] + axial * size[2];
        break;
      case mjGEOM_CAPSULE:
        extent[k] = axial * size[1] + size[0];
        break;
      case mjGEOM_CYLINDER:
        extent[k] = axial * size[1] + std::sqrt(std::max(0.0, 1.0 - axial * axial)) * size[0];
        break;
      default:
        extent[k] = m->geom_rbound[g];
    }
  }
  return extent;
}

// Where geom g2 stands over heightfield geom g1: its centre in the field's frame and the cells under its bounding
// box grown by `margin`, unless that box reaches past the field (MuJoCo decides there).
struct Footprint {
  Vec centre;
  int c0 = 0, c1 = 0, r0 = 0, r1 = 0;
  bool onField = false;
  // No contact is possible: the box is above every sample beneath it (the surface is never higher).
  bool clear = false;
  double highest = 0.0;  // the highest sample beneath the box, where onField
};

inline Footprint footprint(const Field& field, const mjModel* m, const mjData* d, int g1, int g2, mjtNum margin) {
  Footprint under;
  under.centre = toField(d, g1, d->geom_xpos + 3 * g2);
  const Vec& centre = under.centre;
  const Vec extent = halfExtent(m, d, g1, g2);
  under.onField = field.cellsUnder(centre[0] - extent[0] - margin, centre[0] + extent[0] + margin,
                                   centre[1] - extent[1] - margin, centre[1] + extent[1] + margin, under.c0, under.c1,
                                   under.r0, under.r1);
  if (under.onField) {
    under.highest = field.highestSample(under.c0, under.c1, under.r0, under.r1);
    under.clear = centre[2] - extent[2] - margin > under.highest;
  }
  return under;
}

// The contacts of a sphere of a geom whose footprint is on the field (a capsule's end, a box's corner): inside the
// geom's bounding box, so its own cells are on the field too.
inline Candidates sphereInFootprint(const Field& field, const Vec& centre, double radius, double margin) {
  const double reach = radius + margin;
  int c0, c1, r0, r1;
  field.cellsUnder(centre[0] - reach, centre[0] + reach, centre[1] - reach, centre[1] + reach, c0, c1, r0, r1);
  return sphereCandidates(field, centre, radius, margin, c0, c1, r0, r1);
}

// Writes every contact of `ends` (the spheres at a geom's ends or corners), then those of `between` (contacts
// between them) that are deeper than every contact of `ends` in their direction; returns the count.
inline int writeEndsAndBetween(const mjData* d, int g1, double radius, const Candidates* ends, int endCount,
                               const Candidates& between, mjPreContact* con) {
  int count = 0;
  for (int e = 0; e < endCount; ++e)
    for (int k = 0; k < ends[e].count; ++k) writeContact(d, g1, radius, ends[e].found[k], con[count++]);
  for (int k = 0; k < between.count; ++k) {
    const Candidate& candidate = between.found[k];
    bool deeper = true;
    for (int e = 0; e < endCount; ++e)
      for (int j = 0; j < ends[e].count; ++j) {
        const Candidate& end = ends[e].found[j];
        if (end.normal.dot(candidate.normal) > kSameDirection && candidate.dist > end.dist - 1e-9) deeper = false;
      }
    if (deeper) writeContact(d, g1, radius, candidate, con[count++]);
  }
  return count;
}

// A capsule is the spheres along its axis. Its two end spheres are found as feet are, so that a capsule lying on
// flat ground rests on both ends (as on MuJoCo's plane). A ridge or a bump under the axis between them (a stair's
// edge under a shank) is found from the closest points of the axis and the triangles' edges, and kept when it is
// deeper than the ends' contacts of its direction: on flat ground the axis is nowhere deeper than its lower end.
// MuJoCo's own function tests the capsule against each triangular prism beneath it; a shank sunk 1-2 cm into flat
// ground then met the prisms' inner walls, at normals tilted up to 90 degrees.
inline int capsuleOnTerrain(const mjModel* m, mjData* d, mjPreContact* con, int g1, int g2, mjtNum margin) {
  const int hfield = m->geom_dataid[g1];
  if (!isTerrain(m, hfield)) return originalFunction[mjGEOM_CAPSULE](m, d, con, g1, g2, margin);
  const Field field(m, hfield);
  const Footprint under = footprint(field, m, d, g1, g2, margin);
  if (!under.onField) return originalFunction[mjGEOM_CAPSULE](m, d, con, g1, g2, margin);
  if (under.clear) return 0;
  const Vec& centre = under.centre;

  const double radius = m->geom_size[3 * g2];
  const Vec axis = orientation(d, g1).transpose() * orientation(d, g2).col(2);
  const Vec a = centre - m->geom_size[3 * g2 + 1] * axis, b = centre + m->geom_size[3 * g2 + 1] * axis;
  const std::array<Candidates, 2> ends = {sphereInFootprint(field, a, radius, margin),
                                          sphereInFootprint(field, b, radius, margin)};

  constexpr double kInterior = 1e-9;  // of the axis' length: a closest point nearer an end is that end's
  Candidates middle;
  for (int row = under.r0; row <= under.r1; ++row) {
    for (int column = under.c0; column <= under.c1; ++column) {
      for (const auto& triangle : cellTriangles(field, row, column)) {
        for (int edge = 0; edge < 3; ++edge) {
          const Vec& p0 = triangle[edge];
          const Vec& p1 = triangle[(edge + 1) % 3];
          const auto [s, t] = closestOnSegments(a, b, p0, p1);
          if (s <= kInterior || s >= 1.0 - kInterior) continue;
          const Vec onAxis = a + s * (b - a), onEdge = p0 + t * (p1 - p0);
          // The axis through the ground: out along the normal of the triangle above, as a sunk sphere.
          const auto above = triangleAbove(field, onAxis[0], onAxis[1]);
          const Vec up = upwardNormal(above);
          const double height = (onAxis - above[0]).dot(up);
          if (height < 0) {
            middle.add({height - radius, up, onAxis});
            continue;
          }
          const Vec offset = onAxis - onEdge;
          const double distance = offset.norm();
          if (distance - radius >= margin) continue;
          if ((closestOnTriangle(onAxis, triangle[0], triangle[1], triangle[2]) - onEdge).norm() > 1e-9) continue;
          if (!isLocalMinimum(field, onAxis, onEdge, distance)) continue;
          middle.add({distance - radius, distance > 1e-12 ? Vec(offset / distance) : up, onAxis});
        }
      }
    }
  }

  return writeEndsAndBetween(d, g1, radius, ends.data(), static_cast<int>(ends.size()), middle, con);
}

// Where segment p-q, seen from above, crosses segment a-b: the parameter s in (0, 1) along p-q; false where they do
// not cross or are parallel seen from above (the surface is then linear along p-q as far as a-b goes, so p-q is
// deepest where it crosses the triangles' other edges, or at its ends).
inline bool crossingFromAbove(const Vec& p, const Vec& q, const Vec& a, const Vec& b, double& s) {
  const double ux = q.x() - p.x(), uy = q.y() - p.y(), vx = b.x() - a.x(), vy = b.y() - a.y();
  const double denominator = ux * vy - uy * vx;
  if (std::abs(denominator) < 1e-15) return false;
  const double wx = a.x() - p.x(), wy = a.y() - p.y();
  s = (wx * vy - wy * vx) / denominator;
  const double t = (wx * uy - wy * ux) / denominator;
  return s > 0.0 && s < 1.0 && t >= 0.0 && t <= 1.0;
}

// Edge p-q of a geom passing under terrain edge a-b where that edge is a ridge (the surface bends down on both
// sides): the contact of the two edges, along the normal common to both (pointing up), if it lies between the
// normals of the ridge's two triangles; a box lying flat across a ridge is then pushed straight up, where the
// triangle above its edge would push it down the slope.
inline std::optional<Candidate> ridgeContact(const Field& field, const Vec& p, const Vec& q, const Vec& a,
                                             const Vec& b) {
  Vec normal = (q - p).cross(b - a);
  if (normal.norm() < 1e-12) return std::nullopt;
  normal.normalize();
  if (normal.z() < 0) normal = -normal;
  // The triangles on either side of a-b, found just off its middle.
  const Vec middle = 0.5 * (a + b);
  Vec across(a.y() - b.y(), b.x() - a.x(), 0.0);
  across *= 1e-6 / across.norm();
  const auto one = triangleAbove(field, middle.x() + across.x(), middle.y() + across.y());
  const auto other = triangleAbove(field, middle.x() - across.x(), middle.y() - across.y());
  const Vec n1 = upwardNormal(one), n2 = upwardNormal(other);
  // A ridge: the far corner of each triangle lies below the other's plane.
  double below = 0.0;
  for (const Vec& corner : other) below = std::min(below, (corner - one[0]).dot(n1));
  if (below > -1e-9) return std::nullopt;
  // Between the two faces' normals (all three are perpendicular to a-b).
  const double spread = std::acos(std::clamp(n1.dot(n2), -1.0, 1.0));
  const double toOne = std::acos(std::clamp(normal.dot(n1), -1.0, 1.0));
  const double toOther = std::acos(std::clamp(normal.dot(n2), -1.0, 1.0));
  if (toOne + toOther > spread + 1e-9) return std::nullopt;
  const auto [s, t] = closestOnSegments(p, q, a, b);
  const Vec onGeom = p + s * (q - p);
  return Candidate{(onGeom - (a + t * (b - a))).dot(normal), normal, onGeom};
}

// The corners of a box, or points of a cylinder's two rims (field frame), and the edges between them.
struct Outline {
  static constexpr int kMaxPoints = 8, kMaxEdges = 12;
  std::array<Vec, kMaxPoints> points;
  std::array<std::pair<int, int>, kMaxEdges> edges;
  int pointCount = 0, edgeCount = 0;
};

// The box's 8 corners and 12 edges.
inline Outline boxOutline(const Vec& centre, const Eigen::Matrix3d& axes, const mjtNum* size) {
  Outline outline;
  for (int corner = 0; corner < 8; ++corner) {
    Vec offset = Vec::Zero();
    for (int k = 0; k < 3; ++k) offset += ((corner >> k) & 1 ? size[k] : -size[k]) * axes.col(k);
    outline.points[outline.pointCount++] = centre + offset;
  }
  for (int corner = 0; corner < 8; ++corner)
    for (int k = 0; k < 3; ++k)
      if (!((corner >> k) & 1)) outline.edges[outline.edgeCount++] = {corner, corner | (1 << k)};
  return outline;
}

// Each rim's lowest point and three more a quarter turn apart, and the edges between them: the line along the side
// between the two lowest points (where a cylinder lying on level ground touches it) and each rim's inscribed
// square (on which one standing on its end rests). On level ground the lowest points are exact.
inline Outline cylinderOutline(const Vec& centre, const Vec& axis, double radius, double halfLength) {
  Vec down = -Vec::UnitZ() + axis.z() * axis;  // straight down, less its part along the axis
  if (down.norm() < 1e-9) down = axis.unitOrthogonal();  // standing upright: every rim point is lowest
  down.normalize();
  const Vec side = axis.cross(down);
  const std::array<Vec, 4> around = {down, side, -down, -side};
  Outline outline;
  for (double end : {-halfLength, halfLength}) {
    const int first = outline.pointCount;
    for (int k = 0; k < 4; ++k) {
      outline.points[outline.pointCount++] = centre + end * axis + radius * around[k];
      outline.edges[outline.edgeCount++] = {first + k, first + (k + 1) % 4};
    }
  }
  outline.edges[outline.edgeCount++] = {0, 4};
  return outline;
}

// A sample higher than its six neighbours: every triangle around it falls away from it. The one place where the
// surface can reach into a geom's face while no corner of the geom is below it and no edge passes under a ridge.
inline bool isPeak(const Field& field, int r, int c) {
  constexpr int kNeighbours[6][2] = {{-1, -1}, {-1, 0}, {0, -1}, {0, 1}, {1, 0}, {1, 1}};  // along the diagonals too
  const float height = field.data[r * field.ncol + c];
  for (const auto& step : kNeighbours) {
    const int row = r + step[0], column = c + step[1];
    if (row < 0 || column < 0 || row >= field.nrow || column >= field.ncol) continue;
    if (field.data[row * field.ncol + column] >= height) return false;
  }
  return true;
}

// A point inside a box or a cylinder (field frame), pushed out through the nearest of the geom's faces that look
// down (a box's faces, a cylinder's cap and the part of its side below the axis) as a zero-radius contact on that
// face. The terrain is solid below its surface: a face looking up or sideways never meets a peak first.
template <int Type>
std::optional<Candidate> pushedOutOf(const Vec& point, const Vec& centre, const Eigen::Matrix3d& axes,
                                     const mjtNum* size) {
  const Vec local = axes.transpose() * (point - centre);
  std::optional<Candidate> nearest;
  // Out through a face whose outward normal is `outward`, `depth` away.
  const auto through = [&](const Vec& outward, double depth) {
    if (outward.z() >= 0.0 || (nearest && -depth <= nearest->dist)) return;
    nearest = Candidate{-depth, -outward, point + depth * outward};
  };
  if constexpr (Type == mjGEOM_BOX) {
    if ((local.cwiseAbs() - Vec(size[0], size[1], size[2])).maxCoeff() >= 0.0) return std::nullopt;
    for (int k = 0; k < 3; ++k) {
      const double side = axes(2, k) > 0.0 ? -1.0 : 1.0;  // the face of axis k that looks down
      through(side * axes.col(k), size[k] - side * local[k]);
    }
  } else {
    const double radial = std::hypot(local.x(), local.y());
    if (std::abs(local.z()) >= size[1] || radial >= size[0]) return std::nullopt;
    const double cap = axes(2, 2) > 0.0 ? -1.0 : 1.0;
    through(cap * axes.col(2), size[1] - cap * local.z());
    if (radial > 1e-12) through((axes.col(0) * local.x() + axes.col(1) * local.y()) / radial, size[0] - radial);
  }
  return nearest;
}

// A box or a cylinder: its outline's points are found as feet are (zero-radius spheres: one pushed straight up out
// of level ground, whatever the geom's pose), and a ridge that passes under an edge of the outline between two of
// them (a stair's edge under a thigh) where the edge, seen from above, crosses a triangle's edge: the surface along
// a straight edge is linear between such crossings, so the edge is deepest at one of them or at its ends. What
// reaches into a face without crossing an edge is a peak (isPeak), pushed up through the nearest face that looks
// down. (A cylinder's outline is its rims' inscribed squares: its cap over a ridge is judged by the square's edges.)
// MuJoCo's own function tests these geoms against each triangular prism beneath them: a thigh resting on level
// ground got normals tilted up to 90 degrees (benchmarks/results/terrain_contact_normals.md).
template <int Type>
int outlineOnTerrain(const mjModel* m, mjData* d, mjPreContact* con, int g1, int g2, mjtNum margin) {
  const int hfield = m->geom_dataid[g1];
  if (!isTerrain(m, hfield)) return originalFunction[Type](m, d, con, g1, g2, margin);
  const Field field(m, hfield);
  const Footprint under = footprint(field, m, d, g1, g2, margin);
  if (!under.onField) return originalFunction[Type](m, d, con, g1, g2, margin);
  if (under.clear) return 0;
  const Vec& centre = under.centre;

  const Eigen::Matrix3d axes = orientation(d, g1).transpose() * orientation(d, g2);
  const mjtNum* size = m->geom_size + 3 * g2;
  const Outline outline = Type == mjGEOM_BOX ? boxOutline(centre, axes, size)
                                             : cylinderOutline(centre, axes.col(2), size[0], size[1]);
  static_assert((Outline::kMaxPoints + 1) * kMaxSphereContacts <= mjMAXCONPAIR, "more than MuJoCo takes per pair");
  std::array<Candidates, Outline::kMaxPoints> corners;
  for (int k = 0; k < outline.pointCount; ++k) corners[k] = sphereInFootprint(field, outline.points[k], 0.0, margin);

  Candidates between;
  for (int e = 0; e < outline.edgeCount; ++e) {
    const Vec& p = outline.points[outline.edges[e].first];
    const Vec& q = outline.points[outline.edges[e].second];
    if (std::min(p.z(), q.z()) > under.highest) continue;  // above every sample: no ridge reaches it
    for (int row = under.r0; row <= under.r1; ++row) {
      for (int column = under.c0; column <= under.c1; ++column) {
        for (const auto& triangle : cellTriangles(field, row, column)) {
          for (int side = 0; side < 3; ++side) {
            const Vec& a = triangle[side];
            const Vec& b = triangle[(side + 1) % 3];
            double s;
            if (!crossingFromAbove(p, q, a, b, s)) continue;
            const Vec onEdge = p + s * (q - p);
            const auto above = triangleAbove(field, onEdge[0], onEdge[1]);
            const Vec up = upwardNormal(above);
            const double height = (onEdge - above[0]).dot(up);
            if (height >= 0) continue;
            between.add(ridgeContact(field, p, q, a, b).value_or(Candidate{height, up, onEdge}));
          }
        }
      }
    }
  }
  double lowest = INFINITY;
  for (int k = 0; k < outline.pointCount; ++k) lowest = std::min(lowest, outline.points[k].z());
  for (int row = under.r0; row <= under.r1 + 1; ++row) {
    for (int column = under.c0; column <= under.c1 + 1; ++column) {
      if (field.height(row, column) <= lowest || !isPeak(field, row, column)) continue;
      if (const auto peak = pushedOutOf<Type>(field.vertex(row, column), centre, axes, size)) between.add(*peak);
    }
  }
  return writeEndsAndBetween(d, g1, 0.0, corners.data(), outline.pointCount, between, con);
}

// Any other geom type: no contact while its bounding box is above every sample beneath it. MuJoCo would find
// none either (it tests the prisms whose top reaches the box's bottom), after setting up its GJK objects.
template <int Type>
int boundedOnTerrain(const mjModel* m, mjData* d, mjPreContact* con, int g1, int g2, mjtNum margin) {
  const int hfield = m->geom_dataid[g1];
  if (isTerrain(m, hfield) && footprint(Field(m, hfield), m, d, g1, g2, margin).clear) return 0;
  return originalFunction[Type](m, d, con, g1, g2, margin);
}

}  // namespace heightfield_contacts

// Installs the functions above for sphere, capsule, ellipsoid, cylinder and box geoms against heightfields
// (meshes and SDFs keep MuJoCo's). Idempotent and thread-safe.
inline void installHeightfieldContacts() {
  static std::once_flag once;
  std::call_once(once, [] {
    namespace hc = heightfield_contacts;
    for (int type = 0; type < mjNGEOMTYPES; ++type) hc::originalFunction[type] = mjCOLLISIONFUNC[mjGEOM_HFIELD][type];
    mjCOLLISIONFUNC[mjGEOM_HFIELD][mjGEOM_SPHERE] = hc::sphereOnTerrain;
    mjCOLLISIONFUNC[mjGEOM_HFIELD][mjGEOM_CAPSULE] = hc::capsuleOnTerrain;
    mjCOLLISIONFUNC[mjGEOM_HFIELD][mjGEOM_ELLIPSOID] = hc::boundedOnTerrain<mjGEOM_ELLIPSOID>;
    mjCOLLISIONFUNC[mjGEOM_HFIELD][mjGEOM_CYLINDER] = hc::outlineOnTerrain<mjGEOM_CYLINDER>;
    mjCOLLISIONFUNC[mjGEOM_HFIELD][mjGEOM_BOX] = hc::outlineOnTerrain<mjGEOM_BOX>;
  });
}

}  // namespace raisim
