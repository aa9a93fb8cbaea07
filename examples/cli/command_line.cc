// command_line.cc: see command_line.h.
#include "examples/cli/command_line.h"

#include <cstdio>
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

void UseProjectStyle(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(30);
}

}  // namespace mpimoe::cli
