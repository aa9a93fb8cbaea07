#!/usr/bin/env bash
# Training across emulated hosts (scripts/cluster/testbed.sh: network namespaces, TCP
# between them, shared memory within each):
#   1. 2 hosts x 2 ranks train configs/smoke.textproto for 30 steps, saving a checkpoint
#      at step 20; every step's loss matches the same job on one host with 4 ranks
#      (1e-5 relative);
#   2. the step-20 checkpoint resumes on one host, and steps 21-30 match again.
# Skips (exit 77) where the test bed cannot be made (not root, no network namespaces).
# Usage: train_test.sh MPIEXEC MPIMOE_TRAIN CONFIG TESTBED
set -u
mpiexec="$1"; train="$2"; config="$3"; testbed="$4"
"$testbed" check || exit 77
"$testbed" prune  # test beds left by tests that were killed
export TESTBED_OWNER=$$
out=$(mktemp -d /tmp/mpimoe-cluster.XXXXXX)
name="mpimoe-tt$$"
trap '"$testbed" down "$name"; rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1
flags=(--set run.log_every=1 --set run.eval_every=0)

# Largest relative difference of "loss" between two metrics.jsonl files over the steps
# both have; prints "none" when they share no step.
max_rel_diff() {
  jq -n --slurpfile a "$1" --slurpfile b "$2" -r '
    ($b | map({key: (.step | tostring), value: .loss}) | from_entries) as $ref
    | [$a[] | select($ref[.step | tostring] != null)
      | ((.loss - $ref[.step | tostring]) | fabs) / ($ref[.step | tostring] | fabs)]
    | if length == 0 then "none" else "\(max) \(length)" end'
}

timeout 90 "$mpiexec" -np 4 --oversubscribe "$train" "$config" "${flags[@]}" \
  --set run.steps=30 --out "$out/one_host" > "$out/one_host.log" 2>&1 ||
  fail "the 1-host run exited $?: $(tail -5 "$out/one_host.log")"

"$testbed" up "$name" --hosts 2 --slots 2 || fail "cannot make the test bed"
timeout 90 "$testbed" exec "$name" -- "$mpiexec" -np 4 "$train" "$config" "${flags[@]}" \
  --set run.steps=30 --set run.checkpoint_every=20 --out "$out/two_hosts" \
  > "$out/two_hosts.log" 2>&1 || fail "the 2-host run exited $?: $(tail -5 "$out/two_hosts.log")"
# The ranks found their nodes: 2, one per emulated host.
grep -q "on 4 rank(s), 2 node(s)" "$out/two_hosts.log" ||
  fail "the job did not see 2 nodes: $(head -1 "$out/two_hosts.log")"
[ "$(jq .nodes "$out/two_hosts/summary.json")" = 2 ] || fail "summary.json does not say 2 nodes"
read -r diff n <<< "$(max_rel_diff "$out/two_hosts/metrics.jsonl" "$out/one_host/metrics.jsonl")"
[ "$diff" != none ] && [ "$n" -eq 30 ] || fail "the 2-host run logged $n of 30 steps"
awk -v d="$diff" 'BEGIN { exit !(d <= 1e-5) }' || fail "2 hosts vs 1 host: losses differ by $diff (> 1e-5)"
echo "ok: 2 hosts x 2 ranks match 1 host x 4 ranks over $n steps (max relative difference $diff)"

ckpt="$out/two_hosts/checkpoints/step-20"
[ -f "$ckpt/manifest.textproto" ] || fail "no checkpoint step-20"
rm "$out/two_hosts/metrics.jsonl"  # the resumed run must write steps 21-30 itself
timeout 90 "$mpiexec" -np 4 --oversubscribe "$train" "$config" "${flags[@]}" \
  --set run.steps=30 --out "$out/two_hosts" --resume "$ckpt" > "$out/resume.log" 2>&1 ||
  fail "resuming on 1 host exited $?: $(tail -5 "$out/resume.log")"
grep -q "resumed from .*step-20" "$out/resume.log" || fail "did not resume from step-20: $(tail -3 "$out/resume.log")"
read -r diff n <<< "$(max_rel_diff "$out/two_hosts/metrics.jsonl" "$out/one_host/metrics.jsonl")"
[ "$diff" != none ] && [ "$n" -eq 10 ] || fail "the resumed run logged $n of steps 21-30"
awk -v d="$diff" 'BEGIN { exit !(d <= 1e-5) }' || fail "resumed vs straight: losses differ by $diff (> 1e-5)"
echo "ok: saved on 2 hosts, resumed on 1: steps 21-30 match the straight run (max relative difference $diff)"
echo PASS
