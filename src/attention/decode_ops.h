/* Inner loops of decode attention: one table per vector path. */
#ifndef LONGCTX_DECODE_OPS_H
#define LONGCTX_DECODE_OPS_H

#include "longctx/cache.h"

typedef struct lc_decode_ops {
    /* dst[i] = value i of a stored row (times scale for int8 / fp8), i < n */
    void (*load)(float *dst, const void *src, float scale, lc_kv_dtype t, int n);
    /* sc[r * BT + u] = scale * q[r] . k[u], r < R, u < nb: each key row loaded once for
     * all R query rows (the GQA group) */
    void (*scores)(const float *const *q, int R, const float *const *k, int nb, int D, float scale, float *sc, int BT);
    /* acc[r * D + e] += sum_u p[r * BT + u] v[u][e] */
    void (*pv)(float *acc, int R, const float *p, const float *const *v, int nb, int D, int BT);
} lc_decode_ops;

extern const lc_decode_ops lc_decode_ops_portable;
extern const lc_decode_ops lc_decode_ops_avx2;

#endif
