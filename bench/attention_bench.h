/* The attention benchmark: flash vs naive vs the OpenBLAS sgemm ceiling, measured in one
 * run. Entry point shared by bench/attention and `longctx bench attention`. */
#ifndef LONGCTX_ATTENTION_BENCH_H
#define LONGCTX_ATTENTION_BENCH_H

int lc_bench_attention_main(int argc, char **argv);

#endif
