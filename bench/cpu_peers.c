/* bench/cpu_peers: longctx beside ggml on the CPU (see cpu_peers_bench.c). */
#include "cpu_peers_bench.h"

int main(int argc, char **argv) { return lc_bench_cpu_peers_main(argc, argv); }
