// An actuator network (raisimGymTorch/actuator/network.py writes the file): per joint, the position error and
// velocity over the last few samples go through a small MLP with softsign, and out comes the torque the real
// drive would apply. Evaluated every physics step for all joints of one env at once; nothing is allocated after
// construction, and each env keeps its own history (ActuatorNetwork::History), reset with the episode.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace raisim {

class ActuatorNetwork {
 public:
  struct Layer {
    Eigen::MatrixXd weight;  // rows = outputs
    Eigen::VectorXd bias;
  };

  // Reads and checks a network file; every problem is an std::invalid_argument naming the file.
  static std::shared_ptr<const ActuatorNetwork> load(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::invalid_argument("actuator network file " + path + " cannot be opened (missing?)");
    const std::vector<char> blob((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    return std::make_shared<const ActuatorNetwork>(Reader{blob, path});
  }

  int history() const { return history_; }
  int lag() const { return lag_; }
  int inputs() const { return 2 * history_; }
  const std::vector<Layer>& layers() const { return layers_; }

  // One env's drives: the error/velocity history of each joint and the buffers of the forward pass.
  class History {
   public:
    History(std::shared_ptr<const ActuatorNetwork> network, int joints)
        : network_(std::move(network)), joints_(joints), span_(network_->lag_ * (network_->history_ - 1) + 1) {
      if (joints < 1) throw std::invalid_argument("an actuator network needs at least one joint");
      error_ = Eigen::MatrixXd::Zero(span_, joints);
      velocity_ = Eigen::MatrixXd::Zero(span_, joints);
      for (const Layer& layer : network_->layers_) activations_.emplace_back(layer.weight.rows(), joints);
      input_.resize(network_->inputs(), joints);
    }

    int joints() const { return joints_; }

    // A new episode: the next call fills the whole history with its sample, as if the drive had rested there.
    void reset() { filled_ = false; }

    // Records this physics step's position error (target - position) and velocity of every joint and writes the
    // torques into `torqueOut`.
    void torques(const double* positionError, const double* velocity, double* torqueOut) {
      newest_ = (newest_ + 1) % span_;
      for (int j = 0; j < joints_; ++j) {
        if (!filled_) {
          error_.col(j).setConstant(positionError[j]);
          velocity_.col(j).setConstant(velocity[j]);
        } else {
          error_(newest_, j) = positionError[j];
          velocity_(newest_, j) = velocity[j];
        }
      }
      filled_ = true;
      const ActuatorNetwork& net = *network_;
      for (int k = 0; k < net.history_; ++k) {
        const int row = (newest_ - k * net.lag_ + span_ * net.history_) % span_;
        input_.row(k) = error_.row(row) * net.inputScale_[k];
        input_.row(net.history_ + k) = velocity_.row(row) * net.inputScale_[net.history_ + k];
      }
      const Eigen::MatrixXd* x = &input_;
      for (std::size_t l = 0; l < net.layers_.size(); ++l) {
        Eigen::MatrixXd& y = activations_[l];
        y.noalias() = net.layers_[l].weight * *x;
        y.colwise() += net.layers_[l].bias;
        if (l + 1 < net.layers_.size()) y.array() /= 1.0 + y.array().abs();  // softsign
        x = &y;
      }
      for (int j = 0; j < joints_; ++j) torqueOut[j] = (*x)(0, j) * net.outputScale_;
    }

   private:
    std::shared_ptr<const ActuatorNetwork> network_;
    int joints_;
    int span_;
    int newest_ = 0;
    bool filled_ = false;
    Eigen::MatrixXd error_, velocity_;  // ring buffers: span_ samples x joints
    Eigen::MatrixXd input_;             // 2 * history x joints
    std::vector<Eigen::MatrixXd> activations_;
  };

  struct Reader {
    const std::vector<char>& blob;
    const std::string& path;
  };

  explicit ActuatorNetwork(Reader reader) {
    std::size_t offset = 0;
    const auto& blob = reader.blob;
    const std::string& path = reader.path;
    auto fail = [&](const std::string& problem) {
      throw std::invalid_argument("actuator network file " + path + ": " + problem);
    };
    auto take = [&](void* out, std::size_t bytes) {
      if (offset + bytes > blob.size())
        fail("truncated (" + std::to_string(blob.size()) + " bytes, needed more at byte " + std::to_string(offset) + ")");
      std::memcpy(out, blob.data() + offset, bytes);
      offset += bytes;
    };
    auto takeCount = [&](const char* what, std::uint32_t most) {
      std::uint32_t value = 0;
      take(&value, sizeof value);
      if (value < 1 || value > most)
        fail(std::string(what) + " is " + std::to_string(value) + ", expected 1 to " + std::to_string(most));
      return static_cast<int>(value);
    };
    auto takeDoubles = [&](double* out, std::size_t count, const char* what) {
      take(out, count * sizeof(double));
      for (std::size_t i = 0; i < count; ++i)
        if (!std::isfinite(out[i])) fail(std::string("non-finite value in ") + what);
    };
    char magic[8];
    take(magic, sizeof magic);
    if (std::memcmp(magic, "RSGACTNN", 8) != 0) fail("not an actuator network file (no RSGACTNN header)");
    std::uint32_t version = 0;
    take(&version, sizeof version);
    if (version != 1) fail("format version " + std::to_string(version) + "; this build reads version 1");
    history_ = takeCount("history", 64);
    lag_ = takeCount("lag", 1000);
    inputScale_.resize(2 * history_);
    takeDoubles(inputScale_.data(), inputScale_.size(), "input_scale");
    takeDoubles(&outputScale_, 1, "output_scale");
    const int layers = takeCount("layer count", 64);
    int columns = 2 * history_;
    for (int l = 0; l < layers; ++l) {
      const int rows = takeCount("layer rows", 4096);
      const int layerColumns = takeCount("layer columns", 4096);
      if (layerColumns != columns)
        fail("layer " + std::to_string(l + 1) + " takes " + std::to_string(layerColumns) + " inputs, but " +
             std::to_string(columns) + " come in");
      // The file is row-major; read into a row-major buffer and copy.
      Eigen::Matrix<double, -1, -1, Eigen::RowMajor> weight(rows, layerColumns);
      takeDoubles(weight.data(), weight.size(), "a weight");
      Layer layer{weight, Eigen::VectorXd(rows)};
      takeDoubles(layer.bias.data(), rows, "a bias");
      layers_.push_back(std::move(layer));
      columns = rows;
    }
    if (columns != 1) fail("the last layer has " + std::to_string(columns) + " outputs; a torque is one");
    if (offset != blob.size()) fail(std::to_string(blob.size() - offset) + " bytes after the last layer");
  }

 private:
  int history_ = 0;
  int lag_ = 0;
  Eigen::VectorXd inputScale_;
  double outputScale_ = 1.0;
  std::vector<Layer> layers_;
};

}  // namespace raisim
