#!/usr/bin/env bash
# Ring attention on this machine's CPU: time per token against the rank count P at a fixed
# per-rank length, compute vs wait per rank, and single-process flash on the same whole
# sequence as the peer. One rank per process (mpirun), THREADS OpenMP threads per rank.
# The tables go to stdout and to bench/results/ring-cpu.txt (its first line the command);
# every run's JSON, in the order run, to bench/results/ring-cpu.json ("runs").
#   usage: [THREADS=1] [REPS=5] scripts/ring-bench.sh [N_LOCAL] [RANKS...]   (default 2048, ranks 1 2 3 4)
set -euo pipefail
cd "$(dirname "$0")/.."
n_local=${1:-2048}
shift || true
ranks=${*:-1 2 3 4}
threads=${THREADS:-1}
cmd="${THREADS:+THREADS=$THREADS }REPS=${REPS:-5} bash scripts/ring-bench.sh $n_local $ranks"
txt=bench/results/ring-cpu.txt
json=bench/results/ring-cpu.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --build build -j2 --target longctx >/dev/null
mpirun="mpirun --oversubscribe --allow-run-as-root --bind-to none"
echo "cores: $(nproc); ${threads} thread(s) per rank; more ranks than cores share them" >&2
echo "\$ $cmd" >"$txt"
runs=()
for case in "causal zigzag" "causal contiguous" "full zigzag" "window contiguous"; do
  set -- $case
  mask=$1 layout=$2 extra=""
  if [ "$mask" = window ]; then extra="--window $((n_local / 2))"; mask=causal; fi
  for p in $ranks; do
    name="$tmp/${1}-${layout}-P${p}-n${n_local}.json"
    echo "== $case, P=$p" >&2
    $mpirun -np "$p" build/longctx ring --n-local "$n_local" --mask "$mask" $extra --layout "$layout" \
      --threads "$threads" --reps "${REPS:-5}" --peer --check --json "$name" | tee -a "$txt"
    echo | tee -a "$txt"
    runs+=("$name")
  done
done
{
  printf '{\n"command": "%s",\n"runs": [\n' "$cmd"
  sep=""
  for f in "${runs[@]}"; do
    printf '%s' "$sep"
    cat "$f"
    sep=$',\n'
  done
  printf '\n]\n}\n'
} >"$json"
