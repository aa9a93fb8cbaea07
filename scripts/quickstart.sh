#!/usr/bin/env bash
# Installs missing dependencies, builds mpimoe (Release) and runs the default training
# job: an MoE transformer on the embedded synthetic multi-task data, 2 MPI ranks,
# configs/quickstart.textproto. Results go to runs/quickstart-<timestamp>/ under the
# repository. Extra arguments go to mpimoe-train (e.g. --set run.steps=100).
# Works from any directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$MPIMOE_ROOT/scripts/deps.sh"
cd "$MPIMOE_ROOT"
mpimoe_build mpimoe-train  # just the training binary: the tests are test.sh's job
mpirun -np 2 "$MPIMOE_BUILD/bin/mpimoe-train" configs/quickstart.textproto "$@"
