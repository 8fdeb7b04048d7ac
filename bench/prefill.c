/* bench/prefill: a prompt chunk over a paged cache, two ways (see prefill_bench.c). */
#include "prefill_bench.h"

int main(int argc, char **argv) { return lc_bench_prefill_main(argc, argv); }
