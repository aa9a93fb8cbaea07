#!/usr/bin/env bash
# The command line of mpimoe-bench on a 2-rank job: --help of the program and of a
# subcommand exits 0 and lists the flags with their defaults; every usage error (unknown
# flag, bad number, bad choice, --top-k above --experts, missing or unknown subcommand)
# exits 2 with the problem named exactly once on stderr (only rank 0 prints) and nothing
# on stdout; `--flag=value` and `--flag value` both reach the benchmark, checked in the
# one JSON line of a tiny run; a failure while running (a missing config) exits 1.
# Usage: bench_cli_test.sh MPIEXEC MPIMOE_BENCH
set -u
mpiexec="$1"; bench="$2"
dir=$(mktemp -d /tmp/mpimoe-benchcli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
names=()
# At most this many 2-rank jobs at once: most of a job's time is mpirun starting and
# stopping (idle), so a few side by side keep the test short on 2 cores.
max_jobs=3

# run NAME ARGS...: runs the bench on 2 ranks; sets $code, output in $dir/NAME.{stdout,stderr}.
run() {
  local name="$1"; shift
  OMP_NUM_THREADS=1 timeout 120 "$mpiexec" -np 2 --oversubscribe "$bench" "$@" \
    >"$dir/$name.stdout" 2>"$dir/$name.stderr"
  code=$?
}

# check FUNCTION NAME ARGS...: runs `FUNCTION NAME ARGS...` in the background; its
# verdict (from report) goes to $dir/NAME.verdict, printed in order at the end.
check() {
  local name="$2"
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n; done
  "$@" >"$dir/$name.verdict" 2>&1 &
}

report() {  # report NAME PROBLEMS ("; "-separated)
  if [ -n "$2" ]; then
    echo "FAIL $1: ${2#; }"; sed 's/^/    /' "$dir/$1.stderr" | head -5
  else
    echo "ok   $1"
  fi
}

# expect_help NAME TEXT... -- ARGS...: exit 0, stdout has every TEXT, stderr empty.
expect_help() {
  local name="$1"; shift
  local texts=()
  while [ "$1" != "--" ]; do texts+=("$1"); shift; done
  shift
  run "$name" "$@"
  local problem=""
  [ "$code" -eq 0 ] || problem="exit code $code (want 0)"
  for text in "${texts[@]}"; do
    grep -qF -- "$text" "$dir/$name.stdout" || problem="$problem; stdout lacks '$text'"
  done
  [ -s "$dir/$name.stderr" ] && problem="$problem; stderr not empty"
  # Printed by rank 0 only: the usage line appears once.
  local usages
  usages=$(grep -c "^Usage: " "$dir/$name.stdout")
  [ "$usages" -eq 1 ] || problem="$problem; $usages usage lines (want 1)"
  report "$name" "$problem"
}

# expect_usage_error NAME TEXT -- ARGS...: exit 2, TEXT on exactly one stderr line,
# one "mpimoe-bench[ SUBCOMMAND]: " problem line, nothing on stdout.
expect_usage_error() {
  local name="$1" text="$2"; shift 3
  run "$name" "$@"
  local problem="" lines
  [ "$code" -eq 2 ] || problem="exit code $code (want 2)"
  lines=$(grep -cF -- "$text" "$dir/$name.stderr")
  [ "$lines" -eq 1 ] || problem="$problem; '$text' on $lines stderr lines (want 1)"
  lines=$(grep -cE "^mpimoe-bench( [a-z-]+)?: " "$dir/$name.stderr")
  [ "$lines" -eq 1 ] || problem="$problem; $lines 'mpimoe-bench:' lines (want 1)"
  [ -s "$dir/$name.stdout" ] && problem="$problem; stdout not empty"
  report "$name" "$problem"
}

# --help: the subcommands; <subcommand> --help: its flags with their defaults.
check expect_help help "gemm" "moe-layer" "alltoall" "train" "balancer" "checkpoint" -- --help
check expect_help help_word "moe-layer" "checkpoint" -- help
check expect_help moe_layer_help "--tokens INT:POSITIVE=2048" "--top-k INT:POSITIVE=2" \
  "--activation TEXT:{gelu,swiglu}=gelu" "--capacity-factor FLOAT:NON-NEGATIVE=0" \
  "--steps INT:POSITIVE=20" "--json" -- moe-layer --help
check expect_help balancer_help "--experts INT:POSITIVE=64" "--skew FLOAT:NON-NEGATIVE=1" \
  "--policy TEXT:{static,greedy_place,replicate,cost_aware}=cost_aware" \
  "--routes-per-rank INT:POSITIVE=16384" "--also" "(repeatable)" -- balancer --help
check expect_help train_help "CONFIG" "--set" "--steps INT:NON-NEGATIVE=0" -- train --help
# --help wins over a mistake made before it.
check expect_help help_after_mistake "--top-k" -- moe-layer --top-k 9 --help

check expect_usage_error unknown_flag "--frobnicate" -- alltoall --frobnicate
check expect_usage_error negative_threads "--threads: must be positive, got '-1'" -- \
  moe-layer --threads -1
check expect_usage_error text_threads "--threads: expected an integer, got 'abc'" -- \
  gemm --threads=abc
check expect_usage_error huge_threads "--threads: must be at most 2147483647" -- \
  gemm --threads 99999999999
check expect_usage_error nan_skew "--skew: expected a number, got 'nan'" -- \
  balancer --simulate 2 --skew nan
check expect_usage_error missing_value "--steps: " -- alltoall --steps
check expect_usage_error bad_choice "relu not in {gelu,swiglu}" -- moe-layer --activation relu
check expect_usage_error bad_also "foo not in {static,greedy_place,replicate,cost_aware}" -- \
  balancer --also foo
check expect_usage_error top_k "--top-k (9) must not exceed --experts (8)" -- \
  moe-layer --top-k 9
check expect_usage_error top_k_equals "--top-k (5) must not exceed --experts (4)" -- \
  alltoall --experts=4 --top-k=5
check expect_usage_error warmup_steps "--warmup must be below --steps" -- \
  balancer --simulate 2 --steps 10 --warmup 10
check expect_usage_error missing_config "CONFIG is required" -- train
check expect_usage_error missing_subcommand "a subcommand is required" --
check expect_usage_error unknown_subcommand "unknown subcommand 'frobnicate'" -- frobnicate
check expect_usage_error two_subcommands "not expected: moe-layer" -- gemm moe-layer

# --flag=value and --flag value reach the benchmark: a tiny balancer simulation (rank 0
# only, no MPI traffic) and a tiny all-to-all across the two ranks.
# expect_json NAME CHECK -- ARGS...: exit 0, one stdout line, JSON, and the jq filter
# CHECK is true for it.
expect_json() {
  local name="$1" check="$2"; shift 3
  run "$name" "$@"
  local problem=""
  [ "$code" -eq 0 ] || problem="exit code $code (want 0)"
  local lines
  lines=$(wc -l < "$dir/$name.stdout")
  [ "$lines" -eq 1 ] || problem="$problem; $lines stdout lines (want 1)"
  jq -e "$check" "$dir/$name.stdout" >"$dir/$name.check" 2>&1 ||
    problem="$problem; JSON check failed: $(tail -1 "$dir/$name.check"): $(head -c 300 "$dir/$name.stdout")"
  report "$name" "$problem"
}

check expect_json simulate_equals \
  '.bench == "balancer" and .mode == "simulate" and .ranks == 3 and .experts == 6 and .top_k == 3 and .steps == 12 and .warmup == 2 and .routes_per_rank == 96 and .skew == 1.5 and .seed == 7 and (.policies | keys_unsorted) == ["static", "greedy_place", "replicate", "cost_aware"] and .placement_bound >= 1.0' \
  -- balancer --simulate=3 --experts=6 --top-k=3 --steps=12 --warmup=2 \
  --routes-per-rank=96 --skew=1.5 --seed=7 --json
check expect_json simulate_spaced \
  '.ranks == 3 and .experts == 6 and .top_k == 3 and .steps == 12 and .warmup == 2 and .routes_per_rank == 96 and .skew == 1.5 and .seed == 7' \
  -- balancer --simulate 3 --experts 6 --top-k 3 --steps 12 --warmup 2 \
  --routes-per-rank 96 --skew 1.5 --seed 7 --json
# Without the flags the documented defaults apply.
check expect_json simulate_defaults \
  '.experts == 64 and .top_k == 2 and .skew == 1.0 and .slots == 1 and .replan_interval == 10 and .routes_per_rank == 16384' \
  -- balancer --simulate 2 --steps 3 --warmup 1 --json
check expect_json alltoall_mixed \
  '.bench == "alltoall" and .world_size == 2 and .tokens == 32 and .d_model == 8 and .experts == 4 and .top_k == 2 and .steps == 2 and .warmup == 1 and .bytes_per_rank == 32 * 2 * 8 * 4 and .ours_ms > 0 and .raw_ms > 0' \
  -- alltoall --tokens=32 --d-model 8 --experts=4 --top-k 2 --steps=2 --warmup 1 --json

# A failure while running is not a usage error: the job is aborted with exit 1.
expect_run_error() {
  run "$1" train "$dir/no-such.textproto"
  local problem=""
  [ "$code" -eq 1 ] || problem="exit code $code (want 1)"
  grep -qF "no-such.textproto" "$dir/$1.stderr" || problem="$problem; stderr lacks the file"
  report "$1" "$problem"
}
check expect_run_error run_error

wait
failures=0
for name in "${names[@]}"; do
  cat "$dir/$name.verdict"
  grep -q "^ok   $name\$" "$dir/$name.verdict" || failures=$((failures + 1))
done
echo "$((${#names[@]} - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
