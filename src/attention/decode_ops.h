/* Inner loops of decode attention: one table per vector path. */
#ifndef LONGCTX_DECODE_OPS_H
#define LONGCTX_DECODE_OPS_H

#include "longctx/cache.h"

/* One block of nb <= BT keys of one KV head, as stored, at consecutive positions (they may
 * lie in several spans of the cache, e.g. pages): key u's K row at kt[u] + hoff, its V row
 * at vt[u] + hoff (kt[u], vt[u]: its token's rows of all heads; hoff: this head's offset in
 * them), its scales (int8 / fp8; else NULL) at ks[u], vs[u]. Query row r (query
 * r / G) sees keys u < vis + r / G. The block updates the running max m[r], sum l[r] and
 * unnormalised output acc[r * D ..] of each row. */
typedef struct lc_decode_block {
    const float *const *q;
    int R, G, D, nb, bt; /* bt: the row stride of sc */
    float scale;
    lc_dtype t;
    const uint8_t *const *kt, *const *vt;
    size_t hoff;
    const float *ks, *vs;
    int64_t vis;
    float *m, *l, *acc;
    float *sc, *cf, *unit, *ksc, *vsc; /* scratch: [R * BT], [R], [R] (int8 values only), [BT], [BT] */
    /* To prefetch while this block computes: this head's share (1 / heads_kv, in address
     * order: whole tokens) of the next block's K and V bytes, npf bytes at pk and at pv
     * (0: none; where the share crosses from one span into another, its first part). Spread
     * over the block's work in address order (K's over the scores, V's over the P.V), the
     * prefetches keep the memory reads sequential (prefetching head h's own rows, 1-2 KB
     * apart, measured 18-31% slower). */
    const uint8_t *pk, *pv;
    size_t npf;
    /* NULL, or the query rows rounded once per call (lc_decode.query_f32 = 0, where
     * ops->rounds_query(t) says so), each zero-padded to LC_DECODE_QR_BYTES(D):
     * int8 caches: int8 rows, q[r] ~ qr_scale[r] * qr[r], qr_sum[r] = sum of row r's values;
     * fp8 caches: bf16 rows of 2^64 q[r] (exact power-of-two scaling); bf16 caches: bf16 rows */
    const void *const *qr;
    const float *qr_scale;
    const int32_t *qr_sum;
} lc_decode_block;

/* Keys per block (a multiple of 16): lc_decode_block.bt and nb never exceed it. */
#define LC_DECODE_BT 32

/* Bytes of one rounded query row: a whole number of 64-byte vectors. */
#define LC_DECODE_QR_BYTES(D) (((size_t)(D) * 2 + 63) / 64 * 64)

/* The n query rows q ([n][D]) rounded for a cache of dtype t (int8, fp8 or bf16) as
 * lc_decode_block.qr reads them: rows LC_DECODE_QR_BYTES(D) apart, zero-padded; for int8
 * also scales[r] and sums[r]. */
void lc_decode_round_rows(lc_dtype t, int D, const float *q, int n, uint8_t *rows, float *scales, int32_t *sums);

typedef struct lc_decode_ops {
    /* dst[i] = value i of a stored row (times scale for int8 / fp8), i < n */
    void (*load)(float *dst, const void *src, float scale, lc_dtype t, int n);
    /* sc[r * BT + u] = scale * q[r] . k[u], r < R, u < nb: each key row loaded once for
     * all R query rows (the GQA group) */
    void (*scores)(const float *const *q, int R, const float *const *k, int nb, int D, float scale, float *sc, int BT);
    /* acc[r * D + e] += sum_u p[r * BT + u] v[u][e] */
    void (*pv)(float *acc, int R, const float *p, const float *const *v, int nb, int D, int BT);
    /* Online softmax over a block: row r's scores sc[r * BT + u] (u < nb, -inf where
     * masked) become e^(s - m[r]) with m[r] the running max; l[r] and acc[r * D ..] are
     * rescaled when the max grows, l[r] gains the row's sum. */
    void (*softmax)(float *sc, int R, int nb, int BT, float *m, float *l, float *acc, int D);
    /* Fused path (NULL: decode.c runs load, scores, the online softmax and pv): one block
     * of keys of one KV head read straight from the cache, scored, folded into (m, l, acc). */
    void (*block)(const struct lc_decode_block *b);
    /* 1 if block() on this CPU scores a cache of type t with the query rounded (b->qr):
     * int8 with AVX-512 VNNI, fp8 with AVX-512 BF16. NULL: never. */
    int (*rounds_query)(lc_dtype t);
} lc_decode_ops;

/* Prefetches the cache lines of n bytes at p (each line once). */
static inline void lc_prefetch_bytes(const void *p, size_t n) {
    for (uintptr_t x = (uintptr_t)p & ~(uintptr_t)63; x < (uintptr_t)p + n; x += 64) __builtin_prefetch((const void *)x);
}

extern const lc_decode_ops lc_decode_ops_portable;
extern const lc_decode_ops lc_decode_ops_avx2;
extern const lc_decode_ops lc_decode_ops_avx512;

#endif
