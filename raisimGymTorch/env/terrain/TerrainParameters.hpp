// The terrain's cfg block: grid layout, resolution, which tile types and how hard each level is.
//
//   terrain:
//     levels: 10                 # rows of tiles along x; level l has difficulty l / (levels - 1)
//     types: 20                  # columns of tiles along y; each column is one tile type
//     tile_size: 8.0             # m, square tiles
//     border: 30.0               # m of flat ground around the grid, so that no robot walks off an edge
//     horizontal_scale: 0.1      # m between heightfield samples
//     vertical_scale: 0.005      # m; heights are rounded to multiples of it
//     proportions: {smooth_slope: 0.1, rough_slope: 0.1, stairs_up: 0.35, stairs_down: 0.25,
//                   discrete_obstacles: 0.2}   # also: flat, rough, stepping_stones, gaps
//     slope: [0.0, 0.4]          # rad, at difficulty 0 and 1 (linear in between)
//     step_height: [0.05, 0.23]  # m
//     step_width: 0.31           # m
//     obstacle_height: [0.05, 0.25]
//     roughness: 0.05            # m, amplitude of the uniform noise of `rough` and `rough_slope`
//     ...
// Defaults are legged_gym's rough-terrain numbers. Every check names the key and the cfg file.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "../Config.hpp"

namespace raisim {

// What one column of tiles holds.
enum class TileType {
  kFlat,
  kRough,
  kSlopeUp,
  kSlopeDown,
  kRoughSlope,
  kStairsUp,
  kStairsDown,
  kDiscreteObstacles,
  kSteppingStones,
  kGaps,
};

// The name of a tile type (slopes up and down are two types under one proportion key, as in legged_gym).
inline const char* tileTypeName(TileType type) {
  switch (type) {
    case TileType::kFlat: return "flat";
    case TileType::kRough: return "rough";
    case TileType::kSlopeUp: return "slope_up";
    case TileType::kSlopeDown: return "slope_down";
    case TileType::kRoughSlope: return "rough_slope";
    case TileType::kStairsUp: return "stairs_up";
    case TileType::kStairsDown: return "stairs_down";
    case TileType::kDiscreteObstacles: return "discrete_obstacles";
    case TileType::kSteppingStones: return "stepping_stones";
    case TileType::kGaps: return "gaps";
  }
  return "?";
}

// A quantity that grows linearly with difficulty: value(d) = easy + d * (hard - easy).
struct DifficultyRange {
  double easy = 0.0;
  double hard = 0.0;
  double at(double difficulty) const { return easy + difficulty * (hard - easy); }
};

struct TerrainParameters {
  // The proportion keys in the order their columns are laid out along y.
  static constexpr std::array<const char*, 9> kProportionKeys = {
      "flat", "rough", "smooth_slope", "rough_slope", "stairs_up", "stairs_down", "discrete_obstacles",
      "stepping_stones", "gaps"};
  // A heightfield beyond this many samples (4 bytes each, copied into every model) is a cfg mistake.
  static constexpr double kMaxSamples = 64.0 * 1024 * 1024;

  int levels = 10;
  int types = 20;
  double tileSize = 8.0;
  double border = 30.0;
  double horizontalScale = 0.1;
  double verticalScale = 0.005;
  std::array<double, kProportionKeys.size()> proportions = {0.0, 0.0, 0.1, 0.1, 0.35, 0.25, 0.2, 0.0, 0.0};
  DifficultyRange slope{0.0, 0.4};
  DifficultyRange stepHeight{0.05, 0.23};
  double stepWidth = 0.31;
  DifficultyRange obstacleHeight{0.05, 0.25};
  double obstacleMinSize = 1.0;
  double obstacleMaxSize = 2.0;
  int obstacleCount = 20;
  double roughness = 0.05;
  double roughnessScale = 0.2;  // m between the noise's independent samples (legged_gym's downsampling)
  double platformSize = 3.0;    // m, flat square at the centre of every pyramid, obstacle and gap tile
  DifficultyRange stoneSize{1.5 * 1.05, 1.5 * 0.05};
  DifficultyRange stoneDistance{0.05, 0.1};
  DifficultyRange gapSize{0.0, 1.0};
  double pitDepth = 1.0;        // m below the stones and around the gap platforms
  double baseThickness = 1.0;   // m of solid below the lowest point, so that nothing tunnels out below
  bool removePlanes = true;     // addTo deletes the world's plane geoms: a plane at z = 0 would cut off stairs down

