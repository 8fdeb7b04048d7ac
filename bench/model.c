/* bench/model: prefill and decode of a Llama-shaped checkpoint against the sgemm and memcpy
 * ceilings (see model_bench.c). */
#include "model_bench.h"

int main(int argc, char **argv) { return lc_bench_model_main(argc, argv); }
