#!/usr/bin/env bash
# Installs missing dependencies, builds mpimoe (Release) and runs the default job:
# today the single-process MoE fitting demo on embedded synthetic data (the full
# mpirun transformer trainer replaces it when it lands). Works from any directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$MPIMOE_ROOT/scripts/deps.sh"
cd "$MPIMOE_ROOT"
mpimoe_build
"$MPIMOE_BUILD/bin/mpimoe-demo" "$@"
