#!/usr/bin/env bash
# Checkpoints through mpimoe-train under the real mpirun (2 ranks):
#   1. periodic saves and keep_checkpoints; summary.json reports the last checkpoint;
#   2. SIGTERM to one rank mid-run: every rank stops after its step, a checkpoint is
#      saved, the job exits 0 (no summary.json: the run is not finished), and
#      --resume latest finishes it;
#   3. kill -9 of a rank in the middle of a save (MPIMOE_TEST_CHECKPOINT_STALL_MS holds
#      every rank between its shard and the manifest): the job dies, the previous
#      checkpoint stays loadable, the partial one is ignored and later cleaned up;
#   4. a flipped bit in a shard and an incompatible model are rejected with exit 2 and a
#      message naming the file and tensor, or the field.
# Usage: checkpoint_test.sh MPIEXEC MPIMOE_TRAIN CONFIG
set -u
mpiexec="$1"; train="$2"; config="$3"
out=$(mktemp -d /tmp/mpimoe-ckpt.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1
run() { timeout 300 "$mpiexec" -np 2 --oversubscribe "$@"; }
# PIDs of the rank processes of the run writing to $1 (not mpirun, not timeout).
ranks_of() { ps -eo pid=,comm=,args= | awk -v d="$1" '$2 == "mpimoe-train" && index($0, d) { print $1 }'; }
value() { grep -o "\"$1\":[-0-9.eE+]*" "$2" | head -1 | cut -d: -f2; }

# 1. Every 10 steps, keep 2.
run "$train" "$config" --set run.steps=30 --set run.checkpoint_every=10 \
  --set run.keep_checkpoints=2 --out "$out/periodic" > "$out/periodic.log" 2>&1 ||
  fail "periodic run exited $?: $(tail -5 "$out/periodic.log")"
kept=$(cd "$out/periodic/checkpoints" && ls -A | tr '\n' ' ')
[ "$kept" = "step-20 step-30 " ] || fail "kept checkpoints are '$kept', not step-20 step-30"
for f in manifest.textproto shard-0.bin shard-1.bin; do
  [ -s "$out/periodic/checkpoints/step-30/$f" ] || fail "step-30 has no $f"
done
grep -q '"checkpoint":"[^"]*step-30"' "$out/periodic/summary.json" ||
  fail "summary.json does not name step-30: $(cat "$out/periodic/summary.json")"
echo "ok: periodic checkpoints, keep 2"

# 2. SIGTERM to rank 1 while training.
run "$train" "$config" --set run.steps=5000 --set run.log_every=1 --out "$out/term" \
  > "$out/term.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  [ -f "$out/term/metrics.jsonl" ] && [ "$(wc -l < "$out/term/metrics.jsonl")" -ge 5 ] && break
  sleep 0.1
done
ranks=$(ranks_of "$out/term" | tr '\n' ' ')
[ "$(echo $ranks | wc -w)" -eq 2 ] || { kill -9 $launcher; fail "expected 2 rank processes, found '$ranks'"; }
kill -TERM "$(echo $ranks | cut -d' ' -f2)"
wait "$launcher"
code=$?
[ "$code" -eq 0 ] || fail "after SIGTERM mpirun exited $code: $(tail -5 "$out/term.log")"
grep -q "stopped on request after step" "$out/term.log" || fail "no stop message: $(tail -3 "$out/term.log")"
[ ! -e "$out/term/summary.json" ] || fail "a stopped run wrote summary.json"
saved=$(cd "$out/term/checkpoints" && ls -d step-* | sed 's/step-//' | sort -n | tail -1)
[ -n "$saved" ] && [ "$saved" -lt 5000 ] || fail "no checkpoint after SIGTERM"
run "$train" "$config" --set run.steps=$((saved + 5)) --set run.log_every=1 \
  --out "$out/term" --resume latest > "$out/term2.log" 2>&1 ||
  fail "resume after SIGTERM exited $?: $(tail -5 "$out/term2.log")"
grep -q "resumed from .*step-$saved " "$out/term2.log" || fail "did not resume from step-$saved"
[ "$(value first_step "$out/term/summary.json")" = "$((saved + 1))" ] ||
  fail "resumed run's first_step is not $((saved + 1))"
steps_logged=$(grep -c '"step":' "$out/term/metrics.jsonl")
[ "$steps_logged" -eq $((saved + 5)) ] ||
  fail "metrics.jsonl has $steps_logged records, expected $((saved + 5)) (one per step)"
echo "ok: SIGTERM at step $saved -> checkpoint, exit 0, resumed to $((saved + 5))"

# 3. kill -9 during the save of step 10 (step 5 is complete by then).
MPIMOE_TEST_CHECKPOINT_STALL_MS=2000 run -x MPIMOE_TEST_CHECKPOINT_STALL_MS "$train" \
  "$config" --set run.steps=40 --set run.checkpoint_every=5 --out "$out/crash" \
  > "$out/crash.log" 2>&1 &
launcher=$!
for _ in $(seq 1 600); do
  [ -d "$out/crash/checkpoints/step-5" ] && [ -d "$out/crash/checkpoints/.step-10.partial" ] && break
  sleep 0.1
done
[ -d "$out/crash/checkpoints/.step-10.partial" ] || { kill -9 $launcher; fail "the save of step 10 never started"; }
sleep 0.5  # the shards are being written or written; the manifest is not
victim=$(ranks_of "$out/crash" | tail -1)
kill -9 "$victim"
wait "$launcher"
code=$?
[ "$code" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
[ ! -e "$out/crash/checkpoints/step-10" ] || fail "a killed save produced step-10"
run "$train" "$config" --set run.steps=8 --set run.checkpoint_every=0 --out "$out/crash" \
  --resume latest > "$out/crash2.log" 2>&1 ||
  fail "resume after the crash exited $?: $(tail -5 "$out/crash2.log")"
grep -q "resumed from .*step-5 " "$out/crash2.log" || fail "did not resume from step-5: $(head -3 "$out/crash2.log")"
[ -d "$out/crash/checkpoints/step-8" ] || fail "no step-8 after the resumed run"
[ ! -e "$out/crash/checkpoints/.step-10.partial" ] || fail "the partial save was not cleaned up"
echo "ok: killed mid-save (exit $code) -> resumed from step-5"

# 4. Corrupt and incompatible checkpoints: exit 2, nothing trained.
ckpt="$out/periodic/checkpoints/step-30"
size=$(stat -c %s "$ckpt/shard-1.bin")
byte=$(dd if="$ckpt/shard-1.bin" bs=1 skip=$((size / 2)) count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 4 )))" |
  dd of="$ckpt/shard-1.bin" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run "$train" "$config" --set run.steps=40 --resume "$ckpt" --out "$out/flip" > "$out/flip.log" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "a flipped bit: exit $code, not 2: $(tail -3 "$out/flip.log")"
grep -q "shard-1.bin: tensor .*checksum mismatch" "$out/flip.log" ||
  fail "the error does not name the file and tensor: $(cat "$out/flip.log")"
run "$train" "$config" --set run.steps=40 --set model.d_model=32 \
  --resume "$out/periodic/checkpoints/step-20" --out "$out/other" > "$out/other.log" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "another model: exit $code, not 2"
grep -q "d_model" "$out/other.log" || fail "the error does not name d_model: $(cat "$out/other.log")"
run "$train" "$config" --resume latest --out "$out/nothing" > "$out/none.log" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "--resume latest without checkpoints: exit $code, not 2"
echo "PASS"
