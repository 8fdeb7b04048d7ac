/* bench/linear: linear attention, Mamba and Mamba-2 against flash attention (see linear_bench.c). */
#include "linear_bench.h"

int main(int argc, char **argv) { return lc_bench_linear_main(argc, argv); }
