// Running mean and variance of observations, merged batch by batch (Chan et al.'s parallel
// formula). Kept in double: after billions of samples a float mean stops moving.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace raisim {

class ObservationStatistics {
 public:
  ObservationStatistics() = default;
  explicit ObservationStatistics(int dim)
      : mean_(Eigen::VectorXd::Zero(dim)),
        var_(Eigen::VectorXd::Ones(dim)),
        batchMean_(Eigen::VectorXd::Zero(dim)),
        batchVar_(Eigen::VectorXd::Zero(dim)) {}

  // Folds the finite rows of `batch` (rows x dim) into the statistics; rows with NaN or inf are
  // skipped so that one diverged environment cannot poison normalization. Returns rows used.
  template <class Matrix>
  int update(const Matrix& batch) {
    // Two passes (mean, then squared deviations) stay accurate where sum-of-squares cancels.
    Eigen::VectorXd& batchMean = batchMean_;
    Eigen::VectorXd& batchVar = batchVar_;
    batchMean.setZero();
    int rows = 0;
    for (int r = 0; r < batch.rows(); ++r) {
      if (!batch.row(r).allFinite()) continue;
      batchMean += batch.row(r).transpose().template cast<double>();
      ++rows;
    }
    if (rows == 0) return 0;
    const double n = rows;
    batchMean /= n;
    batchVar.setZero();
    for (int r = 0; r < batch.rows(); ++r) {
      if (!batch.row(r).allFinite()) continue;
      batchVar += (batch.row(r).transpose().template cast<double>() - batchMean).cwiseAbs2();
    }
    batchVar /= n;
    merge(batchMean, batchVar, n);
    return rows;
  }

  // Merges another set of statistics (mean, population variance, count) into these.
  void merge(const Eigen::VectorXd& otherMean, const Eigen::VectorXd& otherVar, double otherCount) {
    if (otherCount <= 0) return;
    const double total = count_ + otherCount;
    for (Eigen::Index j = 0; j < mean_.size(); ++j) {
      const double delta = otherMean[j] - mean_[j];
      mean_[j] += delta * (otherCount / total);
      var_[j] = (var_[j] * count_ + otherVar[j] * otherCount + delta * delta * (count_ * otherCount / total)) / total;
    }
    count_ = total;
  }

  // (x - mean) / sqrt(var + 1e-8), clipped to [-clip, clip], in place.
  template <class Row>
  void normalize(Row&& row, float clip) const {
    for (int j = 0; j < row.size(); ++j) {
      const double value = (row[j] - mean_[j]) / std::sqrt(var_[j] + 1e-8);
      row[j] = static_cast<float>(std::clamp(value, -static_cast<double>(clip), static_cast<double>(clip)));
    }
  }

  // Replaces the statistics, e.g. from a checkpoint.
  void set(const Eigen::VectorXd& mean, const Eigen::VectorXd& var, double count) {
    if (mean.size() != mean_.size() || var.size() != var_.size())
      throw std::invalid_argument("observation statistics need " + std::to_string(mean_.size()) + " values, got mean " +
                                  std::to_string(mean.size()) + " and var " + std::to_string(var.size()));
    if (!mean.allFinite() || !var.allFinite() || (var.array() < 0).any())
      throw std::invalid_argument("observation statistics must be finite with non-negative variance");
    if (!(count >= 0) || !std::isfinite(count))
      throw std::invalid_argument("observation count must be finite and non-negative, got " + number(count));
    // Bounds that statistics of float32 observations can never pass; beyond them merge() overflows to inf/NaN
    // at the next update, and every checkpoint written after that fails to load.
    Eigen::Index j;
    if (mean.cwiseAbs().maxCoeff(&j) > kMaxMean)
      throw std::invalid_argument("observation mean[" + std::to_string(j) + "] = " + number(mean[j]) +
                                  " is beyond any float32 observation (|mean| <= " + number(kMaxMean) +
                                  "); these statistics are corrupt");
    if (var.maxCoeff(&j) > kMaxVar)
      throw std::invalid_argument("observation var[" + std::to_string(j) + "] = " + number(var[j]) +
                                  " is beyond any float32 observation (var <= " + number(kMaxVar) +
                                  "); these statistics are corrupt");
    if (count > kMaxCount)
      throw std::invalid_argument("observation count " + number(count) + " is beyond 2^53 = " + number(kMaxCount) +
                                  ", where adding a sample no longer changes it; these statistics are corrupt");
    mean_ = mean;
    var_ = var;
    count_ = count;
  }

  // Float32 observations have |x| <= FLT_MAX, so |mean| <= FLT_MAX and var <= (2 FLT_MAX)^2; with count <= 2^53
  // every product in merge() stays below 1e94.
  static constexpr double kMaxMean = 3.4028234663852886e38;
  static constexpr double kMaxVar = 4.0 * kMaxMean * kMaxMean;
  static constexpr double kMaxCount = 9007199254740992.0;

  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::VectorXd& var() const { return var_; }
  double count() const { return count_; }

 private:
  Eigen::VectorXd mean_, var_;
  double count_ = 0.0;

  // %g: std::to_string prints 1e308 as 309 digits and 1e-9 as 0.000000.
  static std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    return text;
  }
  // Scratch for update(), sized once so that updating allocates nothing.
  Eigen::VectorXd batchMean_, batchVar_;
};

}  // namespace raisim
