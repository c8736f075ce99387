// Read-only configuration tree handed to every environment (the `environment:` block of cfg.yaml).
//
// The binding builds it from the parsed YAML; environments read it with operator[] / as<T>() / get().
// Every node remembers whether it was read, so that a key no code ever reads (a typo such as
// `rewrad:`) is reported instead of being silently ignored.
#pragma once

#include <cctype>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace raisim {

class Config {
 public:
  using Scalar = std::variant<bool, long long, double, std::string>;

  // A leaf holding one scalar value.
  static Config scalar(Scalar value, std::string path, std::shared_ptr<const std::string> source) {
    Config node(Kind::kScalar, std::move(path), std::move(source));
    node.scalar_ = std::move(value);
    return node;
  }

  // An empty mapping; fill it with addChild.
  static Config mapping(std::string path, std::shared_ptr<const std::string> source) {
    return Config(Kind::kMap, std::move(path), std::move(source));
  }

  // An empty sequence; fill it with addChild (the key is ignored).
  static Config sequence(std::string path, std::shared_ptr<const std::string> source) {
    return Config(Kind::kSequence, std::move(path), std::move(source));
  }

  // A null value (`key:` with nothing after it).
  static Config null(std::string path, std::shared_ptr<const std::string> source) {
    return Config(Kind::kNull, std::move(path), std::move(source));
  }

  void addChild(std::string key, Config child) { children_.emplace_back(std::move(key), std::move(child)); }

  // Whether this mapping has `key`.
  bool has(const std::string& key) const { return find(key) != nullptr; }

  // The child `key` of a mapping; a missing key is an error naming the key and the file.
  const Config& operator[](const std::string& key) const {
    if (kind_ != Kind::kMap) fail("is not a mapping, so it has no key '" + key + "'");
    const Config* child = find(key);
    if (child == nullptr)
      throw std::invalid_argument("missing cfg key '" + join(path_, key) + "' in " + *source_);
    used_ = true;
    return *child;
  }

  // Element `index` of a sequence.
  const Config& operator[](std::size_t index) const {
    if (kind_ != Kind::kSequence) fail("is not a list");
    if (index >= children_.size())
      fail("has " + std::to_string(children_.size()) + " elements, index " + std::to_string(index) + " requested");
    used_ = true;
    return children_[index].second;
  }

  std::size_t size() const { return children_.size(); }

  // Keys of a mapping, in file order. Reading the keys counts as reading the mapping itself only.
  std::vector<std::string> keys() const {
    if (kind_ != Kind::kMap) fail("is not a mapping");
    used_ = true;
    std::vector<std::string> result;
    for (const auto& entry : children_) result.push_back(entry.first);
    return result;
  }

  // The value converted to T (bool, int, double, float, std::string, or std::vector of those).
  template <class T>
  T as() const {
    used_ = true;
    if constexpr (isVector<T>::value) {
      if (kind_ != Kind::kSequence) fail("must be a list");
      T result;
      for (const auto& entry : children_) result.push_back(entry.second.template as<typename T::value_type>());
      return result;
    } else {
      if (kind_ != Kind::kScalar) fail("must be a single value, not a " + kindName());
      if constexpr (std::is_same_v<T, bool>) {
        if (auto* v = std::get_if<bool>(&scalar_)) return *v;
        // One rule for every boolean, the trainer's included: YAML 1.1's words, as the original cfg files use them
        // (a YAML 1.2 loader hands them over as strings).
        if (auto* v = std::get_if<std::string>(&scalar_)) {
          std::string word(*v);
          for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (word == "true" || word == "yes" || word == "on") return true;
          if (word == "false" || word == "no" || word == "off") return false;
        }
        fail("must be true or false (or yes/no, on/off), got " + describe());
      } else if constexpr (std::is_integral_v<T>) {
        if (auto* v = std::get_if<long long>(&scalar_)) {
          // A silent wrap-around would turn num_envs: 4294967298 into 2.
          if (!inRange<T>(*v))
            fail("must be an integer between " + std::to_string(std::numeric_limits<T>::min()) + " and " +
                 std::to_string(std::numeric_limits<T>::max()) + ", got " + describe());
          return static_cast<T>(*v);
        }
        fail("must be an integer, got " + describe());
      } else if constexpr (std::is_floating_point_v<T>) {
        if (auto* v = std::get_if<double>(&scalar_)) return static_cast<T>(*v);
        if (auto* v = std::get_if<long long>(&scalar_)) return static_cast<T>(*v);
        fail("must be a number, got " + describe());
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (auto* v = std::get_if<std::string>(&scalar_)) return *v;
        fail("must be a string, got " + describe());
      } else {
        static_assert(sizeof(T) == 0, "Config::as supports bool, integers, floating point, std::string, std::vector");
      }
    }
  }

