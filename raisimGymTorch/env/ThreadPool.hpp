// The threads that step a VectorizedEnvironment's envs: a fixed set of workers that sleep between batched
// calls. Replaces the OpenMP loop, for two reasons (issue 17 items 1 and 6):
//  - libgomp's thread pool does not survive fork(): a child of a process that had run a parallel region
//    hangs in its next one. VectorizedEnvironment notices a fork (the pid changed) and builds a new pool.
//  - libgomp exits the process ("libgomp: Thread creation failed") when it cannot start a thread; here a
//    failed start is an exception that names num_threads.
#pragma once

#include <atomic>
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
  explicit ThreadPool(int numThreads) : numThreads_(numThreads) {
    workers_.reserve(numThreads - 1);
    for (int t = 0; t + 1 < numThreads; ++t) {
      try {
        workers_.emplace_back([this] { work(); });
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

  // Calls body(i) for i in [0, count) and returns when all are done. Threads take the next index as they
  // finish the last, not a fixed share: envs differ in cost (contacts, resets) and so do the cores from moment
  // to moment, and fixed shares left one thread waiting for the other. The first exception thrown by body is
  // rethrown here after every thread has finished. Not reentrant: one call at a time (the binding's per-env
  // lock sees to that).
  template <class Body>
  void run(int count, Body& body) {
    count_ = count;
    context_ = &body;
    invoke_ = [](void* context, int i) { (*static_cast<Body*>(context))(i); };
    failure_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    if (!workers_.empty()) {
      pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++generation_;
      }
      wake_.notify_all();
    }
    runShare();
    if (!workers_.empty()) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void runShare() {
    try {
      for (int i = next_.fetch_add(1, std::memory_order_relaxed); i < count_;
           i = next_.fetch_add(1, std::memory_order_relaxed))
        invoke_(context_, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
  }

  void work() {
    unsigned long long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      runShare();
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

  const int numThreads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  unsigned long long generation_ = 0;  // guarded by mutex_
  bool stop_ = false;                  // guarded by mutex_
  std::atomic<int> pending_{0};
  std::atomic<int> next_{0};  // the next index a thread takes
  // The current job, written before generation_ is raised under mutex_, which publishes it to the workers.
  int count_ = 0;
  void* context_ = nullptr;
  void (*invoke_)(void*, int) = nullptr;
  std::exception_ptr failure_;
};

}  // namespace raisim
