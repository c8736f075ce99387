// The Python boundary, compiled once per environment folder. It checks every array's dtype, shape,
// layout and values, then hands raw buffers to VectorizedEnvironment with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "VectorizedEnvironment.hpp"

namespace py = pybind11;
using namespace raisim;

#ifndef ENVIRONMENT_NAME
#define ENVIRONMENT_NAME RaisimGymEnv
#endif
#define RSG_STRINGIFY_(x) #x
#define RSG_STRINGIFY(x) RSG_STRINGIFY_(x)

namespace {

using Vectorized = VectorizedEnvironment<ENVIRONMENT>;

std::string shapeText(const std::vector<py::ssize_t>& shape) {
  std::ostringstream text;
  text << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text << (i ? ", " : "") << shape[i];
  text << (shape.size() == 1 ? ",)" : ")");
  return text.str();
}

// Whether `dtype` is T in this machine's byte order. Compared by type number, not by identity: numpy
// hands out equal float32 descriptors that are distinct objects (one with metadata, for instance).
template <class T>
bool isNativeDtype(const py::dtype& dtype) {
  const char order = dtype.byteorder();  // numpy spells native order '=' ('|' where it does not apply)
  return dtype.num() == py::dtype::of<T>().num() && (order == '=' || order == '|');
}

// The buffer of `object` if it is an aligned, C-contiguous numpy array of exactly `dtype` and `shape`
// (writeable when `writeable`); otherwise a ValueError/TypeError that says which of these is wrong.
template <class T>
T* checkedBuffer(const py::handle& object, const char* name, const std::vector<py::ssize_t>& shape, bool writeable) {
  const std::string expected = py::str(py::dtype::of<T>()).cast<std::string>();
  if (!py::isinstance<py::array>(object))
    throw py::type_error(std::string(name) + " must be a numpy array of dtype " + expected + " and shape " +
                         shapeText(shape) + ", got " + py::str(py::type::of(object)).cast<std::string>());
  auto array = py::reinterpret_borrow<py::array>(object);
  std::vector<py::ssize_t> actual(array.shape(), array.shape() + array.ndim());
  if (!isNativeDtype<T>(array.dtype()))
    throw py::type_error(std::string(name) + " must have dtype " + expected + ", got " +
                         py::str(array.dtype()).cast<std::string>() + " (convert with .astype(np." + expected + "))");
  if (actual != shape)
    throw py::value_error(std::string(name) + " must have shape " + shapeText(shape) + ", got " + shapeText(actual));
  if (!(array.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + " must be C-contiguous (use np.ascontiguousarray)");
  if (!(array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string(name) + " must be aligned to its dtype (use .copy())");
  if (writeable && !array.writeable()) throw py::value_error(std::string(name) + " must be writeable");
  return const_cast<T*>(static_cast<const T*>(array.data()));
}

// Far beyond any real cfg, and small enough that neither the recursion below nor an alias-expanded
// YAML ("billion laughs": a few lines naming each other ten times over) can exhaust stack or memory.
constexpr int kMaxConfigDepth = 64;
constexpr std::size_t kMaxConfigNodes = 100000;

// Python objects from the parsed YAML become a Config tree; `nodes` counts the nodes made so far.
Config toConfig(const py::handle& value, const std::string& path, const std::shared_ptr<const std::string>& source,
                int depth, std::size_t& nodes) {
  if (depth > kMaxConfigDepth)
    throw py::value_error("cfg is nested deeper than " + std::to_string(kMaxConfigDepth) + " levels at key '" +
                          path.substr(0, 200) + "...' (in " + *source + ")");
  if (++nodes > kMaxConfigNodes)
    throw py::value_error("cfg has more than " + std::to_string(kMaxConfigNodes) +
                          " keys and values (YAML aliases expanded); reached at key '" + path.substr(0, 200) +
                          "' (in " + *source + ")");
  if (value.is_none()) return Config::null(path, source);
  if (py::isinstance<py::bool_>(value)) return Config::scalar(value.cast<bool>(), path, source);
  if (py::isinstance<py::int_>(value)) {
    int overflow = 0;
    const long long integer = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0)
      throw py::value_error("cfg key '" + path + "' is an integer out of range (in " + *source + ")");
    return Config::scalar(integer, path, source);
  }
  if (py::isinstance<py::float_>(value)) {
    const double number = value.cast<double>();
    if (std::isnan(number)) throw py::value_error("cfg key '" + path + "' is NaN (in " + *source + ")");
    return Config::scalar(number, path, source);
  }
  if (py::isinstance<py::str>(value)) return Config::scalar(value.cast<std::string>(), path, source);
  if (py::isinstance<py::dict>(value)) {
    Config node = Config::mapping(path, source);
    for (auto item : value.cast<py::dict>()) {
      if (!py::isinstance<py::str>(item.first))
        throw py::value_error("cfg key " + py::repr(item.first).cast<std::string>() + " under '" + path +
                              "' must be a string (in " + *source + ")");
      const std::string key = item.first.cast<std::string>();
      node.addChild(key, toConfig(item.second, path.empty() ? key : path + "." + key, source, depth + 1, nodes));
    }
    return node;
  }
  if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
    Config node = Config::sequence(path, source);
    std::size_t index = 0;
    for (auto item : value)
      node.addChild("", toConfig(item, path + "[" + std::to_string(index++) + "]", source, depth + 1, nodes));
    return node;
  }
  throw py::value_error("cfg key '" + path + "' has a value of unsupported type " +
                        py::str(py::type::of(value)).cast<std::string>() + " (in " + *source + ")");
}

Config parseConfig(const py::object& cfg, const std::string& source) {
  py::object tree = cfg;
  if (py::isinstance<py::str>(cfg)) {
    auto yamlModule = py::module_::import("ruamel.yaml");
    auto loader = yamlModule.attr("YAML")(py::arg("typ") = "safe", py::arg("pure") = true);
    try {
      tree = loader.attr("load")(cfg);
    } catch (py::error_already_set& error) {
      throw py::value_error("cfg is not valid YAML (" + source + "): " + py::str(error.value()).cast<std::string>());
    }
  }
  if (!py::isinstance<py::dict>(tree))
    throw py::value_error("cfg must be a YAML mapping (the environment: block), got " +
                          py::str(py::type::of(tree)).cast<std::string>() + " (" + source + ")");
  std::size_t nodes = 0;
  return toConfig(tree, "", std::make_shared<const std::string>(source), 0, nodes);
}

// Owns the vectorized environment and serializes calls: the core is not re-entrant, and a second
// Python thread using the same object waits instead of racing.
class Module {
 public:
  Module(const std::string& resourceDir, const py::object& cfg, const std::string& cfgSource)
      : environment_(std::make_unique<Vectorized>(resourceDir, parseConfig(cfg, cfgSource))) {}

