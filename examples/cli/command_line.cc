// command_line.cc: see command_line.h.
#include "examples/cli/command_line.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mpimoe::cli {

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv,
                                    bool print) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::Success&) {  // --help (of the program or of a subcommand)
    if (print) std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (print) {
      // help() follows the selected subcommand, so the usage shown is the one the
      // mistake was made in; the prefix names it too.
      std::string command = app.get_name();
      for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
        sub = sub->get_subcommands().front();
        command += " " + sub->get_name();
      }
      std::fprintf(stderr, "%s: %s\n\n%s", command.c_str(), e.what(), app.help().c_str());
    }
    return kUsageExitCode;
  }
}

namespace {

std::string SignProblem(Sign sign, const std::string& text) {
  return std::string(sign == Sign::kPositive ? "must be positive"
                                             : "must be non-negative") +
         ", got '" + text + "'";
}

const char* SignName(Sign sign) {
  return sign == Sign::kPositive ? "POSITIVE" : "NON-NEGATIVE";
}

}  // namespace

CLI::Validator IntegerCheck(Sign sign, int64_t max) {
  auto check = [sign, max](const std::string& text) -> std::string {
    int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
      return "expected an integer, got '" + text + "'";
    }
    if (value < 0 || (value == 0 && sign == Sign::kPositive)) {
      return SignProblem(sign, text);
    }
    if (value > max) {
      return "must be at most " + std::to_string(max) + ", got '" + text + "'";
    }
    return std::string();
  };
  return CLI::Validator(check, SignName(sign));
}

CLI::Validator RealCheck(Sign sign) {
  auto check = [sign](const std::string& text) -> std::string {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
      return "expected a number, got '" + text + "'";
    }
    if (value < 0.0 || (value == 0.0 && sign == Sign::kPositive)) {
      return SignProblem(sign, text);
    }
    return std::string();
  };
  return CLI::Validator(check, SignName(sign));
}

void UseProjectStyle(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(30);
}

}  // namespace mpimoe::cli
