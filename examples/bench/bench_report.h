// Reporting helpers shared by mpimoe-bench subcommands: JsonLine builds the one-line
// JSON object a subcommand prints with --json (keys in insertion order, doubles with
// 6 significant digits, non-finite numbers as null), and
// PeakRssMb() reads the process's peak resident set size.
//
// Thread-safety: JsonLine is a value; PeakRssMb may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mpimoe::bench {

class JsonLine {
 public:
  JsonLine& AddInt(std::string_view key, int64_t value);
  JsonLine& AddDouble(std::string_view key, double value);
  JsonLine& AddString(std::string_view key, std::string_view value);
  JsonLine& AddBool(std::string_view key, bool value);

  // The object, e.g. {"threads":2,"ratio":0.81}, without a trailing newline.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void AddKey(std::string_view key);

  std::string body_;
};

// Peak resident set size of this process in MiB (getrusage), 0 if unavailable.
double PeakRssMb();

}  // namespace mpimoe::bench
