/* The prefill benchmark: a prompt chunk over a paged KV cache, lc_decode's tile products over
 * the pages against gather + lc_attention_flash. Entry point shared by bench/prefill and
 * `longctx bench prefill`. */
#ifndef LONGCTX_PREFILL_BENCH_H
#define LONGCTX_PREFILL_BENCH_H

int lc_bench_prefill_main(int argc, char **argv);

#endif
