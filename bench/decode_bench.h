/* The decode benchmark: flash-decoding over every cache layout and storage type against
 * memcpy bandwidth measured in the same run. Entry point shared by bench/decode and
 * `longctx bench decode`. */
#ifndef LONGCTX_DECODE_BENCH_H
#define LONGCTX_DECODE_BENCH_H

int lc_bench_decode_main(int argc, char **argv);

#endif