  Vectorized& env() {
    if (!environment_) throw std::runtime_error("this environment was closed; create a new one");
    return *environment_;
  }

  std::mutex& mutex() { return mutex_; }

  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (environment_) environment_->close();
    environment_.reset();
    stepBuffers_.reset();
    bufferOwners_.clear();
  }

  // The arrays step() fills, and the Python objects that own them, kept alive while they are in use.
  void setStepBuffers(const Vectorized::StepBuffers& buffers, std::vector<py::object> owners) {
    stepBuffers_.emplace(buffers);
    bufferOwners_ = std::move(owners);
  }

  Vectorized::StepBuffers& stepBuffers() {
    if (!stepBuffers_) throw std::logic_error("setStepBuffers(...) must be called once before step()");
    return *stepBuffers_;
  }

  bool closed() const { return !environment_; }

 private:
  std::unique_ptr<Vectorized> environment_;
  std::optional<Vectorized::StepBuffers> stepBuffers_;
  std::vector<py::object> bufferOwners_;
  std::mutex mutex_;
};

// Runs function() with the GIL released and the object's lock held. The lock is taken after the GIL
// is released, so that a thread waiting for it never blocks a thread that holds it. Whether the env
// is still open is checked again under the lock: another thread may have closed it meanwhile.
template <class Function>
auto withoutGil(Module& self, Function&& function) {
  py::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(self.mutex());
  self.env();
  return function();
}

// Runs function(env) with the GIL held and the object's lock taken: for calls that touch Python
// objects or state that a concurrent step writes. Safe because nothing waits for the GIL while
// holding the lock.
template <class Function>
auto withLock(Module& self, Function&& function) {
  std::lock_guard<std::mutex> lock(self.mutex());
  return function(self.env());
}

// Raises naming the first NaN/inf in `values`, a vector (rows == 0) or a rows x columns matrix.
template <class T>
void requireFinite(const T* values, long long rows, int columns, const char* name) {
  const long long count = rows == 0 ? columns : rows * columns;
  for (long long k = 0; k < count; ++k) {
    if (std::isfinite(values[k])) continue;
    const std::string where = rows == 0 ? "index " + std::to_string(k)
                                               : "row " + std::to_string(k / columns) + ", column " + std::to_string(k % columns);
    throw py::value_error(std::string(name) + " contains " + (std::isnan(values[k]) ? "NaN" : "inf") + " at " + where);
  }
}

}  // namespace

