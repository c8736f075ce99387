// A grid of terrain tiles as one MuJoCo heightfield: rows of tiles along x are difficulty levels,
// columns along y are tile types (legged_gym's layout). Built once from TerrainParameters and a seed;
// the same seed gives the same heights on every machine (the random numbers come from SplitMix64,
// not from the standard library's implementation-defined distributions).
//
// World coordinates: tile (level l, type t) covers x in [l, l+1) * tile_size, y in [t, t+1) * tile_size;
// a flat border of `border` metres surrounds the grid. Heights are sampled every horizontal_scale metres
// and rounded to vertical_scale; heightAt interpolates bilinearly between samples.
#pragma once

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "HeightfieldContacts.hpp"
#include "TerrainParameters.hpp"

namespace raisim {

class Terrain {
 public:
  struct Point {
    double x, y, z;
  };

  // Generates the heights of every tile; allocation happens here only.
  Terrain(const TerrainParameters& params, std::uint64_t seed) : params_(params), seed_(seed) {
    const double h = params_.horizontalScale;
    x0_ = -params_.border;
    y0_ = -params_.border;
    ncol_ = static_cast<int>(std::lround((params_.levels * params_.tileSize + 2.0 * params_.border) / h)) + 1;
    nrow_ = static_cast<int>(std::lround((params_.types * params_.tileSize + 2.0 * params_.border) / h)) + 1;
    heights_.assign(static_cast<std::size_t>(nrow_) * ncol_, 0.0f);
    for (int level = 0; level < params_.levels; ++level)
      for (int type = 0; type < params_.types; ++type) fillTile(level, type);
    auto [lowest, highest] = std::minmax_element(heights_.begin(), heights_.end());
    minHeight_ = *lowest;
    maxHeight_ = *highest;
    origins_.resize(static_cast<std::size_t>(params_.levels) * params_.types);
    for (int level = 0; level < params_.levels; ++level)
      for (int type = 0; type < params_.types; ++type) origins_[level * params_.types + type] = findOrigin(level, type);
  }

  // One terrain per (parameters, seed) in this process, shared by every env that asks: each env of a
  // VecEnv constructs its own objects, and 4096 copies of a 1.3-million-sample grid would cost
  // minutes and gigabytes. The cache holds weak references, so the terrain dies with its last user.
  static std::shared_ptr<const Terrain> shared(const TerrainParameters& params, std::uint64_t seed) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<const Terrain>> cache;
    const std::string key = cacheKey(params, seed);
    std::lock_guard<std::mutex> lock(mutex);
    if (auto existing = cache[key].lock()) return existing;
    auto made = std::make_shared<const Terrain>(params, seed);
    cache[key] = made;
    return made;
  }

