// command_line.cc: see command_line.h.
#include "examples/cli/command_line.h"

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
      // mistake was made in.
      std::fprintf(stderr, "%s: %s\n\n%s", app.get_name().c_str(), e.what(),
                   app.help().c_str());
    }
    return kUsageExitCode;
  }
}

namespace {

CLI::Validator Bound(bool strict, const char* name) {
  const std::string what = std::string("must be a number ") + (strict ? "> 0" : ">= 0");
  return CLI::Validator(
      [strict, what](std::string& text) -> std::string {
        char* end = nullptr;
        const long double v = std::strtold(text.c_str(), &end);
        const bool number = !text.empty() && end == text.c_str() + text.size();
        if (number && (strict ? v > 0 : v >= 0)) return "";
        return what + ", got '" + text + "'";
      },
      name);
}

}  // namespace

CLI::Validator Positive() { return Bound(true, "POSITIVE"); }
CLI::Validator NonNegative() { return Bound(false, "NON-NEGATIVE"); }

void UseProjectStyle(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(30);
}

}  // namespace mpimoe::cli
