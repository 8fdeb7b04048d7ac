#!/bin/sh
# A rank that dies in the middle of ring attention (tests/mpi/test_ring_mpi.c --fault).
#  1. With --enable-recovery, Open MPI keeps the survivors running: each of them must
#     return LC_EIO from lc_ring_attention within a bounded time (timeout_s = 2 s here).
#  2. With mpirun's defaults, Open MPI ends the whole job: mpirun must exit non-zero
#     (no hang, no silent success).
# usage: ring_fault.sh MPIEXEC TEST_PROGRAM
set -u
mpiexec=$1 prog=$2 np=4 dead=2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run="$mpiexec --oversubscribe --allow-run-as-root -np $np"

start=$(date +%s)
timeout 120 $run --enable-recovery "$prog" --fault $dead 2 >"$log" 2>&1
took=$(( $(date +%s) - start ))
cat "$log"
got=$(grep -c "survivor rank .* returned LC_EIO" "$log")
if [ "$got" -ne $((np - 1)) ]; then
  echo "ring_fault: $got of $((np - 1)) survivors returned LC_EIO" >&2; exit 1
fi
if [ "$took" -gt 60 ]; then
  echo "ring_fault: the survivors took ${took} s" >&2; exit 1
fi
echo "ring_fault: all $((np - 1)) survivors returned LC_EIO; the job ended after ${took} s"

timeout 120 $run "$prog" --fault $dead 2 >"$log" 2>&1
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
  cat "$log"; echo "ring_fault: with default settings mpirun returned $rc (want an error, not 0 or a timeout)" >&2; exit 1
fi
echo "ring_fault: with default settings mpirun ended the job with status $rc"
