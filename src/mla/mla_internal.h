/* The MLA latent cache's layout, shared by src/mla/mla.c, mla_prefill.c and mla_decode.c (internal). */
#ifndef LONGCTX_MLA_INTERNAL_H
#define LONGCTX_MLA_INTERNAL_H

#include "longctx/mask.h"
#include "longctx/mla.h"

struct lc_mla_cache {
    int rank, rope;
    lc_dtype dtype;
    int64_t window, sinks; /* the layer's (lc_mla): what the cache keeps */
    int64_t capacity, len; /* rows allocated; positions appended */
    int64_t rows, dropped; /* rows held; positions dropped under the window (row j >= sinks holds position j + dropped) */
    int64_t block_rows;    /* rows per block: the capacity (contiguous) or mla.block_size (paged) */
    int64_t n_blocks, allocated; /* blocks addressed (ceil(capacity / block_rows)); blocks allocated (paged: as rows come) */
    size_t row_bytes;      /* (rank + rope) values of dtype: c_kv then k_rope */
    int scaled;            /* int8 / fp8: each row's two f32 scales (c_kv's, k_rope's), at the start of its block */
    int paged;             /* blocks allocated as rows come (mla.block_size > 0); else one block, at creation */
    uint8_t **blocks;      /* [n_blocks]: (scaled) 2 block_rows f32 scales, then block_rows rows; NULL until allocated */
};

static inline uint8_t *lc_mla_row_at(const lc_mla_cache *c, int64_t j) {
    const size_t scales = c->scaled ? 2 * sizeof(float) * (size_t)c->block_rows : 0;
    return c->blocks[j / c->block_rows] + scales + (size_t)(j % c->block_rows) * c->row_bytes;
}
static inline float *lc_mla_scales_at(const lc_mla_cache *c, int64_t j) { return (float *)c->blocks[j / c->block_rows] + 2 * (j % c->block_rows); }

/* Who sees whom among the cache's rows for the last n_q of them as queries: causal, and the
 * window and sinks. Row distance equals position distance past the sinks (the dropped
 * positions are one run just after them), so the mask over rows is the mask over positions. */
static inline lc_mask lc_mla_mask(const lc_mla_cache *c, int n_q) {
    lc_mask k = c->window > 0 ? lc_mask_sliding_window(c->window) : lc_mask_causal();
    k.sinks = c->window > 0 ? c->sinks : 0;
    k.q_offset = c->rows - n_q;
    return k;
}

/* Rows [j0, j0 + n) as f32 rows of rank + rope values into dst (dequantized as lc_kv does). */
void lc_mla_rows(const lc_mla_cache *c, int64_t j0, int64_t n, float *dst);

/* Rows [j0, j0 + n) as contiguous f32 rows: the cache's own (f32, within one block) or
 * `scratch`, filled. */
static inline const float *lc_mla_span(const lc_mla_cache *c, int64_t j0, int64_t n, float *scratch) {
    if (c->dtype == LC_F32 && j0 / c->block_rows == (j0 + n - 1) / c->block_rows) return (const float *)lc_mla_row_at(c, j0);
    lc_mla_rows(c, j0, n, scratch);
    return scratch;
}

/* Token j's rank + rope values as f32: the cache's own row (f32) or `buf`, converted. */
static inline const float *lc_mla_row(const lc_mla_cache *c, int64_t j, float *buf) { return lc_mla_span(c, j, 1, buf); }

/* The float64 tiled prefill (mla_prefill.c). */
lc_status lc_mla_prefill_f64(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out);

#endif
