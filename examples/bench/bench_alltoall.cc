// `mpimoe-bench alltoall`: what the MoE layer's token exchange costs over a raw
// all-to-all of the same bytes.
//
// Every rank routes T tokens to k distinct experts drawn uniformly from E (seeded per
// rank), lays the T*k rows out by bucket as the layer does, and then, per step:
//   ours: ExpertParallelDispatcher Prepare (count exchange) + ToExperts (rows placed by
//         (rank, slot) block) + FromExperts (the reverse) — a layer's dispatch + combine;
//   raw:  two Alltoallv calls moving the same byte matrix there and back, with the
//         counts known in advance (no count exchange, no regrouping).
// Both are checked first (rows come back exactly), then timed interleaved; a step's time
// is the slowest rank's. bytes_per_rank is the mean over ranks of the bytes one rank
// sends in one direction (its own block included); remote_bytes_per_rank excludes it.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_timing.h"
#include "ops/permute.h"
#include "parallel/collectives.h"
#include "parallel/plan.h"
#include "runtime/core/json.h"
#include "runtime/core/process_stats.h"
#include "runtime/core/random.h"
#include "runtime/core/tensor.h"
#include "runtime/core/timer.h"
#include "runtime/moe/expert_parallel_dispatcher.h"

namespace mpimoe::bench {
namespace {

struct AlltoallOptions {
  int64_t tokens = 2048;
  int64_t d_model = 512;
  int64_t experts = 8;
  int64_t top_k = 2;
  int64_t steps = 20;
  int64_t warmup = 3;
  std::string algorithm = "auto";  // across nodes: auto | direct | hierarchical
  bool json = false;
};

// Bucket of each of this rank's T*k routes: k distinct experts per token drawn uniformly
// from E (seeded per rank), each mapped to its home's bucket.
std::vector<int32_t> UniformRouteBuckets(const AlltoallOptions& o,
                                         const std::vector<int32_t>& expert_bucket,
                                         int rank) {
  Rng rng(MixSeed(7, {static_cast<uint64_t>(rank)}));
  std::vector<int32_t> bucket_of_route(static_cast<size_t>(o.tokens * o.top_k));
  for (int64_t t = 0; t < o.tokens; ++t) {
    for (int64_t j = 0; j < o.top_k; ++j) {
      int32_t e;
      bool repeated;
      do {
        e = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(o.experts)));
        repeated = false;
        for (int64_t i = 0; i < j; ++i) {
          repeated = repeated || bucket_of_route[static_cast<size_t>(t * o.top_k + i)] ==
                                     expert_bucket[static_cast<size_t>(e)];
        }
      } while (repeated);
      bucket_of_route[static_cast<size_t>(t * o.top_k + j)] =
          expert_bucket[static_cast<size_t>(e)];
    }
  }
  return bucket_of_route;
}

// The rows of one rank laid out by bucket as the layer does, and the two ways of
// sending them to their experts' ranks and back.
class AlltoallRig {
 public:
  static StatusOr<std::unique_ptr<AlltoallRig>> Create(const AlltoallOptions& o,
                                                       parallel::Communicator* world) {
    std::unique_ptr<AlltoallRig> rig(new AlltoallRig(o, world));
    MPIMOE_ASSIGN_OR_RETURN(
        rig->dispatcher_,
        moe::ExpertParallelDispatcher::Create(
            world, parallel::StaticPlan(static_cast<int32_t>(o.experts), world->size())));
    MPIMOE_RETURN_IF_ERROR(rig->LayOutRows(o));
    return rig;
  }

  // Ours: count exchange, rows placed by (rank, slot) block, and the reverse.
  Status Ours() {
    MPIMOE_RETURN_IF_ERROR(dispatcher_->Prepare(offsets_.data(), &handle_));
    MPIMOE_RETURN_IF_ERROR(
        dispatcher_->ToExperts(handle_, send_.data<float>(), recv_.data<float>(), d_));
    return dispatcher_->FromExperts(handle_, recv_.data<float>(), back_.data<float>(),
                                    d_);
  }
  // Raw: the same per-rank element counts, straight through the communicator, there
  // and back.
  Status Raw() {
    MPIMOE_RETURN_IF_ERROR(world_->Alltoallv(send_.data<float>(), send_counts_.data(),
                                             send_displs_.data(), raw_recv_.data<float>(),
                                             recv_counts_.data(), recv_displs_.data(),
                                             parallel::CollDType::kFloat32));
    return world_->Alltoallv(raw_recv_.data<float>(), recv_counts_.data(),
                             recv_displs_.data(), back_.data<float>(),
                             send_counts_.data(), send_displs_.data(),
                             parallel::CollDType::kFloat32);
  }
  // InternalError unless the rows came back unchanged; then clears them.
  Status CheckBack(const char* what) {
    for (int64_t i = 0; i < send_.numel(); ++i) {
      if (back_.data<float>()[i] != send_.data<float>()[i]) {
        return InternalError(std::string(what) + ": rows did not come back unchanged");
      }
    }
    back_.SetZero();
    return Status::Ok();
  }

