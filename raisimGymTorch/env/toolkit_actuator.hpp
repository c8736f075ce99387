// The actuator network (env/actuation/ActuatorNetwork.hpp) and the stand-in series-elastic drive
// (SeriesElasticActuation.hpp) as Python objects of the _toolkit module, so that tests compare them with PyTorch's
// forward pass and with raisimGymTorch/actuator/drive.py, and benchmarks time the exact code the envs run.
#pragma once

#include <malloc.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <memory>
#include <string>

#include "actuation/ActuatorNetwork.hpp"
#include "actuation/SeriesElasticActuation.hpp"

namespace raisim {

inline void bindActuator(pybind11::module_& module) {
  namespace py = pybind11;
  using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;
  py::class_<ActuatorNetwork::History>(module, "ActuatorNetworkHistory",
                                       "One env's drives run by an actuator network file, with their history.")
      .def(py::init([](const std::string& path, int joints) {
             try {
               return std::make_unique<ActuatorNetwork::History>(ActuatorNetwork::load(path), joints);
             } catch (const std::invalid_argument& error) {
               throw py::value_error(error.what());
             }
           }),
           py::arg("path"), py::arg("joints"))
      .def_property_readonly("joints", &ActuatorNetwork::History::joints)
      .def("reset", &ActuatorNetwork::History::reset, "Starts a new episode: the next sample fills the history.")
      .def(
          "torques",
          [](ActuatorNetwork::History& self, const Array& error, const Array& velocity) {
            if (error.ndim() != 1 || error.shape(0) != self.joints() || velocity.ndim() != 1 ||
                velocity.shape(0) != self.joints())
              throw py::value_error("position_error and velocity must have shape (" + std::to_string(self.joints()) +
                                    ",)");
            Array out(self.joints());
            self.torques(error.data(), velocity.data(), out.mutable_data());
            return out;
          },
          py::arg("position_error"), py::arg("velocity"),
          "Records one physics step's sample of every joint and returns the torques (N m).")
      .def(
          "heap_bytes_over",
          [](ActuatorNetwork::History& self, int calls) {
            // Heap in use before and after `calls` steps (glibc's count; the GIL keeps other threads out).
            std::vector<double> error(self.joints(), 0.01), velocity(self.joints(), 0.1), out(self.joints());
            const auto before = mallinfo2().uordblks;
            for (int i = 0; i < calls; ++i) self.torques(error.data(), velocity.data(), out.data());
            return static_cast<long long>(mallinfo2().uordblks) - static_cast<long long>(before);
          },
          py::arg("calls"), "Bytes of heap that `calls` steps left allocated (0: no allocation per step).")
      .def(
          "seconds_per_step",
          [](ActuatorNetwork::History& self, int calls) {
            std::vector<double> error(self.joints(), 0.01), velocity(self.joints(), 0.1), out(self.joints());
            const auto start = std::chrono::steady_clock::now();
            {
              py::gil_scoped_release release;
              for (int i = 0; i < calls; ++i) {
                error[i % self.joints()] += 1e-6;
                self.torques(error.data(), velocity.data(), out.data());
              }
            }
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / calls;
          },
          py::arg("calls"), "Mean wall time of one step of all joints (for benchmarks).");

  py::class_<SeriesElasticActuation>(module, "SeriesElasticDrive",
                                     "The stand-in series-elastic drives of one env, as the 'series_elastic' actuator "
                                     "model runs them (drive.py's default parameters).")
      .def(py::init([](const Array& kp, const Array& kd, double torque_limit, double saturation_torque,
                       double no_load_speed, int delay_periods) {
             try {
               SeriesElasticParameters parameters;
               parameters.delayPeriods = delay_periods;
               return std::make_unique<SeriesElasticActuation>(
                   Eigen::Map<const Eigen::VectorXd>(kp.data(), kp.size()),
                   Eigen::Map<const Eigen::VectorXd>(kd.data(), kd.size()),
                   DcMotorLimit{saturation_torque, torque_limit, no_load_speed}, parameters);
             } catch (const std::invalid_argument& error) {
               throw py::value_error(error.what());
             }
           }),
           py::arg("kp"), py::arg("kd"), py::arg("torque_limit"), py::arg("saturation_torque"),
           py::arg("no_load_speed"), py::arg("delay_periods") = 1)
      .def("reset", &SeriesElasticActuation::reset, "Starts a new episode: the next step rests the motors.")
      .def(
          "torques",
          [](SeriesElasticActuation& self, const Array& target, const Array& position, const Array& velocity,
             double timestep) {
            const auto n = static_cast<py::ssize_t>(self.actuators());
            for (const Array* array : {&target, &position, &velocity})
              if (array->ndim() != 1 || array->shape(0) != n)
                throw py::value_error("target, position and velocity must have shape (" + std::to_string(n) + ",)");
            const Eigen::VectorXd q = Eigen::Map<const Eigen::VectorXd>(position.data(), n);
            const Eigen::VectorXd qd = Eigen::Map<const Eigen::VectorXd>(velocity.data(), n);
            const Eigen::VectorXd command = Eigen::Map<const Eigen::VectorXd>(target.data(), n);
            Eigen::VectorXd torque(n);
            self.compute({command, command, q, qd, timestep}, torque);
            Array out(n);
            Eigen::Map<Eigen::VectorXd>(out.mutable_data(), n) = torque;
            return out;
          },
          py::arg("target"), py::arg("position"), py::arg("velocity"), py::arg("timestep"),
          "One physics step of `timestep` s: the mean spring torque (N m) each joint receives over it.");
}

}  // namespace raisim
