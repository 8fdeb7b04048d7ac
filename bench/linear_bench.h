/* The linear-attention and state-space benchmark: time per token and memory against n for
 * linear attention (elu1, FAVOR+), Mamba's scan and Mamba-2's SSD, with flash attention of
 * the same width measured in the same run. Entry point shared by bench/linear and
 * `longctx bench linear`. */
#ifndef LONGCTX_LINEAR_BENCH_H
#define LONGCTX_LINEAR_BENCH_H

int lc_bench_linear_main(int argc, char **argv);

#endif
