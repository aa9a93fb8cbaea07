#!/usr/bin/env bash
# Emulated cluster on one Linux machine: N "hosts", each a network namespace with its
# own hostname (set per process by the launch agent), linked through a bridge that
# lives in a namespace of its own, so nothing is added to the machine's own network.
# Each host's link can be shaped with `tc ... tbf`. Open MPI starts its daemons on the
# hosts through rsh-agent.sh; `testbed.sh exec` runs a command (usually mpirun) on the
# first host with the Open MPI settings the test bed needs in its environment.
#
#   testbed.sh check                      exit 0 if a test bed can be made here, else
#                                         print why and exit 77 (the ctest skip code)
#   testbed.sh up NAME --hosts N [--slots S] [--rate RATE]
#                                         make hosts NAME-h0 .. NAME-h{N-1}; RATE is a
#                                         tc rate such as 1gbit or 500mbit (default:
#                                         unshaped); S slots per host (default 2)
#   testbed.sh exec NAME [--host I] -- CMD...
#                                         run CMD on host I (default 0) with the settings
#   testbed.sh env NAME                   print those settings (OMPI_MCA_* variables)
#   testbed.sh pids NAME                  PIDs of every process left on the hosts
#   testbed.sh down NAME                  kill what runs on the hosts, remove everything
#   testbed.sh prune                      down every test bed whose owner has died (up
#                                         records TESTBED_OWNER=PID when set, as tests
#                                         do: a test killed by a timeout leaves one)
#   testbed.sh run [up options] -- CMD... up, exec, down (always, via trap) in one go
#
# Addresses come from 10.213.7.0/24 and exist only inside the test bed's namespaces,
# so several test beds (one per test) can exist at once. Needs root, `ip netns` and
# `unshare`; state (hostfile, settings) is kept in /tmp/NAME.testbed/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
subnet_prefix=10.213.7
subnet="$subnet_prefix.0/24"

die() { echo "testbed: $*" >&2; exit 2; }
state_dir() { echo "/tmp/$1.testbed"; }
host_ns() { echo "$1-h$2"; }
switch_ns() { echo "$1-sw"; }
num_hosts() { cat "$(state_dir "$1")/hosts" 2>/dev/null || die "no test bed named '$1' (run: testbed.sh up $1 ...)"; }

check() {
  [ "$(id -u)" -eq 0 ] || { echo "testbed: needs root to make network namespaces (running as uid $(id -u))"; return 77; }
  command -v ip > /dev/null || { echo "testbed: no 'ip' command (Debian package iproute2)"; return 77; }
  command -v unshare > /dev/null || { echo "testbed: no 'unshare' command (Debian package util-linux)"; return 77; }
  local probe="mpimoe-probe-$$"
  if ! ip netns add "$probe" 2> /tmp/$probe.err; then
    echo "testbed: cannot make a network namespace: $(cat /tmp/$probe.err)"
    rm -f /tmp/$probe.err
    return 77
  fi
  rm -f /tmp/$probe.err
  local ok=0
  ip -n "$probe" link add probe0 type bridge 2> /dev/null || ok=1
  ip netns exec "$probe" unshare --uts true 2> /dev/null || ok=2
  ip netns del "$probe"
  [ $ok -eq 0 ] || { echo "testbed: namespaces work but $([ $ok -eq 1 ] && echo 'bridges' || echo 'unshare --uts') do not"; return 77; }
  return 0
}

# Token-bucket burst for RATE: 2 ms at that rate, at least 32 KiB (tbf drops packets
# when the burst is smaller than what the timer lets through per tick).
burst_for() {
  local rate="$1" bits
  bits=$(echo "$rate" | awk '{
    r = tolower($0); n = r + 0; u = substr(r, length(n "") + 1);
    m = (u ~ /^g/) ? 1e9 : (u ~ /^m/) ? 1e6 : (u ~ /^k/) ? 1e3 : 1;
    printf "%.0f", n * m }')
  [ "$bits" -gt 0 ] || die "cannot read the rate '$rate' (examples: 1gbit, 500mbit)"
  local bytes=$(( bits / 8 / 500 ))
  [ $bytes -ge 32768 ] || bytes=32768
  echo $bytes
}

