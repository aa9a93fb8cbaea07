// StopSignals: a stop signal sets the flag (taken by the watcher thread, the signal
// blocked everywhere else), and a second one ends the process with 128 + signal.
#include "runtime/core/stop_signals.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>

namespace mpimoe {
namespace {

bool WaitFor(const std::atomic<int>& flag) {
  for (int i = 0; i < 200 && flag.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return flag.load() != 0;
}

TEST(StopSignalsTest, FirstSignalSetsTheFlag) {
  BlockStopSignals();
  StopSignals signals;
  EXPECT_EQ(signals.requested().load(), 0);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_TRUE(WaitFor(signals.requested()));
}

TEST(StopSignalsDeathTest, SecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        BlockStopSignals();
        StopSignals signals;
        ::kill(::getpid(), SIGUSR1);
        if (!WaitFor(signals.requested())) std::exit(3);
        ::kill(::getpid(), SIGUSR1);
        std::this_thread::sleep_for(std::chrono::seconds(5));
        std::exit(4);
      },
      ::testing::ExitedWithCode(128 + SIGUSR1), "");
}

}  // namespace
}  // namespace mpimoe
