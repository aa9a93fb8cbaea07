// Tests of experiment loading and grid expansion (examples/launch/experiment.h): the
// deterministic order and names of points, their overrides, and the errors (with file,
// line and field) for every kind of bad experiment.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "examples/launch/experiment.h"

namespace mpimoe::launch {
namespace {

// A small valid inline base (the synthetic tasks need seq_len >= 18 for 8 symbols).
constexpr char kBase[] = R"(
base {
  model { seq_len: 18 d_model: 32 num_heads: 2 moe { num_experts: 4 top_k: 2 d_ffn: 32 } }
  data { global_batch_size: 4 synthetic { tasks: [COPY] num_symbols: 8 } }
  run { steps: 3 seed: 5 }
}
)";

StatusOr<std::vector<Point>> Expand(const std::string& text) {
  auto spec = ParseExperiment(std::string(kBase) + text, "exp.textproto");
  if (!spec.ok()) return spec.status();
  return ExpandExperiment(*spec);
}

TEST(LaunchExperiment, ExpandsTheGridInOrder) {
  auto spec = ParseExperiment(std::string(kBase) + R"(
set: "run.steps=2"
axis { field: "balancer.policy" label: "policy" values: ["static", "replicate"] }
axis { field: "world_size" values: ["1", "2"] }
axis { field: "model.moe.skew" values: ["0", "1.5"] }
)",
                              "dir/exp.textproto");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "exp");
  EXPECT_EQ(spec->output_dir, "runs/exp");
  ASSERT_EQ(spec->axes.size(), 3u);
  EXPECT_EQ(spec->axes[1].label, "np");
  EXPECT_EQ(spec->axes[2].label, "skew");
  EXPECT_FALSE(spec->axes[0].IsNumeric());
  EXPECT_TRUE(spec->axes[2].IsNumeric());
  auto points = ExpandExperiment(*spec);
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 8u);
  EXPECT_EQ((*points)[0].name, "policy=static,np=1,skew=0");
  EXPECT_EQ((*points)[1].name, "policy=static,np=1,skew=1.5");
  EXPECT_EQ((*points)[2].name, "policy=static,np=2,skew=0");
  EXPECT_EQ((*points)[7].name, "policy=replicate,np=2,skew=1.5");
  EXPECT_EQ((*points)[7].world_size, 2);
  EXPECT_EQ((*points)[7].index, 7);
  EXPECT_EQ((*points)[7].overrides,
            (std::vector<std::string>{"run.steps=2", "balancer.policy=replicate",
                                      "model.moe.skew=1.5",
                                      "run.name=policy=replicate,np=2,skew=1.5"}));
  EXPECT_NE((*points)[7].effective_config.find("policy: REPLICATE"), std::string::npos);
  EXPECT_NE((*points)[7].effective_config.find("steps: 2"), std::string::npos);
  // Expansion is deterministic.
  auto again = ExpandExperiment(*spec);
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < points->size(); ++i) {
    EXPECT_EQ((*again)[i].name, (*points)[i].name);
    EXPECT_EQ((*again)[i].effective_config, (*points)[i].effective_config);
  }
}

TEST(LaunchExperiment, RepeatsAndReseeding) {
  auto points = Expand(R"(
axis { field: "model.moe.top_k" values: ["1"] }
repeats: 3
reseed_repeats: true
)");
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 3u);
  EXPECT_EQ((*points)[2].name, "top_k=1,rep=2");
  EXPECT_EQ((*points)[2].repeat, 2);
  EXPECT_EQ((*points)[2].overrides[1], "run.seed=7");  // base seed 5 + 2

  auto no_axes = Expand("name: \"solo\"");
  ASSERT_TRUE(no_axes.ok()) << no_axes.status().ToString();
  ASSERT_EQ(no_axes->size(), 1u);
  EXPECT_EQ((*no_axes)[0].name, "solo");
}

