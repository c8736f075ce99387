// Drives env/ThreadPool.hpp alone, built with ThreadSanitizer by test_thread_pool.py. Exits non-zero (or TSan
// does) if a call skips or repeats an index, if the caller can read a worker's writes before they happen, or if
// an exception thrown by the body does not come out of run() with the pool still usable.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ThreadPool.hpp"

namespace {

int fail(const char* what, int threads, int call) {
  std::fprintf(stderr, "%s (num_threads %d, call %d)\n", what, threads, call);
  return 1;
}

}  // namespace

int main() {
  for (int threads = 1; threads <= 4; ++threads) {
    raisim::ThreadPool pool(threads);
    std::vector<int> written(64);
    std::vector<std::atomic<int>> hits(64);
    for (int call = 0; call < 1500; ++call) {
      const int count = call % 41;
      for (auto& h : hits) h.store(0);
      // Plain writes by the workers, read here after run(): ThreadSanitizer reports them unless run() orders them.
      auto body = [&](int i) {
        written[i] = call;
        hits[i].fetch_add(1);
      };
      pool.run(count, body);
      for (int i = 0; i < count; ++i)
        if (hits[i].load() != 1 || written[i] != call) return fail("an index was skipped or repeated", threads, call);
      // Every few calls, a pause longer than the workers' spin, so that they go to sleep and must be woken.
      if (call % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    auto throwing = [](int i) {
      if (i == 5) throw std::runtime_error("body failed");
    };
    try {
      pool.run(20, throwing);
      return fail("the body's exception did not come out of run()", threads, -1);
    } catch (const std::runtime_error&) {
    }
    std::atomic<int> after{0};
    auto counting = [&](int) { after.fetch_add(1); };
    pool.run(30, counting);
    if (after.load() != 30) return fail("the pool did not work after an exception", threads, -1);
  }
  std::puts("ok");
  return 0;
}
