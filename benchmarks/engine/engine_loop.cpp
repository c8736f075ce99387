// The engine ceiling: one thread steps env_count instances of an env folder's raisim::ENVIRONMENT
// with a pre-generated action sequence. Per env and control step it does the work of
// VectorizedEnvironment::step followed by observe (step, isTerminalState, time limit, reset,
// observe into the env's row) with no batch, OpenMP, Python, action copy or normalization around
// it. benchmarks/throughput.py builds it once per env and compares our vectorized env against it.
//
// Usage: engine_loop_<env> --resource-dir DIR --cfg-dump FILE --cfg-source NAME --actions FILE
//            --steps T --num-envs N [--first-env F --env-count C] [--seed S]
// The actions file holds raw float32 batches of shape (num_envs, action_dim), C order; control step
// t uses batch t modulo the number of batches, env i (of num_envs) its row i. Env i is seeded with
// seed + i, as VectorizedEnvironment::setSeed does, so both runs follow the same trajectories.
// Prints one JSON line: wall and CPU seconds of the loop, throughput, and checksums that the script compares with the vectorized run.
#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ConfigDump.hpp"
#include "Environment.hpp"

namespace {

struct Options {
  std::string resourceDir, cfgDump, cfgSource = "cfg.yaml", actions;
  long long steps = 0;
  int numEnvs = 0, firstEnv = 0, envCount = -1, seed = 0;
};

Options parse(int argc, char** argv) {
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("expected --flag value, got '" + flag + "'");
    values[flag.substr(2)] = argv[i + 1];
  }
  const auto take = [&](const std::string& name, bool required) {
    auto found = values.find(name);
    if (found == values.end()) {
      if (required) throw std::invalid_argument("missing --" + name);
      return std::string();
    }
    std::string value = found->second;
    values.erase(found);
    return value;
  };
  Options options;
  options.resourceDir = take("resource-dir", true);
  options.cfgDump = take("cfg-dump", true);
  options.actions = take("actions", true);
  options.steps = std::stoll(take("steps", true));
  options.numEnvs = std::stoi(take("num-envs", true));
  if (auto source = take("cfg-source", false); !source.empty()) options.cfgSource = source;
  if (auto first = take("first-env", false); !first.empty()) options.firstEnv = std::stoi(first);
  if (auto count = take("env-count", false); !count.empty()) options.envCount = std::stoi(count);
  if (auto seed = take("seed", false); !seed.empty()) options.seed = std::stoi(seed);
  if (!values.empty()) throw std::invalid_argument("unknown flag --" + values.begin()->first);
  if (options.envCount < 0) options.envCount = options.numEnvs - options.firstEnv;
  if (options.steps < 1 || options.numEnvs < 1 || options.firstEnv < 0 || options.envCount < 1 ||
      options.firstEnv + options.envCount > options.numEnvs)
    throw std::invalid_argument("need steps >= 1 and 0 <= first-env < first-env + env-count <= num-envs");
  return options;
}

std::vector<float> readActions(const std::string& file, long long batchSize) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open actions file '" + file + "'");
  const long long bytes = in.tellg();
  const long long batchBytes = batchSize * static_cast<long long>(sizeof(float));
  if (bytes < batchBytes || bytes % batchBytes != 0)
    throw std::invalid_argument("actions file '" + file + "' holds " + std::to_string(bytes) +
                                " bytes, not a whole number of float32 batches of " + std::to_string(batchSize));
  std::vector<float> actions(bytes / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(actions.data()), bytes);
  return actions;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    // Environments keep a reference to the cfg, so it outlives them.
    const raisim::Config cfg = rsg_bench::loadConfigDump(options.cfgDump, options.cfgSource);

    std::vector<std::unique_ptr<raisim::ENVIRONMENT>> envs;
    for (int k = 0; k < options.envCount; ++k) {
      envs.push_back(std::make_unique<raisim::ENVIRONMENT>(options.resourceDir, cfg, false));
      envs.back()->init();
      envs.back()->setSeed(options.seed + options.firstEnv + k);
      envs.back()->reset();
    }
    const int obDim = envs[0]->getObDim();
    const int actionDim = envs[0]->getActionDim();
    // The time limit exactly as VectorizedEnvironment computes it.
    const double maxTime = cfg.get<double>("max_time", std::numeric_limits<double>::infinity());
    const long long maxEpisodeSteps =
        std::isinf(maxTime) ? std::numeric_limits<long long>::max()
                            : std::max(1LL, static_cast<long long>(maxTime / envs[0]->getControlTimeStep() + 1e-9));

    const long long batchSize = static_cast<long long>(options.numEnvs) * actionDim;
    std::vector<float> actions = readActions(options.actions, batchSize);
    const long long batches = static_cast<long long>(actions.size()) / batchSize;
    raisim::EigenRowMajorMat observation = raisim::EigenRowMajorMat::Zero(options.envCount, obDim);
    std::vector<long long> episodeSteps(options.envCount, 0);
    double rewardSum = 0.0;
    long long dones = 0, timeouts = 0;

    const std::clock_t cpuStart = std::clock();
    const auto start = std::chrono::steady_clock::now();
    for (long long t = 0; t < options.steps; ++t) {
      float* batch = actions.data() + (t % batches) * batchSize;
      for (int k = 0; k < options.envCount; ++k) {
        raisim::ENVIRONMENT& env = *envs[k];
        Eigen::Map<raisim::EigenVec> action(batch + static_cast<long long>(options.firstEnv + k) * actionDim, actionDim);
        float reward = env.step(action);
        float terminalReward = 0.f;
        const bool failed = env.isTerminalState(terminalReward);
        const bool timeUp = !failed && ++episodeSteps[k] >= maxEpisodeSteps;
        if (failed) reward += terminalReward;
        rewardSum += reward;
        if (failed || timeUp) {
          dones += 1;
          timeouts += timeUp;
          env.reset();
          episodeSteps[k] = 0;
        }
        env.observe(observation.row(k).transpose());
      }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpuSeconds = static_cast<double>(std::clock() - cpuStart) / CLOCKS_PER_SEC;

    const double stepsPerSecond = static_cast<double>(options.steps) * options.envCount / seconds;
    std::printf("{\"seconds\": %.9g, \"cpu_seconds\": %.9g, \"control_steps_per_second\": %.9g, \"envs\": %d, ",
                seconds, cpuSeconds, stepsPerSecond, options.envCount);
    std::printf("\"steps\": %lld, \"substeps\": %d, \"reward_sum\": %.17g, \"dones\": %lld, \"timeouts\": %lld, ",
                options.steps, envs[0]->getSubsteps(), rewardSum, dones, timeouts);
    std::printf("\"observation_sum\": %.17g}\n", observation.cast<double>().sum());
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "engine_loop: " << error.what() << "\n";
    return 1;
  }
}