TEST(LaunchExperiment, FindPointExactOrUniqueSubstring) {
  auto points = Expand(R"(
axis { field: "model.moe.num_experts" label: "e" values: ["2", "4", "24"] }
)");
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  std::string how;
  EXPECT_EQ(*FindPoint(*points, "e=2", &how), 0);
  EXPECT_EQ(how, "exact");
  EXPECT_EQ(*FindPoint(*points, "24", &how), 2);
  EXPECT_EQ(how, "substring");
  auto ambiguous = FindPoint(*points, "4");
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("matches 2 points"), std::string::npos);
  EXPECT_FALSE(FindPoint(*points, "x=1").ok());
}

// Each bad experiment fails with InvalidArgument (or NotFound) naming the place.
struct BadCase {
  const char* what;
  std::string text;
  std::string expected;  // a part of the message
};

TEST(LaunchExperiment, RejectsBadExperiments) {
  const std::vector<BadCase> cases = {
      {"syntax error", std::string(kBase) + "axis { field: \"x\" values: [\"1\" }\n",
       "exp.textproto:7:"},
      {"unknown experiment field", std::string(kBase) + "axes {}\n", "exp.textproto:7:"},
      {"unknown field path",
       std::string(kBase) +
           "axis {\n field: \"model.moe.num_expertz\"\n values: [\"4\"]\n}\n",
       "exp.textproto:9: axis model.moe.num_expertz: value '4': --set "
       "model.moe.num_expertz=4: unknown field 'num_expertz'"},
      {"empty axis", std::string(kBase) + "axis { field: \"model.moe.top_k\" }\n",
       "exp.textproto:7: axis model.moe.top_k: has no values"},
      {"bad value type",
       std::string(kBase) +
           "axis { field: \"model.moe.top_k\"\n values: [\"1\",\n \"two\"] }\n",
       "exp.textproto:9: axis model.moe.top_k: value 'two': --set model.moe.top_k=two: "
       "expected an int32"},
      {"bad enum",
       std::string(kBase) + "axis { field: \"balancer.policy\" values: [\"fastest\"] }\n",
       "exp.textproto:7: axis balancer.policy: value 'fastest': --set "
       "balancer.policy=fastest: expected one of STATIC, GREEDY_PLACE"},
      {"duplicate value",
       std::string(kBase) +
           "axis { field: \"model.moe.top_k\" values: [\"1\", \"1\"] }\n",
       "listed twice"},
      {"bad world size",
       std::string(kBase) + "axis { field: \"world_size\" values: [\"0\"] }\n",
       "exp.textproto:7: axis world_size: value '0': expected a positive integer"},
      {"point fails validation",
       std::string(kBase) +
           "axis { field: \"model.moe.top_k\" values: [\"2\",\n\"8\"] }\n",
       "exp.textproto:8: point 'top_k=8': exp.textproto: model.moe.top_k: must be in [1, "
       "model.moe.num_experts=4], got 8"},
      {"world size does not divide the batch",
       std::string(kBase) + "axis { field: \"world_size\" values: [\"1\",\n\"3\"] }\n",
       "exp.textproto:8: point 'np=3': data.global_batch_size: 4 is not divisible by the "
       "world size 3"},
      {"bad common override", std::string(kBase) + "set: \"run.stepz=3\"\n",
       "exp.textproto:7: set: --set run.stepz=3: unknown field"},
      {"no base", "axis { field: \"model.moe.top_k\" values: [\"1\"] }\n",
       "no base config"},
      {"missing base config file", "base_config: \"nope/missing.textproto\"\n",
       "exp.textproto:1: base_config: file 'nope/missing.textproto' does not exist"},
      {"repeats", std::string(kBase) + "repeats: 0\n",
       "exp.textproto:7: repeats: must be >= 1"},
      {"both base_config and base", std::string(kBase) + "base_config: \"x.textproto\"\n",
       "exp.textproto:7: base: give either base_config or base, not both"},
      {"the blamed axis is the one the message starts with",
       std::string(kBase) +
           "axis { field: \"model.moe.num_experts\" label: \"e\" values: [\"4\"] }\n"
           "axis { field: \"model.moe.top_k\" values: [\"2\",\n\"8\"] }\n",
       "exp.textproto:9: point 'e=4,top_k=8': exp.textproto: model.moe.top_k: must be "
       "in [1, model.moe.num_experts=4]"},
      {"two points in one directory",
       std::string(kBase) + "axis { field: \"run.steps\" values: [\"1\"] }\n" +
           "axis { field: \"run.out_dir\" label: \"o\"\n values: [\"a/b\", \"a b\"] }\n",
       "exp.textproto:8: axis run.out_dir: values 'a/b' and 'a b' give the same point "
       "directory name 'steps=1,o=a_b'"},
      {"heatmap layer beyond the MoE layers",
       std::string(kBase) + "set: \"model.dense_layers=0\"\nheatmap_layer: 1\n",
       "exp.textproto:8: heatmap_layer: 1 is not a MoE layer of point 'exp'; it has 1 "
       "(model.num_layers minus model.dense_layers): expected 0 to 0"},
      {"duplicate axis",
       std::string(kBase) + "axis { field: \"model.moe.top_k\" values: [\"1\"] }\n"
                            "axis { field: \"model.moe.top_k\" values: [\"2\"] }\n",
       "exp.textproto:8: axis model.moe.top_k: the field is already an axis"},
  };
  for (const BadCase& c : cases) {
    auto spec = ParseExperiment(c.text, "exp.textproto");
    Status status = spec.ok() ? ExpandExperiment(*spec).status() : spec.status();
    ASSERT_FALSE(status.ok()) << c.what;
    EXPECT_NE(status.message().find(c.expected), std::string::npos)
        << c.what << ": " << status.message();
  }
}

