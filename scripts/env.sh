# Sourced by the scripts: repository root, build directory and the Open MPI settings
# every script needs (running as root, oversubscribing a small machine).
MPIMOE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MPIMOE_BUILD="${MPIMOE_BUILD:-$MPIMOE_ROOT/build}"
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI refuses to start as root unless told that this is intended (containers, CI).
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# mpimoe_build [TARGET...]: configures (Release) and builds the targets, or everything.
mpimoe_build() {
  cmake --preset release -S "$MPIMOE_ROOT" >/dev/null
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$MPIMOE_BUILD" -j "$(nproc)" "${targets[@]}"
}
