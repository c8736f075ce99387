// Per-episode draws of the physics a policy must cope with (legged_gym's domain randomization):
//
//   randomization:
//     friction: [0.5, 1.25]        # friction coefficient of the contact geoms named by the env (its feet)
//     added_base_mass: [-5.0, 5.0] # kg added to the base body
//     motor_strength: [0.9, 1.1]   # factor on every actuator's torque (its gear)
//
// Each key is optional; a missing key leaves that parameter as the model has it. A World whose env
// randomizes anything steps its own copy of the model's parameters (World::privateModel, about 50 KB for
// ANYmal C, its textures and terrain still shared); an env that randomizes nothing keeps the shared model. Draws happen in apply(), called at reset before the state is
// set, and allocate nothing.
#pragma once

#include <mujoco/mujoco.h>

#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../Config.hpp"
#include "../World.hpp"

namespace raisim {

class PhysicsRandomization {
 public:
  // The drawn values of the current episode (the nominal ones where a parameter is not randomized).
  struct Draw {
    double friction = 0.0;
    double addedBaseMass = 0.0;
    double motorStrength = 1.0;
  };

  // `frictionGeoms`: the geoms whose sliding friction `friction` sets (for a robot with priority feet, the
  // feet decide foot-ground friction); `baseBody`: the body `added_base_mass` goes to.
  PhysicsRandomization(const Config& cfg, World& world, std::vector<int> frictionGeoms, int baseBody)
      : world_(world), frictionGeoms_(std::move(frictionGeoms)), baseBody_(baseBody) {
    cfg.markRead();  // every key is optional: an empty block randomizes nothing
    friction_ = readRange(cfg, "friction", 0.0, 10.0);
    addedBaseMass_ = readRange(cfg, "added_base_mass", -1e3, 1e3);
    motorStrength_ = readRange(cfg, "motor_strength", 0.0, 10.0);
    if (!enabled()) return;
    mjModel* model = world_.privateModel();
    nominalFriction_ = frictionGeoms_.empty() ? 0.0 : model->geom_friction[3 * frictionGeoms_[0]];
    nominalBaseMass_ = model->body_mass[baseBody_];
    for (int i = 0; i < model->nu; ++i) nominalGear_.push_back(model->actuator_gear[6 * i]);
    if (addedBaseMass_ && nominalBaseMass_ + addedBaseMass_->a() <= 0.0)
      throw std::invalid_argument("cfg key '" + keyPath(cfg, "added_base_mass") + "' would make the base mass (" +
                                  std::to_string(nominalBaseMass_) + " kg) zero or negative (in " + cfg.source() + ")");
    draw_ = {nominalFriction_, 0.0, 1.0};
  }

  bool enabled() const { return friction_ || addedBaseMass_ || motorStrength_; }

  // Draws this episode's parameters and writes them into the World's private model. Call before setState:
  // a changed mass needs MuJoCo's derived constants recomputed (mj_setConst), which moves the state.
  template <class Generator>
  void apply(Generator& generator) {
    if (!enabled()) return;
    mjModel* model = world_.privateModel();
    if (friction_) {
      draw_.friction = (*friction_)(generator);
      for (int geom : frictionGeoms_) model->geom_friction[3 * geom] = draw_.friction;
    }
    if (motorStrength_) {
      draw_.motorStrength = (*motorStrength_)(generator);
      for (int i = 0; i < model->nu; ++i) model->actuator_gear[6 * i] = nominalGear_[i] * draw_.motorStrength;
    }
    if (addedBaseMass_) {
      draw_.addedBaseMass = (*addedBaseMass_)(generator);
      model->body_mass[baseBody_] = nominalBaseMass_ + draw_.addedBaseMass;
      mj_setConst(model, world_.data());
    }
  }

  const Draw& current() const { return draw_; }

 private:
  using Range = std::uniform_real_distribution<double>;

  static std::string keyPath(const Config& cfg, const std::string& key) {
    return cfg.path().empty() ? key : cfg.path() + "." + key;
  }

  static std::optional<Range> readRange(const Config& cfg, const std::string& key, double low, double high) {
    if (!cfg.has(key)) return std::nullopt;
    const auto values = cfg[key].as<std::vector<double>>();
    if (values.size() != 2 || !(values[0] <= values[1]) || !(values[0] >= low) || !(values[1] <= high))
      throw std::invalid_argument("cfg key '" + keyPath(cfg, key) + "' must be [low, high] with " + std::to_string(low) +
                                  " <= low <= high <= " + std::to_string(high) + " (in " + cfg.source() + ")");
    return Range(values[0], values[1]);
  }

  World& world_;
  std::vector<int> frictionGeoms_;
  int baseBody_;
  std::optional<Range> friction_, addedBaseMass_, motorStrength_;
  double nominalFriction_ = 0.0, nominalBaseMass_ = 0.0;
  std::vector<double> nominalGear_;
  Draw draw_;
};

}  // namespace raisim
