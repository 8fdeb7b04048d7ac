#!/usr/bin/env bash
# Installs the Debian packages longctx needs, only those missing, and says which.
# Run as root (or with sudo available). Safe to run again: it does nothing when all is there.
set -euo pipefail

packages=(
  build-essential          # gcc, make, libc headers
  cmake                    # the build
  pkg-config               # finds OpenBLAS and cJSON
  libopenblas-openmp-dev   # cblas sgemm for the CPU kernels (OpenMP threading)
  libcjson-dev             # JSON output of benchmarks and commands
  libopenmpi-dev           # ring attention across processes (liblongctx_dist)
  openmpi-bin              # mpirun, for `longctx ring` and the ring tests
  libcairo2-dev            # PNG/SVG plots of `longctx wall` and `longctx patterns`
  libfaiss-dev             # FAISS nearest-neighbour search for the kNN memory (src/memory)
  python3-numpy            # the Python package (python/) and its tests
  python3-pytest           # runs the Python package's tests (ctest's `python`)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all Debian packages present (${packages[*]})" >&2
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}" >&2
