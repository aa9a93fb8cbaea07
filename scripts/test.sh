#!/usr/bin/env bash
# Installs missing dependencies, builds mpimoe (Release) and runs every test with ctest:
# unit tests and the multi-rank MPI tests. Works from any directory; safe to re-run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$MPIMOE_ROOT/scripts/deps.sh"
cd "$MPIMOE_ROOT"
mpimoe_build
ctest --test-dir "$MPIMOE_BUILD" --output-on-failure -j 2 "$@"
