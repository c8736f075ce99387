// One env's place on the terrain: its level (row of tiles, difficulty) and type (column), moved after
// each episode by legged_gym's rule.
//
//   curriculum:
//     max_init_level: 5   # envs start at a random level in [min_init_level, max_init_level]
//     min_init_level: 0   # equal to max_init_level (and enabled: false) holds every env on one level
//     enabled: true       # false: the level never changes
// Each env owns its curriculum; update() allocates nothing and touches only this env's state, so envs
// stepped on different threads need no locks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../Config.hpp"
#include "TerrainParameters.hpp"

namespace raisim {

class TerrainCurriculum {
 public:
  enum class Move { kStay, kUp, kDown, kRandom };

  // Env `envIndex` of `numEnvs` gets type envIndex * types / numEnvs (types spread evenly over the envs,
  // as legged_gym does) and a random level in [min_init_level, max_init_level].
  TerrainCurriculum(const Config& cfg, const TerrainParameters& terrain, int envIndex, int numEnvs, std::uint64_t seed)
      : levels_(terrain.levels), tileSize_(terrain.tileSize), state_(seed * 0x9E3779B97F4A7C15ull + envIndex + 1) {
    auto bad = [&](const std::string& key, const std::string& why) {
      const std::string path = cfg.path().empty() ? key : cfg.path() + "." + key;
      throw std::invalid_argument("cfg key '" + path + "' " + why + " (in " + cfg.source() + ")");
    };
    if (numEnvs < 1 || envIndex < 0 || envIndex >= numEnvs)
      throw std::invalid_argument("TerrainCurriculum: env index " + std::to_string(envIndex) + " is not in [0, " +
                                  std::to_string(numEnvs) + ")");
    maxInitLevel_ = cfg.get<int>("max_init_level", 5);
    if (maxInitLevel_ < 0) bad("max_init_level", "must be >= 0, got " + std::to_string(maxInitLevel_));
    maxInitLevel_ = std::min(maxInitLevel_, levels_ - 1);
    const int minInitLevel = cfg.get<int>("min_init_level", 0);
    if (minInitLevel < 0 || minInitLevel > maxInitLevel_)
      bad("min_init_level", "must be in [0, max_init_level = " + std::to_string(maxInitLevel_) + "], got " +
                                std::to_string(minInitLevel));
    enabled_ = cfg.get<bool>("enabled", true);
    type_ = static_cast<int>(static_cast<long long>(envIndex) * terrain.types / numEnvs);
    level_ = minInitLevel + randomLevel(maxInitLevel_ - minInitLevel + 1);
  }

  int level() const { return level_; }
  int type() const { return type_; }
  int levels() const { return levels_; }
  // Sets the level directly (evaluation on a chosen difficulty, tests); clamped to the grid.
  void setLevel(int level) { level_ = std::clamp(level, 0, levels_ - 1); }

  // After an episode: up a level when the robot walked farther than half a tile, down one when it
  // walked less than half its commanded distance (|command| * episode length); robots that pass the top
  // level go to a random level, so that the hardest tiles stay shared with all the others.
  Move update(double distanceWalked, double commandedDistance) {
    if (!enabled_) return Move::kStay;
    if (distanceWalked > 0.5 * tileSize_) {
      if (level_ + 1 >= levels_) {
        level_ = randomLevel(levels_);
        return Move::kRandom;
      }
      ++level_;
      return Move::kUp;
    }
    if (distanceWalked < 0.5 * commandedDistance) {
      if (level_ == 0) return Move::kStay;
      --level_;
      return Move::kDown;
    }
    return Move::kStay;
  }

 private:
  // A uniform level in [0, count), from SplitMix64 so the sequence is the same on every platform.
  int randomLevel(int count) {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<int>(z % static_cast<std::uint64_t>(count));
  }

  int levels_;
  double tileSize_;
  std::uint64_t state_;
  int maxInitLevel_ = 5;
  bool enabled_ = true;
  int type_ = 0;
  int level_ = 0;
};

}  // namespace raisim
