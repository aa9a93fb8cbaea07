// experiment.cc: loading, checking and expanding experiments (see experiment.h).
// Protobuf stays in this file: the Experiment message becomes an ExperimentSpec.
#include "examples/launch/experiment.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "experiment.pb.h"
#include "runtime/core/file_io.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/config_proto.h"
#include "runtime/train/data.h"
#include "runtime/train/quote.h"
#include "runtime/train/text_proto.h"

namespace mpimoe::launch {
namespace {

namespace pb = ::google::protobuf;
namespace pbc = ::mpimoe::config;

using train::Quote;

// 1-based line of `field` (element `index` when repeated) in `tree`; 0 when unknown.
int LineOf(const pb::TextFormat::ParseInfoTree* tree, const pb::Descriptor* descriptor,
           const char* field, int index = -1) {
  if (tree == nullptr) return 0;
  const pb::FieldDescriptor* f = descriptor->FindFieldByName(field);
  const pb::TextFormat::ParseLocation location = tree->GetLocation(f, index);
  return location.line >= 0 ? location.line + 1 : 0;
}

// 1-based line of the first quoted `value` ("value" or 'value') at or after `*cursor`
// in `text`; moves the cursor past it. For list syntax (values: ["a", "b"]), where the
// parser records no per-element location. 0 when not found.
int ScanValueLine(const std::string& text, const std::string& value, size_t* cursor) {
  size_t best = std::string::npos;
  for (const char quote : {'"', '\''}) {
    const std::string quoted = quote + value + quote;
    const size_t at = text.find(quoted, *cursor);
    if (at < best) best = at;
  }
  if (best == std::string::npos) return 0;
  *cursor = best + value.size() + 2;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + best, '\n'));
}

// Offset of the start of 1-based `line` in `text` (0 for line <= 1).
size_t LineStart(const std::string& text, int line) {
  size_t at = 0;
  for (int l = 1; l < line && at != std::string::npos; ++l) {
    at = text.find('\n', at);
    if (at != std::string::npos) ++at;
  }
  return at == std::string::npos ? text.size() : at;
}

// Characters kept in directory names; anything else becomes '_'.
std::string SafeDirName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
                    c == '=' || c == ',' || c == '+';
    if (!ok) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "point";
  return out;
}

std::optional<int> ParsePositiveInt(const std::string& text) {
  int v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() ||
      v < 1) {
    return std::nullopt;
  }
  return v;
}

// The field path a config error starts with: "model.moe.top_k" for
// "<file>: model.moe.top_k: must be ..." or "model.moe.top_k: must be ..."; "" when the
// message does not start with one. `sources` are the file names the loader may put
// first.
std::string LeadingFieldPath(const std::string& message,
                             const std::vector<std::string>& sources) {
  std::string_view rest = message;
  for (const std::string& source : sources) {
    const std::string prefix = source + ": ";
    if (!source.empty() && rest.substr(0, prefix.size()) == prefix) {
      rest.remove_prefix(prefix.size());
      break;
    }
  }
  const size_t colon = rest.find(": ");
  if (colon == std::string_view::npos || colon == 0) return "";
  const std::string_view path = rest.substr(0, colon);
  for (char c : path) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return "";
  }
  return std::string(path);
}

// The axis to blame for a point's config error (with none, the launcher blames the
// common override of the leading field path, else the base config): the axis whose field
// is the message's leading field path (or a part of it: an axis "model.moe" for
// "model.moe.top_k"), else the first axis the message mentions ("world size" for the
// world_size axis); -1 when none.
int BlamedAxis(const std::vector<AxisSpec>& axes, const std::string& message,
               const std::vector<std::string>& sources) {
  const std::string leading = LeadingFieldPath(message, sources);
  if (!leading.empty()) {
    for (size_t a = 0; a < axes.size(); ++a) {
      const std::string& field = axes[a].field;
      if (!axes[a].is_world_size() &&
          (leading == field || leading.rfind(field + ".", 0) == 0)) {
        return static_cast<int>(a);
      }
    }
  }
  for (size_t a = 0; a < axes.size(); ++a) {
    const bool mentioned = axes[a].is_world_size()
                               ? message.find("world size") != std::string::npos
                               : message.find(axes[a].field) != std::string::npos;
    if (mentioned) return static_cast<int>(a);
  }
  return -1;
}

