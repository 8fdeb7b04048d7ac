/* The MLA latent cache's layout, shared by src/mla/mla.c, mla_prefill.c and mla_decode.c (internal). */
#ifndef LONGCTX_MLA_INTERNAL_H
#define LONGCTX_MLA_INTERNAL_H

#include "longctx/mla.h"

struct lc_mla_cache {
    int rank, rope;
    lc_dtype dtype;
    int64_t capacity, len;
    void *lat;     /* [capacity, rank + rope] of dtype: c_kv then k_rope */
    float *scales; /* int8 / fp8: [capacity, 2], the scales of each token's c_kv and k_rope; else NULL */
};

/* Tokens [j0, j0 + n) as f32 rows of rank + rope values into dst (dequantized as lc_kv does). */
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
