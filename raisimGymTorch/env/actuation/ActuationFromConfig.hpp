// The Actuation an env's cfg names in its `actuator` block, so that switching drive models is a cfg edit:
//   actuator:
//     model: dc_motor   # torque | pd | dc_motor | network | series_elastic
//     file: drive.net   # network only: what `python -m raisimGymTorch.actuator fit` wrote; absolute, or
//                       # relative to the env's resource folder (raisimGymTorch/rsc)
// series_elastic is the stand-in drive of raisimGymTorch/actuator/drive.py; its keys there (spring_stiffness,
// motor_inertia, delay_periods, ...) may be set in the block, otherwise drive.py's defaults hold.
// The env supplies what belongs to the robot: its PD gains and its drives' DC-motor limit.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "Config.hpp"
#include "actuation/Actuation.hpp"
#include "actuation/NetworkActuation.hpp"
#include "actuation/SeriesElasticActuation.hpp"

namespace raisim {

struct DriveParameters {
  Eigen::VectorXd pGain, dGain;  // per actuator, for pd and dc_motor
  DcMotorLimit motor;            // for dc_motor; all zero when the robot's drives have no published limit
};

inline SeriesElasticParameters seriesElasticParameters(const Config& block) {
  SeriesElasticParameters p;
  p.springStiffness = block.get("spring_stiffness", p.springStiffness);
  p.springDamping = block.get("spring_damping", p.springDamping);
  p.motorInertia = block.get("motor_inertia", p.motorInertia);
  p.torqueLoopGain = block.get("torque_loop_gain", p.torqueLoopGain);
  p.torqueLoopDamping = block.get("torque_loop_damping", p.torqueLoopDamping);
  p.coulombFriction = block.get("coulomb_friction", p.coulombFriction);
  p.viscousFriction = block.get("viscous_friction", p.viscousFriction);
  p.physicsRate = block.get("physics_rate", p.physicsRate);
  p.delayPeriods = block.get("delay_periods", p.delayPeriods);
  return p;
}

// `defaultModel` is used when the cfg has no `actuator` block (cfgs written before the block existed).
inline std::unique_ptr<Actuation> actuationFromConfig(const Config& cfg, const std::string& defaultModel,
                                                      const DriveParameters& drive, int actuators,
                                                      const std::string& resourceDir) {
  std::string model = defaultModel;
  const Config* block = cfg.has("actuator") ? &cfg["actuator"] : nullptr;
  if (block != nullptr) model = (*block)["model"].as<std::string>();
  auto where = [&] { return " (cfg key 'actuator.model' in " + cfg.source() + ")"; };
  auto motorLimit = [&]() -> const DcMotorLimit& {
    if (drive.motor.noLoadSpeed == 0) throw std::invalid_argument("this environment gives no DC motor limit" + where());
    return drive.motor;
  };
  if (model == "torque") return std::make_unique<TorqueActuation>();
  if (model == "pd" || model == "dc_motor") {
    auto pd = std::make_unique<PdActuation>(drive.pGain, drive.dGain);
    if (model == "dc_motor") pd->setMotorLimit(motorLimit());
    return pd;
  }
  if (model == "network") {
    std::filesystem::path file = (*block)["file"].as<std::string>();
    if (file.is_relative()) file = std::filesystem::path(resourceDir) / file;
    return std::make_unique<NetworkActuation>(ActuatorNetwork::load(file.string()), actuators);
  }
  if (model == "series_elastic") {
    const DcMotorLimit& limit = motorLimit();
    try {
      const SeriesElasticParameters parameters = block ? seriesElasticParameters(*block) : SeriesElasticParameters{};
      return std::make_unique<SeriesElasticActuation>(drive.pGain, drive.dGain, limit, parameters);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(error.what() + where());
    }
  }
  throw std::invalid_argument("unknown actuator model '" + model +
                              "'; the models are torque, pd, dc_motor, network, series_elastic" + where());
}

}  // namespace raisim
