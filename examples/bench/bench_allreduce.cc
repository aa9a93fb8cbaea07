// `mpimoe-bench allreduce`: the gradient all-reduce, flat against hierarchical.
//
// Every rank all-reduces (sums) a buffer of --mb megabytes of f32 in place, as GradSync
// does with a bucket: once with AllreduceAlgorithm::kFlat (one MPI all-reduce over every
// rank) and once with kHierarchical (reduce within the node, all-reduce across node
// leaders, broadcast back; parallel/hierarchical_allreduce.h). Both are checked first
// (small integers, so the sums are exact), then timed interleaved; a step's time is the
// slowest rank's. The report names the topology the job found (nodes, ranks per node)
// and the bandwidth a flat ring would need to match each time ("bus bandwidth":
// 2 (P-1)/P * bytes / time, as nccl-tests report it).
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include "examples/bench/bench_common_flags.h"
#include "examples/bench/bench_subcommands.h"
#include "examples/bench/bench_timing.h"
#include "parallel/collectives.h"
#include "runtime/core/json.h"
#include "runtime/core/timer.h"

namespace mpimoe::bench {
namespace {

struct AllreduceOptions {
  double mb = 2.0;
  int64_t steps = 20;
  int64_t warmup = 3;
  bool json = false;
};

// Fills `data` with this rank's values: small integers, so every sum is exact.
void Fill(std::vector<float>& data, int rank) {
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<float>((static_cast<int64_t>(i) + rank) % 7);
}

Status Check(const std::vector<float>& data, int ranks, const char* algorithm) {
  for (size_t i = 0; i < data.size(); ++i) {
    float expected = 0.f;
    for (int r = 0; r < ranks; ++r)
      expected += static_cast<float>((static_cast<int64_t>(i) + r) % 7);
    if (data[i] != expected) {
      return InternalError(std::string("allreduce (") + algorithm + "): element " +
                           std::to_string(i) + " is " + std::to_string(data[i]) +
                           ", expected " + std::to_string(expected));
    }
  }
  return Status::Ok();
}

class AllreduceSubcommand final : public Subcommand {
 public:
  void DeclareFlags(CLI::App* command) override {
    AllreduceOptions& o = options_;
    command->add_option("--mb", o.mb, "buffer size in MB (f32)")
        ->check(RealCheck(Sign::kPositive));
    command->add_option("--steps", o.steps, "timed steps N")
        ->check(IntegerCheck(Sign::kPositive));
    command->add_option("--warmup", o.warmup, "untimed warm-up steps W")
        ->check(IntegerCheck(Sign::kPositive));
    AddJsonFlag(command, &o.json);
  }

  Status Run(BenchContext& context) override {
    parallel::Communicator& world = *context.world;
    const parallel::CollectiveOptions saved = world.options();
    const int64_t count =
        std::max<int64_t>(1, static_cast<int64_t>(options_.mb * 1e6 / 4));
    std::vector<float> data(static_cast<size_t>(count));
    const parallel::AllreduceAlgorithm algorithms[2] = {
        parallel::AllreduceAlgorithm::kFlat, parallel::AllreduceAlgorithm::kHierarchical};
    const char* names[2] = {"flat", "hierarchical"};
    auto run = [&](int a) -> Status {
      world.set_options({.allreduce = algorithms[a]});
      return parallel::AllreduceInPlace(world, std::span<float>(data));
    };
    for (int a = 0; a < 2; ++a) {
      Fill(data, world.rank());
      MPIMOE_RETURN_IF_ERROR(run(a));
      MPIMOE_RETURN_IF_ERROR(Check(data, world.size(), names[a]));
    }
    std::vector<double> seconds[2];
    for (int64_t step = 0; step < options_.warmup + options_.steps; ++step) {
      for (int a = 0; a < 2; ++a) {
        MPIMOE_RETURN_IF_ERROR(parallel::Barrier(world));
        Stopwatch watch;
        MPIMOE_RETURN_IF_ERROR(run(a));
        MPIMOE_ASSIGN_OR_RETURN(const double s,
                                SlowestRank(world, watch.ElapsedSeconds()));
        if (step >= options_.warmup) seconds[a].push_back(s);
      }
    }
    world.set_options(saved);
    if (!context.is_root()) return Status::Ok();
    const parallel::Topology& topology = world.topology();
    const double bytes = static_cast<double>(count) * 4.0;
    const int p = world.size();
    const double ms[2] = {Median(seconds[0]) * 1e3, Median(seconds[1]) * 1e3};
    auto bus_gbps = [&](double m) {
      return 2.0 * (p - 1) / p * bytes / (m * 1e-3) * 8e-9;
    };
    if (options_.json) {
      const Json line = {{"bench", "allreduce"},
                         {"world_size", p},
                         {"nodes", topology.num_nodes},
                         {"max_ranks_per_node", topology.max_ranks_per_node()},
                         {"bytes", bytes},
                         {"steps", options_.steps},
                         {"flat_ms", ms[0]},
                         {"hierarchical_ms", ms[1]},
                         {"ratio", ms[1] / ms[0]},
                         {"flat_bus_gbps", bus_gbps(ms[0])},
                         {"hierarchical_bus_gbps", bus_gbps(ms[1])}};
      std::printf("%s\n", DumpJson(line).c_str());
      return Status::Ok();
    }
    std::printf(
        "allreduce: %d ranks on %d node(s) (at most %d per node), %.2f MB f32, median "
        "of %lld steps\n"
        "  flat          %9.3f ms  (%.2f Gbit/s bus)\n"
        "  hierarchical  %9.3f ms  (%.2f Gbit/s bus)\n"
        "  ratio hierarchical/flat %.3f\n",
        p, topology.num_nodes, topology.max_ranks_per_node(), bytes / 1e6,
        static_cast<long long>(options_.steps), ms[0], bus_gbps(ms[0]), ms[1],
        bus_gbps(ms[1]), ms[1] / ms[0]);
    return Status::Ok();
  }

 private:
  AllreduceOptions options_;
};

}  // namespace

std::unique_ptr<Subcommand> NewAllreduceSubcommand() {
  return std::make_unique<AllreduceSubcommand>();
}

}  // namespace mpimoe::bench