  // Adds the heightfield asset and a world geom showing it to `spec`. When the parameters say
  // remove_planes (the default), the world's plane geoms are deleted first, and the terrain takes over
  // the first one's contact settings and material, so that it collides with what the floor collided with.
  // The heightfield gets the contacts of HeightfieldContacts.hpp (its name must begin with "terrain"), and
  // the model MuJoCo's midphase off.
  void addTo(mjSpec* spec, const std::string& name = "terrain") const {
    if (spec == nullptr) throw std::invalid_argument("Terrain::addTo: spec is null");
    if (name.rfind(heightfield_contacts::kTerrainPrefix, 0) != 0)
      throw std::invalid_argument("Terrain::addTo: the heightfield's name must begin with '" +
                                  std::string(heightfield_contacts::kTerrainPrefix) +
                                  "' (its contacts need it), got '" + name + "'");
    installHeightfieldContacts();
    // MuJoCo's midphase tests each robot body's bounding boxes against the heightfield's, which spans the whole
    // field and so always overlaps: on legged_gym's terrain it doubled the narrowphase's time for nothing
    // (benchmarks/results/terrain_cost.md). Bodies that collide with each other are then tested pair by pair.
    spec->option.disableflags |= mjDSBL_MIDPHASE;
    mjsBody* world = mjs_findBody(spec, "world");
    if (world == nullptr) throw std::runtime_error("Terrain::addTo: the spec has no world body");
    mjsGeom* floor = nullptr;
    std::vector<mjsElement*> planes;
    for (mjsElement* e = mjs_firstChild(world, mjOBJ_GEOM, 0); e != nullptr; e = mjs_nextChild(world, e, 0)) {
      mjsGeom* geom = mjs_asGeom(e);
      if (geom != nullptr && geom->type == mjGEOM_PLANE) planes.push_back(e);
    }

    mjsHField* field = mjs_addHField(spec);
    if (mjs_setName(field->element, name.c_str()) != 0)
      throw std::runtime_error("Terrain::addTo: cannot name the heightfield '" + name + "': " + mjs_getError(spec));
    field->nrow = nrow_;
    field->ncol = ncol_;
    const double radiusX = 0.5 * (ncol_ - 1) * params_.horizontalScale;
    const double radiusY = 0.5 * (nrow_ - 1) * params_.horizontalScale;
    // MuJoCo rescales the samples to [0, 1] (subtract the minimum, divide by the range) and multiplies by
    // size[2]; the geom sits at the minimum height, so heights come back as they were generated.
    const double range = maxHeight_ - minHeight_;
    field->size[0] = radiusX;
    field->size[1] = radiusY;
    field->size[2] = range > 0.0 ? range : params_.verticalScale;
    field->size[3] = params_.baseThickness;
    // mjsHField rows run bottom to top (increasing y), like heights_.
    mjs_setFloat(field->userdata, heights_.data(), static_cast<int>(heights_.size()));

    mjsGeom* geom = mjs_addGeom(world, nullptr);
    if (mjs_setName(geom->element, name.c_str()) != 0)
      throw std::runtime_error("Terrain::addTo: cannot name the geom '" + name + "': " + mjs_getError(spec));
    geom->type = mjGEOM_HFIELD;
    mjs_setString(geom->hfieldname, name.c_str());
    geom->pos[0] = x0_ + radiusX;
    geom->pos[1] = y0_ + radiusY;
    geom->pos[2] = minHeight_;
    geom->rgba[0] = 0.55f;
    geom->rgba[1] = 0.6f;
    geom->rgba[2] = 0.65f;
    geom->rgba[3] = 1.0f;
    if (!planes.empty() && params_.removePlanes) {
      floor = mjs_asGeom(planes.front());
      geom->contype = floor->contype;
      geom->conaffinity = floor->conaffinity;
      geom->condim = floor->condim;
      geom->priority = floor->priority;
      std::copy(floor->friction, floor->friction + 3, geom->friction);
      std::copy(floor->solref, floor->solref + mjNREF, geom->solref);
      std::copy(floor->solimp, floor->solimp + mjNIMP, geom->solimp);
      geom->margin = floor->margin;
      geom->gap = floor->gap;
      std::copy(floor->rgba, floor->rgba + 4, geom->rgba);
      geom->group = floor->group;
      // A plane's material tiles its texture per metre; on a 100 m heightfield the same texture would
      // be stretched once over the whole field, so the terrain keeps its own colour instead.
      for (mjsElement* plane : planes)
        if (mjs_delete(spec, plane) != 0)
          throw std::runtime_error(std::string("Terrain::addTo: cannot delete a plane geom: ") + mjs_getError(spec));
    }
  }

  // Terrain height at world (x, y); points beyond the grid get the height of the nearest edge sample.
  double heightAt(double x, double y) const {
    const double h = params_.horizontalScale;
    const double fc = std::clamp((x - x0_) / h, 0.0, static_cast<double>(ncol_ - 1));
    const double fr = std::clamp((y - y0_) / h, 0.0, static_cast<double>(nrow_ - 1));
    // NaN coordinates would survive clamp and index out of bounds; they read the corner instead.
    const int c = std::isnan(fc) ? 0 : std::min(static_cast<int>(fc), ncol_ - 2);
    const int r = std::isnan(fr) ? 0 : std::min(static_cast<int>(fr), nrow_ - 2);
    const double tx = std::isnan(fc) ? 0.0 : fc - c;
    const double ty = std::isnan(fr) ? 0.0 : fr - r;
    const float* row0 = heights_.data() + static_cast<std::size_t>(r) * ncol_;
    const float* row1 = row0 + ncol_;
    return (1.0 - ty) * ((1.0 - tx) * row0[c] + tx * row0[c + 1]) + ty * ((1.0 - tx) * row1[c] + tx * row1[c + 1]);
  }

  // Spawn point of tile (level, type): its centre, at the highest ground within 1 m (legged_gym's rule).
  const Point& origin(int level, int type) const {
    checkTile(level, type);
    return origins_[level * params_.types + type];
  }

  TileType tileType(int type) const {
    checkTile(0, type);
    return params_.tileType(type);
  }

  const char* proportionKey(int type) const {
    checkTile(0, type);
    return params_.proportionKey(type);
  }

  const TerrainParameters& parameters() const { return params_; }
  std::uint64_t seed() const { return seed_; }
  int levels() const { return params_.levels; }
  int types() const { return params_.types; }
  // Samples, row-major, rows along y (nrow) and columns along x (ncol); sample (r, c) sits at
  // (xMin() + c * horizontal_scale, yMin() + r * horizontal_scale).
  const std::vector<float>& heights() const { return heights_; }
  int nrow() const { return nrow_; }
  int ncol() const { return ncol_; }
  double xMin() const { return x0_; }
  double yMin() const { return y0_; }
  double minHeight() const { return minHeight_; }
  double maxHeight() const { return maxHeight_; }

