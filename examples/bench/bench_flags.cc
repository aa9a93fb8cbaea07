// FlagSet implementation: registration, `--name value` / `--name=value` parsing with
// bound and choice checks, and the usage text.
#include "examples/bench/bench_flags.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "runtime/core/check.h"

namespace mpimoe::bench {
namespace {

std::string Quoted(std::string_view text) {
  std::string quoted = "'";
  quoted.append(text);
  quoted.push_back('\'');
  return quoted;
}

std::string FormatDouble(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

std::string BoundText(Bound bound) {
  return bound == Bound::kPositive ? "must be positive" : "must be non-negative";
}

std::string JoinChoices(const std::vector<std::string>& choices) {
  std::string joined;
  for (const std::string& choice : choices) {
    if (!joined.empty()) joined += "|";
    joined += choice;
  }
  return joined;
}

}  // namespace

FlagSet::FlagSet(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

FlagSet::Flag& FlagSet::Add(std::string_view name, Kind kind, std::string_view help) {
  MPIMOE_CHECK_MSG(Find(name) == nullptr, "flag declared twice");
  MPIMOE_CHECK_MSG(!name.empty() && name[0] != '-', "flag names have no leading dashes");
  Flag flag;
  flag.name = std::string(name);
  flag.kind = kind;
  flag.help = std::string(help);
  flags_.push_back(std::move(flag));
  return flags_.back();
}

void FlagSet::AddInt(std::string_view name, int64_t* value, std::string_view help,
                     Bound bound) {
  Flag& flag = Add(name, Kind::kInt, help);
  flag.int_value = value;
  flag.bound = bound;
  flag.default_text = std::to_string(*value);
}

void FlagSet::AddDouble(std::string_view name, double* value, std::string_view help,
                        Bound bound) {
  Flag& flag = Add(name, Kind::kDouble, help);
  flag.double_value = value;
  flag.bound = bound;
  flag.default_text = FormatDouble(*value);
}

void FlagSet::AddBool(std::string_view name, bool* value, std::string_view help) {
  Flag& flag = Add(name, Kind::kBool, help);
  flag.bool_value = value;
  flag.default_text = *value ? "on" : "off";
}

void FlagSet::AddChoice(std::string_view name, std::string* value,
                        std::vector<std::string> choices, std::string_view help) {
  Flag& flag = Add(name, Kind::kChoice, help);
  flag.choice_value = value;
  flag.choices = std::move(choices);
  flag.default_text = *value;
}

FlagSet::Flag* FlagSet::Find(std::string_view name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

bool FlagSet::WasSet(std::string_view name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return flag.set;
  }
  return false;
}

Status FlagSet::SetValue(Flag& flag, std::string_view text) {
  const std::string where = "--" + flag.name;
  switch (flag.kind) {
    case Kind::kInt: {
      int64_t value = 0;
      const char* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, value);
      if (text.empty() || ec != std::errc() || ptr != end) {
        return InvalidArgumentError(where + ": expected an integer, got " + Quoted(text));
      }
      if (value < 0 || (value == 0 && flag.bound == Bound::kPositive)) {
        return InvalidArgumentError(where + ": " + BoundText(flag.bound) + ", got " +
                                    Quoted(text));
      }
      *flag.int_value = value;
      return Status::Ok();
    }
    case Kind::kDouble: {
      const std::string copy(text);
      char* end = nullptr;
      const double value = std::strtod(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(value)) {
        return InvalidArgumentError(where + ": expected a number, got " + Quoted(text));
      }
      if (value < 0.0 || (value == 0.0 && flag.bound == Bound::kPositive)) {
        return InvalidArgumentError(where + ": " + BoundText(flag.bound) + ", got " +
                                    Quoted(text));
      }
      *flag.double_value = value;
      return Status::Ok();
    }
    case Kind::kChoice:
      if (flag.choices.empty()) {  // AddString: any text
        *flag.choice_value = text;
        return Status::Ok();
      }
      for (const std::string& choice : flag.choices) {
        if (choice == text) {
          *flag.choice_value = choice;
          return Status::Ok();
        }
      }
      return InvalidArgumentError(where + ": expected one of " +
                                  JoinChoices(flag.choices) + ", got " + Quoted(text));
    case Kind::kStringList:
      flag.list_value->emplace_back(text);
      return Status::Ok();
    case Kind::kBool:
      break;
  }
  return InvalidArgumentError(where + " takes no value");
}

void FlagSet::AddString(std::string_view name, std::string* value,
                        std::string_view help) {
  Flag& flag = Add(name, Kind::kChoice, help);  // a choice without a list of choices
  flag.choice_value = value;
  flag.default_text = value->empty() ? "none" : *value;
}

void FlagSet::AddStringList(std::string_view name, std::vector<std::string>* values,
                            std::string_view help) {
  Flag& flag = Add(name, Kind::kStringList, help);
  flag.list_value = values;
  flag.default_text = "none";
}

void FlagSet::SetPositional(std::string_view name, std::string* value,
                            std::string_view help) {
  positional_name_ = std::string(name);
  positional_help_ = std::string(help);
  positional_ = value;
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return Status::Ok();
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (positional_ == nullptr || !positional_->empty()) {
        return InvalidArgumentError("unexpected argument " + Quoted(arg));
      }
      *positional_ = arg;
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name =
        arg.substr(2, equals == std::string::npos ? equals : equals - 2);
    Flag* flag = Find(name);
    if (flag == nullptr)
      return InvalidArgumentError("unknown flag " + Quoted("--" + name));
    if (flag->set && flag->kind != Kind::kStringList) {
      return InvalidArgumentError("--" + name + " given more than once");
    }
    flag->set = true;
    if (flag->kind == Kind::kBool) {
      if (equals != std::string::npos) {
        return InvalidArgumentError("--" + name + " takes no value");
      }
      *flag->bool_value = true;
      continue;
    }
    std::string_view value;
    if (equals != std::string::npos) {
      value = std::string_view(arg).substr(equals + 1);
    } else if (i + 1 < args.size() && args[i + 1].compare(0, 2, "--") != 0) {
      value = args[++i];
    } else {
      return InvalidArgumentError("--" + name + ": missing value");
    }
    MPIMOE_RETURN_IF_ERROR(SetValue(*flag, value));
  }
  if (positional_ != nullptr && positional_->empty()) {
    return InvalidArgumentError("missing " + positional_name_);
  }
  return Status::Ok();
}

std::string FlagSet::Usage() const {
  std::string text = "usage: " + command_ +
                     (positional_ != nullptr ? " " + positional_name_ : std::string()) +
                     " [flags]\n  " + summary_ + "\n";
  if (positional_ != nullptr)
    text += "  " + positional_name_ + ": " + positional_help_ + "\n";
  text += "flags:\n";
  for (const Flag& flag : flags_) {
    std::string spelled = "  --" + flag.name;
    switch (flag.kind) {
      case Kind::kInt:
        spelled += " N";
        break;
      case Kind::kDouble:
        spelled += " X";
        break;
      case Kind::kChoice:
        spelled.push_back(' ');
        spelled += flag.choices.empty() ? "TEXT" : JoinChoices(flag.choices);
        break;
      case Kind::kStringList:
        spelled += " V (repeatable)";
        break;
      case Kind::kBool:
        break;
    }
    if (spelled.size() < 28)
      spelled.resize(28, ' ');
    else
      spelled += "  ";
    text += spelled + flag.help;
    if (flag.kind != Kind::kBool) text += " (default " + flag.default_text + ")";
    text += "\n";
  }
  text += "  --help                    print this message\n";
  return text;
}

}  // namespace mpimoe::bench
