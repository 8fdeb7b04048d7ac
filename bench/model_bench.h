/* The model benchmark: prefill and decode of a Llama-shaped checkpoint (written with random
 * bf16 weights by --make-checkpoint) against the sgemm and memcpy ceilings measured in the
 * same run. Entry point shared by bench/model and `longctx bench model`. */
#ifndef LONGCTX_MODEL_BENCH_H
#define LONGCTX_MODEL_BENCH_H

int lc_bench_model_main(int argc, char **argv);

#endif
