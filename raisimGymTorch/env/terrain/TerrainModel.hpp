// A robot's MJCF with a Terrain added (Terrain::addTo through mjSpec), compiled once per process for each
// (file, timestep, terrain) while any World uses it: the 4096 envs of a VecEnv share one model as they share
// one Terrain.
#pragma once

#include <mujoco/mujoco.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "../World.hpp"
#include "Terrain.hpp"

namespace raisim {

inline std::shared_ptr<const mjModel> loadModelWithTerrain(const std::string& path, double timestep,
                                                           const std::shared_ptr<const Terrain>& terrain) {
  if (terrain == nullptr) return loadModel(path, timestep);
  static std::mutex mutex;
  static std::map<std::tuple<std::string, double, const Terrain*>, std::weak_ptr<const mjModel>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  detail::installMujocoMessageHandlers();
  if (!std::filesystem::is_regular_file(path)) throw ModelFileNotFound("model file not found: '" + path + "'");
  const auto key = std::make_tuple(std::filesystem::absolute(path).lexically_normal().string(), timestep, terrain.get());
  if (auto model = cache[key].lock()) return model;
  char error[1024] = "";
  std::unique_ptr<mjSpec, detail::SpecDeleter> spec(mj_parseXML(path.c_str(), nullptr, error, sizeof(error)));
  if (!spec) throw std::invalid_argument("MuJoCo rejected model file '" + path + "': " + detail::printableText(error));
  terrain->addTo(spec.get());
  mjModel* compiled = mj_compile(spec.get(), nullptr);
  if (compiled == nullptr)
    throw std::invalid_argument("MuJoCo could not compile '" + path + "' with the terrain: " + mjs_getError(spec.get()));
  compiled->opt.timestep = timestep;
  // The model's deleter holds the terrain, so the terrain address in a live model's key cannot be reused.
  auto model = std::shared_ptr<const mjModel>(compiled, [terrain](mjModel* m) { mj_deleteModel(m); });
  cache[key] = model;
  return model;
}

}  // namespace raisim
