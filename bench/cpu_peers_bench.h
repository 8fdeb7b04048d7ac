/* longctx beside ggml (llama.cpp's tensor library) on the CPU: the flash prefill and the
 * Mamba-2 scan and step at the shapes of real models, and, given a test-backend-ops binary
 * the user built (--ggml-bench PATH), ggml's time for the same shapes from its perf mode.
 * Entry point shared by bench/cpu_peers and `longctx bench peers`. */
#ifndef LONGCTX_CPU_PEERS_BENCH_H
#define LONGCTX_CPU_PEERS_BENCH_H

int lc_bench_cpu_peers_main(int argc, char **argv);

#endif
