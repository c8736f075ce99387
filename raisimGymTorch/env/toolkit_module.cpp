// raisimGymTorch.env.bin._toolkit: the C++ toolkit components (terrain, height scan, terrain curriculum, velocity
// commands, actuator network)
// as Python objects, so that tests, previews and benchmarks run the same code the environments run.
// This file is only the boundary: it converts and checks Python values and calls the headers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mujoco/mujoco.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "Config.hpp"
#include "locomotion/VelocityCommand.hpp"
#include "terrain/HeightScan.hpp"
#include "toolkit_actuator.hpp"
#include "terrain/Terrain.hpp"
#include "terrain/TerrainCurriculum.hpp"
#include "terrain/TerrainParameters.hpp"

namespace py = pybind11;
using raisim::Config;

namespace {

// MuJoCo's internal timers read this clock (mjcb_time) when legged_rollout profiles; microseconds.
mjtNum steadyMicroseconds() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A Python dict/list/scalar tree as a Config, every node named by its dotted path.
Config toConfig(const py::handle& value, const std::string& path, const std::shared_ptr<const std::string>& source,
                int depth) {
  if (depth > 32) throw py::value_error("cfg is nested too deeply at key '" + path + "' (in " + *source + ")");
  if (value.is_none()) return Config::null(path, source);
  if (py::isinstance<py::bool_>(value)) return Config::scalar(value.cast<bool>(), path, source);
  if (py::isinstance<py::int_>(value)) return Config::scalar(value.cast<long long>(), path, source);
  if (py::isinstance<py::float_>(value)) return Config::scalar(value.cast<double>(), path, source);
  if (py::isinstance<py::str>(value)) return Config::scalar(value.cast<std::string>(), path, source);
  if (py::isinstance<py::dict>(value)) {
    Config node = Config::mapping(path, source);
    for (auto item : value.cast<py::dict>()) {
      const std::string key = py::str(item.first).cast<std::string>();
      node.addChild(key, toConfig(item.second, path.empty() ? key : path + "." + key, source, depth + 1));
    }
    return node;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    Config node = Config::sequence(path, source);
    std::size_t index = 0;
    for (auto item : value)
      node.addChild("", toConfig(item, path + "[" + std::to_string(index++) + "]", source, depth + 1));
    return node;
  }
  throw py::value_error("cfg key '" + path + "' has a value of unsupported type " +
                        py::str(py::type::of(value)).cast<std::string>() + " (in " + *source + ")");
}

// The block as a Config whose keys are named `prefix.key`; None means all defaults.
Config blockConfig(const py::object& cfg, const std::string& prefix, const std::string& source) {
  auto shared = std::make_shared<const std::string>(source);
  if (cfg.is_none()) return Config::mapping(prefix, shared);
  if (!py::isinstance<py::dict>(cfg))
    throw py::value_error("cfg key '" + prefix + "' must be a mapping, got " +
                          py::str(py::type::of(cfg)).cast<std::string>() + " (in " + source + ")");
  return toConfig(cfg, prefix, shared, 0);
}

// A key that no component read is a typo; name it instead of ignoring it.
void rejectUnread(const Config& cfg) {
  const auto unread = cfg.unreadKeys();
  if (unread.empty()) return;
  std::string names;
  for (const auto& name : unread) names += (names.empty() ? "'" : ", '") + name + "'";
  throw py::value_error("unknown cfg key " + names + " (in " + cfg.source() + ")");
}

// The commands one env would draw, with a generator of its own.
struct SeededVelocityCommand {
  raisim::VelocityCommand command;
  std::mt19937 generator;
};

// The terrain an env builds from its `terrain` block, whose `seed` key (default 0) the env reads beside the
// generator's parameters; an explicit `seed` overrides it.
std::shared_ptr<raisim::Terrain> terrainFromBlock(const py::object& cfg, std::optional<std::uint64_t> seed,
                                                  const std::string& source) {
  Config config = blockConfig(cfg, "terrain", source);
  const auto params = raisim::TerrainParameters::fromConfig(config);
  const auto blockSeed = static_cast<std::uint64_t>(config.get<int>("seed", 0));
  rejectUnread(config);
  return std::make_shared<raisim::Terrain>(params, seed.value_or(blockSeed));
}

// mjSpec from an MJCF file, with the terrain added, compiled; errors carry MuJoCo's message.
std::unique_ptr<mjModel, void (*)(mjModel*)> compileWithTerrain(const std::string& xml, bool isPath,
                                                               const raisim::Terrain* terrain) {
  char error[1024] = "";
  mjSpec* spec = isPath ? mj_parseXML(xml.c_str(), nullptr, error, sizeof(error))
                        : mj_parseXMLString(xml.c_str(), nullptr, error, sizeof(error));
  if (spec == nullptr) throw py::value_error(std::string("MuJoCo could not parse the model: ") + error);
  std::unique_ptr<mjSpec, void (*)(mjSpec*)> owner(spec, mj_deleteSpec);
  if (terrain != nullptr) terrain->addTo(spec);
  mjModel* model = mj_compile(spec, nullptr);
  if (model == nullptr) throw std::runtime_error(std::string("MuJoCo could not compile the model: ") + mjs_getError(spec));
  return {model, mj_deleteModel};
}

py::bytes modelBytes(const mjModel* model) {
  std::string buffer(static_cast<std::size_t>(mj_sizeModel(model)), '\0');
  mj_saveModel(model, nullptr, buffer.data(), static_cast<mjtSize>(buffer.size()));
  return py::bytes(buffer);
}

// Benchmark kernel: a legged robot (ANYmal's layout: free base, then one torque motor per joint) held
// by a PD law around `nominal` with random target noise, `substeps` physics steps per control step,
// optionally a height scan per control step; reset to the next spawn point every `episodeSteps` control
// steps (0: never) and when the base drops below 0.25 m above the ground. Returns wall seconds and counts; the work is the same with or without
// terrain except for what the terrain itself costs.
py::dict leggedRollout(const std::string& xmlPath, const raisim::Terrain* terrain, const raisim::HeightScan* scan,
                       int controlSteps, int substeps, double kp, double kd, std::vector<double> nominal,
                       double baseHeight, double actionNoise, std::vector<std::vector<double>> spawns,
                       std::uint64_t seed, int episodeSteps, bool profile) {
  auto model = compileWithTerrain(xmlPath, true, terrain);
  const mjModel* m = model.get();
  const int joints = m->nu;
  if (static_cast<int>(nominal.size()) != joints)
    throw py::value_error("nominal has " + std::to_string(nominal.size()) + " angles, the model " +
                          std::to_string(joints) + " actuators");
  if (spawns.empty()) spawns.push_back({0.0, 0.0, 0.0});
  std::unique_ptr<mjData, void (*)(mjData*)> data(mj_makeData(m), mj_deleteData);
  mjData* d = data.get();
  std::vector<float> heights(scan != nullptr ? scan->size() : 0);
  std::mt19937_64 random(seed);
  std::normal_distribution<double> noise(0.0, actionNoise);
  std::vector<double> target(joints);
  std::size_t spawnIndex = 0;
  long long resets = 0, contacts = 0;
  std::vector<double> stageTotals(mjNTIMER, 0.0);  // mj_resetData clears mjData's timers
  auto reset = [&]() {
    for (int i = 0; i < mjNTIMER; ++i) stageTotals[i] += d->timer[i].duration;
    mj_resetData(m, d);
    const auto& spawn = spawns[spawnIndex++ % spawns.size()];
    d->qpos[0] = spawn[0];
    d->qpos[1] = spawn[1];
    d->qpos[2] = spawn[2] + baseHeight;
    for (int j = 0; j < joints; ++j) d->qpos[7 + j] = nominal[j];
    mj_forward(m, d);
    ++resets;
  };
  reset();
  double checksum = 0.0;
  // The timers cost two clock reads per stage, so they are only on when asked for.
  mjcb_time = profile ? steadyMicroseconds : nullptr;
  std::fill(stageTotals.begin(), stageTotals.end(), 0.0);
  for (int i = 0; i < mjNTIMER; ++i) d->timer[i].duration = 0, d->timer[i].number = 0;
  py::gil_scoped_release release;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < controlSteps; ++step) {
    for (int j = 0; j < joints; ++j) target[j] = nominal[j] + noise(random);
    for (int sub = 0; sub < substeps; ++sub) {
      for (int j = 0; j < joints; ++j)
        d->ctrl[j] = kp * (target[j] - d->qpos[7 + j]) - kd * d->qvel[6 + j];
      mj_step(m, d);
    }
    contacts += d->ncon;
    if (scan != nullptr && terrain != nullptr) {
      scan->measure(*terrain, d->qpos, raisim::HeightScan::yaw(d->qpos + 3), heights.data());
      checksum += heights[0];
    }
    const double ground = terrain != nullptr ? terrain->heightAt(d->qpos[0], d->qpos[1]) : 0.0;
    if (d->qpos[2] - ground < 0.25 || !std::isfinite(d->qpos[2]) || (episodeSteps > 0 && (step + 1) % episodeSteps == 0))
      reset();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  mjcb_time = nullptr;
  py::gil_scoped_acquire acquire;
  py::dict result;
  if (profile) {
    // Mean microseconds per physics step in each of MuJoCo's stages.
    py::dict stages;
    const double physicsSteps = static_cast<double>(controlSteps) * substeps;
    for (int i = 0; i < mjNTIMER; ++i) stages[mjTIMERSTRING[i]] = (stageTotals[i] + d->timer[i].duration) / physicsSteps;
    result["stage_us"] = stages;
  }
  result["seconds"] = seconds;
  result["control_steps"] = controlSteps;
  result["physics_steps"] = static_cast<long long>(controlSteps) * substeps;
  result["resets"] = resets;
  result["mean_contacts"] = static_cast<double>(contacts) / controlSteps;
  result["checksum"] = checksum;
  return result;
}

}  // namespace

