// MPIMOE_CHECK: the programmer-error tier. A failed check prints
//   "[rank R] CHECK failed at file:line: condition (message)"
// to stderr and aborts the process (under mpirun, Open MPI then ends the whole job).
// Use it for broken invariants and API misuse, never for bad user input (that is a
// Status, see status.h). The rank comes from logging's process label (logging.h).
//
// Thread-safety: may be called from any thread.
#pragma once

namespace mpimoe::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const char* message);
}  // namespace mpimoe::internal

#define MPIMOE_CHECK(cond)                                                 \
  do {                                                                     \
    if (!(cond)) [[unlikely]]                                              \
      ::mpimoe::internal::CheckFailed(__FILE__, __LINE__, #cond, nullptr); \
  } while (0)

#define MPIMOE_CHECK_MSG(cond, msg)                                      \
  do {                                                                   \
    if (!(cond)) [[unlikely]]                                            \
      ::mpimoe::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
