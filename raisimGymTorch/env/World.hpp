// The robot-facing layer over MuJoCo: load a model, read and set the state, drive joints through an
// Actuation (PD, DC-motor PD, actuator network, series-elastic drive or direct torque), look up bodies and
// contacts by name.
//
// One World is one environment's simulation. Worlds built from the same file share one read-only
// mjModel; each owns its mjData. A World whose env randomizes model parameters (friction, masses) asks
// for privateModel() and from then on steps its own copy of them. model() and data() hand out the raw MuJoCo
// objects for anything this layer does not cover.
#pragma once

#include <mujoco/mujoco.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "actuation/Actuation.hpp"
#include "sim/ParameterCopy.hpp"

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace raisim {

// A model file that does not exist; the binding turns it into Python's FileNotFoundError.
struct ModelFileNotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Not enough memory for a simulation; the binding turns it into Python's MemoryError.
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `bytes` for people: "20.1 MB".
inline std::string bytesText(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 5) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

// How many more bytes this process may map under its address-space limit (RLIMIT_AS, `ulimit -v`);
// nothing when there is no such limit or it cannot be read (outside Linux).
inline std::optional<double> addressSpaceLeft() {
#ifdef __linux__
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  std::ifstream statm("/proc/self/statm");
  double mappedPages = 0;
  if (!(statm >> mappedPages)) return std::nullopt;
  const double mapped = mappedPages * static_cast<double>(sysconf(_SC_PAGESIZE));
  return std::max(0.0, static_cast<double>(limit.rlim_cur) - mapped);
#else
  return std::nullopt;
#endif
}

namespace detail {

struct ModelDeleter {
  void operator()(mjModel* model) const { mj_deleteModel(model); }
};
struct DataDeleter {
  void operator()(mjData* data) const { mj_deleteData(data); }
};
struct SpecDeleter {
  void operator()(mjSpec* spec) const { mj_deleteSpec(spec); }
};

// The mjData of `model`, or OutOfMemory naming `modelFile` and the size.
//
// MuJoCo reports a failed allocation through mju_error, whose default handler exits the process, so
// the memory is asked for here first, where failure is a plain nullptr, released, and only then
// does mj_makeData allocate it. The alternatives are worse: a mju_user_error handler that throws
// unwinds through MuJoCo's C frames, which is undefined behaviour (MuJoCo's python/mujoco/errors.h
// says so); one that longjmps back needs the process-wide mju_user_error pointer (the thread-local
// hook is private to MuJoCo's Python bindings), shared with every other MuJoCo user in the process,
// a second env module with its own copy of the handler included. The probe sees the limits that
// matter (RLIMIT_AS, RLIMIT_DATA, strict overcommit); only another thread taking the memory in the
// instant between the probe and mj_makeData gets past it.
inline std::unique_ptr<mjData, DataDeleter> makeData(const mjModel* model, const std::string& modelFile) {
  // mj_makeData allocates the mjData struct, a buffer for its fixed-size arrays and the arena. The
  // data buffer's size is unknown before it exists; the model's buffer, which holds arrays of the
  // same counts plus names and meshes, stands in for it (ANYmal: 5.5 MB for 28 kB) next to the
  // 14.7 MB arena that dominates.
  const std::size_t bytes =
      sizeof(mjData) + static_cast<std::size_t>(model->nbuffer) + static_cast<std::size_t>(model->narena);
  // Through a volatile pointer: compilers may drop a malloc whose memory is never used, and assume it succeeded.
  void* volatile probe = std::malloc(bytes);
  const bool available = probe != nullptr;
  std::free(probe);
  if (!available)
    throw OutOfMemory("not enough memory for the simulation data of '" + modelFile + "' (" + bytesText(bytes) +
                      ": MuJoCo's mjData buffer and arena)");
  std::unique_ptr<mjData, DataDeleter> data(mj_makeData(model));
  if (!data) throw std::runtime_error("MuJoCo could not allocate data for '" + modelFile + "'");
  return data;
}

// MuJoCo's default handlers also append every message to MUJOCO_LOG.TXT in the working directory,
// which litters the folders runs start from (a diverging env warns on every blow-up). These print the
// same messages to stderr only.
inline void printMujocoWarning(const char* message) { std::fprintf(stderr, "MuJoCo warning: %s\n", message); }
[[noreturn]] inline void exitOnMujocoError(const char* message) {
  std::fprintf(stderr, "MuJoCo error: %s\n", message);
  // MuJoCo's own behaviour: an error handler must not return (see makeData for why it cannot throw).
  std::exit(EXIT_FAILURE);
}

// Installs the handlers above where nobody (the user, MuJoCo's Python bindings) has set one.
inline void installMujocoMessageHandlers() {
  if (mju_user_warning == nullptr) mju_user_warning = printMujocoWarning;
  if (mju_user_error == nullptr) mju_user_error = exitOnMujocoError;
}

inline bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// MuJoCo's parse errors quote the offending file text, which may be any bytes; Python can only
// raise an error whose message is valid UTF-8, so everything beyond printable ASCII is escaped.
inline std::string printableText(const char* text) {
  std::string printable;
  for (const char* c = text; *c != '\0'; ++c) {
    const auto byte = static_cast<unsigned char>(*c);
    if ((byte >= 0x20 && byte < 0x7f) || byte == '\n' || byte == '\t') {
      printable += *c;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      printable += escaped;
    }
  }
  return printable;
}

// A URDF describes a robot bolted to the world. Users of the original expect a free-floating base,
// a ground to stand on and a motor on every joint, so those are added here.
inline mjModel* compileUrdfWithFloatingBase(const std::string& path) {
  char error[1024] = "";
  std::unique_ptr<mjSpec, SpecDeleter> spec(mj_parseXML(path.c_str(), nullptr, error, sizeof(error)));
  if (!spec) throw std::invalid_argument("MuJoCo rejected URDF file '" + path + "': " + printableText(error));
  mjsBody* world = mjs_findBody(spec.get(), "world");
  mjsElement* rootElement = mjs_firstChild(world, mjOBJ_BODY, 0);
  if (rootElement == nullptr) throw std::invalid_argument("URDF file '" + path + "' has no link");
  mjsBody* root = mjs_asBody(rootElement);
  mjsJoint* freeJoint = mjs_addFreeJoint(root);
  mjs_setName(freeJoint->element, "root");

  mjsGeom* floor = mjs_addGeom(world, nullptr);
  floor->type = mjGEOM_PLANE;
  floor->size[0] = floor->size[1] = 0.0;
  floor->size[2] = 1.0;
  mjs_setName(floor->element, "floor");

  for (mjsElement* element = mjs_firstElement(spec.get(), mjOBJ_JOINT); element != nullptr;
       element = mjs_nextElement(spec.get(), element)) {
    mjsJoint* joint = mjs_asJoint(element);
    if (joint->type != mjJNT_HINGE && joint->type != mjJNT_SLIDE) continue;
    mjsActuator* motor = mjs_addActuator(spec.get(), nullptr);
    mjs_setToMotor(motor);
    motor->trntype = mjTRN_JOINT;
    const char* jointName = mjs_getString(mjs_getName(element));
    mjs_setString(motor->target, jointName);
    mjs_setName(motor->element, jointName);
  }
  mjModel* model = mj_compile(spec.get(), nullptr);
  if (model == nullptr)
    throw std::invalid_argument("MuJoCo rejected URDF file '" + path + "': " + mjs_getError(spec.get()));
  return model;
}

inline std::shared_ptr<const mjModel> compileModel(const std::string& path, double timestep, int disableFlags) {
  if (!std::filesystem::is_regular_file(path)) throw ModelFileNotFound("model file not found: '" + path + "'");
  mjModel* model = nullptr;
  if (endsWith(path, ".urdf")) {
    model = compileUrdfWithFloatingBase(path);
  } else {
    char error[1024] = "";
    model = mj_loadXML(path.c_str(), nullptr, error, sizeof(error));
    if (model == nullptr) throw std::invalid_argument("MuJoCo rejected model file '" + path + "': " + printableText(error));
  }
  model->opt.timestep = timestep;
  model->opt.disableflags |= disableFlags;
  return std::shared_ptr<const mjModel>(model, ModelDeleter());
}

}  // namespace detail

// The model in `path` (MJCF, or URDF given a floating base), with its timestep set to `timestep` and MuJoCo's
// `disableFlags` (mjDSBL_*) added to the file's: for a model the env cannot edit, such as Gymnasium's. Loaded
// once per process for each (path, timestep, flags) while any World uses it.
inline std::shared_ptr<const mjModel> loadModel(const std::string& path, double timestep, int disableFlags = 0) {
  static std::mutex mutex;
  static std::map<std::tuple<std::string, double, int>, std::weak_ptr<const mjModel>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  detail::installMujocoMessageHandlers();
  auto key = std::make_tuple(std::filesystem::absolute(path).lexically_normal().string(), timestep, disableFlags);
  if (auto model = cache[key].lock()) return model;
  auto model = detail::compileModel(std::get<0>(key), timestep, disableFlags);
  cache[key] = model;
  return model;
}

class World {
 public:
  // Loads `modelFile` (MJCF or URDF) stepping at `simulationDt` seconds.
  World(const std::string& modelFile, double simulationDt) : World(loadModel(modelFile, simulationDt), modelFile) {}

  // Steps a model compiled elsewhere (e.g. a robot with terrain added through mjSpec); `name` stands for it
  // in error messages.
  World(std::shared_ptr<const mjModel> model, const std::string& name)
      : modelFile_(name), model_(std::move(model)), data_(detail::makeData(requireModel(model_), name)) {
    const int nu = model_->nu;
    command_ = Eigen::VectorXd::Zero(nu);
    velocityTarget_ = Eigen::VectorXd::Zero(nu);
    jointPosition_ = Eigen::VectorXd::Zero(nu);
    jointVelocity_ = Eigen::VectorXd::Zero(nu);
    torque_ = Eigen::VectorXd::Zero(nu);
    for (int i = 0; i < nu; ++i) {
      const int joint = model_->actuator_trnid[2 * i];
      const bool drivesOneDofJoint = model_->actuator_trntype[i] == mjTRN_JOINT &&
                                     (model_->jnt_type[joint] == mjJNT_HINGE || model_->jnt_type[joint] == mjJNT_SLIDE);
      actuatedQpos_.push_back(drivesOneDofJoint ? model_->jnt_qposadr[joint] : -1);
      actuatedDof_.push_back(drivesOneDofJoint ? model_->jnt_dofadr[joint] : -1);
    }
    mj_forward(model_.get(), data_.get());
  }

  const mjModel* model() const { return model_.get(); }

  // This World's own copy of the model's parameters, made at the first call, for what an env randomizes
  // (friction, masses, gains); the other Worlds keep the shared model. Asset data (textures, heightfields,
  // meshes) stays shared and must not be written (sim/ParameterCopy.hpp); about 50 KB per World for ANYmal C.
  mjModel* privateModel() {
    if (privateModel_ == nullptr) {
      privateModel_ = copyModelParameters(model_);
      model_ = privateModel_;
    }
    return privateModel_.get();
  }
  mjData* data() { return data_.get(); }
  const mjData* data() const { return data_.get(); }
  const std::string& modelFile() const { return modelFile_; }

  int nq() const { return model_->nq; }
  int nv() const { return model_->nv; }
  int nu() const { return model_->nu; }
  double timeStep() const { return model_->opt.timestep; }
  // Bytes MuJoCo allocated for this world's mjData: the struct, its buffer and its arena.
  std::size_t dataBytes() const {
    return sizeof(mjData) + static_cast<std::size_t>(data_->nbuffer) + static_cast<std::size_t>(data_->narena);
  }

  // Generalized coordinates (qpos): for a free base x y z, quaternion w x y z, then the joints.
  Eigen::Map<const Eigen::VectorXd> generalizedCoordinate() const { return {data_->qpos, model_->nq}; }
  // Generalized velocities (qvel): for a free base the linear velocity in the world frame and the
  // angular velocity in the body frame, then the joints.
  Eigen::Map<const Eigen::VectorXd> generalizedVelocity() const { return {data_->qvel, model_->nv}; }

  // Puts the simulation in state (qpos, qvel) at time 0 and recomputes everything derived from it.
  void setState(const Eigen::VectorXd& qpos, const Eigen::VectorXd& qvel) {
    if (qpos.size() != model_->nq || qvel.size() != model_->nv)
      throw std::invalid_argument("setState expects qpos of size " + std::to_string(model_->nq) + " and qvel of size " +
                                  std::to_string(model_->nv) + ", got " + std::to_string(qpos.size()) + " and " +
                                  std::to_string(qvel.size()));
    mj_resetData(model_.get(), data_.get());
    Eigen::Map<Eigen::VectorXd>(data_->qpos, model_->nq) = qpos;
    Eigen::Map<Eigen::VectorXd>(data_->qvel, model_->nv) = qvel;
    mj_forward(model_.get(), data_.get());
    if (actuation_ != nullptr) actuation_->reset();  // a new episode: drive models with memory forget the last
  }

  // The joint map: for actuator i, the qpos and qvel addresses of the hinge or slide joint it drives, or -1
  // when it drives something else (a tendon, a ball joint).
  const std::vector<int>& actuatedQpos() const { return actuatedQpos_; }
  const std::vector<int>& actuatedDof() const { return actuatedDof_; }

  // How commands become torques (env/actuation/): TorqueActuation, PdActuation, NetworkActuation,
  // SeriesElasticActuation, usually from the cfg with actuationFromConfig. Every model but torque needs each
  // actuator to drive a hinge or slide joint.
  void setActuation(std::unique_ptr<Actuation> actuation) {
    if (actuation == nullptr) throw std::invalid_argument("setActuation needs an actuation");
    if (actuation->actuators() >= 0 && actuation->actuators() != model_->nu)
      throw std::invalid_argument(std::string("the '") + actuation->name() + "' actuation was made for " +
                                  std::to_string(actuation->actuators()) + " actuators, but '" + modelFile_ +
                                  "' has " + std::to_string(model_->nu));
    if (actuation->tracksPositionTarget())
      for (int i = 0; i < model_->nu; ++i)
        if (actuatedQpos_[i] < 0)
          throw std::invalid_argument("actuator " + std::to_string(i) + " does not drive a hinge or slide joint, so the '" +
                                      actuation->name() + "' actuator model cannot drive it");
    actuation_ = std::move(actuation);
    actuation_->reset();
  }
  const Actuation* actuation() const { return actuation_.get(); }

  // PD control with these gains, one per actuator (actuator order); the original API's shortcut for
  // setActuation(std::make_unique<PdActuation>(kp, kd)).
  void setPdGains(const Eigen::VectorXd& kp, const Eigen::VectorXd& kd) {
    requireActuatorSize(kp, "kp");
    requireActuatorSize(kd, "kd");
    setActuation(std::make_unique<PdActuation>(kp, kd));
  }

  // Joint position and velocity targets, one per actuator.
  void setPdTarget(const Eigen::VectorXd& position, const Eigen::VectorXd& velocity) {
    requireActuatorSize(position, "position target");
    requireActuatorSize(velocity, "velocity target");
    command_ = position;
    velocityTarget_ = velocity;
  }

  // The command of every actuator: a joint position target, or with the torque model the control itself.
  void setActuatorCommand(const Eigen::VectorXd& command) {
    requireActuatorSize(command, "actuator command");
    command_ = command;
  }

  // One physics step: the actuation's torques from the current state into ctrl, then mj_step.
  void integrate() {
    const mjModel* m = model_.get();
    mjData* d = data_.get();
    if (actuation_ == nullptr && m->nu > 0)
      throw std::logic_error("World::integrate: no actuation chosen, so the actuators would apply nothing; call "
                             "setPdGains or setActuation (actuationFromConfig reads the cfg's 'actuator' block), or "
                             "write data()->ctrl yourself and call mj_step");
    for (int i = 0; i < m->nu; ++i) {
      jointPosition_[i] = actuatedQpos_[i] < 0 ? 0.0 : d->qpos[actuatedQpos_[i]];
      jointVelocity_[i] = actuatedDof_[i] < 0 ? 0.0 : d->qvel[actuatedDof_[i]];
    }
    if (m->nu > 0)
      actuation_->compute({command_, velocityTarget_, jointPosition_, jointVelocity_, m->opt.timestep}, torque_);
    for (int i = 0; i < m->nu; ++i) {
      if (m->actuator_ctrllimited[i])
        torque_[i] = std::clamp(torque_[i], m->actuator_ctrlrange[2 * i], m->actuator_ctrlrange[2 * i + 1]);
      d->ctrl[i] = torque_[i];
    }
    mj_step(m, d);
  }

  // The control every actuator applied in the last integrate() (a torque for gear-1 motors).
  const Eigen::VectorXd& jointTorque() const { return torque_; }

  // Id of the body / geom named `name`; an unknown name is an error listing the model's names.
  int bodyId(const std::string& name) const { return idOf(mjOBJ_BODY, name, model_->nbody, "body"); }
  int geomId(const std::string& name) const { return idOf(mjOBJ_GEOM, name, model_->ngeom, "geom"); }

  // Position of body `id` in the world frame (as of the last physics step).
  Eigen::Vector3d bodyPosition(int id) const { return Eigen::Map<const Eigen::Vector3d>(data_->xpos + 3 * id); }

  // Rotation body->world of the free base, computed from qpos so that it matches the current state.
  Eigen::Matrix3d baseOrientation() const {
    requireFreeBase();
    mjtNum rotation[9];
    mju_quat2Mat(rotation, data_->qpos + 3);
    return Eigen::Map<const Eigen::Matrix<double, 3, 3, Eigen::RowMajor>>(rotation);
  }

  // Linear velocity of the free base in its own frame.
  Eigen::Vector3d baseLinearVelocityInBodyFrame() const {
    return baseOrientation().transpose() * Eigen::Map<const Eigen::Vector3d>(data_->qvel);
  }

  // Angular velocity of the free base in its own frame (MuJoCo's free joint stores it that way).
  Eigen::Vector3d baseAngularVelocityInBodyFrame() const {
    requireFreeBase();
    return Eigen::Map<const Eigen::Vector3d>(data_->qvel + 3);
  }

  // Number of contacts found in the last physics step.
  int contactCount() const { return data_->ncon; }

  // The two bodies touching in contact `i`.
  std::pair<int, int> contactBodies(int i) const {
    const mjContact& contact = data_->contact[i];
    return {model_->geom_bodyid[contact.geom[0]], model_->geom_bodyid[contact.geom[1]]};
  }

  // Whether the simulation is sound: its state finite, no velocity (|qvel|, m/s or rad/s) beyond
  // `maxSpeed`, and MuJoCo did not have to reset it. MuJoCo resets only at |qacc| or |qvel| > 1e10,
  // so without the speed bound an exploding simulation runs on, finite, at absurd speeds.
  bool isStable(double maxSpeed) const {
    if (data_->warning[mjWARN_BADQACC].number > 0 || data_->warning[mjWARN_BADQPOS].number > 0 ||
        data_->warning[mjWARN_BADQVEL].number > 0)
      return false;
    for (int i = 0; i < model_->nq; ++i)
      if (!std::isfinite(data_->qpos[i])) return false;
    // Written so that NaN fails it too.
    for (int i = 0; i < model_->nv; ++i)
      if (!(std::abs(data_->qvel[i]) <= maxSpeed)) return false;
    return true;
  }

 private:
  static const mjModel* requireModel(const std::shared_ptr<const mjModel>& model) {
    if (model == nullptr) throw std::invalid_argument("World needs a compiled model, got none");
    return model.get();
  }

  void requireActuatorSize(const Eigen::VectorXd& vector, const char* what) const {
    if (vector.size() != model_->nu)
      throw std::invalid_argument(std::string(what) + " needs one value per actuator (" + std::to_string(model_->nu) +
                                  "), got " + std::to_string(vector.size()));
  }

  void requireFreeBase() const {
    if (model_->njnt == 0 || model_->jnt_type[0] != mjJNT_FREE)
      throw std::logic_error("model '" + modelFile_ + "' has no free-floating base (its first joint is not free)");
  }

  int idOf(mjtObj type, const std::string& name, int count, const char* kind) const {
    const int id = mj_name2id(model_.get(), type, name.c_str());
    if (id >= 0) return id;
    std::string names;
    for (int i = 0; i < count; ++i) {
      const char* other = mj_id2name(model_.get(), type, i);
      if (other != nullptr) names += (names.empty() ? "" : ", ") + std::string(other);
    }
    throw std::invalid_argument(std::string("no ") + kind + " named '" + name + "' in '" + modelFile_ + "'; it has: " + names);
  }

  std::string modelFile_;
  std::shared_ptr<const mjModel> model_;
  std::shared_ptr<mjModel> privateModel_;  // set once privateModel() was called; model_ then points to it
  std::unique_ptr<mjData, detail::DataDeleter> data_;
  std::unique_ptr<Actuation> actuation_;
  Eigen::VectorXd command_, velocityTarget_, jointPosition_, jointVelocity_, torque_;
  std::vector<int> actuatedQpos_, actuatedDof_;
};

}  // namespace raisim