TEST(LaunchExperiment, ChecksTheDatasetOfEveryPoint) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "mpimoe_launch_dataset_test";
  std::filesystem::create_directories(dir);
  const std::string good = (dir / "good.txt").string();
  const std::string empty = (dir / "empty.txt").string();
  {
    std::ofstream out(good);
    for (int i = 0; i < 200; ++i) out << "the quick brown fox jumps over the lazy dog\n";
    std::ofstream touch(empty);
  }
  const std::string text = std::string(kBase) + "set: \"data.source=TEXT\"\n" +
                           "set: \"data.text_path=" + good + "\"\n" +
                           "axis { field: \"data.text_path\" label: \"text\"\n" +
                           "values: [\"" + good + "\",\n\"" + empty + "\"] }\n";
  auto spec = ParseExperiment(text, "exp.textproto");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto points = ExpandExperiment(*spec);
  ASSERT_FALSE(points.ok());
  EXPECT_NE(points.status().message().find("exp.textproto:11: point 'text="),
            std::string::npos)
      << points.status().message();
  EXPECT_NE(
      points.status().message().find("data.text_path: text file " + empty + ": is empty"),
      std::string::npos)
      << points.status().message();
  std::filesystem::remove_all(dir);
}

TEST(LaunchExperiment, BaseConfigRelativeToTheExperimentFile) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "mpimoe_launch_experiment_test";
  std::filesystem::create_directories(dir / "sub");
  {
    std::ofstream base(dir / "base.textproto");
    base
        << "model { seq_len: 18 d_model: 32 num_heads: 2 moe { num_experts: 2 top_k: 1 "
           "d_ffn: 16 } }\ndata { global_batch_size: 2 synthetic { num_symbols: 8 tasks: "
           "[COPY] } }\n";
    std::ofstream exp(dir / "sub" / "e.textproto");
    exp << "base_config: \"../base.textproto\"\naxis { field: \"world_size\" values: "
           "[\"1\", \"2\"] }\n";
  }
  auto spec = LoadExperiment((dir / "sub" / "e.textproto").string());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->base_config_path, (dir / "base.textproto").string());
  auto points = ExpandExperiment(*spec);
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  EXPECT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[1].name, "np=2");
  std::filesystem::remove_all(dir);
  EXPECT_EQ(LoadExperiment((dir / "sub" / "e.textproto").string()).status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace mpimoe::launch