  // The child `key` converted to T, or `fallback` when the mapping has no such key.
  template <class T>
  T get(const std::string& key, T fallback) const {
    if (kind_ != Kind::kMap) fail("is not a mapping");
    used_ = true;
    const Config* child = find(key);
    return child == nullptr ? fallback : child->template as<T>();
  }

  bool isNull() const { return kind_ == Kind::kNull; }
  bool isString() const { return kind_ == Kind::kScalar && std::holds_alternative<std::string>(scalar_); }

  // Marks this node as read, so that a block whose keys are all optional may be empty; its children are still
  // reported when nothing reads them.
  void markRead() const { used_ = true; }

  // Marks keys that other code (the Python runner) reads, so they are not reported as unknown.
  void markRead(const std::vector<std::string>& names) const {
    for (const auto& name : names)
      if (const Config* child = find(name)) child->markSubtreeRead();
  }

  // Full paths of the keys below this node that nothing has read.
  std::vector<std::string> unreadKeys() const {
    std::vector<std::string> result;
    collectUnread(result);
    return result;
  }

  // Full paths of the keys below this node that were read.
  std::vector<std::string> readKeys() const {
    std::vector<std::string> result;
    for (const auto& entry : children_) {
      if (!entry.second.used_) continue;
      result.push_back(entry.second.path_);
      if (entry.second.kind_ == Kind::kMap)
        for (auto& key : entry.second.readKeys()) result.push_back(std::move(key));
    }
    return result;
  }

  const std::string& path() const { return path_; }
  const std::string& source() const { return *source_; }

 private:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  template <class T>
  struct isVector : std::false_type {};
  template <class T, class A>
  struct isVector<std::vector<T, A>> : std::true_type {};

  Config(Kind kind, std::string path, std::shared_ptr<const std::string> source)
      : kind_(kind), path_(std::move(path)), source_(std::move(source)) {}

  template <class T>
  static bool inRange(long long value) {
    if constexpr (std::is_signed_v<T>)
      return value >= static_cast<long long>(std::numeric_limits<T>::min()) &&
             value <= static_cast<long long>(std::numeric_limits<T>::max());
    else
      return value >= 0 && static_cast<unsigned long long>(value) <= std::numeric_limits<T>::max();
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  const Config* find(const std::string& key) const {
    for (const auto& entry : children_)
      if (entry.first == key) return &entry.second;
    return nullptr;
  }

  void markSubtreeRead() const {
    used_ = true;
    for (const auto& entry : children_) entry.second.markSubtreeRead();
  }

  void collectUnread(std::vector<std::string>& result) const {
    for (const auto& entry : children_) {
      if (!entry.second.used_)
        result.push_back(entry.second.path_);
      else if (entry.second.kind_ == Kind::kMap)
        entry.second.collectUnread(result);
    }
  }

  std::string kindName() const {
    switch (kind_) {
      case Kind::kNull: return "null";
      case Kind::kScalar: return "value";
      case Kind::kSequence: return "list";
      case Kind::kMap: return "mapping";
    }
    return "?";
  }

  std::string describe() const {
    if (auto* v = std::get_if<bool>(&scalar_)) return *v ? "true" : "false";
    if (auto* v = std::get_if<long long>(&scalar_)) return std::to_string(*v);
    if (auto* v = std::get_if<double>(&scalar_)) return formatNumber(*v);
    // A message quotes the start of a long string, not all of a 5 MB value.
    const std::string& text = std::get<std::string>(scalar_);
    constexpr std::size_t kQuoted = 80;
    if (text.size() <= kQuoted) return "'" + text + "'";
    return "'" + text.substr(0, kQuoted) + "...' (" + std::to_string(text.size()) + " characters)";
  }

 public:
  // %g: std::to_string prints -1e-9 as "-0.000000" and 1e300 as 301 digits.
  static std::string formatNumber(double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    return text;
  }

 private:

  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument("cfg key '" + path_ + "' " + what + " (in " + *source_ + ")");
  }

  Kind kind_;
  std::string path_;
  std::shared_ptr<const std::string> source_;
  Scalar scalar_;
  std::vector<std::pair<std::string, Config>> children_;
  mutable bool used_ = false;
};

}  // namespace raisim
