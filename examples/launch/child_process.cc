// child_process.cc: fork/exec/wait for the launcher (see child_process.h).
#include "examples/launch/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

namespace mpimoe::launch {
namespace {

// Writes `text` to fd 2 of the child without allocating (after fork).
void WriteRaw(const char* text) {
  const size_t n = std::strlen(text);
  ssize_t ignored = ::write(2, text, n);
  (void)ignored;
}

// What the child needs, prepared before fork: after it, the child only calls
// async-signal-safe functions (and setenv/execvp, fine in a single-threaded launcher).
struct ExecPlan {
  std::vector<char*> argv;  // options.argv as execvp takes it, null-terminated
  std::string cannot_run;   // the log line's start when execvp fails
  int log_fd = -1;          // stdout and stderr; -1 = inherit
  int exec_error_fd = -1;   // the write end of the close-on-exec pipe (see ExecFailed)
};

// In the forked child: its own process group (so a time-out or an interrupt reaches
// every process it starts, mpirun's ranks, and a terminal's Ctrl-C only the launcher),
// stdin from /dev/null, the log, the working directory and the environment, then the
// program. When execvp fails, says why in the log and writes errno to the pipe.
[[noreturn]] void ExecChild(const ChildOptions& options, const ExecPlan& plan) {
  ::setpgid(0, 0);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  if (plan.log_fd >= 0) {
    ::dup2(plan.log_fd, 1);
    ::dup2(plan.log_fd, 2);
  }
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
    WriteRaw("mpimoe-launch: cannot enter the working directory\n");
    ::_exit(127);
  }
  for (const auto& [name, value] : options.env) ::setenv(name.c_str(), value.c_str(), 1);
  ::execvp(plan.argv[0], plan.argv.data());
  const int error = errno;
  WriteRaw(plan.cannot_run.c_str());
  WriteRaw(std::strerror(error));
  WriteRaw("\n");
  ssize_t ignored = ::write(plan.exec_error_fd, &error, sizeof(error));
  (void)ignored;
  ::_exit(127);
}

// In the parent: blocks until the child has exec'd (the pipe closes: end-of-file) or
// reported that it cannot (its errno). Closes `read_fd`.
bool ExecFailed(int read_fd) {
  int exec_errno = 0;
  ssize_t got;
  do {
    got = ::read(read_fd, &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  ::close(read_fd);
  return got == static_cast<ssize_t>(sizeof(exec_errno));
}

// Waits for the child `pid` (leader of its process group), stopping the group when
// the time limit passes or an interrupt arrives (SIGTERM or the interrupting signal,
// SIGKILL 10 s later), then kills what is left of the group. Sets the result's
// timed_out / interrupted; returns the wait status.
StatusOr<int> WaitForChild(pid_t pid, const ChildOptions& options, ChildResult* result,
                           int* interrupt_signal) {
  const auto start = std::chrono::steady_clock::now();
  bool stop_sent = false;  // SIGTERM (or the interrupting signal) sent to the group
  bool kill_sent = false;
  std::chrono::steady_clock::time_point stop_time;
  int wstatus = 0;
  while (true) {
    const pid_t done = ::waitpid(pid, &wstatus, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      const int error = errno;
      ::kill(-pid, SIGKILL);
      return InternalError(std::string("waitpid failed: ") + std::strerror(error));
    }
    const auto now = std::chrono::steady_clock::now();
    if (!stop_sent && options.interrupt != nullptr && *options.interrupt != 0) {
      *interrupt_signal = *options.interrupt;
      ::kill(-pid, *interrupt_signal);
      stop_sent = true;
      stop_time = now;
      result->interrupted = true;
    } else if (!stop_sent && options.timeout_s > 0 &&
               now - start > std::chrono::seconds(options.timeout_s)) {
      ::kill(-pid, SIGTERM);
      stop_sent = true;
      stop_time = now;
      result->timed_out = true;
    } else if (stop_sent && !kill_sent && now - stop_time > std::chrono::seconds(10)) {
      ::kill(-pid, SIGKILL);
      kill_sent = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (stop_sent) {
    // mpirun is gone; give its ranks a moment to follow, then kill what is left of the
    // group (kill(-pid, 0) fails with ESRCH once the group is empty).
    const auto reaped = std::chrono::steady_clock::now();
    while (::kill(-pid, 0) == 0 &&
           std::chrono::steady_clock::now() - reaped < std::chrono::seconds(2)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid, SIGKILL);
  }
  return wstatus;
}

// The result's exit_code and description from the wait status.
void Describe(int wstatus, int interrupt_signal, int timeout_s, ChildResult* result) {
  if (WIFEXITED(wstatus)) {
    result->exit_code = WEXITSTATUS(wstatus);
    result->description = "exit code " + std::to_string(result->exit_code);
  } else if (WIFSIGNALED(wstatus)) {
    result->exit_code = 128 + WTERMSIG(wstatus);
    result->description = "killed by signal " + std::to_string(WTERMSIG(wstatus));
  }
  if (result->interrupted) {
    result->description = "interrupted by signal " + std::to_string(interrupt_signal) +
                          " (" + result->description + ")";
    if (result->exit_code == 0) result->exit_code = 128 + interrupt_signal;
  } else if (result->timed_out) {
    result->description = "timed out after " + std::to_string(timeout_s) + " s (" +
                          result->description + ")";
    if (result->exit_code == 0) result->exit_code = 124;
  }
}

}  // namespace

StatusOr<ChildResult> RunChild(const ChildOptions& options) {
  MPIMOE_CHECK(!options.argv.empty());
  ExecPlan plan;
  if (!options.log_path.empty()) {
    plan.log_fd =
        ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (plan.log_fd < 0) {
      return IoError("cannot create " + options.log_path + ": " + std::strerror(errno));
    }
  }
  for (const std::string& arg : options.argv) {
    plan.argv.push_back(const_cast<char*>(arg.c_str()));
  }
  plan.argv.push_back(nullptr);
  plan.cannot_run = "mpimoe-launch: cannot run '" + options.argv[0] + "': ";
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    if (plan.log_fd >= 0) ::close(plan.log_fd);
    return InternalError(std::string("pipe failed: ") + std::strerror(error));
  }
  plan.exec_error_fd = exec_pipe[1];

  const pid_t pid = ::fork();
  if (pid == 0) ExecChild(options, plan);
  const int fork_error = errno;
  if (plan.log_fd >= 0) ::close(plan.log_fd);
  ::close(exec_pipe[1]);
  if (pid < 0) {
    ::close(exec_pipe[0]);
    return InternalError(std::string("fork failed: ") + std::strerror(fork_error));
  }
  // Also in the parent, so the group exists before any kill(-pid) (no race).
  ::setpgid(pid, pid);

  ChildResult result;
  result.exec_failed = ExecFailed(exec_pipe[0]);
  int interrupt_signal = 0;
  MPIMOE_ASSIGN_OR_RETURN(const int wstatus,
                          WaitForChild(pid, options, &result, &interrupt_signal));
  Describe(wstatus, interrupt_signal, options.timeout_s, &result);
  return result;
}

std::string TailOfFile(const std::string& path, int max_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > max_lines) lines.pop_front();
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

std::string CommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !arg.empty() && arg.find_first_not_of(
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                            "OPQRSTUVWXYZ0123456789-_./=,:+@%") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char c : arg) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace mpimoe::launch