// An experiment's text, its path and the parser's locations, for errors that name
// the place: "<path>:<line>: <field>: <what>".
struct Source {
  const std::string& text;
  const std::string& path;
  const pb::TextFormat::ParseInfoTree& tree;

  // 1-based line of the top-level `field` (element `index` when repeated); 0 unknown.
  int Line(const char* field, int index = -1) const {
    return LineOf(&tree, pbc::Experiment::descriptor(), field, index);
  }
  Status At(int line, const std::string& field, const std::string& what) const {
    return InvalidArgumentError(path + ":" + std::to_string(line) + ": " + field + ": " +
                                what);
  }
};

// The base config: exactly one of base_config (a file, relative to the experiment
// file, that exists) and base (inline, kept as text).
Status ReadBase(const pbc::Experiment& proto, const Source& source,
                ExperimentSpec* spec) {
  if (proto.has_base_config() && proto.has_base()) {
    return source.At(std::max(source.Line("base_config"), source.Line("base")), "base",
                     "give either base_config or base, not both");
  }
  if (!proto.has_base_config() && !proto.has_base()) {
    return InvalidArgumentError(source.path +
                                ": no base config: set base_config (a path relative to "
                                "the experiment file) or an inline base { ... }");
  }
  if (!proto.has_base_config()) {
    spec->base_line = source.Line("base");
    pb::TextFormat::Printer printer;
    MPIMOE_CHECK(printer.PrintToString(proto.base(), &spec->inline_base_text));
    return Status::Ok();
  }
  spec->base_line = source.Line("base_config");
  const std::filesystem::path relative(proto.base_config());
  const std::filesystem::path resolved =
      relative.is_absolute()
          ? relative
          : std::filesystem::path(source.path).parent_path() / relative;
  spec->base_config_path = resolved.lexically_normal().string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spec->base_config_path, ec)) {
    return NotFoundError(source.path + ":" + std::to_string(spec->base_line) +
                         ": base_config: file " + Quote(spec->base_config_path) +
                         " does not exist (paths are relative to the experiment file)");
  }
  return Status::Ok();
}

// The label of `axis`: its own, "np" for world_size, else the field's last part.
std::string AxisLabel(const pbc::Axis& axis, const AxisSpec& out) {
  if (axis.has_label()) return axis.label();
  if (out.is_world_size()) return "np";
  return out.field.substr(out.field.rfind('.') + 1);
}

