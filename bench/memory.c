/* bench/memory: kNN memory and block retrieval vs flash attention (see memory_bench.c). */
#include "memory_bench.h"

int main(int argc, char **argv) { return lc_bench_memory_main(argc, argv); }
