#!/usr/bin/env bash
# Installs mpimoe's build and run dependencies from Debian 12 packages, only the ones
# that are missing (so a second run does nothing). Needs root or sudo for the install.
set -euo pipefail

packages=(
  g++ make cmake pkg-config
  libopenmpi-dev openmpi-bin
  libdnnl-dev
  ocl-icd-opencl-dev  # libdnnl-dev's CMake config looks for OpenCL; only a Recommends
  libprotobuf-dev protobuf-compiler
  libgtest-dev
  nlohmann-json3-dev  # JSON reading and writing (metrics, summaries, traces, results)
  libcli11-dev        # command lines of mpimoe-train, mpimoe-launch, mpimoe-bench
  gnuplot-nox         # mpimoe-launch draws its plots with gnuplot (png terminal)
  jq                  # tests/cli check the programs' JSON reports with it
  iproute2            # tests/cluster: emulated hosts (ip netns, tc) for the test bed
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
