// The threads that step a VectorizedEnvironment's envs: a fixed set of workers that wait between batched
// calls. Replaces the OpenMP loop, for two reasons (issue 17 items 1 and 6):
//  - libgomp's thread pool does not survive fork(): a child of a process that had run a parallel region
//    hangs in its next one. VectorizedEnvironment notices a fork (the pid changed) and builds a new pool.
//  - libgomp exits the process ("libgomp: Thread creation failed") when it cannot start a thread; here a
//    failed start is an exception that names num_threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace raisim {

class ThreadPool {
 public:
  // Starts numThreads - 1 workers (the calling thread is the last one); throws std::runtime_error naming
  // num_threads when the system refuses a thread (RLIMIT_AS, RLIMIT_NPROC, memory).
  explicit ThreadPool(int numThreads) : numThreads_(numThreads), blocks_(numThreads) {
    workers_.reserve(numThreads - 1);
    for (int t = 0; t + 1 < numThreads; ++t) {
      try {
        workers_.emplace_back([this, t] { work(t); });
      } catch (const std::system_error& error) {
        stopWorkers();
        throw std::runtime_error("could not start thread " + std::to_string(t + 2) + " of num_threads = " +
                                 std::to_string(numThreads) + " (" + error.code().message() +
                                 "); lower num_threads, or raise the limit on memory (ulimit -v) or processes "
                                 "(ulimit -u)");
      }
    }
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() { stopWorkers(); }

  int size() const { return numThreads_; }

  // Calls body(i) for i in [0, count) and returns when all are done. Thread t owns the t-th contiguous block
  // of indices and takes them in order; having finished its own, it takes the next index of the other blocks.
  // So an env is stepped by the same thread, in the same core's caches, call after call, and yet envs that
  // differ in cost (contacts, resets) and cores that differ in speed leave no thread waiting for the other's
  // whole share. The first exception thrown by body is rethrown here after every thread has finished. Not
  // reentrant: one call at a time (the binding's per-env lock sees to that).
  template <class Body>
  void run(int count, Body& body) {
    context_ = &body;
    invoke_ = [](void* context, int i) { (*static_cast<Body*>(context))(i); };
    failure_ = nullptr;
    for (int t = 0; t < numThreads_; ++t) {
      blocks_[t].next.store(blockStart(count, t), std::memory_order_relaxed);
      blocks_[t].end = blockStart(count, t + 1);
    }
    if (!workers_.empty()) {
      pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
      }
      wake_.notify_all();
    }
    runShare(numThreads_ - 1);
    if (!workers_.empty()) {
      spinWhile([this] { return pending_.load(std::memory_order_acquire) != 0; });
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  // Waking a sleeping thread takes tens of microseconds on a VM (its idle vCPU is halted), a few percent of a
  // batched call that takes milliseconds. So a thread that waits spins first, for at most this long: a loop
  // that calls again at once (or while its policy acts) finds the worker still awake; one that does longer
  // work in between costs the worker's core at most this much per call. Alternated A/B on 2 threads, 100 envs:
  // 50 µs gave 0.967 of two engine-loop processes, 100, 200 and 500 µs 0.972 (rsg_anymal; README, Performance).
  static constexpr std::chrono::microseconds kSpin{100};

  template <class Condition>
  static void spinWhile(Condition condition) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (condition() && std::chrono::steady_clock::now() < until) pause();
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  int blockStart(int count, int thread) const {
    return static_cast<int>(static_cast<long long>(count) * thread / numThreads_);
  }

  void runShare(int thread) {
    try {
      for (int k = 0; k < numThreads_; ++k) {
        Block& block = blocks_[(thread + k) % numThreads_];
        for (int i = block.next.fetch_add(1, std::memory_order_relaxed); i < block.end;
             i = block.next.fetch_add(1, std::memory_order_relaxed))
          invoke_(context_, i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
  }

  void work(int thread) {
    unsigned long long seen = 0;
    for (;;) {
      spinWhile([&] { return generation_.load(std::memory_order_acquire) == seen; });
      {
        // The mutex also publishes the job that run() wrote before raising generation_.
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stop_) return;
        seen = generation_.load(std::memory_order_relaxed);
      }
      runShare(thread);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Under the mutex, so the caller cannot check pending_ and then miss this notification.
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  // One thread's block of indices: the next one to take (by any thread) and the end. A cache line each, so that
  // threads taking from their own blocks do not contend.
  struct alignas(64) Block {
    std::atomic<int> next{0};
    int end = 0;
  };

  const int numThreads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<unsigned long long> generation_{0};  // raised under mutex_; read without it while spinning
  bool stop_ = false;                              // guarded by mutex_
  std::atomic<int> pending_{0};
  // The current job, written before generation_ is raised under mutex_, which publishes it to the workers.
  std::vector<Block> blocks_;
  void* context_ = nullptr;
  void (*invoke_)(void*, int) = nullptr;
  std::exception_ptr failure_;
};

}  // namespace raisim
