// Quote: how the config loader's and the launcher's error messages show a user's text
// (a field path, a file name, a value): in single quotes, so that spaces and empty
// strings are visible, e.g. "unknown field 'modle' in ...".
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace mpimoe::train {

// 's', unescaped.
inline std::string Quote(std::string_view s) {
  std::string quoted(1, '\'');
  quoted.append(s);
  quoted += '\'';
  return quoted;
}

}  // namespace mpimoe::train
