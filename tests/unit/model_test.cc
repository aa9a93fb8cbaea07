// Tests of runtime/train's model and optimizer on one rank: the whole transformer's
// backward (embeddings, attention, MoE and dense blocks, layernorms, LM head, auxiliary
// losses) against central finite differences of the loss, the learning-rate schedule,
// clipping, and that training on the synthetic tasks lowers the loss.
#include "runtime/train/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "parallel/self_communicator.h"
#include "runtime/train/config_loader.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/trainer.h"
#include "tests/tools/finite_difference.h"

namespace mpimoe::train {
namespace {

using mpimoe::testing::CentralDifference;

TrainConfig TinyConfig() {
  auto config = ParseTrainConfig(
      R"pb(
        model {
          seq_len: 8
          d_model: 8
          num_layers: 2
          num_heads: 2
          dense_layers: 1
          moe { num_experts: 3 top_k: 2 d_ffn: 12 aux_loss_coef: 0.1 z_loss_coef: 0.01 }
        }
        data {
          global_batch_size: 3
          synthetic { num_symbols: 4 tasks: COPY tasks: SORT }
        }
        run { seed: 5 }
      )pb",
      "tiny.textproto", {});
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

// Loss of the model on `batch`, and the routing it chose (to skip top-k flips).
double LossAndRouting(MoeTransformer& model, const Batch& batch,
                      std::vector<int32_t>* routing) {
  StepLosses losses;
  PhaseTimes times;
  EXPECT_TRUE(model.ForwardBackward(batch, false, &losses, &times).ok());
  routing->clear();
  for (moe::MoeLayer* layer : model.MoeLayers()) {
    const int32_t* idx = layer->router().topk_idx();
    routing->insert(routing->end(), idx,
                    idx + layer->router().num_tokens() * layer->options().routing.top_k);
  }
  return losses.total();
}

// Central differences on up to 6 entries of every parameter. Tolerance: 3e-3 abs +
// 3e-2 rel for eps = 2e-3 on an f32 forward (the loss is O(1), its f32 rounding is
// ~1e-7 relative, divided by 2 eps: ~1e-4; truncation is O(eps^2)).
TEST(ModelTest, BackwardMatchesFiniteDifferences) {
  const TrainConfig config = TinyConfig();
  ops::OpsContext ctx;
  parallel::SelfCommunicator comm;
  auto model_or = MoeTransformer::Create(config, &ctx, &comm);
  ASSERT_TRUE(model_or.ok()) << model_or.status().ToString();
  MoeTransformer& model = **model_or;
  auto data = MakeDataset(config);
  ASSERT_TRUE(data.ok());
  Batch batch;
  (*data)->TrainBatch(1, 0, 1, &batch);

  std::vector<Parameter*> params = model.ReplicatedParameters();
  for (Parameter* p : model.ExpertParameters()) params.push_back(p);
  ZeroGrad(params);
  StepLosses losses;
  PhaseTimes times;
  ASSERT_TRUE(model.ForwardBackward(batch, true, &losses, &times).ok());
  std::vector<std::vector<float>> grads;
  for (Parameter* p : params) {
    grads.emplace_back(p->grad.data<float>(), p->grad.data<float>() + p->grad.numel());
  }
  const float eps = 2e-3f;
  int checked = 0, skipped = 0;
  std::vector<int32_t> routing[2];  // at + eps, at - eps (the order of evaluation)
  for (size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    const int64_t n = p.value.numel();
    for (int64_t sample = 0; sample < std::min<int64_t>(6, n); ++sample) {
      const int64_t j = (sample * 7919) % n;
      int side = 0;
      const double numeric = CentralDifference(p.value.data<float>() + j, eps, [&] {
        return LossAndRouting(model, batch, &routing[side++]);
      });
      if (routing[0] != routing[1]) {
        ++skipped;
        continue;
      }
      EXPECT_NEAR(grads[i][static_cast<size_t>(j)], numeric,
                  3e-3 + 3e-2 * std::abs(numeric))
          << p.name << "[" << j << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
  EXPECT_LT(skipped, checked / 10);
}

TEST(OptimizerTest, WarmupThenCosineDecay) {
  OptimizerSection o = DefaultTrainConfig().optimizer;
  o.lr = 1.0f;
  o.min_lr_ratio = 0.1f;
  o.warmup_steps = 10;
  AdamWOptimizer optimizer(o, 111);
  EXPECT_FLOAT_EQ(optimizer.LearningRate(1), 0.1f);
  EXPECT_FLOAT_EQ(optimizer.LearningRate(10), 1.0f);
  EXPECT_FLOAT_EQ(optimizer.LearningRate(11), 1.0f);     // decay starts at the top
  EXPECT_NEAR(optimizer.LearningRate(61), 0.55f, 1e-6);  // half way: mean of max and min
  EXPECT_NEAR(optimizer.LearningRate(111), 0.1f, 1e-6);  // the last step: the minimum
  EXPECT_GT(optimizer.LearningRate(30), optimizer.LearningRate(31));
  EXPECT_FLOAT_EQ(optimizer.ClipScale(4.0), 0.25f * o.grad_clip);
  EXPECT_FLOAT_EQ(optimizer.ClipScale(0.5), 1.0f);
  o.grad_clip = 0.0f;
  EXPECT_FLOAT_EQ(AdamWOptimizer(o, 10).ClipScale(100.0), 1.0f);
}

TEST(OptimizerTest, DecaysMatricesButNotVectors) {
  OptimizerSection o = DefaultTrainConfig().optimizer;
  o.lr = 0.1f;
  o.warmup_steps = 0;
  o.weight_decay = 0.5f;
  o.min_lr_ratio = 1.0f;  // constant lr
  Parameter matrix("m", {2, 2}), vector("v", {4});
  for (Parameter* p : {&matrix, &vector}) {
    for (int i = 0; i < 4; ++i) p->value.data<float>()[i] = 1.0f;
    p->grad.SetZero();
  }
  AdamWOptimizer optimizer(o, 1);
  optimizer.Step(1, 1.0f, {&matrix, &vector});
  EXPECT_EQ(matrix.optimizer_steps, 1);
  // Zero gradients: only decay moves a parameter, by lr * weight_decay * p.
  EXPECT_FLOAT_EQ(matrix.value.data<float>()[0], 1.0f - 0.1f * 0.5f);
  EXPECT_FLOAT_EQ(vector.value.data<float>()[0], 1.0f);
}

TEST(TrainerTest, LossFallsOnSyntheticTasks) {
  TrainConfig config = TinyConfig();
  config.model.d_model = 32;
  config.model.moe.d_ffn = 64;
  config.data.global_batch_size = 16;
  config.run.steps = 60;
  config.optimizer.lr = 0.01f;
  config.optimizer.warmup_steps = 5;
  ops::OpsContext ctx;
  parallel::SelfCommunicator comm;
  auto trainer = Trainer::Create(config, &ctx, &comm);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  auto before = (*trainer)->Evaluate();
  ASSERT_TRUE(before.ok());
  StepRecord record;
  for (int s = 0; s < config.run.steps; ++s) ASSERT_TRUE((*trainer)->Step(&record).ok());
  auto after = (*trainer)->Evaluate();
  ASSERT_TRUE(after.ok());
  EXPECT_LT(*after, 0.8 * *before) << "eval loss " << *before << " -> " << *after;
  EXPECT_GT(record.grad_norm, 0.0);
}

}  // namespace
}  // namespace mpimoe::train
