// Tests of runtime/train/config_loader.h: the ready configs in configs/ load,
// DefaultTrainConfig() is the schema's defaults (read from the proto descriptors),
// every bad input is rejected naming the file/line/column or the field path, overrides
// apply in order and are validated like the file, and EffectiveConfigText loads back
// to the same TrainConfig. The kinds of `--set` values and their errors are tested in
// config_override_test.cc.
//
// Files are written under a fresh temp_directory_path() subdirectory, removed at the end
// of each test. The ready configs are found from this file's own path (__FILE__).
#include "runtime/train/config_loader.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mpimoe.pb.h"
#include "runtime/train/config.h"
#include "runtime/train/config_proto.h"

namespace mpimoe::train {
namespace {

namespace fs = std::filesystem;

fs::path RepoRoot() {
  return fs::weakly_canonical(fs::path(__FILE__).parent_path() / ".." / "..");
}

fs::path ReadyConfig(const std::string& name) { return RepoRoot() / "configs" / name; }

// Changes the working directory for the lifetime of the object.
class ScopedCurrentPath {
 public:
  explicit ScopedCurrentPath(const fs::path& path) : saved_(fs::current_path()) {
    fs::current_path(path);
  }
  ~ScopedCurrentPath() { fs::current_path(saved_); }

 private:
  fs::path saved_;
};

class ConfigLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = fs::temp_directory_path() /
           ("mpimoe_config_loader_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to `name` in the temp directory; returns its path.
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    EXPECT_TRUE(out) << path;
    return path.string();
  }

