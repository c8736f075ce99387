// Named reward terms with coefficients from cfg.yaml (`reward: {<name>: {coeff: <c>}}`).
//
// An environment declares its term names once; each step it records raw values by index and the
// weighted values are summed. Names are used only at construction and when reporting, so nothing
// in the step loop looks up strings or allocates.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "Config.hpp"

namespace raisim {

class Reward {
 public:
  // Declares the terms this environment records. Every declared term needs `coeff` in `rewardCfg`;
  // a term in the cfg that the environment does not declare is an error naming it.
  void initialize(const Config& rewardCfg, const std::vector<std::string>& names) {
    names_ = names;
    coefficients_.assign(names.size(), 0.0);
    values_.assign(names.size(), 0.0);
    for (std::size_t term = 0; term < names.size(); ++term)
      coefficients_[term] = rewardCfg[names[term]]["coeff"].as<double>();
    for (const auto& key : rewardCfg.keys())
      if (indexOf(key) < 0)
        throw std::invalid_argument("unknown reward term '" + key + "' in " + rewardCfg.source() +
                                    "; this environment records: " + list());
  }

  // Index of a declared term, for record(); call once at construction.
  int term(const std::string& name) const {
    const int index = indexOf(name);
    if (index < 0) throw std::invalid_argument("reward term '" + name + "' was not declared; declared: " + list());
    return index;
  }

  // Stores coefficient * value as this step's weighted value of `term` (times the penalty scale if the
  // coefficient is negative).
  void record(int term, double value) {
    const double coefficient = coefficients_[term];
    values_[term] = (coefficient < 0 ? penaltyScale_ * coefficient : coefficient) * value;
  }

  // Scales every term with a negative coefficient (a penalty curriculum); 1 unless set.
  void setPenaltyScale(double scale) { penaltyScale_ = scale; }

  // Sum of this step's weighted terms.
  float sum() const {
    double total = 0.0;
    for (double value : values_) total += value;
    return static_cast<float>(total);
  }

  void setZero() { std::fill(values_.begin(), values_.end(), 0.0); }

  const std::vector<std::string>& names() const { return names_; }
  const std::vector<double>& values() const { return values_; }
  std::size_t size() const { return names_.size(); }

 private:
  int indexOf(const std::string& name) const {
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == name) return static_cast<int>(i);
    return -1;
  }

  std::string list() const {
    std::string text;
    for (const auto& name : names_) text += (text.empty() ? "" : ", ") + name;
    return text;
  }

  std::vector<std::string> names_;
  std::vector<double> coefficients_;
  std::vector<double> values_;
  double penaltyScale_ = 1.0;
};

}  // namespace raisim