  // Reads the `terrain` block (or a block that is itself the terrain block) and checks every value.
  static TerrainParameters fromConfig(const Config& cfg) {
    TerrainParameters p;
    const std::string& source = cfg.source();
    auto path = [&](const std::string& key) { return cfg.path().empty() ? key : cfg.path() + "." + key; };
    auto bad = [&](const std::string& key, const std::string& why) {
      throw std::invalid_argument("cfg key '" + path(key) + "' " + why + " (in " + source + ")");
    };
    auto positive = [&](const std::string& key, double fallback) {
      const double value = cfg.get<double>(key, fallback);
      if (!(value > 0.0) || !std::isfinite(value)) bad(key, "must be a positive number, got " + std::to_string(value));
      return value;
    };
    auto nonNegative = [&](const std::string& key, double fallback) {
      const double value = cfg.get<double>(key, fallback);
      if (!(value >= 0.0) || !std::isfinite(value)) bad(key, "must be >= 0, got " + std::to_string(value));
      return value;
    };
    auto range = [&](const std::string& key, DifficultyRange fallback) {
      if (!cfg.has(key)) return fallback;
      const auto values = cfg[key].as<std::vector<double>>();
      if (values.size() != 2) bad(key, "must be [easy, hard] (two numbers), got " + std::to_string(values.size()));
      for (double v : values)
        if (!std::isfinite(v) || v < 0.0) bad(key, "must hold numbers >= 0, got " + std::to_string(v));
      return DifficultyRange{values[0], values[1]};
    };
    auto count = [&](const std::string& key, int fallback) {
      const int value = cfg.get<int>(key, fallback);
      if (value < 1) bad(key, "must be an integer >= 1, got " + std::to_string(value));
      return value;
    };

    p.levels = count("levels", p.levels);
    p.types = count("types", p.types);
    p.tileSize = positive("tile_size", p.tileSize);
    p.border = nonNegative("border", p.border);
    p.horizontalScale = positive("horizontal_scale", p.horizontalScale);
    p.verticalScale = positive("vertical_scale", p.verticalScale);
    if (p.tileSize < 2.0 * p.horizontalScale)
      bad("tile_size", "must span at least two samples of horizontal_scale (" + std::to_string(p.horizontalScale) +
                           " m), got " + std::to_string(p.tileSize));
    const double samples = (p.levels * p.tileSize + 2.0 * p.border) / p.horizontalScale *
                           ((p.types * p.tileSize + 2.0 * p.border) / p.horizontalScale);
    if (samples > kMaxSamples)
      bad("horizontal_scale", "gives a heightfield of " + std::to_string(samples) + " samples, more than the " +
                                  std::to_string(kMaxSamples) + " allowed; use fewer/smaller tiles or a coarser scale");

    if (cfg.has("proportions")) {
      const Config& block = cfg["proportions"];
      p.proportions.fill(0.0);
      for (const auto& key : block.keys()) {
        std::size_t index = kProportionKeys.size();
        for (std::size_t i = 0; i < kProportionKeys.size(); ++i)
          if (key == kProportionKeys[i]) index = i;
        if (index == kProportionKeys.size()) {
          std::string valid;
          for (const char* name : kProportionKeys) valid += std::string(valid.empty() ? "" : ", ") + name;
          bad("proportions." + key, "is not a terrain type; valid: " + valid);
        }
        const double value = block[key].as<double>();
        if (!(value >= 0.0) || !std::isfinite(value))
          bad("proportions." + key, "must be >= 0, got " + std::to_string(value));
        p.proportions[index] = value;
      }
      double sum = 0.0;
      for (double v : p.proportions) sum += v;
      if (!(sum > 0.0)) bad("proportions", "must sum to a positive number, got " + std::to_string(sum));
    }
    p.slope = range("slope", p.slope);
    if (p.slope.easy >= 1.5 || p.slope.hard >= 1.5) bad("slope", "must be below 1.5 rad (a wall is not a slope)");
    p.stepHeight = range("step_height", p.stepHeight);
    p.stepWidth = positive("step_width", p.stepWidth);
    p.obstacleHeight = range("obstacle_height", p.obstacleHeight);
    p.obstacleMinSize = positive("obstacle_min_size", p.obstacleMinSize);
    p.obstacleMaxSize = positive("obstacle_max_size", p.obstacleMaxSize);
    if (p.obstacleMaxSize < p.obstacleMinSize)
      bad("obstacle_max_size", "must be >= obstacle_min_size (" + std::to_string(p.obstacleMinSize) + ")");
    p.obstacleCount = cfg.get<int>("obstacle_count", p.obstacleCount);
    if (p.obstacleCount < 0) bad("obstacle_count", "must be >= 0, got " + std::to_string(p.obstacleCount));
    p.roughness = nonNegative("roughness", p.roughness);
    p.roughnessScale = positive("roughness_scale", p.roughnessScale);
    p.platformSize = nonNegative("platform_size", p.platformSize);
    if (p.platformSize > p.tileSize)
      bad("platform_size", "must not exceed tile_size (" + std::to_string(p.tileSize) + ")");
    p.stoneSize = range("stone_size", p.stoneSize);
    if (p.stoneSize.easy <= 0.0 || p.stoneSize.hard <= 0.0) bad("stone_size", "must be positive at both ends");
    p.stoneDistance = range("stone_distance", p.stoneDistance);
    p.gapSize = range("gap_size", p.gapSize);
    p.pitDepth = nonNegative("pit_depth", p.pitDepth);
    p.baseThickness = positive("base_thickness", p.baseThickness);
    p.removePlanes = cfg.get<bool>("remove_planes", p.removePlanes);
    return p;
  }

