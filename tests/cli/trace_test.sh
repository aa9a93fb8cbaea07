#!/usr/bin/env bash
# Timeline test: trains a tiny config (2 MoE layers and a dense one) for a few steps with
# --trace on 2 and 3 ranks and checks the merged trace.json with mpimoe-trace-check:
# valid JSON, one process per rank, every phase (and the communication events) present
# on every rank, and no overlapping events on a thread except by proper nesting. Also
# checks the --trace-steps window, phase_ms.balancer in metrics.jsonl, that no temp file
# is left behind, and that a bad --trace-steps is rejected with nothing written.
# Usage: trace_test.sh MPIEXEC MPIMOE_TRAIN MPIMOE_TRACE_CHECK CONFIG
set -u
mpiexec="$1"; train="$2"; check="$3"; config="$4"
out=$(mktemp -d /tmp/mpimoe-trace.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

phases=attention,router,dispatch,experts,combine,dense_ffn,embed_head,backward,grad_sync,optimizer,balancer
comm=step,alltoall,alltoallv,allreduce,allreduce_wait
sets=(--set model.num_layers=3 --set model.dense_layers=1 --set data.global_batch_size=12
      --set run.steps=5 --set run.log_every=1 --set run.eval_every=0)

for np in 2 3; do
  run="$out/np$np"
  OMP_NUM_THREADS=1 timeout 240 "$mpiexec" -np "$np" --oversubscribe "$train" "$config" \
    "${sets[@]}" --trace --trace-steps 3 --out "$run" > "$out/log$np" 2>&1
  code=$?
  [ "$code" -eq 0 ] || { cat "$out/log$np"; fail "np $np: mpimoe-train exited $code"; }
  [ -s "$run/trace.json" ] || fail "np $np: no trace.json"
  ls "$run" | grep -q '\.tmp\.' && fail "np $np: a temp file was left: $(ls "$run")"
  "$check" "$run/trace.json" "$np" "$comm" "$phases" || fail "np $np: trace.json check failed"
  # --trace-steps 3 keeps steps 3..5 only: 3 step events per rank.
  steps=$(grep -o '"name":"step"' "$run/trace.json" | wc -l)
  [ "$steps" -eq $((3 * np)) ] || fail "np $np: $steps step events, expected $((3 * np))"
  grep -q '"args":{"step":5}' "$run/trace.json" || fail "np $np: step 5 missing"
  grep -q '"args":{"step":2}' "$run/trace.json" && fail "np $np: step 2 was not dropped"
  grep -q '"balancer":' "$run/metrics.jsonl" || fail "np $np: no phase_ms.balancer"
done

# A checker that cannot fail proves nothing: a broken trace must be rejected.
printf '{"traceEvents":[{"name":"a","ph":"X","pid":0,"tid":0,"ts":0,"dur":5},' > "$out/bad.json"
printf '{"name":"b","ph":"X","pid":0,"tid":0,"ts":3,"dur":5}]}' >> "$out/bad.json"
"$check" "$out/bad.json" 1 > /dev/null && fail "the checker accepted overlapping events"

# Bad --trace-steps: exit 2, nothing written.
OMP_NUM_THREADS=1 timeout 120 "$mpiexec" -np 2 --oversubscribe "$train" "$config" \
  --trace --trace-steps -4 --out "$out/bad" > "$out/logbad" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "bad --trace-steps exited $code, expected 2"
grep -q -- "--trace-steps" "$out/logbad" || fail "the error does not name --trace-steps"
[ -e "$out/bad" ] && fail "bad --trace-steps left an output directory"
echo "PASS: merged traces at np 2 and 3"
