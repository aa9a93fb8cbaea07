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

#include "examples/bench/bench_subcommands.h"
#include "ops/permute.h"
#include "parallel/collectives.h"
#include "parallel/plan.h"
#include "runtime/core/json_line.h"
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
  bool json = false;
};

class AlltoallSubcommand final : public Subcommand {
 public:
  void DeclareFlags(FlagSet* flags) override {
    AlltoallOptions& o = options_;
    flags->AddInt("tokens", &o.tokens, "tokens T per rank");
    flags->AddInt("d-model", &o.d_model, "row width d (f32 elements)");
    flags->AddInt("experts", &o.experts, "number of experts E");
    flags->AddInt("top-k", &o.top_k, "experts per token k (<= E)");
    flags->AddInt("steps", &o.steps, "timed steps N");
    flags->AddInt("warmup", &o.warmup, "untimed warm-up steps W");
    flags->AddBool("json", &o.json, "print one JSON line instead of a summary");
  }

  Status Validate() const override {
    return ValidateTopK(options_.top_k, options_.experts);
  }

  Status Run(BenchContext& context) override;

 private:
  AlltoallOptions options_;
};

Status AlltoallSubcommand::Run(BenchContext& context) {
  const AlltoallOptions& o = options_;
  parallel::Communicator& world = *context.world;
  const int ranks = world.size();
  const int me = world.rank();
  const int64_t d = o.d_model;
  const parallel::Plan plan =
      parallel::StaticPlan(static_cast<int32_t>(o.experts), ranks);
  MPIMOE_ASSIGN_OR_RETURN(std::unique_ptr<moe::ExpertParallelDispatcher> dispatcher,
                          moe::ExpertParallelDispatcher::Create(&world, plan));

  // Routing: k distinct uniform experts per token, then the layer's bucket layout.
  const int64_t num_routes = o.tokens * o.top_k;
  Rng rng(MixSeed(7, {static_cast<uint64_t>(me)}));
  std::vector<int32_t> bucket_of_route(static_cast<size_t>(num_routes));
  const std::vector<int32_t>& expert_bucket = dispatcher->expert_buckets();
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
  std::vector<int64_t> offsets(static_cast<size_t>(dispatcher->num_buckets()) + 1);
  std::vector<int32_t> row_route(static_cast<size_t>(num_routes));
  std::vector<int32_t> route_row(static_cast<size_t>(num_routes));
  const int64_t num_rows = ops::BuildBucketLayout(
      bucket_of_route.data(), num_routes, dispatcher->num_buckets(), offsets.data(),
      row_route.data(), route_row.data());

  Tensor send(DType::kF32, {num_rows, d});
  for (int64_t i = 0; i < send.numel(); ++i) {
    send.data<float>()[i] = static_cast<float>(me * 1000003 + i % 999983);
  }
  moe::DispatchHandle handle;
  MPIMOE_RETURN_IF_ERROR(dispatcher->Prepare(offsets.data(), &handle));
  Tensor recv(DType::kF32, {handle.num_recv_rows, d});
  Tensor back(DType::kF32, {num_rows, d});
  Tensor raw_recv(DType::kF32, {handle.num_recv_rows, d});

  // Raw: the same per-rank element counts, straight through the communicator.
  std::vector<int64_t> sc(static_cast<size_t>(ranks)), sd(sc.size()), rc(sc.size()),
      rd(sc.size());
  int64_t send_at = 0, recv_at = 0;
  for (int r = 0; r < ranks; ++r) {
    const size_t ru = static_cast<size_t>(r);
    sc[ru] = handle.send_rank_rows[ru] * d;
    sd[ru] = send_at;
    send_at += sc[ru];
    rc[ru] = handle.recv_rank_rows[ru] * d;
    rd[ru] = recv_at;
    recv_at += rc[ru];
  }
  auto ours = [&]() -> Status {
    MPIMOE_RETURN_IF_ERROR(dispatcher->Prepare(offsets.data(), &handle));
    MPIMOE_RETURN_IF_ERROR(
        dispatcher->ToExperts(handle, send.data<float>(), recv.data<float>(), d));
    return dispatcher->FromExperts(handle, recv.data<float>(), back.data<float>(), d);
  };
  auto raw = [&]() -> Status {
    MPIMOE_RETURN_IF_ERROR(world.Alltoallv(send.data<float>(), sc.data(), sd.data(),
                                           raw_recv.data<float>(), rc.data(), rd.data(),
                                           parallel::CollDType::kFloat32));
    return world.Alltoallv(raw_recv.data<float>(), rc.data(), rd.data(),
                           back.data<float>(), sc.data(), sd.data(),
                           parallel::CollDType::kFloat32);
  };
  auto check_back = [&](const char* what) -> Status {
    for (int64_t i = 0; i < send.numel(); ++i) {
      if (back.data<float>()[i] != send.data<float>()[i]) {
        return InternalError(std::string(what) + ": rows did not come back unchanged");
      }
    }
    back.SetZero();
    return Status::Ok();
  };
  // Correctness before timing.
  MPIMOE_RETURN_IF_ERROR(ours());
  MPIMOE_RETURN_IF_ERROR(check_back("dispatch + combine"));
  MPIMOE_RETURN_IF_ERROR(raw());
  MPIMOE_RETURN_IF_ERROR(check_back("raw all-to-all"));

  auto timed = [&](auto& fn, double* seconds) -> Status {
    MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
    Stopwatch watch;
    MPIMOE_RETURN_IF_ERROR(fn());
    *seconds = watch.ElapsedSeconds();
    return parallel::AllreduceInPlace(world, std::span<double>(seconds, 1),
                                      {parallel::ReduceOp::kMax});
  };
  std::vector<double> ours_s, raw_s;
  double seconds = 0.0;
  for (int64_t step = 0; step < o.warmup + o.steps; ++step) {
    MPIMOE_RETURN_IF_ERROR(timed(ours, &seconds));
    if (step >= o.warmup) ours_s.push_back(seconds);
    MPIMOE_RETURN_IF_ERROR(timed(raw, &seconds));
    if (step >= o.warmup) raw_s.push_back(seconds);
  }

  double bytes[2] = {
      static_cast<double>(num_rows * d * 4),
      static_cast<double>((num_rows - handle.send_rank_rows[static_cast<size_t>(me)]) *
                          d * 4)};
  MPIMOE_RETURN_IF_ERROR(parallel::AllreduceInPlace(world, std::span<double>(bytes)));
  const double bytes_per_rank = bytes[0] / ranks;
  const double remote_bytes_per_rank = bytes[1] / ranks;
  const double ours_ms = Median(ours_s) * 1e3;
  const double raw_ms = Median(raw_s) * 1e3;
  if (!context.is_root()) return Status::Ok();
  if (o.json) {
    JsonLine line;
    line.AddString("bench", "alltoall")
        .AddInt("world_size", ranks)
        .AddInt("tokens", o.tokens)
        .AddInt("d_model", o.d_model)
        .AddInt("experts", o.experts)
        .AddInt("top_k", o.top_k)
        .AddInt("steps", o.steps)
        .AddInt("warmup", o.warmup)
        .AddDouble("ours_ms", ours_ms)
        .AddDouble("raw_ms", raw_ms)
        .AddDouble("ratio", ours_ms / raw_ms)
        .AddDouble("bytes_per_rank", bytes_per_rank)
        .AddDouble("remote_bytes_per_rank", remote_bytes_per_rank);
    std::printf("%s\n", line.str().c_str());
  } else {
    std::printf(
        "alltoall: %d ranks, T=%lld/rank d=%lld E=%lld k=%lld, median of %lld steps\n"
        "  ours (count exchange + dispatch + combine) %9.3f ms\n"
        "  raw  (two Alltoallv of the same bytes)     %9.3f ms\n"
        "  ratio ours/raw %.3f; %.1f MB sent per rank per direction (%.1f MB remote)\n",
        ranks, static_cast<long long>(o.tokens), static_cast<long long>(d),
        static_cast<long long>(o.experts), static_cast<long long>(o.top_k),
        static_cast<long long>(o.steps), ours_ms, raw_ms, ours_ms / raw_ms,
        bytes_per_rank / 1e6, remote_bytes_per_rank / 1e6);
  }
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Subcommand> NewAlltoallSubcommand() {
  return std::make_unique<AlltoallSubcommand>();
}

}  // namespace mpimoe::bench