PYBIND11_MODULE(_toolkit, module) {
  module.doc() = "raisimGymTorch's C++ toolkit components: terrain, height scan, terrain curriculum, velocity commands, "
                 "actuator network";
  raisim::bindActuator(module);

  py::class_<raisim::Terrain, std::shared_ptr<raisim::Terrain>>(module, "Terrain")
      .def(py::init(&terrainFromBlock), py::arg("cfg") = py::none(), py::arg("seed") = py::none(),
           py::arg("source") = "<terrain cfg>",
           "Generates the terrain described by the `terrain` cfg block (a dict; None: legged_gym's defaults), from "
           "`seed`, or else the block's own `seed` key (default 0), as the env does.")
      .def("height_at", &raisim::Terrain::heightAt, py::arg("x"), py::arg("y"),
           "Bilinear terrain height at world (x, y); beyond the grid, the nearest edge's height.")
      .def("heights_at",
           [](const raisim::Terrain& t, py::array_t<double, py::array::c_style | py::array::forcecast> xy) {
             if (xy.ndim() != 2 || xy.shape(1) != 2) throw py::value_error("xy must have shape (N, 2)");
             py::array_t<double> out(xy.shape(0));
             auto in = xy.unchecked<2>();
             auto o = out.mutable_unchecked<1>();
             for (py::ssize_t i = 0; i < xy.shape(0); ++i) o(i) = t.heightAt(in(i, 0), in(i, 1));
             return out;
           },
           py::arg("xy"))
      .def("origin",
           [](const raisim::Terrain& t, int level, int type) {
             const auto& p = t.origin(level, type);
             return py::make_tuple(p.x, p.y, p.z);
           },
           py::arg("level"), py::arg("type"), "Spawn point (x, y, z) of tile (level, type).")
      .def("tile_type", [](const raisim::Terrain& t, int type) { return raisim::tileTypeName(t.tileType(type)); },
           py::arg("type"))
      .def("proportion_key", [](const raisim::Terrain& t, int type) { return t.proportionKey(type); },
           py::arg("type"), "The terrain.proportions key that column `type` comes from.")
      .def("difficulty", [](const raisim::Terrain& t, int level) { return t.parameters().difficulty(level); },
           py::arg("level"))
      .def_property_readonly("heights",
                             [](const raisim::Terrain& t) {
                               py::array_t<float> out({t.nrow(), t.ncol()});
                               std::copy(t.heights().begin(), t.heights().end(), out.mutable_data());
                               return out;
                             },
                             "Samples, shape (nrow, ncol): rows along y, columns along x.")
      .def_property_readonly("levels", &raisim::Terrain::levels)
      .def_property_readonly("types", &raisim::Terrain::types)
      .def_property_readonly("nrow", &raisim::Terrain::nrow)
      .def_property_readonly("ncol", &raisim::Terrain::ncol)
      .def_property_readonly("x_min", &raisim::Terrain::xMin)
      .def_property_readonly("y_min", &raisim::Terrain::yMin)
      .def_property_readonly("min_height", &raisim::Terrain::minHeight)
      .def_property_readonly("max_height", &raisim::Terrain::maxHeight)
      .def_property_readonly("tile_size", [](const raisim::Terrain& t) { return t.parameters().tileSize; })
      .def_property_readonly("horizontal_scale", [](const raisim::Terrain& t) { return t.parameters().horizontalScale; })
      .def_property_readonly("vertical_scale", [](const raisim::Terrain& t) { return t.parameters().verticalScale; })
      .def("compile",
           [](const raisim::Terrain& t, const std::string& xml, bool isPath) {
             auto model = compileWithTerrain(xml, isPath, &t);
             return modelBytes(model.get());
           },
           py::arg("xml"), py::arg("is_path") = false,
           "Adds the terrain to an MJCF model (a string, or a file when is_path) with Terrain::addTo and "
           "returns the compiled model as MJB bytes (load with mujoco.MjModel.from_binary_path).");

  py::class_<raisim::HeightScan>(module, "HeightScan")
      .def(py::init([](const py::object& cfg, const std::string& source) {
             Config config = blockConfig(cfg, "height_scan", source);
             raisim::HeightScan scan(config);
             rejectUnread(config);
             return scan;
           }),
           py::arg("cfg") = py::none(), py::arg("source") = "<height_scan cfg>")
      .def_static("yaw", [](std::array<double, 4> quaternion) { return raisim::HeightScan::yaw(quaternion.data()); },
                  py::arg("quaternion"), "Heading (rad) of a (w, x, y, z) quaternion, as measure() expects it.")
      .def_property_readonly("size", &raisim::HeightScan::size)
      .def_property_readonly("shape", [](const raisim::HeightScan& s) { return py::make_tuple(s.nx(), s.ny()); })
      .def_property_readonly("points",
                             [](const raisim::HeightScan& s) {
                               py::array_t<double> out({s.size(), 2});
                               auto o = out.mutable_unchecked<2>();
                               for (int i = 0; i < s.size(); ++i) {
                                 o(i, 0) = s.localX(i);
                                 o(i, 1) = s.localY(i);
                               }
                               return out;
                             },
                             "Scan points (x, y) in the yaw-aligned base frame, x-major.")
      .def("measure",
           [](const raisim::HeightScan& s, const raisim::Terrain& terrain, std::array<double, 3> basePos, double yaw,
              py::object out) {
             py::array_t<float> result = out.is_none() ? py::array_t<float>(s.size()) : out.cast<py::array_t<float>>();
             if (result.ndim() != 1 || result.shape(0) != s.size() || !result.writeable() ||
                 !(result.flags() & py::array::c_style))
               throw py::value_error("out must be a writeable contiguous float32 array of " + std::to_string(s.size()) +
                                     " values");
             float* data = result.mutable_data();
             {
               py::gil_scoped_release release;
               s.measure(terrain, basePos.data(), yaw, data);
             }
             return result;
           },
           py::arg("terrain"), py::arg("base_pos"), py::arg("yaw"), py::arg("out") = py::none(),
           "base_z - offset - terrain height at each point, clipped; written into `out` when given.");

  py::enum_<raisim::TerrainCurriculum::Move>(module, "CurriculumMove")
      .value("STAY", raisim::TerrainCurriculum::Move::kStay)
      .value("UP", raisim::TerrainCurriculum::Move::kUp)
      .value("DOWN", raisim::TerrainCurriculum::Move::kDown)
      .value("RANDOM", raisim::TerrainCurriculum::Move::kRandom);

  py::class_<raisim::TerrainCurriculum>(module, "TerrainCurriculum")
      .def(py::init([](const py::object& cfg, const raisim::Terrain& terrain, int envIndex, int numEnvs,
                       std::uint64_t seed, const std::string& source) {
             Config config = blockConfig(cfg, "curriculum", source);
             raisim::TerrainCurriculum curriculum(config, terrain.parameters(), envIndex, numEnvs, seed);
             rejectUnread(config);
             return curriculum;
           }),
           py::arg("cfg"), py::arg("terrain"), py::arg("env_index"), py::arg("num_envs"), py::arg("seed") = 0,
           py::arg("source") = "<curriculum cfg>")
      .def_property("level", &raisim::TerrainCurriculum::level, &raisim::TerrainCurriculum::setLevel)
      .def_property_readonly("type", &raisim::TerrainCurriculum::type)
      .def("update", &raisim::TerrainCurriculum::update, py::arg("distance_walked"), py::arg("commanded_distance"),
           "Moves the level after an episode by legged_gym's rule; returns the move.");

  py::class_<SeededVelocityCommand>(module, "VelocityCommand")
      .def(py::init([](const py::object& cfg, bool evaluation, std::uint32_t seed, const std::string& source) {
             Config config = blockConfig(cfg, "commands", source);
             SeededVelocityCommand seeded{raisim::VelocityCommand(config, evaluation), std::mt19937(seed)};
             rejectUnread(config);
             return seeded;
           }),
           py::arg("cfg"), py::arg("evaluation") = false, py::arg("seed") = 0, py::arg("source") = "<commands cfg>")
      .def("reset", [](SeededVelocityCommand& s, double yaw) { s.command.reset(s.generator, yaw); }, py::arg("yaw"),
           "Draws the episode's first command for a robot heading `yaw` (rad).")
      .def("advance",
           [](SeededVelocityCommand& s, double dt, double yaw) { return s.command.advance(dt, yaw, s.generator); },
           py::arg("dt"), py::arg("yaw"), "Advances dt seconds; returns whether a new command was drawn.")
      .def_property_readonly("value", [](const SeededVelocityCommand& s) {
             const auto& v = s.command.value();
             return py::make_tuple(v[0], v[1], v[2]);
           }, "(vx, vy, yaw rate) in the robot's yaw-aligned frame.")
      .def_property_readonly("planar_speed", [](const SeededVelocityCommand& s) { return s.command.planarSpeed(); });

  module.def("legged_rollout", &leggedRollout, py::arg("xml_path"), py::arg("terrain"), py::arg("scan"),
             py::arg("control_steps"), py::arg("substeps"), py::arg("kp"), py::arg("kd"), py::arg("nominal"),
             py::arg("base_height"), py::arg("action_noise"), py::arg("spawns"), py::arg("seed") = 0,
             py::arg("episode_steps") = 0, py::arg("profile") = false,
             "Benchmark kernel: PD-held legged robot stepped in C++, with optional terrain and height scan.");
  module.attr("MUJOCO_VERSION") = mj_versionString();
}
