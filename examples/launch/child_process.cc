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

}  // namespace

StatusOr<ChildResult> RunChild(const ChildOptions& options) {
  MPIMOE_CHECK(!options.argv.empty());
  int log_fd = -1;
  if (!options.log_path.empty()) {
    log_fd =
        ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return IoError("cannot create " + options.log_path + ": " + std::strerror(errno));
    }
  }
  // Everything the child needs is prepared before fork: it only calls async-signal-
  // safe functions (and setenv/execvp, which are fine in a single-threaded launcher).
  std::vector<char*> argv;
  for (const std::string& arg : options.argv)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const std::string cannot_run = "mpimoe-launch: cannot run '" + options.argv[0] + "': ";
  // The child writes execvp's errno here when it cannot run the program; a successful
  // exec closes the pipe (close-on-exec), so the parent reads end-of-file.
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    if (log_fd >= 0) ::close(log_fd);
    return InternalError(std::string("pipe failed: ") + std::strerror(error));
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    if (log_fd >= 0) ::close(log_fd);
    ::close(exec_pipe[0]);
    ::close(exec_pipe[1]);
    return InternalError(std::string("fork failed: ") + std::strerror(error));
  }
  if (pid == 0) {
    // Its own process group, so a time-out or an interrupt reaches every process the
    // child starts (mpirun's ranks), and a terminal's Ctrl-C reaches only the launcher.
    ::setpgid(0, 0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) {
      WriteRaw("mpimoe-launch: cannot enter the working directory\n");
      ::_exit(127);
    }
    for (const auto& [name, value] : options.env)
      ::setenv(name.c_str(), value.c_str(), 1);
    ::execvp(argv[0], argv.data());
    const int error = errno;
    WriteRaw(cannot_run.c_str());
    WriteRaw(std::strerror(error));
    WriteRaw("\n");
    ssize_t ignored = ::write(exec_pipe[1], &error, sizeof(error));
    (void)ignored;
    ::_exit(127);
  }
  // Also in the parent, so the group exists before any kill(-pid) below (no race).
  ::setpgid(pid, pid);
  if (log_fd >= 0) ::close(log_fd);

  ChildResult result;
  // Until the child has exec'd (end-of-file) or reported that it cannot (its errno).
  ::close(exec_pipe[1]);
  int exec_errno = 0;
  ssize_t got;
  do {
    got = ::read(exec_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  result.exec_failed = got == static_cast<ssize_t>(sizeof(exec_errno));
  const auto start = std::chrono::steady_clock::now();
  bool stop_sent = false;  // SIGTERM (or the interrupting signal) sent to the group
  bool kill_sent = false;
  int interrupt_signal = 0;
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
      interrupt_signal = *options.interrupt;
      ::kill(-pid, interrupt_signal);
      stop_sent = true;
      stop_time = now;
      result.interrupted = true;
    } else if (!stop_sent && options.timeout_s > 0 &&
               now - start > std::chrono::seconds(options.timeout_s)) {
      ::kill(-pid, SIGTERM);
      stop_sent = true;
      stop_time = now;
      result.timed_out = true;
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
  if (WIFEXITED(wstatus)) {
    result.exit_code = WEXITSTATUS(wstatus);
    result.description = "exit code " + std::to_string(result.exit_code);
  } else if (WIFSIGNALED(wstatus)) {
    result.exit_code = 128 + WTERMSIG(wstatus);
    result.description = "killed by signal " + std::to_string(WTERMSIG(wstatus));
  }
  if (result.interrupted) {
    result.description = "interrupted by signal " + std::to_string(interrupt_signal) +
                         " (" + result.description + ")";
    if (result.exit_code == 0) result.exit_code = 128 + interrupt_signal;
  } else if (result.timed_out) {
    result.description = "timed out after " + std::to_string(options.timeout_s) + " s (" +
                         result.description + ")";
    if (result.exit_code == 0) result.exit_code = 124;
  }
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
