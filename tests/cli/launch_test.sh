#!/usr/bin/env bash
# CLI test of mpimoe-launch with the real mpirun and mpimoe-train: a 2x2 sweep (world
# size 1 and 2 x top-k 1 and 2, a few steps) gives 4 result rows, a CSV that parses and
# valid PNGs; a re-run skips the finished points; a point that fails at run time is
# recorded and the sweep ends non-zero, and runs again next time even with a complete
# summary.json; a point over point_timeout_s is stopped (no process left), recorded as
# timed out and runs again; SIGTERM to the launcher stops the running point's process
# group and exits 130; --dry-run, --only, --force and --out (`--flag value` and
# `--flag=value`); --help exits 0 and every usage error (unknown flag, no or two
# EXPERIMENTs, an empty --only) exits 2 naming the problem; and every bad experiment is
# rejected with exit code 2 before anything runs (no output directory).
# Usage: launch_test.sh MPIEXEC MPIMOE_LAUNCH SMOKE_CONFIG
set -u
mpiexec="$1"; launch="$2"; smoke="$3"
tmp=$(mktemp -d /tmp/mpimoe-launch-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1

common() {  # the shared part of the test experiments: $1 = output directory
  cat <<EOT
base_config: "$smoke"
set: "run.steps=4"
set: "run.log_every=2"
set: "run.eval_every=0"
set: "data.eval_batches=1"
mpirun: "$mpiexec"
mpirun_args: "--oversubscribe"
omp_num_threads: 1
output_dir: "$1"
EOT
}

# --- the 2x2 sweep --------------------------------------------------------------
out="$tmp/sweep"
{ common "$out"; cat <<'EOT'
axis { field: "world_size" values: ["1", "2"] }
axis { field: "model.moe.top_k" values: ["1", "2"] }
heatmap_point: "np=2,top_k=2"
EOT
} > "$tmp/sweep.textproto"

"$launch" "$tmp/sweep.textproto" --dry-run > "$tmp/dry.txt" 2>&1 ||
  fail "--dry-run exited $?: $(cat "$tmp/dry.txt")"
[ "$(grep -c -- '--set model.moe.top_k=' "$tmp/dry.txt")" = 4 ] ||
  fail "--dry-run does not show 4 commands: $(cat "$tmp/dry.txt")"
[ ! -e "$out" ] || fail "--dry-run created $out"

# --- the command line: --help, usage errors (exit 2, naming the problem), both forms --
"$launch" --help > "$tmp/help.txt" 2>&1 || fail "--help exited $?: $(cat "$tmp/help.txt")"
for part in EXPERIMENT --dry-run '--only NAME' --force '--out DIR' 'Exit codes'; do
  grep -qF -- "$part" "$tmp/help.txt" || fail "--help does not mention '$part'"
done
"$launch" -h > "$tmp/help.txt" 2>&1 || fail "-h exited $?"
usage_error() {  # $1 = expected message part, the rest = arguments
  local expected="$1"; shift
  "$launch" "$@" > "$tmp/usage.txt" 2>&1
  local code=$?
  [ "$code" -eq 2 ] || fail "'$*': exit code $code, not 2: $(cat "$tmp/usage.txt")"
  head -1 "$tmp/usage.txt" | grep -qF -- "mpimoe-launch: " ||
    fail "'$*': the first line does not name the program: $(cat "$tmp/usage.txt")"
  head -1 "$tmp/usage.txt" | grep -qF -- "$expected" ||
    fail "'$*': the first line lacks '$expected': $(cat "$tmp/usage.txt")"
  grep -qF -- "Usage: mpimoe-launch" "$tmp/usage.txt" || fail "'$*': no usage printed"
  echo "ok: usage error: $(head -1 "$tmp/usage.txt")"
}
usage_error "--bogus" "$tmp/sweep.textproto" --dry-run --bogus
usage_error "EXPERIMENT is required" --dry-run
usage_error "$tmp/second.textproto" "$tmp/sweep.textproto" "$tmp/second.textproto" --dry-run
usage_error "--only" "$tmp/sweep.textproto" --dry-run --only=
usage_error "--only: needs a non-empty name" "$tmp/sweep.textproto" --dry-run --only ''
usage_error "--only" "$tmp/sweep.textproto" --dry-run --only
usage_error "--out" "$tmp/sweep.textproto" --dry-run --out
for form in equals space; do
  dir="$tmp/out_$form"
  if [ "$form" = equals ]; then
    args=("--out=$dir" "--only=2,top_k=1")
  else
    args=(--out "$dir" --only np=1,top_k=2)
  fi
  "$launch" "$tmp/sweep.textproto" --dry-run "${args[@]}" > "$tmp/dry_$form.txt" 2>&1 ||
    fail "--dry-run ${args[*]} exited $?: $(cat "$tmp/dry_$form.txt")"
  grep -qF "output in $dir" "$tmp/dry_$form.txt" ||
    fail "--out ($form) is not the output directory: $(cat "$tmp/dry_$form.txt")"
  [ "$(grep -cF -- "--out $dir/np=" "$tmp/dry_$form.txt")" = 4 ] ||
    fail "--out ($form) is not in the commands: $(cat "$tmp/dry_$form.txt")"
  [ "$(grep -c 'not selected by --only' "$tmp/dry_$form.txt")" = 3 ] ||
    fail "--only ($form) did not select one point: $(cat "$tmp/dry_$form.txt")"
  [ ! -e "$dir" ] || fail "--dry-run --out ($form) created $dir"
done
grep -q "substring match, point 3/4 np=2,top_k=1" "$tmp/dry_equals.txt" ||
  fail "--only=PART does not say how it matched: $(cat "$tmp/dry_equals.txt")"

"$launch" "$tmp/sweep.textproto" > "$tmp/run1.txt" 2>&1
code=$?
cat "$tmp/run1.txt"
[ "$code" -eq 0 ] || fail "the sweep exited $code"
grep -q '\[2/4\] np=1,top_k=2 | np=1 .* | elapsed .* | ETA ' "$tmp/run1.txt" ||
  fail "no progress line for point 2"
csv="$out/results.csv"
[ -s "$csv" ] && [ -s "$out/results.md" ] || fail "no results.csv / results.md"
[ "$(wc -l < "$csv")" -eq 5 ] || fail "results.csv has $(wc -l < "$csv") lines, not 1 + 4"
# Parse the CSV: quoted fields (which may hold commas) become one field each; every
# row has the header's field count; every point is ok with a loss and tokens/s.
awk '
  { line = $0; gsub(/"[^"]*"/, "Q", line); n = split(line, f, ",") }
  NR == 1 { for (i = 1; i <= n; ++i) col[f[i]] = i; width = n; next }
  n != width { print "row " NR " has " n " fields, header " width; bad = 1 }
  f[col["status"]] != "ok" { print "row " NR " status " f[col["status"]]; bad = 1 }
  !(f[col["final_loss"]] + 0 > 0) { print "row " NR " has no final_loss"; bad = 1 }
  !(f[col["tokens_per_s"]] + 0 > 0) { print "row " NR " has no tokens/s"; bad = 1 }
  !(f[col["rank_imbalance"]] + 0 >= 1) { print "row " NR " has no imbalance"; bad = 1 }
  END { exit bad || NR != 5 }' "$csv" || fail "results.csv does not parse: $(cat "$csv")"
csv_columns() {  # $1 = CSV file, $2, $3 = column names: "v2,v3" per data row
  awk -v a="$2" -v b="$3" '
    { line = $0; gsub(/"[^"]*"/, "Q", line); n = split(line, f, ",") }
    NR == 1 { for (i = 1; i <= n; ++i) col[f[i]] = i; next }
    { printf "%s,%s ", f[col[a]], f[col[b]] }' "$1"
}
[ "$(csv_columns "$csv" np top_k)" = "1,1 1,2 2,1 2,2 " ] ||
  fail "results.csv rows are not np x top_k in order: $(cat "$csv")"
for png in loss imbalance tokens_per_s_vs_np tokens_per_s_vs_top_k heatmap; do
  f="$out/plots/$png.png"
  [ -s "$f" ] || fail "no $f"
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
    fail "$f is not a PNG"
done
for d in "np=1,top_k=1" "np=2,top_k=2"; do
  [ -s "$out/$d/log.txt" ] && [ -s "$out/$d/summary.json" ] || fail "no log/summary in $d"
done

# --- a re-run skips every finished point ---------------------------------------
touch -d '2000-01-01' "$out/np=2,top_k=1/log.txt"
"$launch" "$tmp/sweep.textproto" > "$tmp/run2.txt" 2>&1 || fail "the re-run exited $?"
[ "$(grep -c 'finished in an earlier run, skipped' "$tmp/run2.txt")" = 4 ] ||
  fail "the re-run did not skip 4 points: $(cat "$tmp/run2.txt")"
[ -z "$(find "$out/np=2,top_k=1/log.txt" -newer "$csv")" ] ||
  fail "the re-run touched a finished point"
[ "$(wc -l < "$csv")" -eq 5 ] || fail "the re-run's results.csv lost rows"
# A changed point (its config differs) runs again; --only runs just that one.
sed -i 's/"run.steps=4"/"run.steps=3"/' "$tmp/sweep.textproto"
"$launch" "$tmp/sweep.textproto" --only 'np=1,top_k=2' > "$tmp/run3.txt" 2>&1 ||
  fail "--only exited $?: $(cat "$tmp/run3.txt")"
grep -q "exact match" "$tmp/run3.txt" || fail "--only does not say how it matched"
[ "$(grep -c '^\[.*ETA' "$tmp/run3.txt")" = 1 ] || fail "--only ran more than one point"
grep -q '"steps":3' "$out/np=1,top_k=2/summary.json" || fail "--only did not re-run"
grep -q 'not run' "$out/results.md" || fail "points left out by --only are not 'not run'"
# --only on a finished point skips it; --force runs it again.
"$launch" "$tmp/sweep.textproto" --only 'np=1,top_k=2' > "$tmp/run4.txt" 2>&1 ||
  fail "--only (finished) exited $?: $(cat "$tmp/run4.txt")"
[ "$(grep -c '^\[.*ETA' "$tmp/run4.txt")" = 0 ] || fail "--only re-ran a finished point"
"$launch" "$tmp/sweep.textproto" --only 'np=1,top_k=2' --force > "$tmp/run5.txt" 2>&1 ||
  fail "--only --force exited $?: $(cat "$tmp/run5.txt")"
[ "$(grep -c '^\[.*ETA' "$tmp/run5.txt")" = 1 ] || fail "--force did not re-run the point"

# --- a point that fails at run time --------------------------------------------
out="$tmp/failing"
{ common "$out"; cat <<'EOT'
axis { field: "optimizer.lr" label: "lr" values: ["1e30", "0.003"] }
EOT
} > "$tmp/failing.textproto"
"$launch" "$tmp/failing.textproto" > "$tmp/fail.txt" 2>&1
code=$?
cat "$tmp/fail.txt"
[ "$code" -eq 1 ] || fail "a sweep with a failed point exited $code, not 1"
grep -q '^lr=1e30,1e30,0,failed,' "$out/results.csv" ||
  fail "the failed point is not recorded: $(cat "$out/results.csv")"
grep -q '^lr=0.003,0.003,0,ok,' "$out/results.csv" ||
  fail "the sweep did not carry on after the failure: $(cat "$out/results.csv")"
grep -q 'exit code' "$out/lr=1e30/failure.txt" || fail "no failure.txt with the exit code"
grep -q 'not finite' "$out/lr=1e30/failure.txt" || fail "failure.txt has no log tail"
# A failed point runs again even when its summary.json happens to be complete.
cp "$tmp/sweep/np=1,top_k=1/summary.json" "$out/lr=1e30/summary.json"
"$launch" "$tmp/failing.textproto" > "$tmp/fail2.txt" 2>&1
code=$?
[ "$code" -eq 1 ] || fail "the re-run of the failing sweep exited $code, not 1"
grep -q '^\[1/2\] lr=1e30 | .*ETA' "$tmp/fail2.txt" ||
  fail "the failed point was skipped on a re-run: $(cat "$tmp/fail2.txt")"
grep -q '^\[2/2\] lr=0.003 | finished in an earlier run, skipped' "$tmp/fail2.txt" ||
  fail "the finished point was not skipped: $(cat "$tmp/fail2.txt")"

# --- a point over point_timeout_s ------------------------------------------------
out="$tmp/timeout_out"
{ common "$out"; cat <<'EOT'
name: "slow"
set: "run.steps=1000000"
point_timeout_s: 1
EOT
} > "$tmp/timeout.textproto"
for attempt in 1 2; do
  "$launch" "$tmp/timeout.textproto" > "$tmp/timeout$attempt.txt" 2>&1
  code=$?
  cat "$tmp/timeout$attempt.txt"
  [ "$code" -eq 1 ] || fail "a timed-out sweep (attempt $attempt) exited $code, not 1"
  grep -q '^\[1/1\] slow | .*ETA' "$tmp/timeout$attempt.txt" ||
    fail "the timed-out point did not run (attempt $attempt)"
  grep -q 'timed out after 1 s' "$out/slow/failure.txt" || fail "no time-out in failure.txt"
  grep -q '^slow,0,failed,.*timed out after 1 s' "$out/results.csv" ||
    fail "results.csv does not record the time-out: $(cat "$out/results.csv")"
  [ -z "$(pgrep -f "mpimoe-train.*$out")" ] ||
    fail "processes of the timed-out point are left: $(pgrep -af "mpimoe-train.*$out")"
done

# --- SIGTERM to the launcher mid-point -------------------------------------------
out="$tmp/term_out"
{ common "$out"; cat <<'EOT'
axis { field: "run.seed" label: "seed" values: ["1", "2"] }
set: "run.steps=1000000"
point_timeout_s: 120
EOT
} > "$tmp/term.textproto"
"$launch" "$tmp/term.textproto" > "$tmp/term.txt" 2>&1 &
launcher=$!
for _ in $(seq 100); do  # until mpirun and the rank run (at most 20 s)
  [ "$(pgrep -fc "mpimoe-train.*$out")" -ge 2 ] && break
  sleep 0.2
done
[ "$(pgrep -fc "mpimoe-train.*$out")" -ge 2 ] || fail "the point did not start"
sleep 1
kill -TERM "$launcher"
wait "$launcher"
code=$?
cat "$tmp/term.txt"
[ "$code" -eq 130 ] || fail "the launcher exited $code after SIGTERM, not 130"
[ -z "$(pgrep -f "mpimoe-train.*$out")" ] ||
  fail "processes of the interrupted point are left: $(pgrep -af "mpimoe-train.*$out")"
grep -q '^seed=1,1,0,interrupted,' "$out/results.csv" ||
  fail "the interrupted point is not recorded: $(cat "$out/results.csv")"
grep -q '^seed=2,2,0,not run,' "$out/results.csv" ||
  fail "the point after the interruption is not 'not run': $(cat "$out/results.csv")"
[ -s "$out/seed=1/failure.txt" ] || fail "the interrupted point has no failure.txt"

# --- bad experiments: exit 2, a message naming the place, nothing created -------
bad() {  # $1 = case name, $2 = expected message part, stdin = axis lines
  local file="$tmp/bad_$1.textproto" dir="$tmp/bad_out_$1"
  { common "$dir" | sed "s|^base_config: .*|${BASE_LINE:-&}|"; cat; } > "$file"
  "$launch" "$file" > "$tmp/bad.txt" 2>&1
  local code=$?
  [ "$code" -eq 2 ] || fail "$1: exit code $code, not 2: $(cat "$tmp/bad.txt")"
  grep -qF -- "$2" "$tmp/bad.txt" || fail "$1: message lacks '$2': $(cat "$tmp/bad.txt")"
  [ ! -e "$dir" ] || fail "$1: created $dir"
  echo "ok: $1: $(head -1 "$tmp/bad.txt")"
}
bad unknown_field "axis model.moe.num_expertz: value '4': --set model.moe.num_expertz=4: unknown field" \
  <<< 'axis { field: "model.moe.num_expertz" values: ["4"] }'
bad empty_axis "bad_empty_axis.textproto:10: axis model.moe.top_k: has no values" \
  <<< 'axis { field: "model.moe.top_k" }'
bad bad_type "bad_bad_type.textproto:10: axis model.moe.top_k: value 'two'" \
  <<< 'axis { field: "model.moe.top_k" values: ["1", "two"] }'
bad bad_enum "axis balancer.policy: value 'fastest': --set balancer.policy=fastest: expected one of" \
  <<< 'axis { field: "balancer.policy" values: ["fastest"] }'
bad bad_point "point 'top_k=9'" \
  <<< 'axis { field: "model.moe.top_k" values: ["2", "9"] }'
bad syntax "bad_syntax.textproto:10:" <<< 'axis { field: "model.moe.top_k" values: ["1" }'
BASE_LINE='base_config: "/nonexistent/base.textproto"' \
  bad missing_base "bad_missing_base.textproto:1: base_config: file '/nonexistent/base.textproto' does not exist" \
  <<< 'axis { field: "model.moe.top_k" values: ["1"] }'
bad heatmap "heatmap_point: no point" <<< 'axis { field: "model.moe.top_k" values: ["1"] }
heatmap_point: "top_k=7"'
bad heatmap_layer "bad_heatmap_layer.textproto:11: heatmap_layer: 2 is not a MoE layer" \
  <<< 'axis { field: "model.moe.top_k" values: ["1"] }
heatmap_layer: 2'
: > "$tmp/empty.txt"
bad empty_text "bad_empty_text.textproto:11: point 'bad_empty_text': data.text_path: text file $tmp/empty.txt: is empty" \
  <<< "set: \"data.source=TEXT\"
set: \"data.text_path=$tmp/empty.txt\""
"$launch" "$tmp/nonexistent.textproto" > "$tmp/bad.txt" 2>&1
[ $? -eq 2 ] || fail "a missing experiment file does not exit 2"
"$launch" "$tmp/sweep.textproto" --only 'np=9' > "$tmp/bad.txt" 2>&1
[ $? -eq 2 ] || fail "--only with no match does not exit 2"
"$launch" --bogus > "$tmp/bad.txt" 2>&1
[ $? -eq 2 ] || fail "an unknown flag does not exit 2"
echo "PASS"