  fs::path dir_;
};

// Every field of two configs is equal (floats exactly).
void ExpectSameConfig(const TrainConfig& a, const TrainConfig& b) {
  EXPECT_EQ(a.model.vocab_size, b.model.vocab_size);
  EXPECT_EQ(a.model.seq_len, b.model.seq_len);
  EXPECT_EQ(a.model.d_model, b.model.d_model);
  EXPECT_EQ(a.model.num_layers, b.model.num_layers);
  EXPECT_EQ(a.model.num_heads, b.model.num_heads);
  EXPECT_EQ(a.model.moe.num_experts, b.model.moe.num_experts);
  EXPECT_EQ(a.model.moe.top_k, b.model.moe.top_k);
  EXPECT_EQ(a.model.moe.d_ffn, b.model.moe.d_ffn);
  EXPECT_EQ(a.model.moe.activation, b.model.moe.activation);
  EXPECT_EQ(a.model.moe.capacity_factor, b.model.moe.capacity_factor);
  EXPECT_EQ(a.model.moe.normalize_gates, b.model.moe.normalize_gates);
  EXPECT_EQ(a.model.moe.aux_loss_coef, b.model.moe.aux_loss_coef);
  EXPECT_EQ(a.model.moe.z_loss_coef, b.model.moe.z_loss_coef);
  EXPECT_EQ(a.model.moe.skew, b.model.moe.skew);
  EXPECT_EQ(a.model.moe.skew_drift_steps, b.model.moe.skew_drift_steps);
  EXPECT_EQ(a.model.dense_layers, b.model.dense_layers);
  EXPECT_EQ(a.model.dense_d_ffn, b.model.dense_d_ffn);
  EXPECT_EQ(a.model.layernorm_eps, b.model.layernorm_eps);
  EXPECT_EQ(a.model.init_std, b.model.init_std);

  EXPECT_EQ(a.data.source, b.data.source);
  EXPECT_EQ(a.data.text_path, b.data.text_path);
  EXPECT_EQ(a.data.global_batch_size, b.data.global_batch_size);
  EXPECT_EQ(a.data.eval_batches, b.data.eval_batches);
  EXPECT_EQ(a.data.eval_fraction, b.data.eval_fraction);
  EXPECT_EQ(a.data.tasks, b.data.tasks);
  EXPECT_EQ(a.data.num_symbols, b.data.num_symbols);

  EXPECT_EQ(a.optimizer.lr, b.optimizer.lr);
  EXPECT_EQ(a.optimizer.min_lr_ratio, b.optimizer.min_lr_ratio);
  EXPECT_EQ(a.optimizer.warmup_steps, b.optimizer.warmup_steps);
  EXPECT_EQ(a.optimizer.beta1, b.optimizer.beta1);
  EXPECT_EQ(a.optimizer.beta2, b.optimizer.beta2);
  EXPECT_EQ(a.optimizer.eps, b.optimizer.eps);
  EXPECT_EQ(a.optimizer.weight_decay, b.optimizer.weight_decay);
  EXPECT_EQ(a.optimizer.grad_clip, b.optimizer.grad_clip);

  EXPECT_EQ(a.run.name, b.run.name);
  EXPECT_EQ(a.run.steps, b.run.steps);
  EXPECT_EQ(a.run.seed, b.run.seed);
  EXPECT_EQ(a.run.log_every, b.run.log_every);
  EXPECT_EQ(a.run.eval_every, b.run.eval_every);
  EXPECT_EQ(a.run.out_dir, b.run.out_dir);
  EXPECT_EQ(a.run.warmup_steps_for_timing, b.run.warmup_steps_for_timing);
  EXPECT_EQ(a.run.checkpoint_every, b.run.checkpoint_every);
  EXPECT_EQ(a.run.keep_checkpoints, b.run.keep_checkpoints);
  EXPECT_EQ(a.run.on_nonfinite, b.run.on_nonfinite);
  EXPECT_EQ(a.run.max_skipped_steps, b.run.max_skipped_steps);

  EXPECT_EQ(a.parallel.world_size, b.parallel.world_size);
  EXPECT_EQ(a.parallel.threads_per_rank, b.parallel.threads_per_rank);
  EXPECT_EQ(a.parallel.grad_bucket_kb, b.parallel.grad_bucket_kb);

  EXPECT_EQ(a.balancer.policy, b.balancer.policy);
  EXPECT_EQ(a.balancer.replica_slots_per_rank, b.balancer.replica_slots_per_rank);
  EXPECT_EQ(a.balancer.replan_interval, b.balancer.replan_interval);
  EXPECT_EQ(a.balancer.imbalance_high, b.balancer.imbalance_high);
  EXPECT_EQ(a.balancer.imbalance_low, b.balancer.imbalance_low);
  EXPECT_EQ(a.balancer.plan_lifetime_steps, b.balancer.plan_lifetime_steps);
  EXPECT_EQ(a.balancer.kappa, b.balancer.kappa);
  EXPECT_EQ(a.balancer.min_relative_gain, b.balancer.min_relative_gain);
  EXPECT_EQ(a.balancer.ema_shift, b.balancer.ema_shift);
  EXPECT_EQ(a.balancer.fit_cost_online, b.balancer.fit_cost_online);
  EXPECT_EQ(a.balancer.noise_sigmas, b.balancer.noise_sigmas);
  EXPECT_EQ(a.balancer.cost_expert_gflops, b.balancer.cost_expert_gflops);
  EXPECT_EQ(a.balancer.cost_memory_gbps, b.balancer.cost_memory_gbps);
  EXPECT_EQ(a.balancer.cost_network_gbps, b.balancer.cost_network_gbps);
}

namespace pb = ::google::protobuf;

// The field `name` of the message type `descriptor`.
const pb::FieldDescriptor* Field(const pb::Descriptor* descriptor, const char* name) {
  const pb::FieldDescriptor* field = descriptor->FindFieldByName(name);
  EXPECT_NE(field, nullptr) << descriptor->full_name() << "." << name;
  return field;
}

// Expects every singular non-message field of `message` (recursively; `path` is its
// field path) to hold the schema's declared default, except the fields in `resolved`.
void ExpectSchemaDefaults(const pb::Message& message, const std::string& path,
                          const std::vector<std::string>& resolved) {
  const pb::Descriptor* descriptor = message.GetDescriptor();
  const pb::Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* f = descriptor->field(i);
    const std::string here = path.empty() ? f->name() : path + "." + f->name();
    SCOPED_TRACE(here);
    if (f->is_repeated() ||
        std::find(resolved.begin(), resolved.end(), here) != resolved.end()) {
      continue;
    }
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        ExpectSchemaDefaults(reflection->GetMessage(message, f), here, resolved);
        break;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        EXPECT_EQ(reflection->GetInt32(message, f), f->default_value_int32());
        break;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        EXPECT_EQ(reflection->GetUInt64(message, f), f->default_value_uint64());
        break;
      case pb::FieldDescriptor::CPPTYPE_FLOAT:
        EXPECT_EQ(reflection->GetFloat(message, f), f->default_value_float());
        break;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        EXPECT_EQ(reflection->GetBool(message, f), f->default_value_bool());
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        EXPECT_EQ(reflection->GetEnumValue(message, f),
                  f->default_value_enum()->number());
        break;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        EXPECT_EQ(reflection->GetString(message, f), f->default_value_string());
        break;
      default:
        ADD_FAILURE() << "the schema has a field of a type this test does not check: "
                      << f->type_name();
    }
  }
}