  // Bytes this rank sends in one direction, all and to other ranks only.
  double send_bytes() const { return static_cast<double>(num_rows_ * d_ * 4); }
  double remote_send_bytes() const {
    const int64_t own_rows = handle_.send_rank_rows[static_cast<size_t>(world_->rank())];
    return static_cast<double>((num_rows_ - own_rows) * d_ * 4);
  }

 private:
  AlltoallRig(const AlltoallOptions& o, parallel::Communicator* world)
      : world_(world), d_(o.d_model) {}

  Status LayOutRows(const AlltoallOptions& o) {
    const std::vector<int32_t> bucket_of_route =
        UniformRouteBuckets(o, dispatcher_->expert_buckets(), world_->rank());
    const int64_t num_routes = o.tokens * o.top_k;
    offsets_.resize(static_cast<size_t>(dispatcher_->num_buckets()) + 1);
    std::vector<int32_t> row_route(static_cast<size_t>(num_routes));
    std::vector<int32_t> route_row(static_cast<size_t>(num_routes));
    num_rows_ = ops::BuildBucketLayout(bucket_of_route.data(), num_routes,
                                       dispatcher_->num_buckets(), offsets_.data(),
                                       row_route.data(), route_row.data());
    send_ = Tensor(DType::kF32, {num_rows_, d_});
    for (int64_t i = 0; i < send_.numel(); ++i) {
      send_.data<float>()[i] = static_cast<float>(world_->rank() * 1000003 + i % 999983);
    }
    MPIMOE_RETURN_IF_ERROR(dispatcher_->Prepare(offsets_.data(), &handle_));
    recv_ = Tensor(DType::kF32, {handle_.num_recv_rows, d_});
    back_ = Tensor(DType::kF32, {num_rows_, d_});
    raw_recv_ = Tensor(DType::kF32, {handle_.num_recv_rows, d_});
    const size_t ranks = static_cast<size_t>(world_->size());
    send_counts_.resize(ranks);
    send_displs_.resize(ranks);
    recv_counts_.resize(ranks);
    recv_displs_.resize(ranks);
    int64_t send_at = 0, recv_at = 0;
    for (size_t r = 0; r < ranks; ++r) {
      send_counts_[r] = handle_.send_rank_rows[r] * d_;
      send_displs_[r] = send_at;
      send_at += send_counts_[r];
      recv_counts_[r] = handle_.recv_rank_rows[r] * d_;
      recv_displs_[r] = recv_at;
      recv_at += recv_counts_[r];
    }
    return Status::Ok();
  }

  parallel::Communicator* world_;
  int64_t d_;
  std::unique_ptr<moe::ExpertParallelDispatcher> dispatcher_;
  std::vector<int64_t> offsets_;  // [num_buckets + 1] rows per bucket, prefix sums
  int64_t num_rows_ = 0;
  moe::DispatchHandle handle_;
  Tensor send_, recv_, back_, raw_recv_;
  // In f32 elements, per rank.
  std::vector<int64_t> send_counts_, send_displs_, recv_counts_, recv_displs_;
};

struct AlltoallTimes {
  double ours_ms = 0.0;  // medians, slowest rank
  double raw_ms = 0.0;
};

// Correctness before timing; then warm-up and timed steps, ours and raw interleaved.
StatusOr<AlltoallTimes> CheckAndTime(AlltoallRig& rig, const AlltoallOptions& o,
                                     parallel::Communicator& world) {
  MPIMOE_RETURN_IF_ERROR(rig.Ours());
  MPIMOE_RETURN_IF_ERROR(rig.CheckBack("dispatch + combine"));
  MPIMOE_RETURN_IF_ERROR(rig.Raw());
  MPIMOE_RETURN_IF_ERROR(rig.CheckBack("raw all-to-all"));
  // A step's time: ranks start together, the slowest one decides.
  auto timed = [&](auto fn, double* seconds) -> Status {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(fn());
    MPIMOE_ASSIGN_OR_RETURN(*seconds, SlowestRank(world, watch.ElapsedSeconds()));
    return Status::Ok();
  };
  std::vector<double> ours_s, raw_s;
  double seconds = 0.0;
  for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(timed([&] { return rig.Ours(); }, &seconds));
    if (step >= o.warmup) ours_s.push_back(seconds);
    MPIMOE_RETURN_IF_ERROR(timed([&] { return rig.Raw(); }, &seconds));
    if (step >= o.warmup) raw_s.push_back(seconds);
  }
  return AlltoallTimes{Median(ours_s) * 1e3, Median(raw_s) * 1e3};
}