// Axis `a` of `proto`, checked: a field not already an axis (`fields`), a unique
// label (`labels`), and values that are distinct and of the field's type (a positive
// rank count for world_size), each with its line.
StatusOr<AxisSpec> ReadAxis(const pbc::Experiment& proto, int a, const Source& source,
                            std::set<std::string>* fields,
                            std::set<std::string>* labels) {
  const pbc::Axis& axis = proto.axis(a);
  const pb::Descriptor* axis_d = pbc::Axis::descriptor();
  const pb::TextFormat::ParseInfoTree* axis_tree = source.tree.GetTreeForNested(
      pbc::Experiment::descriptor()->FindFieldByName("axis"), a);
  AxisSpec out;
  out.line = source.Line("axis", a);
  out.field = axis.field();
  const std::string where =
      "axis " + (out.field.empty() ? "#" + std::to_string(a + 1) : out.field);
  if (out.field.empty()) return source.At(out.line, where, "has no field");
  if (!fields->insert(out.field).second) {
    return source.At(out.line, where, "the field is already an axis");
  }
  out.label = AxisLabel(axis, out);
  if (out.label.empty() || out.label.find_first_of("=,/") != std::string::npos) {
    return source.At(
        LineOf(axis_tree, axis_d, "label"), where,
        "label must be non-empty without '=', ',' or '/', got " + Quote(out.label));
  }
  if (out.label == "rep" || !labels->insert(out.label).second) {
    return source.At(out.line, where,
                     "label " + Quote(out.label) +
                         (out.label == "rep" ? " is reserved for repeats"
                                             : " is used by another axis; set label"));
  }
  if (axis.values_size() == 0) {
    return source.At(out.line, where, "has no values (an axis needs at least one)");
  }
  std::set<std::string> seen;
  size_t cursor = LineStart(source.text, out.line);
  for (int v = 0; v < axis.values_size(); ++v) {
    const std::string& value = axis.values(v);
    int line = LineOf(axis_tree, axis_d, "values", v);
    if (line == 0) line = ScanValueLine(source.text, value, &cursor);
    if (line == 0) line = out.line;
    if (!seen.insert(value).second) {
      return source.At(line, where, "value " + Quote(value) + " is listed twice");
    }
    if (out.is_world_size()) {
      if (!ParsePositiveInt(value)) {
        return source.At(
            line, where,
            "value " + Quote(value) + ": expected a positive integer (ranks)");
      }
    } else {
      const Status s = train::CheckOverride(out.field + "=" + value);
      if (!s.ok()) {
        return source.At(line, where, "value " + Quote(value) + ": " + s.message());
      }
    }
    out.values.push_back(value);
    out.value_lines.push_back(line);
  }
  return out;
}

// The scalar settings (repeats, world size, mpirun, output, heatmap, time-out).
Status ReadSettings(const pbc::Experiment& proto, const Source& source,
                    ExperimentSpec* spec) {
  const auto positive = [&](const char* field, int v) -> Status {
    if (v >= 1) return Status::Ok();
    return source.At(source.Line(field), field, "must be >= 1, got " + std::to_string(v));
  };
  const auto non_negative = [&](const char* field, int v) -> Status {
    if (v >= 0) return Status::Ok();
    return source.At(source.Line(field), field, "must be >= 0, got " + std::to_string(v));
  };
  MPIMOE_RETURN_IF_ERROR(positive("repeats", proto.repeats()));
  MPIMOE_RETURN_IF_ERROR(positive("world_size", proto.world_size()));
  MPIMOE_RETURN_IF_ERROR(non_negative("omp_num_threads", proto.omp_num_threads()));
  MPIMOE_RETURN_IF_ERROR(non_negative("heatmap_layer", proto.heatmap_layer()));
  MPIMOE_RETURN_IF_ERROR(non_negative("point_timeout_s", proto.point_timeout_s()));
  if (proto.mpirun().empty()) {
    return source.At(source.Line("mpirun"), "mpirun", "must name the mpirun program");
  }
  spec->repeats = proto.repeats();
  spec->reseed_repeats = proto.reseed_repeats();
  spec->world_size = proto.world_size();
  spec->mpirun = proto.mpirun();
  spec->mpirun_args.assign(proto.mpirun_args().begin(), proto.mpirun_args().end());
  spec->omp_num_threads = proto.omp_num_threads();
  spec->output_dir = proto.has_output_dir() ? proto.output_dir() : "runs/" + spec->name;
  if (spec->output_dir.empty()) {
    return source.At(source.Line("output_dir"), "output_dir", "must not be empty");
  }
  spec->heatmap_point = proto.heatmap_point();
  spec->heatmap_point_line = source.Line("heatmap_point");
  spec->heatmap_layer = proto.heatmap_layer();
  spec->heatmap_layer_line = source.Line("heatmap_layer");
  spec->has_heatmap_layer = proto.has_heatmap_layer();
  spec->point_timeout_s = proto.point_timeout_s();
  return Status::Ok();
}

