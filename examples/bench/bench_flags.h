// FlagSet: the small command-line flag parser of mpimoe-bench's subcommands.
//
// A subcommand declares its flags once, each bound to a field of its own options struct
// (whose current value is the default shown in the usage text), then hands the
// arguments that follow the subcommand name to Parse(). Accepted forms are
// `--name value`, `--name=value` and, for boolean flags, a bare `--name`. Numeric flags
// carry a Bound (positive or non-negative); choice flags a fixed list of words.
// Parse() returns InvalidArgument naming the problem (unknown flag, missing or
// malformed value, value out of bounds, flag given twice, stray positional argument);
// the caller prints it with Usage() and exits 2. `--help` / `-h` stop parsing and set
// help_requested().
//
// Ownership: the FlagSet borrows the bound fields; they must outlive Parse().
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::bench {

enum class Bound { kPositive, kNonNegative };

class FlagSet {
 public:
  // `command` heads the usage text, e.g. "mpimoe-bench moe-layer"; `summary` is one line.
  FlagSet(std::string command, std::string summary);

  // Flags are named without the leading dashes, e.g. "d-model".
  void AddInt(std::string_view name, int64_t* value, std::string_view help,
              Bound bound = Bound::kPositive);
  void AddDouble(std::string_view name, double* value, std::string_view help,
                 Bound bound = Bound::kPositive);
  // Presence sets *value to true; takes no value.
  void AddBool(std::string_view name, bool* value, std::string_view help);
  // The value must be one of `choices`.
  void AddChoice(std::string_view name, std::string* value,
                 std::vector<std::string> choices, std::string_view help);
  // Any text.
  void AddString(std::string_view name, std::string* value, std::string_view help);
  // Repeatable: every occurrence appends its value.
  void AddStringList(std::string_view name, std::vector<std::string>* values,
                     std::string_view help);
  // One required positional argument (e.g. CONFIG), the only word not starting with --.
  void SetPositional(std::string_view name, std::string* value, std::string_view help);

  // Parses `args` (the words after the subcommand) into the bound fields. On error the
  // fields parsed so far keep their new values.
  Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  // Whether the flag `name` appeared on the command line.
  bool WasSet(std::string_view name) const;

  // Multi-line usage text: command, summary, one line per flag with its default.
  std::string Usage() const;

 private:
  enum class Kind { kInt, kDouble, kBool, kChoice, kStringList };
  struct Flag {
    std::string name;
    Kind kind;
    std::string help;
    std::string default_text;
    Bound bound = Bound::kPositive;
    int64_t* int_value = nullptr;
    double* double_value = nullptr;
    bool* bool_value = nullptr;
    std::string* choice_value = nullptr;
    std::vector<std::string> choices;
    std::vector<std::string>* list_value = nullptr;
    bool set = false;
  };

  Flag& Add(std::string_view name, Kind kind, std::string_view help);
  Flag* Find(std::string_view name);
  static Status SetValue(Flag& flag, std::string_view text);

  std::string command_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::string positional_name_;
  std::string positional_help_;
  std::string* positional_ = nullptr;
  bool help_requested_ = false;
};

}  // namespace mpimoe::bench
