#!/usr/bin/env bash
# Builds longctx and runs the main job: `longctx` with no arguments (the report).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/longctx "$@"