// The base seed, for reseeded repeats (the base config with the common overrides).
StatusOr<uint64_t> BaseSeed(const ExperimentSpec& spec) {
  auto base = spec.base_config_path.empty()
                  ? train::ParseTrainConfig(spec.inline_base_text, spec.path, spec.set)
                  : train::LoadTrainConfig(spec.base_config_path, spec.set);
  if (!base.ok()) {
    return base.status().WithContext(spec.path + ":" + std::to_string(spec.base_line) +
                                     ": base config");
  }
  return base->run.seed;
}

// The value index per axis of combination `c`: its mixed-radix digits, the last axis
// fastest.
std::vector<size_t> AxisDigits(const ExperimentSpec& spec, size_t c) {
  std::vector<size_t> digit(spec.axes.size());
  for (size_t a = spec.axes.size(); a-- > 0;) {
    digit[a] = c % spec.axes[a].values.size();
    c /= spec.axes[a].values.size();
  }
  return digit;
}

// The point of axis values `digit` and repeat `rep`: name, directory name, world
// size and overrides (without run.name); not yet checked.
Point NamePoint(const ExperimentSpec& spec, const std::vector<size_t>& digit, int rep,
                uint64_t base_seed) {
  Point p;
  p.repeat = rep;
  p.world_size = spec.world_size;
  p.overrides = spec.set;
  for (size_t a = 0; a < spec.axes.size(); ++a) {
    const AxisSpec& axis = spec.axes[a];
    const std::string& value = axis.values[digit[a]];
    p.axis_values.push_back(value);
    if (!p.name.empty()) p.name += ",";
    p.name += axis.label + "=" + value;
    if (axis.is_world_size()) {
      p.world_size = *ParsePositiveInt(value);
    } else {
      p.overrides.push_back(axis.field + "=" + value);
    }
  }
  if (spec.repeats > 1) {
    p.name += (p.name.empty() ? "" : ",") + std::string("rep=") + std::to_string(rep);
    if (spec.reseed_repeats) {
      p.overrides.push_back("run.seed=" + std::to_string(base_seed + rep));
    }
  }
  if (p.name.empty()) p.name = spec.name;
  p.dir_name = SafeDirName(p.name);
  return p;
}

// The error for two points, `earlier` and `p`, whose names differ only in characters
// SafeDirName replaces: blames the first axis whose values differ.
Status DirNameClash(const ExperimentSpec& spec, const Point& earlier,
                    const std::vector<size_t>& earlier_digit, const Point& p,
                    const std::vector<size_t>& digit) {
  for (size_t a = 0; a < spec.axes.size(); ++a) {
    if (earlier_digit[a] == digit[a]) continue;
    const AxisSpec& axis = spec.axes[a];
    return InvalidArgumentError(
        spec.path + ":" + std::to_string(axis.line) + ": axis " + axis.field +
        ": values " + Quote(axis.values[earlier_digit[a]]) + " and " +
        Quote(axis.values[digit[a]]) + " give the same point directory name " +
        Quote(p.dir_name) + " (characters outside [A-Za-z0-9._=,+-] become '_'); " +
        "use distinct values");
  }
  return InvalidArgumentError(spec.path + ": points " + Quote(earlier.name) + " and " +
                              Quote(p.name) + " share the directory name " +
                              Quote(p.dir_name) + "; use distinct values");
}

// `status` (a point's config or dataset error) with the place to blame in front:
// "<file>:<line>: point '<name>': ...", the line of the blamed axis's value, else of
// the last common override of the leading field path, else of the base config.
Status BlamePoint(const ExperimentSpec& spec, const std::vector<size_t>& digit,
                  const Point& p, const Status& status) {
  const std::vector<std::string> sources = {spec.path, spec.base_config_path};
  const int blamed = BlamedAxis(spec.axes, status.message(), sources);
  int line = spec.base_line;
  if (blamed >= 0) {
    line = spec.axes[blamed].value_lines[digit[blamed]];
  } else if (const std::string leading = LeadingFieldPath(status.message(), sources);
             !leading.empty()) {
    for (size_t k = 0; k < spec.set.size(); ++k) {
      if (spec.set[k].rfind(leading + "=", 0) == 0) line = spec.set_lines[k];
    }
  }
  return Status(status.code(), spec.path + ":" + std::to_string(line) + ": point " +
                                   Quote(p.name) + ": " + status.message());
}

