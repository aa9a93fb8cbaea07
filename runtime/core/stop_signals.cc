#include "runtime/core/stop_signals.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <ctime>

namespace mpimoe {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) sigaddset(&set, signal);
  return set;
}

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignals::StopSignals() {
  watcher_ = std::thread([this] {
    const sigset_t set = StopSet();
    const timespec poll = {0, 100'000'000};  // 100 ms: how soon the destructor returns
    while (!quit_.load()) {
      const int signal = sigtimedwait(&set, nullptr, &poll);
      if (signal <= 0) continue;  // timeout or EINTR
      if (requested_.exchange(1) != 0) _exit(128 + signal);
    }
  });
}

StopSignals::~StopSignals() {
  quit_.store(true);
  watcher_.join();
}

}  // namespace mpimoe
