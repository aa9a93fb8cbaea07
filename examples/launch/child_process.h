// Running one program as a child process for the launcher: fork + exec (PATH lookup
// for a bare name), stdin from /dev/null, stdout and stderr appended to a log file,
// optional extra environment variables, an optional time limit, and an optional
// interrupt flag. The child leads its own process group (setpgid before exec), so a
// time-out or an interrupt signals the whole group — `mpirun` and every rank it
// started — with SIGTERM (or the interrupting signal), then SIGKILL after 10 s; the
// child is always reaped, and group members still alive after it are killed.
// The launcher is not an MPI program: it starts `mpirun`, which starts the ranks.
//
// Ownership: RunChild owns the child for its whole life; nothing outlives the call.
// Thread-safety: RunChild blocks the calling thread until the child ends; do not call
// it from several threads (fork in a threaded program copies only the caller).
#pragma once

#include <csignal>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::launch {

struct ChildOptions {
  std::vector<std::string> argv;  // argv[0] is the program (a path or a PATH name)
  std::vector<std::pair<std::string, std::string>> env;  // set in the child only
  std::string log_path;  // stdout + stderr go here (truncated first); "" = inherit
  std::string cwd;       // "" = the launcher's working directory
  int timeout_s = 0;     // 0 = no limit
  // When set, polled while the child runs: a non-zero value is a signal number (e.g.
  // SIGINT, set by the caller's signal handler); the child's process group gets that
  // signal, then SIGKILL after 10 s, and the result is `interrupted`.
  const volatile std::sig_atomic_t* interrupt = nullptr;
};

struct ChildResult {
  int exit_code = 0;  // the exit status; 128 + signal when killed by a signal
  bool timed_out = false;
  bool interrupted = false;  // stopped because *ChildOptions::interrupt was set
  // The program could not be run at all (execvp failed: not found, not executable);
  // exit_code is then 127 and the log says why ("mpimoe-launch: cannot run 'gnuplot':
  // No such file or directory"). Reported by the child through a close-on-exec pipe,
  // so a program that runs and exits 127 itself is not mistaken for a missing one.
  bool exec_failed = false;
  // Why the child failed, for people: "exit code 1", "killed by signal 9", "timed out
  // after 60 s (...)", "interrupted by signal 15 (...)".
  std::string description;
  bool ok() const { return exit_code == 0 && !timed_out && !interrupted; }
};

// Runs the child to completion. Errors only when the child cannot be started at all
// (fork or pipe fails, the log file cannot be created); a program that does not exist is
// a ChildResult with exec_failed, exit code 127 and the reason in the log.
StatusOr<ChildResult> RunChild(const ChildOptions& options);

// The last `max_lines` lines of the file at `path` ("" when it cannot be read).
std::string TailOfFile(const std::string& path, int max_lines);

// `argv` as one shell-like line, quoting arguments that need it (for logs and
// --dry-run; not for execution).
std::string CommandLine(const std::vector<std::string>& argv);

}  // namespace mpimoe::launch