 private:
  // SplitMix64: tiny, fast, and identical on every platform.
  class Random {
   public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
      std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return z ^ (z >> 31);
    }
    double uniform(double low, double high) { return low + (high - low) * ((next() >> 11) * 0x1.0p-53); }

   private:
    std::uint64_t state_;
  };

  struct Rectangle {
    double u0, v0, u1, v1, height;
    bool contains(double u, double v) const { return u >= u0 && u < u1 && v >= v0 && v < v1; }
  };

  void checkTile(int level, int type) const {
    if (level < 0 || level >= params_.levels || type < 0 || type >= params_.types)
      throw std::out_of_range("terrain tile (level " + std::to_string(level) + ", type " + std::to_string(type) +
                              ") does not exist; levels 0.." + std::to_string(params_.levels - 1) + ", types 0.." +
                              std::to_string(params_.types - 1));
  }

  // Every parameter, exactly (%.17g round-trips a double). Formatted with snprintf rather than a stream: a stream
  // crashed here on a machine whose compiler's libstdc++ headers were newer than the library loaded at run time.
  static std::string cacheKey(const TerrainParameters& p, std::uint64_t seed) {
    std::string key = std::to_string(seed);
    auto add = [&key](double value) {
      char text[32];
      std::snprintf(text, sizeof(text), " %.17g", value);
      key += text;
    };
    for (double v : {double(p.levels), double(p.types), p.tileSize, p.border, p.horizontalScale, p.verticalScale})
      add(v);
    for (double v : p.proportions) add(v);
    for (const DifficultyRange& r :
         {p.slope, p.stepHeight, p.obstacleHeight, p.stoneSize, p.stoneDistance, p.gapSize}) {
      add(r.easy);
      add(r.hard);
    }
    for (double v : {p.stepWidth, p.obstacleMinSize, p.obstacleMaxSize, double(p.obstacleCount), p.roughness,
                     p.roughnessScale, p.platformSize, p.pitDepth, p.baseThickness, double(p.removePlanes)})
      add(v);
    return key;
  }

  // Heights of one tile, written into every sample whose position falls inside it.
  void fillTile(int level, int type) {
    const TerrainParameters& p = params_;
    const double L = p.tileSize;
    const double d = p.difficulty(level);
    const TileType kind = p.tileType(type);
    Random random(seed_ * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(level) * 1000003ull + type);

    // Noise on a coarse lattice, interpolated (legged_gym draws it at 0.2 m and upsamples).
    const int lattice = static_cast<int>(std::ceil(L / p.roughnessScale)) + 1;
    std::vector<double> noise;
    if (kind == TileType::kRough || kind == TileType::kRoughSlope) {
      noise.resize(static_cast<std::size_t>(lattice) * lattice);
      for (double& v : noise) v = random.uniform(-p.roughness, p.roughness);
    }
    std::vector<Rectangle> rectangles;
    if (kind == TileType::kDiscreteObstacles) {
      const double h = p.obstacleHeight.at(d);
      const double choices[4] = {-h, -0.5 * h, 0.5 * h, h};
      for (int i = 0; i < p.obstacleCount; ++i) {
        const double sizeU = random.uniform(p.obstacleMinSize, p.obstacleMaxSize);
        const double sizeV = random.uniform(p.obstacleMinSize, p.obstacleMaxSize);
        const double u0 = random.uniform(0.0, std::max(0.0, L - sizeU));
        const double v0 = random.uniform(0.0, std::max(0.0, L - sizeV));
        const double height = choices[std::min<std::uint64_t>(3, random.next() >> 62)];
        rectangles.push_back({u0, v0, u0 + sizeU, v0 + sizeV, height});
      }
    }
    if (kind == TileType::kSteppingStones) {
      // Rows of square stones with `distance` between them, each row shifted by a random offset.
      const double size = p.stoneSize.at(d);
      const double distance = p.stoneDistance.at(d);
      for (double v = 0.0; v < L; v += size + distance) {
        const double shift = random.uniform(0.0, size);
        for (double u = -shift; u < L; u += size + distance)
          rectangles.push_back({std::max(0.0, u), v, std::min(L, u + size), std::min(L, v + size), 0.0});
      }
    }

    const double h = p.horizontalScale;
    const double tileX0 = level * L;
    const double tileY0 = type * L;
    const int c0 = std::max(0, static_cast<int>(std::ceil((tileX0 - x0_) / h - 1e-9)));
    const int r0 = std::max(0, static_cast<int>(std::ceil((tileY0 - y0_) / h - 1e-9)));
    for (int r = r0; r < nrow_; ++r) {
      const double v = y0_ + r * h - tileY0;
      if (v >= L - 1e-9) break;
      for (int c = c0; c < ncol_; ++c) {
        const double u = x0_ + c * h - tileX0;
        if (u >= L - 1e-9) break;
        const double height = tileHeight(kind, d, u, v, noise, lattice, rectangles);
        heights_[static_cast<std::size_t>(r) * ncol_ + c] =
            static_cast<float>(std::round(height / p.verticalScale) * p.verticalScale);
      }
    }
  }

  // Height of a tile of `kind` at local coordinates (u, v) in [0, tile_size)^2.
  double tileHeight(TileType kind, double d, double u, double v, const std::vector<double>& noise, int lattice,
                    const std::vector<Rectangle>& rectangles) const {
    const TerrainParameters& p = params_;
    const double L = p.tileSize;
    const double half = 0.5 * L;
    // Distance to the tile's edge: pyramids rise with it; the platform is where it exceeds (L - P) / 2.
    const double edge = std::min(std::min(u, L - u), std::min(v, L - v));
    const double rise = 0.5 * (L - p.platformSize);
    const bool onPlatform = std::abs(u - half) < 0.5 * p.platformSize && std::abs(v - half) < 0.5 * p.platformSize;
    auto roughAt = [&]() {
      const double fu = std::clamp(u / p.roughnessScale, 0.0, lattice - 1.0);
      const double fv = std::clamp(v / p.roughnessScale, 0.0, lattice - 1.0);
      const int i = std::min(static_cast<int>(fu), lattice - 2);
      const int j = std::min(static_cast<int>(fv), lattice - 2);
      const double tu = fu - i, tv = fv - j;
      const double* row0 = noise.data() + static_cast<std::size_t>(j) * lattice;
      const double* row1 = row0 + lattice;
      return (1 - tv) * ((1 - tu) * row0[i] + tu * row0[i + 1]) + tv * ((1 - tu) * row1[i] + tu * row1[i + 1]);
    };
    switch (kind) {
      case TileType::kFlat: return 0.0;
      case TileType::kRough: return roughAt();
      // A true pyramid: every face has the slope angle (legged_gym multiplies two ramps, which bends the faces).
      case TileType::kSlopeUp: return std::tan(p.slope.at(d)) * std::min(edge, rise);
      case TileType::kSlopeDown: return -std::tan(p.slope.at(d)) * std::min(edge, rise);
      case TileType::kRoughSlope: return std::tan(p.slope.at(d)) * std::min(edge, rise) + roughAt();
      case TileType::kStairsUp:
      case TileType::kStairsDown: {
        // legged_gym's pyramid stairs: rings of step_width, each one step higher, until the centre square
        // would be no larger than the platform.
        const double width = p.stepWidth;
        const double steps = std::max(0.0, std::ceil((L - p.platformSize) / (2.0 * width) - 1e-9));
        const double step = std::min(std::floor(edge / width), steps) * p.stepHeight.at(d);
        return kind == TileType::kStairsUp ? step : -step;
      }
      case TileType::kDiscreteObstacles: {
        if (onPlatform) return 0.0;
        double height = 0.0;
        for (const Rectangle& rect : rectangles)
          if (rect.contains(u, v)) height = rect.height;  // later rectangles cover earlier ones
        return height;
      }
      case TileType::kSteppingStones: {
        if (onPlatform) return 0.0;
        for (const Rectangle& rect : rectangles)
          if (rect.contains(u, v)) return rect.height;
        return -p.pitDepth;
      }
      case TileType::kGaps: {
        // A square trench of gap_size around the platform (legged_gym's gap terrain).
        const double gap = p.gapSize.at(d);
        const double reach = std::max(std::abs(u - half), std::abs(v - half));
        return reach >= 0.5 * p.platformSize && reach < 0.5 * p.platformSize + gap ? -p.pitDepth : 0.0;
      }
    }
    return 0.0;
  }

  Point findOrigin(int level, int type) const {
    const double L = params_.tileSize;
    const double cx = (level + 0.5) * L, cy = (type + 0.5) * L;
    double top = -1e300;
    const double h = params_.horizontalScale;
    for (double dy = -1.0; dy <= 1.0 + 1e-9; dy += h)
      for (double dx = -1.0; dx <= 1.0 + 1e-9; dx += h) top = std::max(top, heightAt(cx + dx, cy + dy));
    return {cx, cy, top};
  }

  TerrainParameters params_;
  std::uint64_t seed_;
  double x0_ = 0.0, y0_ = 0.0;
  int nrow_ = 0, ncol_ = 0;
  std::vector<float> heights_;
  double minHeight_ = 0.0, maxHeight_ = 0.0;
  std::vector<Point> origins_;
};

}  // namespace raisim
