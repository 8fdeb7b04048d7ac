/* The decode block kernel in plain C, and the four-pass block that the AVX2 path shares. */
#include <math.h>
#include <string.h>

#include "decode_ops.h"

static void scores(const float *const *q, int R, const float *const *k, int nb, int D, float scale, float *sc, int BT) {
    for (int u = 0; u < nb; u++)
        for (int r = 0; r < R; r++) {
            float s = 0;
            for (int e = 0; e < D; e++) s += q[r][e] * k[u][e];
            sc[r * BT + u] = s * scale;
        }
}

static void pv(float *acc, int R, const float *p, const float *const *v, int nb, int D, int BT) {
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nb; u++) {
            float w = p[r * BT + u];
            if (w == 0) continue;
            for (int e = 0; e < D; e++) acc[r * D + e] += w * v[u][e];
        }
}

static void softmax(float *sc, int R, int nb, int BT, float *m, float *l, float *acc, int D) {
    for (int r = 0; r < R; r++) {
        float *row = sc + (size_t)r * BT, *o = acc + (size_t)r * D, bm = -INFINITY;
        for (int u = 0; u < nb; u++) bm = row[u] > bm ? row[u] : bm;
        if (bm == -INFINITY) {
            for (int u = 0; u < nb; u++) row[u] = 0;
            continue;
        }
        if (bm > m[r]) { /* new maximum: rescale what was summed so far */
            float c = expf(m[r] - bm);
            l[r] *= c;
            if (c != 1.0f)
                for (int e = 0; e < D; e++) o[e] *= c;
            m[r] = bm;
        }
        for (int u = 0; u < nb; u++) {
            float w = row[u] == -INFINITY ? 0 : expf(row[u] - m[r]);
            l[r] += w;
            row[u] = w;
        }
    }
}

void lc_decode_block_loops(const lc_decode_block *b, const lc_decode_loops *loops) {
    const int D = b->head_dim, nb = b->keys, stride = b->score_stride;
    const float *k[LC_DECODE_BT], *v[LC_DECODE_BT];
    if (b->prefetch_bytes) lc_prefetch_bytes(b->prefetch_k, b->prefetch_bytes);
    for (int u = 0; u < nb; u++) { /* K rows, widened to f32 */
        const uint8_t *src = b->key_tokens[u] + b->head_offset;
        if (b->dtype == LC_F32) k[u] = (const float *)src;
        else {
            loops->load(b->key_f32 + (size_t)u * D, src, b->key_scales ? b->key_scales[u] : 0, b->dtype, D);
            k[u] = b->key_f32 + (size_t)u * D;
        }
    }
    loops->scores(b->query, b->rows, k, nb, D, b->scale, b->scores, stride);
    for (int r = 0; r < b->rows; r++) /* causal among the new tokens */
        for (int64_t u = b->visible + r / b->group < 0 ? 0 : b->visible + r / b->group; u < nb; u++) b->scores[(size_t)r * stride + u] = -INFINITY;
    if (b->prefetch_bytes) lc_prefetch_bytes(b->prefetch_v, b->prefetch_bytes);
    for (int u = 0; u < nb; u++) { /* V rows */
        const uint8_t *src = b->value_tokens[u] + b->head_offset;
        if (b->dtype == LC_F32) v[u] = (const float *)src;
        else {
            loops->load(b->value_f32 + (size_t)u * D, src, b->value_scales ? b->value_scales[u] : 0, b->dtype, D);
            v[u] = b->value_f32 + (size_t)u * D;
        }
    }
    loops->softmax(b->scores, b->rows, nb, stride, b->row_max, b->row_sum, b->acc, D);
    loops->pv(b->acc, b->rows, b->scores, v, nb, D, stride);
}

static const lc_decode_loops loops = {lc_kv_load_row, scores, softmax, pv};

static void block(const lc_decode_block *b) { lc_decode_block_loops(b, &loops); }

static int rounds_query(lc_dtype t) {
    (void)t;
    return 0;
}

const lc_decode_ops lc_decode_ops_portable = {block, rounds_query};

const lc_decode_ops *lc_decode_ops_for(lc_isa isa) {
    switch (isa) {
#ifdef LONGCTX_HAVE_X86_PATHS
    case LC_ISA_AVX512: return &lc_decode_ops_avx512;
    case LC_ISA_AVX2: return &lc_decode_ops_avx2;
#endif
    default: return &lc_decode_ops_portable;
    }
}
