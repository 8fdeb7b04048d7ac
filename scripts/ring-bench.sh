#!/usr/bin/env bash
# Ring attention on this machine's CPU: time per token against the rank count P at a fixed
# per-rank length, compute vs wait per rank, and single-process flash on the same whole
# sequence as the peer. One rank per process (mpirun), THREADS OpenMP threads per rank.
# Tables go to stdout, one JSON per run to bench/results/ring/.
#   usage: [THREADS=1] [REPS=5] scripts/ring-bench.sh [N_LOCAL] [RANKS...]   (default 2048, ranks 1 2 3 4)
set -euo pipefail
cd "$(dirname "$0")/.."
n_local=${1:-2048}
shift || true
ranks=${*:-1 2 3 4}
threads=${THREADS:-1}
out=bench/results/ring
mkdir -p "$out"
cmake --build build -j2 --target longctx >/dev/null
mpirun="mpirun --oversubscribe --allow-run-as-root --bind-to none"
echo "cores: $(nproc); ${threads} thread(s) per rank; more ranks than cores share them" >&2
for case in "causal zigzag" "causal contiguous" "full zigzag" "window contiguous"; do
  set -- $case
  mask=$1 layout=$2 extra=""
  if [ "$mask" = window ]; then extra="--window $((n_local / 2))"; mask=causal; fi
  for p in $ranks; do
    name="$out/${1}-${layout}-P${p}-n${n_local}.json"
    echo "== $case, P=$p" >&2
    $mpirun -np "$p" build/longctx ring --n-local "$n_local" --mask "$mask" $extra --layout "$layout" \
      --threads "$threads" --reps "${REPS:-5}" --peer --check --json "$name"
    echo
  done
done