// Checks point `p` as mpimoe-train would: the config, the world size, and the dataset
// (built once per distinct data section, `checked_data`: a missing, empty or too short
// text file is caught here); fills in its MoE layer count and effective config.
Status CheckPoint(const ExperimentSpec& spec, const std::vector<size_t>& digit, Point* p,
                  std::set<std::string>* checked_data) {
  auto config =
      spec.base_config_path.empty()
          ? train::ParseTrainConfig(spec.inline_base_text, spec.path, p->overrides)
          : train::LoadTrainConfig(spec.base_config_path, p->overrides);
  Status status =
      config.ok() ? train::ValidateForWorldSize(*config, p->world_size) : config.status();
  if (status.ok()) {
    const std::string data_key = train::ToProto(*config).data().ShortDebugString() +
                                 " seq_len: " + std::to_string(config->model.seq_len);
    if (checked_data->count(data_key) == 0) {
      auto dataset = train::MakeDataset(*config);
      if (dataset.ok()) {
        checked_data->insert(data_key);
      } else {
        status = dataset.status();
        if (config->data.source == train::DataSource::kText &&
            LeadingFieldPath(status.message(), {spec.path, spec.base_config_path})
                .empty()) {
          status = Status(status.code(), "data.text_path: " + status.message());
        }
      }
    }
  }
  if (!status.ok()) return BlamePoint(spec, digit, *p, status);
  p->num_moe_layers =
      config->model.num_layers - static_cast<int>(config->model.dense_layers.size());
  p->effective_config = train::EffectiveConfigText(*config);
  return Status::Ok();
}

// heatmap_layer must be one of the MoE layers of the heatmap point; without a
// heatmap_point any point with metrics may be drawn, so of every point. (A point with
// no MoE layer at all has no heatmap; only an explicit heatmap_layer is an error
// there.)
Status CheckHeatmapLayer(const ExperimentSpec& spec, const std::vector<Point>& points) {
  std::vector<int> heatmap_candidates;
  if (!spec.heatmap_point.empty()) {
    auto found = FindPoint(points, spec.heatmap_point);
    if (found.ok()) heatmap_candidates.push_back(*found);  // else the launcher says so
  } else {
    for (const Point& p : points) heatmap_candidates.push_back(p.index);
  }
  for (int i : heatmap_candidates) {
    const Point& p = points[i];
    if (p.num_moe_layers == 0 && !spec.has_heatmap_layer) continue;
    if (spec.heatmap_layer >= p.num_moe_layers) {
      const std::string range =
          p.num_moe_layers == 0
              ? "it has no MoE layer (every layer is in model.dense_layers)"
              : "it has " + std::to_string(p.num_moe_layers) +
                    " (model.num_layers minus model.dense_layers): expected 0 to " +
                    std::to_string(p.num_moe_layers - 1);
      return InvalidArgumentError(
          spec.path + ":" + std::to_string(spec.heatmap_layer_line) +
          ": heatmap_layer: " + std::to_string(spec.heatmap_layer) +
          " is not a MoE layer of point " + Quote(p.name) + "; " + range);
    }
  }
  return Status::Ok();
}

}  // namespace

bool AxisSpec::IsNumeric() const {
  if (values.empty()) return false;
  for (const std::string& v : values) {
    double x = 0;
    const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size() || !std::isfinite(x)) {
      return false;
    }
  }
  return true;
}

