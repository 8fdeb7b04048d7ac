#!/usr/bin/env bash
# One call on the GPU machine, from the repository root: build the CUDA kernels standalone
# (src/cuda, with the float64 reference; skipped where build-gpu/ already holds programs
# that run here), count the Hopper kernel's tensor-core instructions, run the GPU tests
# (flash attention, decode, MLA decode, linear attention, the SSMs, the ring on this machine's GPUs)
# and, when asked, the benchmarks, the attention, MLA and linear peers and compute-sanitizer. Everything is tee'd to $OUT (or
# ./gpu-check-out).
#
#   scripts/gpu-check.sh [--full-test] [--bench] [--bench-n N] [--peers] [--sanitize]
set -o pipefail
out=${OUT:-gpu-check-out}
mkdir -p "$out"
sanitize=0 peers=0 bench=0 quick=--quick bench_n=
while [ $# -gt 0 ]; do
  case $1 in
    --sanitize) sanitize=1 ;;
    --peers) peers=1 ;;
    --bench) bench=1 ;;
    --full-test) quick= ;;
    --bench-n) bench_n=$2; shift ;;
  esac
  shift
done
log=$out/log.txt
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>&1 | tee -a "$log"
build-gpu/gpu_decode --usage >/dev/null 2>&1 # (prints its usage and exits 2 where it loads)
if [ $? != 2 ]; then
  { cmake -S src/cuda -B build-gpu -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build-gpu -j16 2>&1 | grep -E "error|warning" ; } 2>&1 | tee -a "$log"
fi
[ -x build-gpu/test_gpu_attention ] || { echo "build failed" | tee -a "$log"; exit 1; }
obj=$(find build-gpu -name 'flash_fwd_sm90.cu.o' | head -1)
if command -v cuobjdump >/dev/null && [ -n "$obj" ]; then
  echo "SASS of flash_fwd_sm90: $(cuobjdump -sass "$obj" | grep -c HGMMA) HGMMA, $(cuobjdump -sass "$obj" | grep -c -E 'LDL|STL') local loads/stores" | tee -a "$log"
fi
rc=0
for t in test_gpu_attention test_gpu_decode test_gpu_mla test_gpu_linear test_gpu_ssm test_gpu_ring; do
  [ -x build-gpu/$t ] || continue
  timeout 240 build-gpu/$t $quick 2>&1 | tail -30 | tee -a "$log"
  r=${PIPESTATUS[0]}
  echo "$t rc=$r" | tee -a "$log"
  [ $r = 0 ] || rc=3
done
if [ $sanitize = 1 ]; then
  timeout 150 compute-sanitizer --tool memcheck build-gpu/test_gpu_attention --smoke 2>&1 | tail -6 | tee -a "$log"
  timeout 150 compute-sanitizer --tool memcheck build-gpu/test_gpu_decode --smoke 2>&1 | tail -6 | tee -a "$log"
  timeout 150 compute-sanitizer --tool memcheck build-gpu/test_gpu_mla --smoke 2>&1 | tail -6 | tee -a "$log"
  timeout 150 compute-sanitizer --tool memcheck build-gpu/test_gpu_linear --smoke 2>&1 | tail -6 | tee -a "$log"
  timeout 150 compute-sanitizer --tool memcheck build-gpu/test_gpu_ssm --smoke 2>&1 | tail -6 | tee -a "$log"
fi
if [ $bench = 1 ]; then
  timeout 200 build-gpu/gpu_decode --json "$out/gpu_decode.json" 2>/dev/null | tee "$out/gpu_decode.txt" | tee -a "$log"
  timeout 200 build-gpu/gpu_mla --json "$out/gpu_mla.json" 2>/dev/null | tee "$out/gpu_mla.txt" | tee -a "$log"
  timeout 200 build-gpu/gpu_attention ${bench_n:+--n $bench_n} --json "$out/gpu_attention.json" 2>/dev/null | tee "$out/gpu_attention.txt" | tee -a "$log"
  timeout 200 build-gpu/gpu_linear ${bench_n:+--n $bench_n} --json "$out/gpu_linear.json" 2>/dev/null | tee "$out/gpu_linear.txt" | tee -a "$log"
fi
if [ $peers = 1 ]; then
  PYTHONUNBUFFERED=1 timeout 200 python3 bench/gpu_attention_peers.py --json "$out/gpu_attention_peers.json" 2>&1 | grep -v -i warn | tee "$out/gpu_attention_peers.txt" | tee -a "$log"
  PYTHONUNBUFFERED=1 timeout 200 python3 bench/gpu_mla_peers.py --json "$out/gpu_mla_peers.json" 2>&1 | grep -v -i warn | tee "$out/gpu_mla_peers.txt" | tee -a "$log"
  PYTHONUNBUFFERED=1 timeout 200 python3 bench/gpu_linear_peers.py --json "$out/gpu_linear_peers.json" 2>&1 | grep -v -i warn | tee "$out/gpu_linear_peers.txt" | tee -a "$log"
fi
exit $rc
