#!/usr/bin/env bash
# CI smoke test: trains configs/smoke.textproto on 4 ranks with the real mpirun and
# mpimoe-train, then checks that the run finished, summary.json is complete and the
# loss fell. Usage: smoke_test.sh MPIEXEC MPIMOE_TRAIN CONFIG
set -u
mpiexec="$1"; train="$2"; config="$3"
out=$(mktemp -d /tmp/mpimoe-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

start=$(date +%s)
OMP_NUM_THREADS=1 timeout 300 "$mpiexec" -np 4 --oversubscribe "$train" "$config" --out "$out/run"
code=$?
echo "smoke: mpimoe-train exited $code after $(( $(date +%s) - start ))s"
[ "$code" -eq 0 ] || fail "mpimoe-train exited $code"
summary="$out/run/summary.json"
[ -s "$summary" ] || fail "no summary.json"
for key in final_loss final_eval_loss first_loss tokens_per_s world_size steps peak_rss_mb wall_s; do
  grep -q "\"$key\":" "$summary" || fail "summary.json has no $key: $(cat "$summary")"
done
value() { grep -o "\"$1\":[-0-9.eE+]*" "$summary" | head -1 | cut -d: -f2; }
[ "$(value world_size)" = "4" ] || fail "world_size is $(value world_size), not 4"
first=$(value first_loss); last=$(value final_loss)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.9 * a) }' ||
  fail "the loss did not fall: $first -> $last"
[ -s "$out/run/config.textproto" ] || fail "no config.textproto"
lines=$(wc -l < "$out/run/metrics.jsonl")
[ "$lines" -ge 2 ] || fail "metrics.jsonl has $lines lines"
grep -q '"phase_ms":{' "$out/run/metrics.jsonl" || fail "metrics.jsonl has no phase_ms"
grep -q '"rank_imbalance":' "$out/run/metrics.jsonl" || fail "metrics.jsonl has no rank_imbalance"
# Time blocked in communication: present, positive on 4 ranks, never above the step.
jq -e -s 'all(.[]; .comm_wait_ms > 0 and .comm_wait_ms <= .step_ms
                   and .phase_ms.comm_wait == .comm_wait_ms)' "$out/run/metrics.jsonl" \
  > /dev/null || fail "comm_wait_ms missing or outside (0, step_ms]: $(head -c 600 "$out/run/metrics.jsonl")"
echo "PASS: loss $first -> $last, $lines metrics records"
