/* bench/mla: MLA prefill and decode times (see mla_bench.c). */
#include "mla_bench.h"

int main(int argc, char **argv) { return lc_bench_mla_main(argc, argv); }
