// The Actuation an env's cfg names in its `actuator` block, so that switching drive models is a cfg edit:
//   actuator:
//     model: dc_motor   # torque | pd | dc_motor | network
//     file: drive.net   # network only: what `python -m raisimGymTorch.actuator fit` wrote; absolute, or
//                       # relative to the env's resource folder (raisimGymTorch/rsc)
// The env supplies what belongs to the robot: its PD gains and its drives' DC-motor limit.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "Config.hpp"
#include "actuation/Actuation.hpp"
#include "actuation/NetworkActuation.hpp"

namespace raisim {

struct DriveParameters {
  Eigen::VectorXd pGain, dGain;  // per actuator, for pd and dc_motor
  DcMotorLimit motor;            // for dc_motor; all zero when the robot's drives have no published limit
};

// `defaultModel` is used when the cfg has no `actuator` block (cfgs written before the block existed).
inline std::unique_ptr<Actuation> actuationFromConfig(const Config& cfg, const std::string& defaultModel,
                                                      const DriveParameters& drive, int actuators,
                                                      const std::string& resourceDir) {
  std::string model = defaultModel;
  const Config* block = cfg.has("actuator") ? &cfg["actuator"] : nullptr;
  if (block != nullptr) model = (*block)["model"].as<std::string>();
  auto where = [&] { return " (cfg key 'actuator.model' in " + cfg.source() + ")"; };
  if (model == "torque") return std::make_unique<TorqueActuation>();
  if (model == "pd" || model == "dc_motor") {
    auto pd = std::make_unique<PdActuation>(drive.pGain, drive.dGain);
    if (model == "dc_motor") {
      if (drive.motor.noLoadSpeed == 0) throw std::invalid_argument("this environment gives no DC motor limit" + where());
      pd->setMotorLimit(drive.motor);
    }
    return pd;
  }
  if (model == "network") {
    std::filesystem::path file = (*block)["file"].as<std::string>();
    if (file.is_relative()) file = std::filesystem::path(resourceDir) / file;
    return std::make_unique<NetworkActuation>(ActuatorNetwork::load(file.string()), actuators);
  }
  throw std::invalid_argument("unknown actuator model '" + model + "'; the models are torque, pd, dc_motor, network" + where());
}

}  // namespace raisim