StatusOr<ExperimentSpec> ParseExperiment(const std::string& text,
                                         const std::string& path) {
  pbc::Experiment proto;
  pb::TextFormat::ParseInfoTree tree;
  MPIMOE_RETURN_IF_ERROR(train::ParseTextProto(text, path, &proto, "experiment", &tree));
  const Source source{text, path, tree};

  ExperimentSpec spec;
  spec.path = path;
  spec.name =
      proto.has_name() ? proto.name() : std::filesystem::path(path).stem().string();
  if (spec.name.empty() || spec.name.find('/') != std::string::npos) {
    return source.At(source.Line("name"), "name",
                     "must be a non-empty name without '/', got " + Quote(spec.name));
  }
  MPIMOE_RETURN_IF_ERROR(ReadBase(proto, source, &spec));
  for (int i = 0; i < proto.set_size(); ++i) {
    const int line = source.Line("set", i);
    const Status s = train::CheckOverride(proto.set(i));
    if (!s.ok()) return source.At(line, "set", s.message());
    spec.set.push_back(proto.set(i));
    spec.set_lines.push_back(line);
  }
  std::set<std::string> fields, labels;
  for (int a = 0; a < proto.axis_size(); ++a) {
    MPIMOE_ASSIGN_OR_RETURN(AxisSpec axis, ReadAxis(proto, a, source, &fields, &labels));
    spec.axes.push_back(std::move(axis));
  }
  MPIMOE_RETURN_IF_ERROR(ReadSettings(proto, source, &spec));
  return spec;
}

StatusOr<ExperimentSpec> LoadExperiment(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFoundError(path + ": experiment file does not exist");
  }
  MPIMOE_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  return ParseExperiment(text, path);
}

StatusOr<std::vector<Point>> ExpandExperiment(const ExperimentSpec& spec) {
  MPIMOE_ASSIGN_OR_RETURN(const uint64_t base_seed, BaseSeed(spec));
  size_t combinations = 1;
  for (const AxisSpec& axis : spec.axes) combinations *= axis.values.size();
  std::vector<Point> points;
  std::vector<std::vector<size_t>> point_digits;  // each point's value per axis
  std::map<std::string, int> dir_names;           // dir_name -> point index
  std::set<std::string> checked_data;             // data sections already built
  for (size_t c = 0; c < combinations; ++c) {
    const std::vector<size_t> digit = AxisDigits(spec, c);
    for (int rep = 0; rep < spec.repeats; ++rep) {
      Point p = NamePoint(spec, digit, rep, base_seed);
      p.index = static_cast<int>(points.size());
      if (const auto [it, inserted] = dir_names.emplace(p.dir_name, p.index); !inserted) {
        return DirNameClash(spec, points[it->second], point_digits[it->second], p, digit);
      }
      p.overrides.push_back("run.name=" + p.dir_name);
      MPIMOE_RETURN_IF_ERROR(CheckPoint(spec, digit, &p, &checked_data));
      points.push_back(std::move(p));
      point_digits.push_back(digit);
    }
  }
  MPIMOE_RETURN_IF_ERROR(CheckHeatmapLayer(spec, points));
  return points;
}

StatusOr<int> FindPoint(const std::vector<Point>& points, const std::string& query,
                        std::string* how) {
  for (const Point& p : points) {
    if (p.name == query || p.dir_name == query) {
      if (how != nullptr) *how = "exact";
      return p.index;
    }
  }
  std::vector<int> matches;
  for (const Point& p : points) {
    if (p.name.find(query) != std::string::npos) matches.push_back(p.index);
  }
  if (matches.size() == 1) {
    if (how != nullptr) *how = "substring";
    return matches[0];
  }
  if (matches.empty()) {
    std::string names;
    for (size_t i = 0; i < points.size() && i < 8; ++i) {
      names += (i ? ", " : "") + Quote(points[i].name);
    }
    if (points.size() > 8) names += ", ...";
    return InvalidArgumentError("no point is named or contains " + Quote(query) +
                                " (points: " + names + ")");
  }
  std::string names;
  for (int i : matches) names += (names.empty() ? "" : ", ") + Quote(points[i].name);
  return InvalidArgumentError(Quote(query) + " matches " +
                              std::to_string(matches.size()) + " points: " + names +
                              "; give a longer part of the name");
}

}  // namespace mpimoe::launch
