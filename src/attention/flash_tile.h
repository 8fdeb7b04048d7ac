/* The tile products of the flash kernel (internal): micro-kernels of our own, one table per
 * instruction set (flash_tile_<isa>.c), chosen at run time, so that flash attention runs at
 * the CPU's speed whichever kernels a BLAS library would pick for it.
 *
 * One query tile meets one key tile with the scores transposed (key-major: st[j lds + i]
 * for key j, query i), so the online softmax (Milakov and Gimelshein 2018) runs down the
 * columns with the queries in the vector lanes and needs no horizontal reductions:
 *
 *   Qp    = scale Q, packed in panels of `panel` queries         pack_q     (once per query tile)
 *   S^T   = K Qp^T, and colmax S^T                               scores_t
 *   m'    = max(m, colmax S^T);  P^T = exp(S^T - m');            softmax_t
 *   alpha = exp(m - m');  l = alpha l + colsum P^T
 *   O     = alpha O + P V                                        accumulate
 *
 * K and V are f32 rows (flash.c widens f16 / bf16 tiles first: a pass over the tile that
 * costs 1/panel of the products). */
#ifndef LONGCTX_FLASH_TILE_H
#define LONGCTX_FLASH_TILE_H

#include "longctx/core.h"

typedef struct lc_flash_tile_ops {
    /* Queries per packed panel; a tile's queries are padded to npad, a multiple of it. */
    int64_t panel;
    /* Rows [0, rows) of q (f32, row stride ldq, dk columns) times scale into qp: panel p
     * (queries p panel .. p panel + panel - 1) at qp + p panel dk, its query r's column d at
     * [d panel + r]; zeros for the queries from rows up to the next multiple of panel. */
    void (*pack_q)(float *qp, const float *q, int64_t ldq, int64_t rows, int64_t dk, float scale);
    /* st[j lds + i] = sum_d k[j ldk + d] qp(i, d) for keys j < cols and queries i < npad, and
     * colmax[i] = max_j st[j lds + i] (NaN skipped; -inf when all are). */
    void (*scores_t)(float *st, int64_t lds, float *colmax, const float *k, int64_t ldk, int64_t cols, const float *qp, int64_t npad, int64_t dk);
    /* The online softmax down the columns i < npad of st[j lds + i], j < cols:
     * m'_i = max(m_i, max_j st), st = exp(st - m'_i), alpha_i = exp(m_i - m'_i),
     * l_i = alpha_i l_i + sum_j st, m_i = m'_i. A column whose keys are all masked so far
     * (m'_i = -inf) becomes 0 with alpha_i = 0 and l_i = 0; a NaN score (which the max skips)
     * makes l_i NaN, and so the query's output. cols >= 1. colmax: max_j st as scores_t gave
     * it, or NULL (the scores were changed since: masked, soft-capped) to find it here. */
    void (*softmax_t)(float *st, int64_t lds, int64_t cols, int64_t npad, const float *colmax, float *m, float *l, float *alpha);
    /* o[i ldo + n] = alpha[i] o[i ldo + n] + sum_j pt[j ldp + i] v[j ldv + n] for queries
     * i < rows, n < dv and keys j < cols (cols may be 0: then o = alpha o). vp: scratch of
     * cols x vpanel floats, 64-byte aligned, where a panel of V's columns is copied so the
     * micro-kernel reads it in address order (V's rows themselves are dv or more apart, and
     * rows a power of two apart share a few L1 sets). */
    void (*accumulate)(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, int64_t rows, const float *v, int64_t ldv,
                       int64_t cols, int64_t dv, float *vp);
    /* Columns of V per packed panel (the scratch of accumulate: cols x vpanel floats). */
    int64_t vpanel;
} lc_flash_tile_ops;

extern const lc_flash_tile_ops lc_flash_tile_portable;
extern const lc_flash_tile_ops lc_flash_tile_avx2;
extern const lc_flash_tile_ops lc_flash_tile_avx512;

/* The table for a resolved ISA (not LC_ISA_AUTO). */
const lc_flash_tile_ops *lc_flash_tile_ops_for(lc_isa isa);

#endif
