#!/usr/bin/env bash
# A rank killed with SIGKILL on the second of two emulated hosts (scripts/cluster/
# testbed.sh) must end the whole job within 30 s, with a non-zero exit, and leave no
# process behind on either host (no rank, no Open MPI daemon).
# Skips (exit 77) where the test bed cannot be made (not root, no network namespaces).
# Usage: kill_test.sh MPIEXEC MPIMOE_TRAIN CONFIG TESTBED
set -u
mpiexec="$1"; train="$2"; config="$3"; testbed="$4"
"$testbed" check || exit 77
"$testbed" prune  # test beds left by tests that were killed
export TESTBED_OWNER=$$
out=$(mktemp -d /tmp/mpimoe-cluster-kill.XXXXXX)
name="mpimoe-tk$$"
launcher=""
cleanup() {
  [ -z "$launcher" ] || kill -9 "$launcher" 2> /dev/null
  "$testbed" down "$name"
  rm -rf "$out"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1

"$testbed" up "$name" --hosts 2 --slots 2 || fail "cannot make the test bed"
"$testbed" exec "$name" -- "$mpiexec" -np 4 "$train" "$config" --set run.steps=100000 \
  --set run.log_every=1 --out "$out/run" > "$out/run.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  [ -f "$out/run/metrics.jsonl" ] && [ "$(wc -l < "$out/run/metrics.jsonl")" -ge 5 ] && break
  kill -0 "$launcher" 2> /dev/null || fail "the job ended early: $(tail -5 "$out/run.log")"
  sleep 0.1
done
[ "$(wc -l < "$out/run/metrics.jsonl" 2> /dev/null || echo 0)" -ge 5 ] ||
  fail "no 5 training steps within 60 s: $(tail -5 "$out/run.log")"
# The ranks on the second host: processes of that namespace running mpimoe-train.
victims=$(ip netns pids "$name-h1" | while read -r pid; do
  [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = mpimoe-train ] && echo "$pid"; done)
[ "$(echo $victims | wc -w)" -eq 2 ] || fail "expected 2 ranks on host 1, found '$victims'"
victim=$(echo $victims | cut -d' ' -f1)
start=$(date +%s.%N)
kill -9 "$victim"
code=0
timeout 60 tail --pid="$launcher" -f /dev/null || fail "mpirun still runs 60 s after the kill"
wait "$launcher"; code=$?
launcher=""
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "mpirun exited $code, ${elapsed} s after kill -9 of rank process $victim on host 1"
[ "$code" -ne 0 ] || fail "the job exited 0 after a rank was killed"
awk -v t="$elapsed" 'BEGIN { exit !(t <= 30) }' || fail "the job took ${elapsed} s (> 30 s) to end"
# Open MPI's daemons may take a moment after mpirun to go; give them 5 s.
for _ in $(seq 1 50); do
  left=$("$testbed" pids "$name" | tr '\n' ' ')
  [ -z "$left" ] && break
  sleep 0.1
done
names=""
for pid in $left; do names+="$pid:$(cat "/proc/$pid/comm" 2> /dev/null) "; done
[ -z "$left" ] || fail "processes left on the hosts: $names"
echo "PASS: the job ended ${elapsed} s after the kill with exit $code; nothing left on the hosts"