  // Difficulty of a level in [0, 1]; the top level is the hardest setting.
  double difficulty(int level) const { return levels > 1 ? static_cast<double>(level) / (levels - 1) : 1.0; }

  // The proportion key (index into kProportionKeys) whose share of the columns holds column `type`, and how far
  // into that share the column lies (0 to 1): the columns are shared out by the proportions, in key order.
  struct Share {
    std::size_t key = 0;
    double position = 0.0;
  };
  Share share(int type) const {
    double sum = 0.0;
    for (double v : proportions) sum += v;
    // The centre of the column decides, so that a proportion of 0.1 with 20 columns gets exactly 2 columns.
    const double choice = (type + 0.5) / types * sum;
    double cumulative = 0.0;
    for (std::size_t i = 0; i < proportions.size(); ++i) {
      if (proportions[i] <= 0.0) continue;
      const double start = cumulative;
      cumulative += proportions[i];
      if (choice < cumulative || i + 1 == proportions.size() || cumulative >= sum)
        return {i, (choice - start) / proportions[i]};
    }
    return {};
  }

  // The cfg key whose proportion column `type` comes from (slopes up and down share `smooth_slope`).
  const char* proportionKey(int type) const { return kProportionKeys[share(type).key]; }

  TileType tileType(int type) const {
    const Share s = share(type);
    switch (s.key) {
      case 0: return TileType::kFlat;
      case 1: return TileType::kRough;
      // legged_gym: the first half of the smooth-slope columns go down, the rest up.
      case 2: return s.position < 0.5 ? TileType::kSlopeDown : TileType::kSlopeUp;
      case 3: return TileType::kRoughSlope;
      case 4: return TileType::kStairsUp;
      case 5: return TileType::kStairsDown;
      case 6: return TileType::kDiscreteObstacles;
      case 7: return TileType::kSteppingStones;
      default: return TileType::kGaps;
    }
  }
};

}  // namespace raisim
