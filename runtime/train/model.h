// MoeTransformer: the GPT-style MoE language model that mpimoe trains.
//
//   x_0     = tok_emb[tokens] + pos_emb[positions]          [rows, d], rows = B * S
//   x_{l+1} = block_l(x_l)     (TransformerBlock: attention, then MoE or dense FFN)
//   logits  = layernorm_f(x_L) lm_head                        [rows, V]
//   loss    = mean cross-entropy over the targets that count (!= -1) in the *global*
//             batch + sum over MoE layers of (aux_loss_coef * aux + z_loss_coef *
//             z_loss)
// Each rank holds its slice of the global batch; the mean divides by the global count of
// counted targets (one small Allreduce), so the loss and, once replicated gradients are
// summed over ranks, every gradient equal those of one rank holding the whole batch.
//
// Parameters: replicated (embeddings, layernorms, attention, routers, dense FFNs, LM
// head: identical on every rank, gradients to be summed over ranks) and experts (each
// on its home rank, gradients complete locally). All are initialised from run.seed,
// independent of the world size and of where experts live.
//
// Ownership: owns blocks, parameters, the per-layer dispatchers and all activation
// workspaces; borrows the OpsContext and communicator, which must outlive it.
// Thread-safety: one host thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "ops/ops_context.h"
#include "parallel/communicator.h"
#include "runtime/core/parameter.h"
#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/trace.h"
#include "runtime/moe/expert_parallel_dispatcher.h"
#include "runtime/train/config.h"
#include "runtime/train/data.h"
#include "runtime/train/phase_times.h"
#include "runtime/train/transformer_block.h"

namespace mpimoe::train {

struct StepLosses {
  double cross_entropy = 0.0;  // mean over the global batch's counted targets
  double aux = 0.0;            // sum over MoE layers of the weighted auxiliary losses
  double total() const { return cross_entropy + aux; }
  int64_t counted_targets = 0;  // global
};

// The options of the model's MoE layers (seed and name are set per layer): the one
// conversion from a config's model section, also used by benchmarks so that they run
// the layer a config trains.
moe::MoeLayerOptions MoeLayerOptionsOf(const ModelSection& model);

class MoeTransformer {
 public:
  static StatusOr<std::unique_ptr<MoeTransformer>> Create(const TrainConfig& config,
                                                          ops::OpsContext* ctx,
                                                          parallel::Communicator* comm);

  // Forward on this rank's batch and the global loss; with `backward`, also the backward
  // (accumulating parameter gradients; zero them first). Collective.
  Status ForwardBackward(const Batch& batch, bool backward, StepLosses* losses,
                         PhaseTimes* times);

  // Records embed_head, every block's phases and backward (with the communication
  // nested in them) on `trace` (borrowed; null = off). Does not change the math.
  void SetTrace(TraceRecorder* trace);

  // Called during the backward with each group of replicated parameters whose gradients
  // are final: the final layernorm and LM head, then every block from the top, then the
  // embeddings (e.g. to start their all-reduce: GradSync::Ready). An error ends the
  // backward with it. Empty: nothing is called.
  using GradsReadyFn = std::function<Status(std::span<Parameter* const>)>;
  void SetGradsReady(GradsReadyFn fn) { grads_ready_ = std::move(fn); }

  std::vector<Parameter*> ReplicatedParameters();
  // The same parameters in the order SetGradsReady reports them.
  std::vector<Parameter*> ReplicatedParametersInBackwardOrder();
  std::vector<Parameter*> ExpertParameters();
  std::vector<moe::MoeLayer*> MoeLayers();

  // Matmul FLOPs of one training step (forward + backward) over the global batch.
  int64_t TrainFlopsPerStep() const;
  const TrainConfig& config() const { return config_; }

 private:
  MoeTransformer(const TrainConfig& config, ops::OpsContext* ctx,
                 parallel::Communicator* comm);

  TrainConfig config_;
  ops::OpsContext* ctx_;
  parallel::Communicator* comm_;
  Parameter tok_emb_, pos_emb_, lnf_gain_, lnf_bias_, lm_head_;
  std::vector<std::unique_ptr<moe::ExpertParallelDispatcher>> dispatchers_;
  std::vector<BlockOptions> block_options_;
  std::vector<std::unique_ptr<TransformerBlock>> blocks_;

  // Activations of the last forward.
  int64_t rows_ = 0;
  std::vector<Tensor> acts_;           // [num_layers + 1] residual stream, [rows, d] each
  Tensor positions_;                   // [rows] int32
  Tensor hf_, meanf_, rstdf_;          // final layernorm output [rows, d] and statistics
  Tensor logits_;                      // [rows, V], becomes dlogits in the backward
  Tensor token_losses_, lse_, dloss_;  // [rows]
  // Backward scratch.
  Tensor dhf_, dcur_, dnext_;      // [rows, d]
  std::vector<double> loss_sums_;  // [2] local cross-entropy sum and counted targets
  TraceRecorder* trace_ = nullptr;
  GradsReadyFn grads_ready_;
};

}  // namespace mpimoe::train
