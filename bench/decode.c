/* bench/decode: decode time and cache bandwidth per layout and dtype (see decode_bench.c). */
#include "decode_bench.h"

int main(int argc, char **argv) { return lc_bench_decode_main(argc, argv); }
