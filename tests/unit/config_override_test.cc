// Tests of `--set path=value` overrides (runtime/train/config_override.h) through the
// loader's public API (ParseTrainConfig, CheckOverride): every kind of value the
// header documents (numbers, true/false, enum names in any case, strings with and
// without quotes, lists that replace or clear a repeated field, nested messages), and
// errors that name the override, the field and the bad value.
//
// Needs no files: the one TEXT-data case uses configs/data/tiny_corpus.txt, found from
// this file's own path (__FILE__).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/train/config.h"
#include "runtime/train/config_loader.h"

namespace mpimoe::train {
namespace {

// Loads an empty config (or `text`) with `overrides`; fails the test when it does not
// load.
TrainConfig MustParse(const std::vector<std::string>& overrides,
                      const std::string& text = "") {
  StatusOr<TrainConfig> config = ParseTrainConfig(text, "t.textproto", overrides);
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return config.ok() ? std::move(config).value() : DefaultTrainConfig();
}

// Applies one override to an empty config; expects an InvalidArgument starting with
// "--set <override>: " and containing `detail`. CheckOverride must agree.
void ExpectOverrideError(const std::string& override_text, const std::string& detail) {
  SCOPED_TRACE("--set " + override_text);
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("", "t.textproto", {override_text});
  ASSERT_FALSE(config.ok()) << "accepted a bad override";
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = config.status().message();
  EXPECT_EQ(message.rfind("--set " + override_text + ": ", 0), 0u) << message;
  EXPECT_NE(message.find(detail), std::string::npos) << message;
  const Status checked = CheckOverride(override_text);
  EXPECT_EQ(checked.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(checked.message(), message);
}

TEST(ConfigOverride, ErrorNamesTheOverrideTheFieldAndTheBadValue) {
  const Status status = CheckOverride("model.d_model=four");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "--set model.d_model=four: expected an int32 for model.d_model: Expected "
            "integer, got: four");
}

TEST(ConfigOverride, Integers) {
  TrainConfig config =
      MustParse({"model.d_model=256", "run.steps = 9 ", " model.moe.num_experts=16",
                 "model.num_heads=0x10", "run.seed=18446744073709551615"});
  EXPECT_EQ(config.model.d_model, 256);
  EXPECT_EQ(config.run.steps, 9);
  EXPECT_EQ(config.model.moe.num_experts, 16);
  EXPECT_EQ(config.model.num_heads, 16);  // text format takes hex too
  EXPECT_EQ(config.run.seed, 18446744073709551615ull);
  // The int32 range, checked by the override (validation is not run here).
  EXPECT_TRUE(CheckOverride("model.d_model=2147483647").ok());
  EXPECT_TRUE(CheckOverride("model.d_model=-2147483648").ok());
  ExpectOverrideError("model.d_model=2147483648",
                      "expected an int32 for model.d_model: Integer out of range "
                      "(2147483648)");
  ExpectOverrideError("model.d_model=-2147483649",
                      "expected an int32 for model.d_model: Integer out of range");
  ExpectOverrideError("model.d_model=3000000000", "Integer out of range (3000000000)");
  ExpectOverrideError("run.seed=18446744073709551616",
                      "expected a uint64 for run.seed: Integer out of range");
  ExpectOverrideError("run.seed=-1", "expected a uint64 for run.seed: ");
  ExpectOverrideError("model.d_model=abc",
                      "expected an int32 for model.d_model: Expected integer, got: abc");
  ExpectOverrideError("model.d_model=12.5",
                      "expected an int32 for model.d_model: Expected integer, got: 12.5");
  ExpectOverrideError("model.d_model=", "expected an int32 for model.d_model: ");
  ExpectOverrideError("model.d_model=4 5",
                      "expected an int32 for model.d_model: unexpected text after the "
                      "value");
  // A leading zero would be octal in text format (010 = 8): refused, not guessed.
  ExpectOverrideError("run.steps=010",
                      "expected an int32 for run.steps: 010 has a leading 0, which text "
                      "format reads as octal");
  ExpectOverrideError("model.dense_layers=1,02", "02 has a leading 0");
  EXPECT_TRUE(CheckOverride("run.steps=0").ok());  // a plain 0 is no octal
  EXPECT_EQ(MustParse({"model.dense_layers=0"}).model.dense_layers,
            std::vector<int32_t>{0});
  EXPECT_EQ(MustParse({"optimizer.lr=0.01"}).optimizer.lr, 0.01f);  // not an integer
}

TEST(ConfigOverride, Floats) {
  const TrainConfig config = MustParse(
      {"optimizer.lr=1e-4", "model.moe.capacity_factor=2", "balancer.kappa=0.5"});
  EXPECT_EQ(config.optimizer.lr, 1e-4f);
  EXPECT_EQ(config.model.moe.capacity_factor, 2.0f);
  EXPECT_EQ(config.balancer.kappa, 0.5f);
  ExpectOverrideError("optimizer.lr=fast",
                      "expected a float for optimizer.lr: Expected double, got: fast");
  // Too large for a float: rejected, not read as infinity.
  ExpectOverrideError("optimizer.lr=1e60",
                      "expected a float for optimizer.lr: 1e60 is out of range");
  ExpectOverrideError("balancer.imbalance_high=-1e39",
                      "expected a float for balancer.imbalance_high: -1e39 is out of "
                      "range");
  // inf spelled out is a float; validation then rejects it where it must be finite.
  EXPECT_TRUE(CheckOverride("optimizer.lr=inf").ok());
  const StatusOr<TrainConfig> infinite =
      ParseTrainConfig("", "t.textproto", {"optimizer.lr=inf"});
  ASSERT_FALSE(infinite.ok());
  EXPECT_EQ(infinite.status().message(),
            "t.textproto: optimizer.lr: must be a positive finite number, got inf");
}

TEST(ConfigOverride, Bools) {
  for (const char* yes : {"true", "True", "t", "1"}) {
    SCOPED_TRACE(yes);
    EXPECT_TRUE(MustParse({std::string("balancer.fit_cost_online=") + yes})
                    .balancer.fit_cost_online);
  }
  for (const char* no : {"false", "False", "f", "0"}) {
    SCOPED_TRACE(no);
    EXPECT_FALSE(MustParse({std::string("model.moe.normalize_gates=") + no})
                     .model.moe.normalize_gates);
  }
  ExpectOverrideError("model.moe.normalize_gates=maybe",
                      "expected true or false for model.moe.normalize_gates: Invalid "
                      "value for boolean field \"normalize_gates\". Value: \"maybe\".");
  ExpectOverrideError("model.moe.normalize_gates=2",
                      "expected true or false for model.moe.normalize_gates: ");
}

TEST(ConfigOverride, EnumsByNameInAnyCase) {
  EXPECT_EQ(MustParse({"model.moe.activation=SWIGLU"}).model.moe.activation,
            moe::Activation::kSwiglu);
  EXPECT_EQ(MustParse({"model.moe.activation=swiglu"}).model.moe.activation,
            moe::Activation::kSwiglu);
  EXPECT_EQ(
      MustParse({"model.moe.activation=gelu"}, "model { moe { activation: SWIGLU } }")
          .model.moe.activation,
      moe::Activation::kGelu);
  EXPECT_EQ(MustParse({"balancer.policy=Greedy_Place"}).balancer.policy, "greedy_place");
  EXPECT_EQ(MustParse({"run.on_nonfinite=nonfinite_skip_step"}).run.on_nonfinite,
            NonFiniteAction::kSkipStep);

  const std::string corpus = (std::filesystem::path(__FILE__).parent_path() / ".." /
                              ".." / "configs" / "data" / "tiny_corpus.txt")
                                 .string();
  const TrainConfig text =
      MustParse({"data.source=TEXT", "data.text_path=\"" + corpus + "\""});
  EXPECT_EQ(text.data.source, DataSource::kText);
  EXPECT_EQ(text.data.text_path, corpus);
  EXPECT_EQ(text.model.vocab_size, 256);

  ExpectOverrideError("model.moe.activation=RELU",
                      "expected one of GELU, SWIGLU for model.moe.activation: Unknown "
                      "enumeration value of \"RELU\" for field \"activation\"");
  ExpectOverrideError("balancer.policy=fastest",
                      "expected one of STATIC, GREEDY_PLACE, REPLICATE, COST_AWARE for "
                      "balancer.policy: Unknown enumeration value of \"fastest\"");
  ExpectOverrideError("model.moe.activation=", "expected one of GELU, SWIGLU");
}

TEST(ConfigOverride, StringsWithOrWithoutQuotes) {
  const auto out_dir = [](const std::string& value) {
    return MustParse({"run.out_dir=" + value}).run.out_dir;
  };
  // Without quotes: the text as it is, spaces, quotes, backslashes, tabs and UTF-8
  // included.
  EXPECT_EQ(out_dir("/tmp/out x"), "/tmp/out x");
  EXPECT_EQ(out_dir("say \"hi\" to C:\\new\\dir"), "say \"hi\" to C:\\new\\dir");
  EXPECT_EQ(out_dir("a\tb"), "a\tb");
  EXPECT_EQ(out_dir("/tmp/ünï"), "/tmp/ünï");
  EXPECT_EQ(out_dir("\"unbalanced"), "\"unbalanced");
  EXPECT_EQ(out_dir("'"), "'");
  EXPECT_EQ(out_dir(""), "");
  // With quotes: a text-format string literal.
  EXPECT_EQ(out_dir("\"/tmp/q x\""), "/tmp/q x");
  EXPECT_EQ(out_dir("'single'"), "single");
  EXPECT_EQ(out_dir("\"a\\\"b\\\\c\\n\""), "a\"b\\c\n");
  EXPECT_EQ(out_dir("\"\""), "");
  EXPECT_EQ(MustParse({"run.name=\"exp 1\""}).run.name, "exp 1");
  ExpectOverrideError("run.out_dir=\"a\" b\"", "expected a string for run.out_dir: ");
}

TEST(ConfigOverride, ListsReplaceTheWholeRepeatedField) {
  const std::string text =
      "model { num_layers: 4 dense_layers: [1] }\n"
      "data { synthetic { tasks: [REVERSE, SORT, MOD_ADD] } }\n";
  TrainConfig config =
      MustParse({"model.dense_layers=0,2", "data.synthetic.tasks=COPY, sort"}, text);
  EXPECT_EQ(config.model.dense_layers, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(config.data.tasks,
            (std::vector<SyntheticTask>{SyntheticTask::kCopy, SyntheticTask::kSort}));
  EXPECT_EQ(config.model.vocab_size, 16 + 2 + 2);

  // Text-format brackets are accepted; an empty value (or []) clears the list
  // (tasks: all).
  config = MustParse({"model.dense_layers=[ 3 ]", "data.synthetic.tasks="}, text);
  EXPECT_EQ(config.model.dense_layers, std::vector<int32_t>{3});
  EXPECT_EQ(config.data.tasks.size(), 4u);
  config = MustParse({"model.dense_layers=[]"}, text);
  EXPECT_TRUE(config.model.dense_layers.empty());
  config = MustParse({"model.dense_layers="}, text);
  EXPECT_TRUE(config.model.dense_layers.empty());
  // Later overrides of the same list win.
  config = MustParse({"model.dense_layers=1", "model.dense_layers=2,3"}, text);
  EXPECT_EQ(config.model.dense_layers, (std::vector<int32_t>{2, 3}));

  ExpectOverrideError("model.dense_layers=0,x",
                      "list element 2: expected an int32 for model.dense_layers: "
                      "Expected integer, got: x");
  ExpectOverrideError("model.dense_layers=0,,1", "list element 2: expected an int32");
  ExpectOverrideError("model.dense_layers=1,3000000000",
                      "list element 2: expected an int32 for model.dense_layers: Integer "
                      "out of range (3000000000)");
  ExpectOverrideError("data.synthetic.tasks=COPY,ADD",
                      "list element 2: expected one of COPY, REVERSE, SORT, MOD_ADD for "
                      "data.synthetic.tasks: Unknown enumeration value of \"ADD\"");
}

TEST(ConfigOverride, PathsWalkNestedMessages) {
  const TrainConfig config =
      MustParse({"data.synthetic.num_symbols=10", "model.moe.top_k=1"});
  EXPECT_EQ(config.data.num_symbols, 10);
  EXPECT_EQ(config.model.moe.top_k, 1);
  // An override keeps the other fields of the message it walks into.
  EXPECT_EQ(MustParse({"model.moe.top_k=3"}, "model { moe { num_experts: 4 } }")
                .model.moe.num_experts,
            4);

  ExpectOverrideError("model.moe.num_expert=4",
                      "unknown field 'num_expert' in model.moe (fields: num_experts, "
                      "top_k, d_ffn,");
  ExpectOverrideError("modle.d_model=4",
                      "unknown field 'modle' in the config (fields: model, data, "
                      "optimizer, run, parallel, balancer)");
  ExpectOverrideError("data.synthetic.task=COPY",
                      "unknown field 'task' in data.synthetic (fields: tasks, "
                      "num_symbols)");
  ExpectOverrideError("model.d_model.x=4",
                      "'model.d_model' is not a message (its type is int32), so it has "
                      "no field 'x'");
  ExpectOverrideError("model.dense_layers.x=4",
                      "'model.dense_layers' is not a message (its type is repeated "
                      "int32)");
  ExpectOverrideError("model.moe=4",
                      "'model.moe' is a message; set one of its fields (num_experts, "
                      "top_k,");
  ExpectOverrideError("data.synthetic={ num_symbols: 3 }",
                      "'data.synthetic' is a message");
  ExpectOverrideError("model..d_model=4",
                      "empty component in field path 'model..d_model'");
  ExpectOverrideError("=4", "empty field path");
  ExpectOverrideError("model.d_model", "expected path=value");
}

TEST(ConfigOverride, CheckOverrideChecksTypesNotValues) {
  // In range for its type, though no config could use it: validation's job.
  EXPECT_TRUE(CheckOverride("model.moe.top_k=100").ok());
  EXPECT_TRUE(CheckOverride("optimizer.lr=-1").ok());
  EXPECT_FALSE(ParseTrainConfig("", "t.textproto", {"model.moe.top_k=100"}).ok());
}

}  // namespace
}  // namespace mpimoe::train