up() {
  local name="$1"; shift
  local hosts=2 slots=2 rate=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --hosts) hosts="$2"; shift 2 ;;
      --slots) slots="$2"; shift 2 ;;
      --rate) rate="$2"; shift 2 ;;
      *) die "up: unknown option '$1'" ;;
    esac
  done
  [[ "$hosts" =~ ^[0-9]+$ ]] && [ "$hosts" -ge 1 ] && [ "$hosts" -le 64 ] || die "--hosts must be 1..64, not '$hosts'"
  [[ "$slots" =~ ^[0-9]+$ ]] && [ "$slots" -ge 1 ] || die "--slots must be a positive integer, not '$slots'"
  [[ "$name" =~ ^[A-Za-z][A-Za-z0-9-]{0,40}$ ]] || die "the name '$name' must be letters, digits and '-' (at most 41)"
  local dir; dir="$(state_dir "$name")"
  [ ! -e "$dir" ] || die "a test bed named '$name' exists (testbed.sh down $name)"
  local burst=""
  [ -z "$rate" ] || burst=$(burst_for "$rate")
  check > /dev/null || { check; exit 77; }
  mkdir -p "$dir"
  echo "$hosts" > "$dir/hosts"
  # A process whose death means the test bed is abandoned (tests set it); none for a
  # test bed made by hand, which `prune` then leaves alone.
  [ -z "${TESTBED_OWNER:-}" ] || echo "$TESTBED_OWNER" > "$dir/owner"
  local sw; sw="$(switch_ns "$name")"
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  : > "$dir/hostfile"
  for ((i = 0; i < hosts; i++)); do
    local ns; ns="$(host_ns "$name" $i)"
    ip netns add "$ns"
    ip -n "$sw" link add "port$i" type veth peer name eth0 netns "$ns"
    ip -n "$sw" link set "port$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$subnet_prefix.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ -n "$rate" ]; then
      ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency 20ms
    fi
    echo "$ns slots=$slots" >> "$dir/hostfile"
  done
  # The settings every mpirun on the test bed needs, as environment variables.
  cat > "$dir/env" << EOF
OMPI_MCA_plm_rsh_agent=$here/rsh-agent.sh
OMPI_MCA_plm_rsh_no_tree_spawn=1
OMPI_MCA_orte_default_hostfile=$dir/hostfile
OMPI_MCA_btl=tcp,vader,self
OMPI_MCA_btl_tcp_if_include=$subnet
OMPI_MCA_oob_tcp_if_include=$subnet
OMPI_MCA_hwloc_base_binding_policy=none
OMPI_MCA_mpi_yield_when_idle=1
EOF
  echo "testbed: $name is up: $hosts hosts ($(host_ns "$name" 0) .. $(host_ns "$name" $((hosts - 1)))), $slots slots each, link ${rate:-unshaped}"
}

exec_on() {
  local name="$1"; shift
  local host=0
  if [ "${1:-}" = "--host" ]; then host="$2"; shift 2; fi
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "exec: no command"
  local hosts; hosts=$(num_hosts "$name")
  [ "$host" -ge 0 ] && [ "$host" -lt "$hosts" ] || die "exec: host $host is not in 0..$((hosts - 1))"
  local ns; ns="$(host_ns "$name" "$host")"
  local vars=()
  while IFS= read -r line; do vars+=("$line"); done < "$(state_dir "$name")/env"
  env "${vars[@]}" ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

pids() {
  local name="$1" hosts; hosts=$(num_hosts "$name")
  for ((i = 0; i < hosts; i++)); do ip netns pids "$(host_ns "$name" $i)" 2> /dev/null || true; done
}

down() {
  local name="$1"
  # Every namespace of the test bed, whether or not its state survived.
  local ns
  for ns in $(ip netns list 2> /dev/null | awk '{print $1}' | grep -E "^$name-(h[0-9]+|sw)$"); do
    local left; left=$(ip netns pids "$ns" 2> /dev/null | tr '\n' ' ' || true)
    [ -z "$left" ] || kill -9 $left 2> /dev/null || true
    ip netns del "$ns" 2> /dev/null || echo "testbed: could not remove namespace $ns" >&2
  done
  rm -rf "$(state_dir "$name")"
}

prune() {
  local dir name owner
  for dir in /tmp/*.testbed; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir" .testbed)
    owner=$(cat "$dir/owner" 2> /dev/null || echo 0)
    if [ "$owner" -gt 1 ] && ! kill -0 "$owner" 2> /dev/null; then
      echo "testbed: removing $name (its owner, process $owner, is gone)" >&2
      down "$name"
    fi
  done
}

run() {
  local up_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do up_args+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "run: no command (testbed.sh run --hosts 2 -- mpirun ...)"
  local name="mpimoe-tb$$"
  trap "down $name" EXIT
  trap "down $name; exit 130" INT
  trap "down $name; exit 143" TERM
  TESTBED_OWNER=$$ up "$name" "${up_args[@]}"
  local code=0
  exec_on "$name" -- "$@" || code=$?
  return $code
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  check) check ;;
  up) [ $# -ge 1 ] || die "usage: testbed.sh up NAME --hosts N [--slots S] [--rate RATE]"; up "$@" ;;
  exec) [ $# -ge 2 ] || die "usage: testbed.sh exec NAME [--host I] -- CMD..."; exec_on "$@" ;;
  env) [ $# -eq 1 ] || die "usage: testbed.sh env NAME"; num_hosts "$1" > /dev/null; cat "$(state_dir "$1")/env" ;;
  pids) [ $# -eq 1 ] || die "usage: testbed.sh pids NAME"; pids "$1" ;;
  down) [ $# -eq 1 ] || die "usage: testbed.sh down NAME"; down "$1" ;;
  prune) prune ;;
  run) run "$@" ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; [ -z "$command" ] || [ "$command" = help ] || [ "$command" = --help ] || exit 2 ;;
esac
