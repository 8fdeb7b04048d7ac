/* The inner loops of lc_matmul_tiled (internal): one table per instruction set, each filled by
 * matmul_ops_<isa>.c and chosen at run time. matmul.c plans the call, splits the output rows
 * over the threads and calls these on each thread's share. */
#ifndef LONGCTX_MATMUL_OPS_H
#define LONGCTX_MATMUL_OPS_H

#include "longctx/matmul.h"

/* Rows of x per block of the packed bf16 layout (one 512-bit vector of f32 sums). */
#define LC_MATMUL_MB 16

/* x rounded to bf16 and packed for the matrix product: block b (rows 16 b .. 16 b + 15), pair
 * p (columns 2p, 2p + 1) is 16 uint32 at xp + (b * pairs + p) * 16, lane i holding row 16 b + i's
 * two bf16 (column 2p in the low half); rows past m and the column past an odd k are zero. */

typedef struct lc_matmul_ops {
    /* The streaming path (few rows of x): y[i, j] (+ bias) for i < m, j in [n0, n1), each weight
     * row read once for all m rows. xq: NULL (x as given, f32), or x rounded to bf16, rows ldq
     * elements apart, each zero-padded to ldq (a multiple of 32). */
    void (*stream)(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1);
    /* dst[i] = src[i] as f32, i < n (src f32, f16 or bf16). */
    void (*widen)(float *dst, const void *src, lc_dtype t, int64_t n);
    /* dst[e] = bf16(src[e]) for e < n (ties to even, as lc_f32_to_bf16), zero for n <= e < pad. */
    void (*round_bf16)(uint16_t *dst, const float *src, int64_t n, int64_t pad);
    /* Rows [b0, b1) of 16 of x (f32, d->x) rounded and packed into xp (layout above). */
    void (*pack_bf16)(const lc_matmul *d, uint32_t *xp, int64_t b0, int64_t b1);
    /* The matrix product on packed x: y[i, j] (+ bias) for i < m, j in [n0, n1); bf16 weights.
     * NULL where the CPU has no bf16 dot product. */
    void (*gemm_bf16)(const lc_matmul *d, const uint32_t *xp, int64_t n0, int64_t n1);
} lc_matmul_ops;

/* The table for a resolved ISA (not LC_ISA_AUTO); gemm_bf16 set only where the CPU runs it. */
const lc_matmul_ops *lc_matmul_ops_for(lc_isa isa);

/* Portable pieces the vector paths fall back on. */
void lc_matmul_pack_bf16_portable(const lc_matmul *d, uint32_t *xp, int64_t b0, int64_t b1);

extern const lc_matmul_ops lc_matmul_ops_portable;
extern const lc_matmul_ops lc_matmul_ops_avx2;
extern const lc_matmul_ops lc_matmul_ops_avx512;
extern const lc_matmul_ops lc_matmul_ops_avx512_bf16;

#endif
