// Experiments for mpimoe-launch: loading an Experiment (configs/experiment.proto) from
// protobuf text format into plain structs, and expanding its grid into points, each a
// complete, validated training job (base config + `--set` overrides + world size).
//
// Everything is checked here, before the launcher runs anything: the file's syntax,
// the base config (exists, parses), every axis (known field path, non-empty, no
// duplicate values, each value of the field's type or enum), and every point (its
// config passes the training config validation, incl. the world size, and its dataset
// can be built: a text file exists, is not empty and is long enough; heatmap_layer is
// one of its MoE layers). Errors are
// InvalidArgument (NotFound for a missing base config) naming the experiment file, the
// line and the field, e.g.
//   "exp.textproto:7: axis model.moe.top_k: value 'two': --set model.moe.top_k=two:
//    expected an int32, got 'two'".
// Nothing is written to disk.
//
// Thread-safety: pure functions over values.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace mpimoe::launch {

// The reserved axis field that sets the number of ranks (mpirun -np).
inline constexpr char kWorldSizeAxis[] = "world_size";

struct AxisSpec {
  std::string field;  // config field path, or kWorldSizeAxis
  std::string label;  // short name in point names and tables
  std::vector<std::string> values;
  int line = 0;                  // 1-based line of the axis in the experiment file
  std::vector<int> value_lines;  // 1-based line of each value
  bool is_world_size() const { return field == kWorldSizeAxis; }
  // True when every value reads as a finite number (such an axis gets a tokens/s plot).
  bool IsNumeric() const;
};

// An Experiment message as plain values; paths resolved, defaults filled in.
struct ExperimentSpec {
  std::string path;  // the experiment file, as given
  std::string name;
  // The base config: a file (relative to the working directory), or inline text.
  std::string base_config_path;  // empty when inline
  std::string inline_base_text;  // text format of the inline TrainConfig
  int base_line = 0;
  std::vector<std::string> set;  // common overrides, path=value
  std::vector<int> set_lines;
  std::vector<AxisSpec> axes;
  int repeats = 1;
  bool reseed_repeats = false;
  int world_size = 1;
  std::string mpirun = "mpirun";
  std::vector<std::string> mpirun_args;
  int omp_num_threads = 0;
  std::string output_dir;
  std::string heatmap_point;
  int heatmap_point_line = 0;
  int heatmap_layer = 0;
  int heatmap_layer_line = 0;
  bool has_heatmap_layer = false;  // set explicitly in the file
  int point_timeout_s = 1800;
};

// One run of the sweep.
struct Point {
  int index = 0;                         // 0-based, in expansion order
  std::string name;                      // e.g. "policy=static,skew=1.2,np=2"
  std::string dir_name;                  // name with unsafe characters replaced
  std::vector<std::string> axis_values;  // one per axis, as written
  int repeat = 0;
  int world_size = 1;
  int num_moe_layers = 0;              // model.num_layers minus the dense layers
  std::vector<std::string> overrides;  // every --set of the run, in order
  // The effective config the run writes to config.textproto (for resuming).
  std::string effective_config;
};

// Parses and checks the experiment file at `path` (see the file comment).
StatusOr<ExperimentSpec> LoadExperiment(const std::string& path);
// The same from text; `path` names it in errors and anchors relative base_config paths.
StatusOr<ExperimentSpec> ParseExperiment(const std::string& text,
                                         const std::string& path);

// All points of `spec`, in a deterministic order (first axis slowest, repeats
// fastest), each validated as a training job (an inline base is validated from its
// text; the launcher writes it to OUT/base.textproto for the runs) and by building its
// dataset (once per distinct data section). Every point also sets run.name to its
// dir_name. heatmap_layer is checked against the MoE layers of the heatmap point (of
// every point when heatmap_point is not set). Errors blame the axis whose field the
// message's leading "<field path>:" names, else an axis the message mentions, else the
// base config.
StatusOr<std::vector<Point>> ExpandExperiment(const ExperimentSpec& spec);

// The index of the point `query` names: an exact name, else the only point whose name
// contains it. Errors say which points matched when it is ambiguous. `how` (optional)
// receives "exact" or "substring".
StatusOr<int> FindPoint(const std::vector<Point>& points, const std::string& query,
                        std::string* how = nullptr);

}  // namespace mpimoe::launch
