#!/usr/bin/env bash
# Bad input to mpimoe-train: every case must exit 2 on a 2-rank job, print a message
# naming the file/line/field/flag exactly once (rank 0 only), and write nothing (no
# output directory). Then the command-line conventions: --help exits 0, and
# `--flag value` and `--flag=value` mean the same.
# Usage: bad_input_test.sh MPIEXEC MPIMOE_TRAIN
set -u
mpiexec="$1"; train="$2"
dir=$(mktemp -d /tmp/mpimoe-badinput.XXXXXX)
trap 'rm -rf "$dir"' EXIT
failures=0
cases=0

# expect NAME NP EXPECTED_TEXT -- ARGS...
expect() {
  local name="$1" np="$2" text="$3"; shift 4
  cases=$((cases + 1))
  local out="$dir/out-$name"
  OMP_NUM_THREADS=1 timeout 120 "$mpiexec" -np "$np" --oversubscribe "$train" --out "$out" "$@" \
    >"$dir/$name.stdout" 2>"$dir/$name.stderr"
  local code=$?
  local problem=""
  [ "$code" -eq 2 ] || problem="exit code $code (want 2)"
  grep -qF -- "$text" "$dir/$name.stderr" || problem="$problem; stderr lacks '$text'"
  local said
  said=$(grep -c "^mpimoe-train: " "$dir/$name.stderr")
  [ "$said" -eq 1 ] || problem="$problem; the problem is printed $said times (want 1)"
  [ -e "$out" ] && problem="$problem; $out was created"
  if [ -n "$problem" ]; then
    echo "FAIL $name: $problem"; sed 's/^/    /' "$dir/$name.stderr" | head -5
    failures=$((failures + 1))
  else
    echo "ok   $name: $(grep -m1 "mpimoe-train" "$dir/$name.stderr")"
  fi
}

good='model { d_model: 32 num_heads: 4 seq_len: 10 moe { num_experts: 4 top_k: 2 d_ffn: 32 } }
data { global_batch_size: 4 } run { steps: 2 }'
printf '%s\n' "$good" > "$dir/good.textproto"
printf 'model {\n  d_model: 32\n  num_heads: four\n}\n' > "$dir/parse.textproto"
printf 'model { d_model: 32 }\nnot_a_field: 3\n' > "$dir/unknown.textproto"
printf 'model { moe { num_experts: 4 top_k: 8 } }\n' > "$dir/topk.textproto"
printf 'model { d_model: 30 num_heads: 4 }\n' > "$dir/heads.textproto"
printf 'model { d_model: 0 }\n' > "$dir/size.textproto"
printf 'data { source: TEXT text_path: "%s/no-such-file.txt" }\n' "$dir" > "$dir/nofile.textproto"
: > "$dir/empty.txt"
printf 'data { source: TEXT text_path: "%s/empty.txt" }\n' "$dir" > "$dir/emptyfile.textproto"
printf 'data { source: TEXT }\n' > "$dir/nopath.textproto"

expect missing_config 2 "no-such.textproto" -- "$dir/no-such.textproto"
expect parse_error 2 "parse.textproto:3:" -- "$dir/parse.textproto"
expect unknown_field 2 "not_a_field" -- "$dir/unknown.textproto"
expect top_k 2 "model.moe.top_k" -- "$dir/topk.textproto"
expect heads 2 "model.num_heads" -- "$dir/heads.textproto"
expect non_positive 2 "model.d_model" -- "$dir/size.textproto"
expect missing_text 2 "no-such-file.txt" -- "$dir/nofile.textproto"
expect empty_text 2 "empty.txt" -- "$dir/emptyfile.textproto"
expect no_text_path 2 "data.text_path" -- "$dir/nopath.textproto"
expect bad_set_path 2 "model.no_such_field" -- "$dir/good.textproto" --set model.no_such_field=1
expect bad_set_value 2 "model.num_layers" -- "$dir/good.textproto" --set model.num_layers=two
expect world_size 3 "data.global_batch_size" -- "$dir/good.textproto"
expect unknown_flag 2 "--frobnicate" -- "$dir/good.textproto" --frobnicate
expect no_config 2 "CONFIG is required" --
expect two_configs 2 "$dir/unknown.textproto" -- "$dir/good.textproto" "$dir/unknown.textproto"
expect set_needs_value 2 "--set: 1 required PATH=VALUE missing" -- "$dir/good.textproto" --set
expect set_one_value 2 "run.steps=3" -- "$dir/good.textproto" --set run.name=x run.steps=3
expect trace_steps_negative 2 "--trace-steps: must be non-negative, got '-1'" -- \
  "$dir/good.textproto" --trace --trace-steps=-1
expect trace_steps_word 2 "--trace-steps: expected an integer, got 'many'" -- \
  "$dir/good.textproto" --trace-steps many
expect bad_set_enum 2 "model.moe.activation" -- "$dir/good.textproto" \
  --set=model.moe.activation=RELU

# --help: exit 0, the usage with defaults on stdout, once.
cases=$((cases + 1))
OMP_NUM_THREADS=1 timeout 120 "$mpiexec" -np 2 --oversubscribe "$train" --help \
  >"$dir/help.stdout" 2>"$dir/help.stderr"
code=$?
usage_lines=$(grep -c "^Usage: mpimoe-train" "$dir/help.stdout")
if [ "$code" -eq 0 ] && [ "$usage_lines" -eq 1 ] && grep -q -- "--trace-steps N.*=20" "$dir/help.stdout"; then
  echo "ok   help: exit 0, usage printed once with defaults"
else
  echo "FAIL help: exit $code, $usage_lines usage lines"; head -5 "$dir/help.stdout"
  failures=$((failures + 1))
fi

# `--flag=value` and `--flag value`: the same run (the effective config says so).
for form in equals space; do
  cases=$((cases + 1))
  if [ "$form" = equals ]; then
    args=(--set=run.name=formtest --set=run.steps=1 "--out=$dir/form-$form")
  else
    args=(--set run.name=formtest --set run.steps=1 --out "$dir/form-$form")
  fi
  OMP_NUM_THREADS=1 timeout 120 "$mpiexec" -np 2 --oversubscribe "$train" \
    "$dir/good.textproto" "${args[@]}" >"$dir/form-$form.log" 2>&1
  code=$?
  if [ "$code" -eq 0 ] && grep -q 'name: "formtest"' "$dir/form-$form/config.textproto" &&
     grep -q '^  steps: 1$' "$dir/form-$form/config.textproto"; then
    echo "ok   flag form '$form': the overrides and --out took effect"
  else
    echo "FAIL flag form '$form': exit $code"; tail -5 "$dir/form-$form.log"
    failures=$((failures + 1))
  fi
done

echo "$((cases - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
