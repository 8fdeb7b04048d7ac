/* The MLA benchmark: prefill (float64 tiles and the f32 fast path) and absorbed decode at
 * DeepSeek-V2's per-head shapes. Entry point shared by bench/mla and `longctx bench mla`. */
#ifndef LONGCTX_MLA_BENCH_H
#define LONGCTX_MLA_BENCH_H

int lc_bench_mla_main(int argc, char **argv);

#endif
