#!/usr/bin/env bash
# Shaped links on the emulated cluster, seen by mpimoe: 2 hosts x 1 rank with each
# host's link shaped to 200 Mbit/s (tc tbf). mpimoe-train measures the inter-node
# bandwidth at start-up for its balancer; it must print it and record it in
# summary.json, and the value must be that of the shaped link (25 MB/s, accepted
# between half and twice that: an unshaped veth moves over 1 GB/s), while a run with
# balancer.cost_inter_node_gbps set uses the setting instead of measuring.
# Skips (exit 77) where the test bed cannot be made (not root, no network namespaces).
# Usage: links_test.sh MPIEXEC MPIMOE_TRAIN CONFIG TESTBED
set -u
mpiexec="$1"; train="$2"; config="$3"; testbed="$4"
"$testbed" check || exit 77
"$testbed" prune  # test beds left by tests that were killed
export TESTBED_OWNER=$$
out=$(mktemp -d /tmp/mpimoe-cluster-links.XXXXXX)
name="mpimoe-tl$$"
trap '"$testbed" down "$name"; rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1
"$testbed" up "$name" --hosts 2 --slots 1 --rate 200mbit || fail "cannot make the test bed"
run() { timeout 90 "$testbed" exec "$name" -- "$mpiexec" -np 2 "$train" "$config" \
  --set run.steps=3 "$@"; }

run --out "$out/measured" > "$out/measured.log" 2>&1 ||
  fail "the run exited $?: $(tail -5 "$out/measured.log")"
line=$(grep "links across nodes:" "$out/measured.log") || fail "no inter-node bandwidth printed"
echo "$line"
gbps=$(jq .inter_node_gbps "$out/measured/summary.json")
awk -v g="$gbps" 'BEGIN { exit !(g >= 0.0125 && g <= 0.05) }' ||
  fail "measured $gbps GB/s on a 200 Mbit/s (0.025 GB/s) link"
echo "ok: measured $gbps GB/s on a 200 Mbit/s link"

run --set balancer.cost_inter_node_gbps=3 --out "$out/set" > "$out/set.log" 2>&1 ||
  fail "the run with a set bandwidth exited $?: $(tail -5 "$out/set.log")"
grep -q "links across nodes: 3 GB/s (balancer.cost_inter_node_gbps)" "$out/set.log" ||
  fail "the set bandwidth is not used: $(grep links "$out/set.log")"
[ "$(jq .inter_node_gbps "$out/set/summary.json")" = 3 ] || fail "summary.json does not say 3"
echo "PASS"