void PrintReport(const AlltoallOptions& o, const AlltoallTimes& t, int ranks,
                 double bytes_per_rank, double remote_bytes_per_rank) {
  if (o.json) {
    const Json line = {{"bench", "alltoall"},
                       {"world_size", ranks},
                       {"algorithm", o.algorithm},
                       {"tokens", o.tokens},
                       {"d_model", o.d_model},
                       {"experts", o.experts},
                       {"top_k", o.top_k},
                       {"steps", o.steps},
                       {"warmup", o.warmup},
                       {"ours_ms", t.ours_ms},
                       {"raw_ms", t.raw_ms},
                       {"ratio", t.ours_ms / t.raw_ms},
                       {"bytes_per_rank", bytes_per_rank},
                       {"remote_bytes_per_rank", remote_bytes_per_rank}};
    std::printf("%s\n", DumpJson(line).c_str());
    return;
  }
  std::printf(
      "alltoall: %d ranks, T=%lld/rank d=%lld E=%lld k=%lld, median of %lld steps\n"
      "  ours (count exchange + dispatch + combine) %9.3f ms\n"
      "  raw  (two Alltoallv of the same bytes)     %9.3f ms\n"
      "  ratio ours/raw %.3f; %.1f MB sent per rank per direction (%.1f MB remote)\n",
      ranks, static_cast<long long>(o.tokens), static_cast<long long>(o.d_model),
      static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
      static_cast<long long>(o.steps), t.ours_ms, t.raw_ms, t.ours_ms / t.raw_ms,
      bytes_per_rank / 1e6, remote_bytes_per_rank / 1e6);
}

class AlltoallSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    AlltoallOptions& o = options_;
    const CLI::Validator positive = IntegerCheck(Sign::kPositive);
    command->add_option("--tokens", o.tokens, "tokens T per rank")->check(positive);
    command->add_option("--d-model", o.d_model, "row width d (f32 elements)")
        ->check(positive);
    command->add_option("--experts", o.experts, "number of experts E")->check(positive);
    command->add_option("--top-k", o.top_k, "experts per token k (<= E)")
        ->check(positive);
    command->add_option("--steps", o.steps, "timed steps N")->check(positive);
    command->add_option("--warmup", o.warmup, "untimed warm-up steps W")->check(positive);
    command
        ->add_option("--algorithm", o.algorithm,
                     "exchange across nodes (parallel.a2a_algorithm): auto, direct or "
                     "hierarchical")
        ->check(CLI::IsMember({"auto", "direct", "hierarchical"}));
    AddJsonFlag(command, &o.json);
  }

  Status Validate() const override {
    return ValidateTopK(options_.top_k, options_.experts);
  }

  Status Run(BenchContext& context) override {
    parallel::Communicator& world = *context.world;
    parallel::CollectiveOptions collectives = world.options();
    collectives.alltoall = options_.algorithm == "direct"
                               ? parallel::AlltoallAlgorithm::kDirect
                           : options_.algorithm == "hierarchical"
                               ? parallel::AlltoallAlgorithm::kHierarchical
                               : parallel::AlltoallAlgorithm::kAuto;
    world.set_options(collectives);
    MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<AlltoallRig> rig,
                            AlltoallRig::Create(options_, &world));
    MPIMOE_ASSIGN_OR_RETURN(const AlltoallTimes times,
                            CheckAndTime(*rig, options_, world));
    // Means over ranks.
    double bytes[2] = {rig->send_bytes(), rig->remote_send_bytes()};
    MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(bytes)));
    if (context.is_root()) {
      PrintReport(options_, times, world.size(), bytes[0] / world.size(),
                  bytes[1] / world.size());
    }
    return Status::Ok();
  }

 private:
  AlltoallOptions options_;
};

}  // namespace

std::unique_ptr<Subcommand> NewAlltoallSubcommand() {
  return std::make_unique<AlltoallSubcommand>();
}

}  // namespace mpimoe::bench