const std::vector<SyntheticTask> kAllTasks = {
    SyntheticTask::kCopy, SyntheticTask::kReverse, SyntheticTask::kSort,
    SyntheticTask::kModAdd};

// Parses `text` as "t.textproto" with `overrides`; expects InvalidArgument whose
// message contains "t.textproto: <field_path>: ".
void ExpectFieldError(const std::string& text, const std::string& field_path,
                      const std::vector<std::string>& overrides = {}) {
  SCOPED_TRACE("config: " + text);
  const StatusOr<TrainConfig> config = ParseTrainConfig(text, "t.textproto", overrides);
  ASSERT_FALSE(config.ok()) << "accepted a bad config";
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("t.textproto: " + field_path + ": "),
            std::string::npos)
      << config.status().message();
}

TEST_F(ConfigLoaderTest, QuickstartConfigLoads) {
  const StatusOr<TrainConfig> config =
      LoadTrainConfig(ReadyConfig("quickstart.textproto"), {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->run.name, "quickstart");
  EXPECT_EQ(config->data.source, DataSource::kSynthetic);
  EXPECT_EQ(config->data.tasks, kAllTasks);
  EXPECT_EQ(config->model.vocab_size, 16 + 2 + 4);
  EXPECT_EQ(config->model.moe.num_experts, 8);
  EXPECT_EQ(config->model.moe.top_k, 2);
  EXPECT_EQ(config->model.seq_len, 34);
  EXPECT_EQ(config->data.global_batch_size, 64);
  EXPECT_EQ(config->run.steps, 600);
  EXPECT_TRUE(ValidateForWorldSize(*config, 2).ok());
}

TEST_F(ConfigLoaderTest, SmokeConfigLoads) {
  const StatusOr<TrainConfig> config =
      LoadTrainConfig(ReadyConfig("smoke.textproto"), {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->run.name, "smoke");
  EXPECT_EQ(config->data.tasks,
            (std::vector<SyntheticTask>{SyntheticTask::kCopy, SyntheticTask::kReverse}));
  EXPECT_EQ(config->model.vocab_size, 8 + 2 + 2);
  EXPECT_EQ(config->run.steps, 60);
  EXPECT_TRUE(ValidateForWorldSize(*config, 4).ok());
  EXPECT_TRUE(ValidateForWorldSize(*config, 1).ok());
}

TEST_F(ConfigLoaderTest, TextLmConfigLoadsFromTheRepoRoot) {
  // text_path is relative to the working directory; the README runs from the root.
  ScopedCurrentPath cwd(RepoRoot());
  const StatusOr<TrainConfig> config = LoadTrainConfig("configs/text_lm.textproto", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->run.name, "text_lm");
  EXPECT_EQ(config->data.source, DataSource::kText);
  EXPECT_EQ(config->data.text_path, "configs/data/tiny_corpus.txt");
  EXPECT_GE(fs::file_size(config->data.text_path), 2000u);
  EXPECT_EQ(config->model.vocab_size, 256);
  EXPECT_EQ(config->model.moe.activation, moe::Activation::kSwiglu);
  EXPECT_EQ(config->model.dense_layers, std::vector<int32_t>{0});
  EXPECT_EQ(config->model.dense_d_ffn, config->model.moe.d_ffn);
  EXPECT_TRUE(config->data.tasks.empty());
  EXPECT_TRUE(ValidateForWorldSize(*config, 2).ok());
}

TEST_F(ConfigLoaderTest, DefaultTrainConfigHoldsTheSchemaDefaults) {
  const TrainConfig config = DefaultTrainConfig();
  namespace pbc = ::mpimoe::config;
  // A few fields of the plain structs against the schema's declared defaults.
  EXPECT_EQ(config.model.seq_len,
            Field(pbc::ModelConfig::descriptor(), "seq_len")->default_value_int32());
  EXPECT_EQ(config.model.moe.num_experts,
            Field(pbc::MoeConfig::descriptor(), "num_experts")->default_value_int32());
  EXPECT_EQ(config.model.moe.d_ffn,
            Field(pbc::MoeConfig::descriptor(), "d_ffn")->default_value_int32());
  EXPECT_EQ(config.model.moe.z_loss_coef,
            Field(pbc::MoeConfig::descriptor(), "z_loss_coef")->default_value_float());
  EXPECT_EQ(config.model.moe.normalize_gates,
            Field(pbc::MoeConfig::descriptor(), "normalize_gates")->default_value_bool());
  EXPECT_EQ(
      config.model.layernorm_eps,
      Field(pbc::ModelConfig::descriptor(), "layernorm_eps")->default_value_float());
  EXPECT_EQ(config.optimizer.lr,
            Field(pbc::OptimizerConfig::descriptor(), "lr")->default_value_float());
  EXPECT_EQ(
      config.optimizer.grad_clip,
      Field(pbc::OptimizerConfig::descriptor(), "grad_clip")->default_value_float());
  EXPECT_EQ(
      config.data.global_batch_size,
      Field(pbc::DataConfig::descriptor(), "global_batch_size")->default_value_int32());
  EXPECT_EQ(config.run.seed,
            Field(pbc::RunConfig::descriptor(), "seed")->default_value_uint64());
  EXPECT_EQ(
      config.parallel.grad_bucket_kb,
      Field(pbc::ParallelConfig::descriptor(), "grad_bucket_kb")->default_value_int32());
  std::string policy =
      Field(pbc::BalancerConfig::descriptor(), "policy")->default_value_enum()->name();
  for (char& c : policy) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(config.balancer.policy, policy);
  // Every other field too, through the proto form; the resolved fields are what an
  // empty config resolves them to.
  ExpectSchemaDefaults(ToProto(config), "",
                       {"model.vocab_size", "model.dense_d_ffn", "run.name"});
  EXPECT_EQ(config.model.vocab_size, 16 + 2 + 4);
  EXPECT_EQ(config.model.dense_d_ffn, config.model.moe.d_ffn);
  EXPECT_EQ(config.data.tasks, kAllTasks);
  EXPECT_EQ(config.run.name, "default");
}

TEST_F(ConfigLoaderTest, DefaultTrainConfigRoundTripsThroughTheEffectiveText) {
  const TrainConfig config = DefaultTrainConfig();
  const std::string text = EffectiveConfigText(config);
  const StatusOr<TrainConfig> again = ParseTrainConfig(text, "config.textproto", {});
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << text;
  ExpectSameConfig(*again, config);
  EXPECT_EQ(EffectiveConfigText(*again), text);
}

TEST_F(ConfigLoaderTest, EmptyConfigIsTheDefaultConfigNamedAfterTheFile) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("", "some/dir/dflt.textproto", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  TrainConfig expected = DefaultTrainConfig();
  expected.run.name = "dflt";
  ExpectSameConfig(*config, expected);
}

TEST_F(ConfigLoaderTest, RunNameDefaultsToFileBaseNameAndExplicitNameWins) {
  const std::string path = Write("my.run.v2.textproto", "run { steps: 5 }\n");
  StatusOr<TrainConfig> config = LoadTrainConfig(path, {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->run.name, "my.run.v2");
  config = LoadTrainConfig(path, {"run.name=\"exp 1\""});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->run.name, "exp 1");
  ExpectFieldError("run { name: \"a/b\" }", "run.name");
}

TEST_F(ConfigLoaderTest, ResolvesDenseFfnAndKeepsExplicitValues) {
  const StatusOr<TrainConfig> config = ParseTrainConfig(
      "model { vocab_size: 100 dense_d_ffn: 64 num_layers: 3 dense_layers: [2, 0] }\n"
      "data { synthetic { tasks: SORT num_symbols: 10 } }\n",
      "t.textproto", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->model.vocab_size, 100);
  EXPECT_EQ(config->model.dense_d_ffn, 64);
  EXPECT_EQ(config->model.dense_layers, (std::vector<int32_t>{2, 0}));
  EXPECT_EQ(config->data.tasks, std::vector<SyntheticTask>{SyntheticTask::kSort});
}

TEST_F(ConfigLoaderTest, MissingConfigFileIsNotFound) {
  const std::string path = (dir_ / "nope.textproto").string();
  const StatusOr<TrainConfig> config = LoadTrainConfig(path, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find(path), std::string::npos);
}

TEST_F(ConfigLoaderTest, ParseErrorNamesFileLineAndColumn) {
  // Line 3, the value starts at column 12.
  const std::string path = Write("bad.textproto",
                                 "# comment\n"
                                 "model {\n"
                                 "  d_model: abc\n"
                                 "}\n");
  const StatusOr<TrainConfig> config = LoadTrainConfig(path, {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message().rfind(path + ":3:12: ", 0), 0u)
      << config.status().message();
  EXPECT_NE(config.status().message().find("Expected integer"), std::string::npos)
      << config.status().message();
}

TEST_F(ConfigLoaderTest, SyntaxErrorNamesLineAndColumn) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("run {\n  steps: 10\n", "unclosed.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("unclosed.textproto:3:1: ", 0), 0u)
      << config.status().message();
}

TEST_F(ConfigLoaderTest, UnknownFieldIsAParseError) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("model {\n  moe { num_expert: 4 }\n}\n", "typo.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = config.status().message();
  EXPECT_EQ(message.rfind("typo.textproto:2:", 0), 0u) << message;
  EXPECT_NE(message.find("num_expert"), std::string::npos) << message;
  EXPECT_NE(message.find("MoeConfig"), std::string::npos) << message;
}

TEST_F(ConfigLoaderTest, RepeatedSingularFieldIsAParseError) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("run { steps: 1 steps: 2 }\n", "twice.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind("twice.textproto:1:", 0), 0u)
      << config.status().message();
}

TEST_F(ConfigLoaderTest, TopKAboveNumExpertsIsRejected) {
  const StatusOr<TrainConfig> config = ParseTrainConfig(
      "model { moe { num_experts: 4 top_k: 8 } }", "configs/x.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            "configs/x.textproto: model.moe.top_k: must be in [1, "
            "model.moe.num_experts=4], got 8");
  ExpectFieldError("model { moe { top_k: 0 } }", "model.moe.top_k");
}

TEST_F(ConfigLoaderTest, NonPositiveSizesAreRejected) {
  ExpectFieldError("model { seq_len: 0 }", "model.seq_len");
  ExpectFieldError("model { d_model: 0 }", "model.d_model");
  ExpectFieldError("model { d_model: -128 }", "model.d_model");
  ExpectFieldError("model { num_layers: 0 }", "model.num_layers");
  ExpectFieldError("model { num_heads: 0 }", "model.num_heads");
  ExpectFieldError("model { vocab_size: -1 }", "model.vocab_size");
  ExpectFieldError("model { moe { num_experts: 0 } }", "model.moe.num_experts");
  ExpectFieldError("model { moe { d_ffn: 0 } }", "model.moe.d_ffn");
  ExpectFieldError("model { dense_d_ffn: -1 }", "model.dense_d_ffn");
  ExpectFieldError("model { layernorm_eps: 0 }", "model.layernorm_eps");
  ExpectFieldError("model { init_std: -0.1 }", "model.init_std");
  ExpectFieldError("data { global_batch_size: 0 }", "data.global_batch_size");
  ExpectFieldError("data { eval_batches: -1 }", "data.eval_batches");
  ExpectFieldError("data { synthetic { num_symbols: 0 } }", "data.synthetic.num_symbols");
  ExpectFieldError("run { steps: 0 }", "run.steps");
  ExpectFieldError("run { log_every: 0 }", "run.log_every");
  ExpectFieldError("run { eval_every: -1 }", "run.eval_every");
  ExpectFieldError("parallel { grad_bucket_kb: 0 }", "parallel.grad_bucket_kb");
  ExpectFieldError("parallel { threads_per_rank: -2 }", "parallel.threads_per_rank");
  ExpectFieldError("parallel { world_size: -1 }", "parallel.world_size");
  // Zero where zero means "none"/"auto" is fine.
  EXPECT_TRUE(ParseTrainConfig("data { eval_batches: 0 } run { eval_every: 0 } "
                               "model { vocab_size: 0 moe { capacity_factor: 0 } }",
                               "t.textproto", {})
                  .ok());
}

TEST_F(ConfigLoaderTest, OutOfRangeMoeAndOptimizerValuesAreRejected) {
  ExpectFieldError("model { moe { capacity_factor: -1 } }", "model.moe.capacity_factor");
  ExpectFieldError("model { moe { aux_loss_coef: -0.5 } }", "model.moe.aux_loss_coef");
  ExpectFieldError("model { moe { z_loss_coef: inf } }", "model.moe.z_loss_coef");
  ExpectFieldError("optimizer { lr: 0 }", "optimizer.lr");
  ExpectFieldError("optimizer { lr: nan }", "optimizer.lr");
  ExpectFieldError("optimizer { min_lr_ratio: 1.5 }", "optimizer.min_lr_ratio");
  ExpectFieldError("optimizer { warmup_steps: -1 }", "optimizer.warmup_steps");
  ExpectFieldError("optimizer { beta1: 1 }", "optimizer.beta1");
  ExpectFieldError("optimizer { beta2: -0.1 }", "optimizer.beta2");
  ExpectFieldError("optimizer { eps: 0 }", "optimizer.eps");
  ExpectFieldError("optimizer { weight_decay: -0.01 }", "optimizer.weight_decay");
  ExpectFieldError("optimizer { grad_clip: -1 }", "optimizer.grad_clip");
  ExpectFieldError("data { eval_fraction: 1 }", "data.eval_fraction");
}

TEST_F(ConfigLoaderTest, NumHeadsMustDivideDModel) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("model { d_model: 100 num_heads: 3 }", "h.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "h.textproto: model.num_heads: must divide model.d_model=100, got 3");
  EXPECT_TRUE(
      ParseTrainConfig("model { d_model: 96 num_heads: 3 }", "h.textproto", {}).ok());
}

TEST_F(ConfigLoaderTest, VocabSizeMustCoverTheData) {
  // Synthetic: 16 symbols + SEP + PAD + 4 task tokens = 22.
  ExpectFieldError("model { vocab_size: 21 }", "model.vocab_size");
  EXPECT_TRUE(ParseTrainConfig("model { vocab_size: 22 }", "t.textproto", {}).ok());
  const std::string corpus = Write("corpus.txt", std::string(4096, 'a'));
  ExpectFieldError(
      "model { vocab_size: 255 } data { source: TEXT text_path: \"" + corpus + "\" }",
      "model.vocab_size");
}

TEST_F(ConfigLoaderTest, TextSourceNeedsAnExistingFile) {
  const std::string missing = (dir_ / "missing.txt").string();
  const StatusOr<TrainConfig> config = ParseTrainConfig(
      "data { source: TEXT text_path: \"" + missing + "\" }", "t.textproto", {});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(config.status().message().rfind("t.textproto: data.text_path: ", 0), 0u)
      << config.status().message();
  EXPECT_NE(config.status().message().find(missing), std::string::npos);

  ExpectFieldError("data { source: TEXT }", "data.text_path");
  ExpectFieldError("data { source: TEXT text_path: \"\" }", "data.text_path");
  ExpectFieldError("data { source: TEXT text_path: \"" + dir_.string() + "\" }",
                   "data.text_path");

  const std::string corpus = Write("corpus.txt", std::string(4096, 'a'));
  const StatusOr<TrainConfig> ok = ParseTrainConfig(
      "data { source: TEXT text_path: \"" + corpus + "\" }", "t.textproto", {});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->model.vocab_size, 256);
  // A TEXT config with no held-out part cannot evaluate.
  ExpectFieldError("data { source: TEXT eval_fraction: 0 text_path: \"" + corpus + "\" }",
                   "data.eval_fraction");
}

TEST_F(ConfigLoaderTest, DenseLayersMustBeInRangeAndDistinct) {
  ExpectFieldError("model { num_layers: 2 dense_layers: 2 }", "model.dense_layers");
  ExpectFieldError("model { num_layers: 2 dense_layers: -1 }", "model.dense_layers");
  ExpectFieldError("model { num_layers: 4 dense_layers: [1, 3, 1] }",
                   "model.dense_layers");
  EXPECT_TRUE(
      ParseTrainConfig("model { num_layers: 2 dense_layers: [0, 1] }", "t.textproto", {})
          .ok());
}

TEST_F(ConfigLoaderTest, SeqLenMustFitTheSyntheticTasks) {
  // All tasks include MOD_ADD, which needs a 2-symbol payload: 6 tokens.
  ExpectFieldError("model { seq_len: 5 }", "model.seq_len");
  EXPECT_TRUE(ParseTrainConfig("model { seq_len: 6 }", "t.textproto", {}).ok());
  // The other tasks need one payload symbol: 4 tokens.
  ExpectFieldError("model { seq_len: 3 } data { synthetic { tasks: COPY } }",
                   "model.seq_len");
  EXPECT_TRUE(
      ParseTrainConfig("model { seq_len: 4 } data { synthetic { tasks: [COPY, SORT] } }",
                       "t.textproto", {})
          .ok());
  ExpectFieldError("model { seq_len: 5 } data { synthetic { tasks: [COPY, MOD_ADD] } }",
                   "model.seq_len");
  ExpectFieldError("data { synthetic { tasks: [COPY, COPY] } }", "data.synthetic.tasks");
}

TEST_F(ConfigLoaderTest, GlobalBatchMustDivideByWorldSize) {
  const StatusOr<TrainConfig> config =
      ParseTrainConfig("data { global_batch_size: 30 }", "t.textproto", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(ValidateForWorldSize(*config, 1).ok());
  EXPECT_TRUE(ValidateForWorldSize(*config, 3).ok());
  const Status bad = ValidateForWorldSize(*config, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("data.global_batch_size"), std::string::npos)
      << bad.message();
  EXPECT_NE(bad.message().find("world size 4"), std::string::npos) << bad.message();
  EXPECT_FALSE(ValidateForWorldSize(*config, 0).ok());

  // parallel.world_size, when set, must match the job and is checked against the batch
  // at load time.
  const StatusOr<TrainConfig> pinned = ParseTrainConfig(
      "data { global_batch_size: 32 } parallel { world_size: 2 }", "t.textproto", {});
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_TRUE(ValidateForWorldSize(*pinned, 2).ok());
  const Status mismatch = ValidateForWorldSize(*pinned, 4);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.message().find("parallel.world_size"), std::string::npos)
      << mismatch.message();
  EXPECT_NE(mismatch.message().find("4"), std::string::npos) << mismatch.message();
  ExpectFieldError("data { global_batch_size: 30 } parallel { world_size: 4 }",
                   "data.global_batch_size");
}

TEST_F(ConfigLoaderTest, OverridesSetScalarsInOrder) {
  const std::string path =
      Write("o.textproto", "model { d_model: 64 } run { steps: 10 }\n");
  const StatusOr<TrainConfig> config =
      LoadTrainConfig(path, {"model.d_model=256", "run.steps=7", "run.steps = 9",
                             "run.seed=18446744073709551615", "optimizer.lr=1e-4",
                             "model.moe.normalize_gates=false", "run.out_dir=/tmp/out x",
                             "model.moe.num_experts=16"});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->model.d_model, 256);
  EXPECT_EQ(config->run.steps, 9);
  EXPECT_EQ(config->run.seed, 18446744073709551615ull);
  EXPECT_EQ(config->optimizer.lr, 1e-4f);
  EXPECT_FALSE(config->model.moe.normalize_gates);
  EXPECT_EQ(config->run.out_dir, "/tmp/out x");
  EXPECT_EQ(config->model.moe.num_experts, 16);
}

TEST_F(ConfigLoaderTest, OverridesAreValidatedLikeTheFile) {
  const std::string path = Write("v.textproto", "model { moe { num_experts: 4 } }\n");
  const StatusOr<TrainConfig> config = LoadTrainConfig(path, {"model.moe.top_k=5"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            path + ": model.moe.top_k: must be in [1, model.moe.num_experts=4], got 5");
}

TEST_F(ConfigLoaderTest, EffectiveConfigTextRoundTrips) {
  std::vector<TrainConfig> configs;
  for (const char* name : {"quickstart.textproto", "smoke.textproto"}) {
    StatusOr<TrainConfig> config = LoadTrainConfig(ReadyConfig(name), {});
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    configs.push_back(*config);
  }
  {
    ScopedCurrentPath cwd(RepoRoot());
    StatusOr<TrainConfig> config = LoadTrainConfig("configs/text_lm.textproto", {});
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    configs.push_back(*config);
  }
  // Every field away from its default, with values that are not short decimals.
  StatusOr<TrainConfig> odd = ParseTrainConfig("", "odd.textproto",
                                               {"model.seq_len=40",
                                                "model.d_model=96",
                                                "model.num_layers=3",
                                                "model.num_heads=6",
                                                "model.moe.num_experts=6",
                                                "model.moe.top_k=3",
                                                "model.moe.d_ffn=200",
                                                "model.moe.activation=SWIGLU",
                                                "model.moe.capacity_factor=1.25",
                                                "model.moe.normalize_gates=false",
                                                "model.moe.aux_loss_coef=0.0123456789",
                                                "model.moe.z_loss_coef=3.3333333e-4",
                                                "model.dense_layers=2,0",
                                                "model.layernorm_eps=1e-6",
                                                "model.init_std=0.1",
                                                "model.vocab_size=64",
                                                "data.global_batch_size=24",
                                                "data.eval_batches=0",
                                                "data.eval_fraction=0.3",
                                                "data.synthetic.tasks=MOD_ADD,REVERSE",
                                                "data.synthetic.num_symbols=11",
                                                "optimizer.lr=0.1",
                                                "optimizer.min_lr_ratio=0",
                                                "optimizer.warmup_steps=0",
                                                "optimizer.beta1=0.8",
                                                "optimizer.beta2=0.999",
                                                "optimizer.eps=1.5e-7",
                                                "optimizer.weight_decay=0",
                                                "optimizer.grad_clip=0.7",
                                                "run.name=odd \"quoted\"",
                                                "run.steps=12345",
                                                "run.seed=18446744073709551615",
                                                "run.log_every=3",
                                                "run.eval_every=0",
                                                "run.out_dir=/tmp/some dir/ünï",
                                                "run.warmup_steps_for_timing=0",
                                                "parallel.world_size=3",
                                                "parallel.threads_per_rank=5",
                                                "parallel.grad_bucket_kb=17"});
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  configs.push_back(*odd);

  // text_lm's relative text_path must resolve when it is loaded again.
  ScopedCurrentPath cwd(RepoRoot());
  for (const TrainConfig& config : configs) {
    SCOPED_TRACE(config.run.name);
    const std::string text = EffectiveConfigText(config);
    // Loaded back under another name (as OUT/config.textproto is), it is the same.
    const std::string path = Write("config.textproto", text);
    const StatusOr<TrainConfig> again = LoadTrainConfig(path, {});
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << text;
    ExpectSameConfig(*again, config);
    EXPECT_EQ(EffectiveConfigText(*again), text);
  }
}

TEST_F(ConfigLoaderTest, EffectiveConfigTextSetsEveryField) {
  const StatusOr<TrainConfig> config = ParseTrainConfig("", "e.textproto", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const std::string text = EffectiveConfigText(*config);
  for (const char* field :
       {"vocab_size: 22", "seq_len: 64", "dense_d_ffn: 256", "activation: GELU",
        "normalize_gates: true", "capacity_factor: 0", "source: SYNTHETIC",
        "text_path: \"\"", "tasks: COPY", "tasks: MOD_ADD", "num_symbols: 16",
        "lr: 0.003", "name: \"e\"", "seed: 1", "out_dir: \"\"",
        "warmup_steps_for_timing: 3", "world_size: 0", "grad_bucket_kb: 1024"}) {
    EXPECT_NE(text.find(field), std::string::npos) << field << " not in\n" << text;
  }
}

}  // namespace
}  // namespace mpimoe::train