PYBIND11_MODULE(RAISIMGYM_TORCH_ENV_NAME, m) {
  if (mj_version() != mjVERSION_HEADER)
    throw py::import_error(std::string("module '" RSG_STRINGIFY(RAISIMGYM_TORCH_ENV_NAME) "' was built against MuJoCo ") +
                           std::to_string(mjVERSION_HEADER) + " but MuJoCo " + mj_versionString() +
                           " is loaded; rebuild it with: pip install -e .");
  py::register_exception<ModelFileNotFound>(m, "ModelFileNotFound", PyExc_FileNotFoundError);
  py::register_exception<OutOfMemory>(m, "OutOfMemory", PyExc_MemoryError);
  m.attr("mujoco_version") = mj_versionString();
  m.attr("mujoco_header_version") = mjVERSION_HEADER;

  py::class_<Module>(m, RSG_STRINGIFY(ENVIRONMENT_NAME))
      .def(py::init<const std::string&, const py::object&, const std::string&>(), py::arg("resource_dir"),
           py::arg("cfg"), py::arg("cfg_source") = "<cfg string>",
           "Builds num_envs environments from the environment: block of cfg.yaml (YAML text or a dict).")
      .def("reset", [](Module& self) { withoutGil(self, [&] { self.env().reset(); }); })
      .def(
          "observe",
          [](Module& self, const py::object& ob, bool update) {
            auto& env = self.env();
            const int width = env.getCriticObDim();
            float* data = checkedBuffer<float>(ob, "observation", {env.getNumOfEnvs(), width}, true);
            withoutGil(self, [&] { env.observe(EigenRowMajorMatMap(data, env.getNumOfEnvs(), width), update); });
          },
          py::arg("ob"), py::arg("update_statistics") = true,
          "Fills ob (float32, num_envs x getCriticObDim(): the observation, then the critic-only values).")
      .def(
          "setStepBuffers",
          [](Module& self, const py::object& observation, const py::object& reward, const py::object& done,
             const py::object& terminated, const py::object& truncated, const py::object& finalObservation,
             const py::object& rewardTerms, const py::object& metrics) {
            withLock(self, [&](Vectorized& env) {
              const int n = env.getNumOfEnvs(), width = env.getCriticObDim();
              const int terms = static_cast<int>(env.getRewardNames().size());
              const int measured = static_cast<int>(env.getMetricNames().size());
              auto matrix = [&](const py::object& array, const char* name, int columns) {
                return EigenRowMajorMatMap(checkedBuffer<float>(array, name, {n, columns}, true), n, columns);
              };
              auto flags = [&](const py::object& array, const char* name) {
                return Eigen::Map<EigenBoolVec>(checkedBuffer<bool>(array, name, {n}, true), n);
              };
              const Vectorized::StepBuffers buffers{
                  matrix(observation, "observation", width),
                  Eigen::Map<EigenVec>(checkedBuffer<float>(reward, "reward", {n}, true), n),
                  flags(done, "done"),
                  flags(terminated, "terminated"),
                  flags(truncated, "truncated"),
                  matrix(finalObservation, "final observation", width),
                  matrix(rewardTerms, "reward terms", terms),
                  matrix(metrics, "metrics", measured)};
              self.setStepBuffers(buffers, {observation, reward, done, terminated, truncated, finalObservation,
                                            rewardTerms, metrics});
            });
          },
          py::arg("observation"), py::arg("reward"), py::arg("done"), py::arg("terminated"), py::arg("truncated"),
          py::arg("final_observation"), py::arg("reward_terms"), py::arg("metrics"),
          "Registers the arrays every step() fills (float32 observation and final observation (num_envs, "
          "getCriticObDim()), reward (num_envs,), bool done, terminated and truncated (num_envs,), float32 reward "
          "terms and metrics (num_envs, count)); this object keeps them alive.")
      .def(
          "step",
          [](Module& self, const py::object& action, bool observe, bool updateStatistics) {
            auto& env = self.env();
            const int n = env.getNumOfEnvs();
            const float* actionData = checkedBuffer<float>(action, "action", {n, env.getActionDim()}, false);
            requireFinite(actionData, n, env.getActionDim(), "action");
            // The buffers are looked up under the lock: a setStepBuffers from another thread waits for this step.
            return withoutGil(self, [&] {
              return env.step(EigenConstRowMajorMatMap(actionData, n, env.getActionDim()), self.stepBuffers(), observe,
                              updateStatistics);
            });
          },
          py::arg("action"), py::arg("observe") = true, py::arg("update_statistics") = true,
          "Steps every env and fills the registered buffers; returns how many envs diverged. With observe false "
          "the observation and the statistics are left alone.")
      .def(
          "setSeed",
          [](Module& self, long long seed) {
            withLock(self, [&](Vectorized& env) {
              // Env i gets seed + i in a C int.
              const long long highest = static_cast<long long>(INT_MAX) - (env.getNumOfEnvs() - 1);
              if (seed < INT_MIN || seed > highest)
                throw py::value_error("seed must be between " + std::to_string(INT_MIN) + " and " +
                                      std::to_string(highest) + " (env i gets seed + i), got " + std::to_string(seed));
              env.setSeed(static_cast<int>(seed));
            });
          },
          py::arg("seed"))
      .def("setNormalization",
           [](Module& self, bool enabled, float clip) {
             withLock(self, [&](Vectorized& env) { env.setNormalization(enabled, clip); });
           },
           py::arg("enabled"), py::arg("clip"))
      .def(
          "getObStatistics",
          [](Module& self, const py::object& mean, const py::object& var) {
            auto& env = self.env();
            // float64, as the statistics are kept: ranks merge them every iteration, and a float32 hop would
            // round them each time.
            const int width = env.getCriticObDim();
            double* meanData = checkedBuffer<double>(mean, "mean", {width}, true);
            double* varData = checkedBuffer<double>(var, "var", {width}, true);
            return withLock(self, [&](Vectorized& locked) {
              const auto& statistics = locked.statistics();
              Eigen::Map<Eigen::VectorXd>(meanData, width) = statistics.mean();
              Eigen::Map<Eigen::VectorXd>(varData, width) = statistics.var();
              return statistics.count();
            });
          },
          py::arg("mean"), py::arg("var"), "Fills mean and var (float64) and returns the sample count.")
      .def(
          "setObStatistics",
          [](Module& self, const py::object& mean, const py::object& var, double count) {
            auto& env = self.env();
            const int width = env.getCriticObDim();
            const double* meanData = checkedBuffer<double>(mean, "mean", {width}, false);
            const double* varData = checkedBuffer<double>(var, "var", {width}, false);
            withLock(self, [&](Vectorized& locked) {
              locked.statistics().set(Eigen::Map<const Eigen::VectorXd>(meanData, width),
                                      Eigen::Map<const Eigen::VectorXd>(varData, width), count);
            });
          },
          py::arg("mean"), py::arg("var"), py::arg("count"),
          "Replaces the statistics: mean and var (float64, finite, var >= 0) and a finite count >= 0.")
      .def("getActionBounds",
           [](Module& self) {
             auto& env = self.env().environment(0);
             const int dim = env.getActionDim();
             py::array_t<float> low(dim), high(dim);
             const bool bounded = env.getActionLowerBound().size() == dim && env.getActionUpperBound().size() == dim;
             for (int i = 0; i < dim; ++i) {
               low.mutable_data()[i] = bounded ? env.getActionLowerBound()[i] : -std::numeric_limits<float>::infinity();
               high.mutable_data()[i] = bounded ? env.getActionUpperBound()[i] : std::numeric_limits<float>::infinity();
             }
             return py::make_tuple(low, high);
           },
           "(low, high) float32 arrays: the range of each action dimension, infinite where the env sets none.")
      .def("getRewardNames", [](Module& self) { return self.env().getRewardNames(); })
      .def("getMetricNames", [](Module& self) { return self.env().getMetricNames(); })
      .def("getRewardInfo",
           [](Module& self) {
             return withLock(self, [&](Vectorized& env) {
               py::list info;
               for (int i = 0; i < env.getNumOfEnvs(); ++i) {
                 const auto& rewards = env.environment(i).getRewards();
                 py::dict terms;
                 for (std::size_t t = 0; t < rewards.size(); ++t)
                   terms[py::str(rewards.names()[t])] = rewards.values()[t];
                 info.append(terms);
               }
               return info;
             });
           })
      .def(
          "getState",
          [](Module& self, int index) {
            auto& env = self.env();
            if (index < 0 || index >= env.getNumOfEnvs())
              throw py::index_error("env index " + std::to_string(index) + " out of range for " +
                                    std::to_string(env.getNumOfEnvs()) + " environments");
            const World* world = env.environment(index).getWorld();
            if (world == nullptr) throw std::runtime_error("this environment has no world");
            py::array_t<double> qpos(world->nq()), qvel(world->nv());
            withLock(self, [&](Vectorized&) {
              std::copy(world->data()->qpos, world->data()->qpos + world->nq(), qpos.mutable_data());
              std::copy(world->data()->qvel, world->data()->qvel + world->nv(), qvel.mutable_data());
            });
            return py::make_tuple(qpos, qvel);
          },
          py::arg("index") = 0, "(qpos, qvel) of environment `index`, copied.")
      .def(
          "setState",
          [](Module& self, int index, const py::object& qpos, const py::object& qvel) {
            auto& env = self.env();
            if (index < 0 || index >= env.getNumOfEnvs())
              throw py::index_error("env index " + std::to_string(index) + " out of range for " +
                                    std::to_string(env.getNumOfEnvs()) + " environments");
            World* world = env.environment(index).getWorld();
            if (world == nullptr) throw std::runtime_error("this environment has no world");
            const double* qposData = checkedBuffer<double>(qpos, "qpos", {world->nq()}, false);
            const double* qvelData = checkedBuffer<double>(qvel, "qvel", {world->nv()}, false);
            requireFinite(qposData, 0, world->nq(), "qpos");
            requireFinite(qvelData, 0, world->nv(), "qvel");
            const Eigen::VectorXd qposCopy = Eigen::Map<const Eigen::VectorXd>(qposData, world->nq());
            const Eigen::VectorXd qvelCopy = Eigen::Map<const Eigen::VectorXd>(qvelData, world->nv());
            withoutGil(self, [&] { world->setState(qposCopy, qvelCopy); });
          },
          py::arg("index"), py::arg("qpos"), py::arg("qvel"),
          "Puts environment `index` in state (qpos, qvel) (float64 arrays of sizes nq and nv, finite) at time 0, as "
          "World::setState does. The episode's step count is not restarted: call it right after reset() to start an "
          "episode from a chosen state.")
      .def("getModelFile",
           [](Module& self) {
             const World* world = self.env().environment(0).getWorld();
             if (world == nullptr) throw std::runtime_error("this environment has no world");
             return world->modelFile();
           })
      .def("getModelBinary",
           [](Module& self) {
             const World* world = self.env().environment(0).getWorld();
             if (world == nullptr) throw std::runtime_error("this environment has no world");
             // The compiled model (a URDF's added base, floor and motors included) in MuJoCo's MJB format, so
             // that renderers draw exactly what is simulated.
             std::string bytes(static_cast<std::size_t>(mj_sizeModel(world->model())), '\0');
             mj_saveModel(world->model(), nullptr, bytes.data(), static_cast<int>(bytes.size()));
             return py::bytes(bytes);
           })
      .def(
          "curriculumUpdate",
          [](Module& self, long long iteration) { withoutGil(self, [&] { self.env().curriculumUpdate(iteration); }); },
          py::arg("iteration") = -1,
          "Called before each training iteration's rollout with its number (-1: not counted, the original API).")
      .def("close", &Module::close)
      .def_property_readonly("closed", &Module::closed)
      .def("getObDim", [](Module& self) { return self.env().getObDim(); })
      .def("getCriticObDim", [](Module& self) { return self.env().getCriticObDim(); },
           "The width of an observation row: getObDim() values for the actor, then what only the critic sees.")
      .def("getActionDim", [](Module& self) { return self.env().getActionDim(); })
      .def("getNumOfEnvs", [](Module& self) { return self.env().getNumOfEnvs(); })
      .def("getNumThreads", [](Module& self) { return self.env().getNumThreads(); })
      .def("getDivergedResets",
           [](Module& self) { return withLock(self, [](Vectorized& env) { return env.getDivergedResets(); }); })
      .def("getMaxEpisodeSteps", [](Module& self) { return self.env().getMaxEpisodeSteps(); })
      .def("randomizeEpisodeProgress",
           [](Module& self, int seed) { withLock(self, [&](Vectorized& env) { env.randomizeEpisodeProgress(seed); }); })
      .def("getTerrainLevels",
           [](Module& self) { return withLock(self, [](Vectorized& env) { return env.getTerrainLevels(); }); },
           "Each env's terrain-curriculum level (-1 where the env has no terrain curriculum).")
      .def("setTerrainLevels",
           [](Module& self, const std::vector<int>& levels) {
             withLock(self, [&](Vectorized& env) { env.setTerrainLevels(levels); });
           },
           "Puts each env on a level (clamped to the terrain), from its next reset on.")
      .def("canFail", [](Module& self) { return self.env().environment(0).canFail(); })
      .def("getControlTimeStep", [](Module& self) { return self.env().environment(0).getControlTimeStep(); })
      .def("getSimulationTimeStep", [](Module& self) { return self.env().environment(0).getSimulationTimeStep(); });
}
