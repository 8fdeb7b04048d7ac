#!/usr/bin/env bash
# Builds the recurrent CUDA kernels (linear attention, SSD, the selective scan, conv1d) and
# their GPU tests against the CPU stand-in of cuda_runtime.h here, with the CPU references
# they are tested against, and runs the tests: the kernels' logic (indexing, barriers,
# tiles, the states carried between calls) checked on a machine without a GPU. Timing,
# the memory model and the hardware are not emulated: the GPU run (scripts/gpu-check.sh)
# stays the test of record.
#
#   tests/cuda/emu/run.sh [--asan] [test flags: --smoke | --quick, --seed S]
set -eo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
flags="-O2 -g" out=$root/build-emu
if [ "${1:-}" = "--asan" ]; then flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" out=$root/build-emu-asan; shift; fi
mkdir -p "$out"
emu=$root/tests/cuda/emu
inc="-I$emu -I$root/include -I$root/src/cuda -I$root/tests/cuda -I$root/tests/cases"
# the CPU references (the standalone CUDA build's set) and the case tables
csrc="$root/src/core/*.c $root/src/attention/mask.c $root/src/attention/attention_check.c $root/src/attention/naive.c
      $root/src/linear/features.c $root/src/linear/linear_check.c $root/src/linear/linear_naive.c $root/src/linear/linear_step.c
      $root/src/ssm/selective_scan.c $root/src/ssm/ssd.c $root/src/ssm/conv1d.c $root/src/cache/kv.c $root/src/cache/kv_store.c
      $root/tests/cases/*.c"
objs=()
for f in $csrc; do
  o=$out/c_$(basename "${f%.c}").o
  [ "$o" -nt "$f" ] || gcc -std=c11 $flags -fopenmp -D_POSIX_C_SOURCE=200809L -DLONGCTX_VERSION='"emu"' $inc -c "$f" -o "$o"
  objs+=("$o")
done
for f in check linear_chunk linear_step ssd selective_scan conv1d; do
  python3 "$emu/to_cpp.py" "$root/src/cuda/$f.cu" "$out/cu_$f.cpp"
  g++ -std=c++17 $flags $inc -include "$emu/cuda_runtime.h" -c "$out/cu_$f.cpp" -o "$out/cu_$f.o"
  objs+=("$out/cu_$f.o")
done
g++ -std=c++17 $flags $inc -c "$emu/emu.cpp" -o "$out/emu.o"
rc=0
for t in test_gpu_ssm test_gpu_linear; do
  python3 "$emu/to_cpp.py" "$root/tests/cuda/$t.cu" "$out/$t.cpp"
  g++ -std=c++17 $flags $inc "$out/$t.cpp" "$out/emu.o" "${objs[@]}" -fopenmp -lm -o "$out/$t"
  "$out/$t" "$@" || rc=1
done
exit $rc
