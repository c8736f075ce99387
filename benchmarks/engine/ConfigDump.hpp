// Rebuilds a raisim::Config from the flat text dump that benchmarks/common.py writes, so that a
// plain C++ program can construct an environment exactly as the Python module does, without Python.
//
// One line per node, parents before children (pre-order): `path<TAB>type<TAB>value`, where path
// joins mapping keys with '.' and list indices as `[i]` (the same paths Config reports in errors),
// and type is one of map, list, null, bool, int, float, str. The root mapping has no line.
#pragma once

#include <cstddef>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "Config.hpp"

namespace rsg_bench {

namespace detail {

struct DumpLine {
  std::string path, type, value;
  int number;
};

inline std::string parentOf(const std::string& path) {
  if (!path.empty() && path.back() == ']') return path.substr(0, path.rfind('['));
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

inline std::string keyOf(const std::string& path) {
  if (!path.empty() && path.back() == ']') return "";
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

inline raisim::Config buildNode(const std::vector<DumpLine>& lines, std::size_t& next, const DumpLine& line,
                                const std::shared_ptr<const std::string>& source) {
  using raisim::Config;
  const auto bad = [&](const std::string& what) {
    return std::invalid_argument("cfg dump of " + *source + ", line " + std::to_string(line.number) + ": " + what);
  };
  if (line.type == "map" || line.type == "list") {
    Config node = line.type == "map" ? Config::mapping(line.path, source) : Config::sequence(line.path, source);
    while (next < lines.size() && parentOf(lines[next].path) == line.path) {
      const DumpLine& child = lines[next++];
      node.addChild(keyOf(child.path), buildNode(lines, next, child, source));
    }
    return node;
  }
  if (line.type == "null") return Config::null(line.path, source);
  if (line.type == "str") return Config::scalar(line.value, line.path, source);
  if (line.type == "bool") {
    if (line.value != "true" && line.value != "false") throw bad("bool must be true or false, got '" + line.value + "'");
    return Config::scalar(line.value == "true", line.path, source);
  }
  if (line.type == "int" || line.type == "float") {
    std::size_t used = 0;
    try {
      if (line.type == "int") {
        const long long value = std::stoll(line.value, &used);
        if (used == line.value.size()) return Config::scalar(value, line.path, source);
      } else {
        const double value = std::stod(line.value, &used);
        if (used == line.value.size()) return Config::scalar(value, line.path, source);
      }
    } catch (const std::logic_error&) {  // std::stoll / std::stod: not a number, or out of range
    }
    throw bad("cannot read " + line.type + " '" + line.value + "'");
  }
  throw bad("unknown type '" + line.type + "'");
}

}  // namespace detail

// The cfg tree written to `file`; `source` names the original cfg.yaml in error messages.
inline raisim::Config loadConfigDump(const std::string& file, const std::string& source) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot open cfg dump '" + file + "'");
  auto sourceName = std::make_shared<const std::string>(source);
  std::vector<detail::DumpLine> lines;
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (text.empty()) continue;
    const auto first = text.find('\t');
    const auto second = first == std::string::npos ? first : text.find('\t', first + 1);
    if (second == std::string::npos)
      throw std::invalid_argument(file + " line " + std::to_string(number) + ": expected path<TAB>type<TAB>value");
    lines.push_back({text.substr(0, first), text.substr(first + 1, second - first - 1), text.substr(second + 1), number});
  }
  const detail::DumpLine root{"", "map", "", 0};
  std::size_t next = 0;
  raisim::Config config = detail::buildNode(lines, next, root, sourceName);
  if (next != lines.size())
    throw std::invalid_argument(file + " line " + std::to_string(lines[next].number) + ": '" + lines[next].path +
                                "' does not follow its parent (lines must be in pre-order)");
  return config;
}

}  // namespace rsg_bench
