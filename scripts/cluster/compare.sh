#!/usr/bin/env bash
# The same training job on emulated hosts and on one host: where does the network cost?
#
#   compare.sh [--hosts N] [--slots S] [--rate RATE] [--bench PATH] -- CONFIG [bench flags]
#
# Runs `mpimoe-bench train CONFIG --json [bench flags]` with N*S ranks twice: on a test
# bed of N hosts x S ranks (testbed.sh, links shaped to RATE, e.g. 1gbit; unshaped by
# default) and on this machine as one host (shared memory), one OpenMP thread per rank,
# no core binding in both. Prints one JSON line: the two runs' step_ms, comm_wait_ms
# (rank 0's time blocked in communication) and phase_ms, and ratio = step on the test bed
# / step on one host. Needs root (the test bed); the test bed is removed on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../env.sh"
hosts=2 slots=1 rate="" bench="$MPIMOE_BUILD/bin/mpimoe-bench"
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --hosts) hosts="$2"; shift 2 ;;
    --slots) slots="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    *) echo "compare: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "usage: compare.sh [--hosts N] [--slots S] [--rate RATE] -- CONFIG [bench flags]" >&2; exit 2; }
[ -x "$bench" ] || { echo "compare: no $bench (build it: cmake --build build --target mpimoe-bench)" >&2; exit 2; }
ranks=$((hosts * slots))
export OMP_NUM_THREADS=1
name="mpimoe-cmp$$"
trap '"$here/testbed.sh" down "$name"' EXIT
rate_args=()
[ -z "$rate" ] || rate_args=(--rate "$rate")
"$here/testbed.sh" up "$name" --hosts "$hosts" --slots "$slots" "${rate_args[@]}" >&2
cluster=$("$here/testbed.sh" exec "$name" -- mpirun -np "$ranks" "$bench" train "$@" --json | tail -1)
one_host=$(mpirun -np "$ranks" --oversubscribe --bind-to none "$bench" train "$@" --json | tail -1)
jq -c -n --argjson c "$cluster" --argjson o "$one_host" --arg rate "${rate:-unshaped}" \
  --argjson hosts "$hosts" --argjson slots "$slots" '{
    bench: "cluster", config: $c.config, hosts: $hosts, ranks_per_host: $slots,
    rate: $rate,
    testbed: {step_ms: $c.step_ms, comm_wait_ms: $c.phase_ms.comm_wait, phase_ms: $c.phase_ms},
    one_host: {step_ms: $o.step_ms, comm_wait_ms: $o.phase_ms.comm_wait, phase_ms: $o.phase_ms},
    ratio: ($c.step_ms / $o.step_ms)}'
