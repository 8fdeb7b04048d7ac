#!/usr/bin/env bash
# One call on the GPU machine: build the CUDA kernels standalone, show the Hopper kernel's
# resources and tensor-core instructions, run the GPU test (and optionally compute-sanitizer),
# then the benchmark and its peers. Everything is tee'd to $OUT (or ./gpu-check-out).
#
#   scripts/gpu-check.sh [--sanitize] [--peers] [--full-test] [--bench-n N]
set -o pipefail
out=${OUT:-gpu-check-out}
mkdir -p "$out"
sanitize=0 peers=0 full=0 bench_n=16384
while [ $# -gt 0 ]; do
  case $1 in
    --sanitize) sanitize=1 ;;
    --peers) peers=1 ;;
    --full-test) full=1 ;;
    --bench-n) bench_n=$2; shift ;;
  esac
  shift
done
log=$out/log.txt
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee -a "$log"
{ cmake -S cuda -B build-gpu -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build-gpu -j16 2>&1 | grep -E "error|warning|spill" ; } 2>&1 | tee -a "$log"
[ -x build-gpu/test_gpu_attention ] || { echo "build failed" | tee -a "$log"; exit 1; }
obj=$(find build-gpu -name 'flash_fwd_sm90.cu.o' | head -1)
if command -v cuobjdump >/dev/null && [ -n "$obj" ]; then
  cuobjdump -sass "$obj" > "$out/sm90.sass" 2>&1
  echo "SASS: $(grep -c HGMMA "$out/sm90.sass") HGMMA, $(grep -c -E 'LDL|STL' "$out/sm90.sass") local loads/stores in flash_fwd_sm90" | tee -a "$log"
fi
q=--quick; [ $full = 1 ] && q=
timeout 150 build-gpu/test_gpu_attention $q 2>&1 | tail -40 | tee -a "$log"
echo "test rc=$?" | tee -a "$log"
if [ $sanitize = 1 ]; then
  timeout 240 compute-sanitizer --tool memcheck build-gpu/test_gpu_attention --quick 2>&1 | tail -8 | tee -a "$log"
fi
timeout 180 build-gpu/gpu_attention ${bench_n:+--n $bench_n} --json "$out/gpu_attention.json" 2>/dev/null | tee -a "$log"
if [ $peers = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 300 python3 bench/gpu_attention_peers.py --json "$out/gpu_attention_peers.json" 2>&1 | grep -v Warning | tee -a "$log"
fi
