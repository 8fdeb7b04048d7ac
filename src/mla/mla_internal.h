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
    void *lat;     /* [capacity, rank + rope] of dtype: c_kv then k_rope */
    float *scales; /* int8 / fp8: [capacity, 2], the scales of each token's c_kv and k_rope; else NULL */
};

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

/* Token j's rank + rope values as f32: the cache's own row (f32) or `buf`, converted. */
static inline const float *lc_mla_row(const lc_mla_cache *c, int64_t j, float *buf) {
    if (c->dtype == LC_F32) return (const float *)c->lat + (size_t)j * (size_t)(c->rank + c->rope);
    lc_mla_rows(c, j, 1, buf);
    return buf;
}

/* The float64 tiled prefill (mla_prefill.c). */
lc_status lc_mla_prefill_f64(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out);

#endif
