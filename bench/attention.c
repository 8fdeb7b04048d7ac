/* bench/attention: flash vs naive vs the OpenBLAS sgemm ceiling (see attention_bench.c). */
#include "attention_bench.h"

int main(int argc, char **argv) { return lc_bench_attention_main(argc, argv); }
