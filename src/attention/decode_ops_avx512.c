/* Decode inner loops with AVX-512 (F/BW/VL + F16C), fused per block of keys of one KV
 * head (docs/kv-cache.md, "AVX-512 path"):
 *   scores  16 accumulators = RT query rows x KT keys (RT * KT = 16), each a 16-lane
 *           partial dot product; one transposing add tree turns the 16 of them into one
 *           vector of 16 scores (no horizontal sum per key);
 *   softmax the block's scores of a row as vectors: max, one exp per lane, the running
 *           sum; the accumulator rescale e^(m_old - m_new) rides on the P.V pass;
 *   P.V     RT rows x (16 / RT) chunks of 16 output dims in registers over the block.
 * K and V are widened from the cache straight into registers (f16: vcvtph2ps; bf16: shift;
 * int8: vpmovsxbd + vcvtdq2ps; fp8 e4m3 through binary16 as in decode_ops_avx2.c, the 2^8
 * folded into the scale). int8 / fp8 per-token scales multiply the score after the dot
 * and the probability before P.V, never the elements. */
#include <immintrin.h>
#include <math.h>

#include "decode_ops.h"
#include "vec_math_avx512.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __mmask16 cmask(int left) { return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1u); }

/* 16 stored values from element e of a row, as f32 (fp8: 2^-8 times the value). */
INLINE __m512 ld(const uint8_t *row, int e, __mmask16 m, lc_kv_dtype t) {
    switch (t) {
    case LC_KV_F32: return _mm512_maskz_loadu_ps(m, (const float *)row + e);
    case LC_KV_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + e));
    case LC_KV_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + e)), 16));
    case LC_KV_INT8: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)row + e)));
    default: { /* fp8: sign << 8 | (exponent, mantissa) << 7 is binary16 with a bias 8 too small:
                * the sign-extended byte shifted left 7 has it, but for bit 14 (a copy of the sign) */
        __m256i x = _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, row + e)), 7);
        return _mm512_cvtph_ps(_mm256_and_si256(x, _mm256_set1_epi16((short)0xbfff)));
    }
    }
}

/* v[n] -> lane n holds the sum of v[n]'s 16 lanes. */
INLINE __m512 reduce16(__m512 *v) {
    __m512 w[8], z[4];
    for (int p = 0; p < 8; p++) /* lane quad k: (a0+a2, b0+b2, a1+a3, b1+b3) */
        w[p] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]), _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
    for (int p = 0; p < 4; p++) { /* lane quad k: the quad's sums of v[4p .. 4p+3] */
        __m512d x = _mm512_castps_pd(w[2 * p]), y = _mm512_castps_pd(w[2 * p + 1]);
        z[p] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], 0x88), _mm512_shuffle_f32x4(z[0], z[1], 0xdd));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(z[2], z[3], 0x88), _mm512_shuffle_f32x4(z[2], z[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd));
}

/* sc[r * BT + u] = q[r] . k[u] for rows r0 .. r0+RT-1, all keys of the block. */
INLINE void scores_rows(const lc_decode_block *b, int r0, const int RT, lc_kv_dtype t) {
    const int KT = 16 / RT, D = b->D, rowb = D * (int)lc_kv_dtype_size(t);
    const float *q[4];
    for (int i = 0; i < RT; i++) q[i] = b->q[r0 + i];
    for (int u0 = 0; u0 < b->nb; u0 += KT) {
        const uint8_t *kr[16];
        for (int j = 0; j < KT; j++) kr[j] = b->k + (size_t)(u0 + j < b->nb ? u0 + j : b->nb - 1) * b->stride;
        if (r0 == 0) /* spread the next block's prefetches over this one's work */
            for (int j = u0; j < u0 + KT && j < b->npf; j++)
                lc_prefetch_bytes(b->pk + (size_t)j * b->stride, rowb), lc_prefetch_bytes(b->pv + (size_t)j * b->stride, rowb);
        __m512 a[16];
#pragma GCC unroll 16
        for (int n = 0; n < 16; n++) a[n] = _mm512_setzero_ps();
        for (int e = 0; e < D; e += 16) {
            __mmask16 m = cmask(D - e);
            __m512 qv[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) qv[i] = _mm512_maskz_loadu_ps(m, q[i] + e);
#pragma GCC unroll 16
            for (int j = 0; j < KT; j++) {
                __m512 kv = ld(kr[j], e, m, t);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * KT + j] = _mm512_fmadd_ps(qv[i], kv, a[i * KT + j]);
            }
        }
        __m512 s = reduce16(a); /* lane i * KT + j: row r0 + i, key u0 + j */
        __mmask16 keep = cmask(b->nb - u0);
        float *o = b->sc + (size_t)r0 * b->bt + u0;
        if (RT == 1) _mm512_mask_storeu_ps(o, keep, s);
        else if (RT == 2) {
            _mm256_mask_storeu_ps(o, (__mmask8)keep, _mm512_castps512_ps256(s));
            _mm256_mask_storeu_ps(o + b->bt, (__mmask8)keep, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
        } else {
            _mm_mask_storeu_ps(o, (__mmask8)keep, _mm512_castps512_ps128(s));
            _mm_mask_storeu_ps(o + b->bt, (__mmask8)keep, _mm512_extractf32x4_ps(s, 1));
            _mm_mask_storeu_ps(o + 2 * b->bt, (__mmask8)keep, _mm512_extractf32x4_ps(s, 2));
            _mm_mask_storeu_ps(o + 3 * b->bt, (__mmask8)keep, _mm512_extractf32x4_ps(s, 3));
        }
    }
}

/* acc[r] = cf[r] acc[r] + sum_u p[r][u] v[u] for rows r0 .. r0+RT-1. */
INLINE void pv_rows(const lc_decode_block *b, int r0, const int RT, lc_kv_dtype t) {
    const int NC = 16 / RT, D = b->D, BT = b->bt;
    for (int e0 = 0; e0 < D; e0 += 16 * NC) {
        __m512 a[16];
        __mmask16 m[16];
#pragma GCC unroll 16
        for (int c = 0; c < NC; c++) m[c] = cmask(D - e0 - 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < RT; i++) {
            __m512 f = _mm512_set1_ps(b->cf[r0 + i]);
            float *o = b->acc + (size_t)(r0 + i) * D + e0;
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) a[i * NC + c] = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m[c], o + 16 * c));
        }
        const float *p = b->sc + (size_t)r0 * BT;
        for (int u = 0; u < b->nb; u++) {
            const uint8_t *vr = b->v + (size_t)u * b->stride;
            __m512 w[4];
#pragma GCC unroll 4
            for (int i = 0; i < RT; i++) w[i] = _mm512_set1_ps(p[i * BT + u]);
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) {
                __m512 vv = ld(vr, e0 + 16 * c, m[c], t);
#pragma GCC unroll 4
                for (int i = 0; i < RT; i++) a[i * NC + c] = _mm512_fmadd_ps(w[i], vv, a[i * NC + c]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < RT; i++) {
            float *o = b->acc + (size_t)(r0 + i) * D + e0;
#pragma GCC unroll 16
            for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(o + 16 * c, m[c], a[i * NC + c]);
        }
    }
}

/* Scores of row r times its key scales, causal mask, then probabilities in their place
 * (times the value scales when quantised), the running max and sum, and cf[r]. */
static void softmax_rows(const lc_decode_block *b, int quant) {
    const int nb = b->nb, BT = b->bt;
    for (int r = 0; r < b->R; r++) {
        float *s = b->sc + (size_t)r * BT;
        int64_t lim = b->vis + r / b->G;
        int vis = lim < 0 ? 0 : lim > nb ? nb : (int)lim;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int u = 0; u < nb; u += 16) {
            __mmask16 m = cmask(vis - u);
            __m512 x = quant ? _mm512_mul_ps(_mm512_loadu_ps(s + u), _mm512_loadu_ps(b->ksc + u)) : _mm512_mul_ps(_mm512_loadu_ps(s + u), _mm512_set1_ps(b->scale));
            x = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), m, x);
            _mm512_storeu_ps(s + u, x);
            mx = _mm512_max_ps(mx, x);
        }
        float bm = _mm512_reduce_max_ps(mx), mo = b->m[r];
        if (bm <= mo) bm = mo; /* the max did not change: no rescale */
        b->cf[r] = bm == mo ? 1.0f : expf(mo - bm);
        if (bm == -INFINITY) { /* nothing visible so far */
            for (int u = 0; u < nb; u += 16) _mm512_storeu_ps(s + u, _mm512_setzero_ps());
            b->cf[r] = 1.0f;
            continue;
        }
        __m512 sum = _mm512_setzero_ps(), bmv = _mm512_set1_ps(bm);
        for (int u = 0; u < nb; u += 16) {
            __m512 p = lc_exp512(_mm512_sub_ps(_mm512_loadu_ps(s + u), bmv));
            sum = _mm512_add_ps(sum, p);
            _mm512_storeu_ps(s + u, quant ? _mm512_mul_ps(p, _mm512_loadu_ps(b->vsc + u)) : p);
        }
        b->m[r] = bm;
        b->l[r] = b->l[r] * b->cf[r] + _mm512_reduce_add_ps(sum);
    }
}

INLINE void block_t(const lc_decode_block *b, lc_kv_dtype t) {
    const int quant = t == LC_KV_INT8 || t == LC_KV_FP8;
    if (quant) { /* per-key scales, padded to whole vectors (the pads are masked off) */
        const float f = t == LC_KV_FP8 ? 256.0f : 1.0f;
        for (int u = 0; u < b->nb; u++) b->ksc[u] = b->ks[(size_t)u * b->sstride] * f * b->scale, b->vsc[u] = b->vs[(size_t)u * b->sstride] * f;
        for (int u = b->nb; u < (b->nb + 15) / 16 * 16; u++) b->ksc[u] = 0, b->vsc[u] = 0;
    }
    int r = 0;
    for (; b->R - r >= 4; r += 4) scores_rows(b, r, 4, t);
    if (b->R - r >= 2) scores_rows(b, r, 2, t), r += 2;
    if (b->R - r >= 1) scores_rows(b, r, 1, t);
    softmax_rows(b, quant);
    for (r = 0; b->R - r >= 4; r += 4) pv_rows(b, r, 4, t);
    if (b->R - r >= 2) pv_rows(b, r, 2, t), r += 2;
    if (b->R - r >= 1) pv_rows(b, r, 1, t);
}

static void block(const lc_decode_block *b) {
    switch (b->t) {
    case LC_KV_F32: block_t(b, LC_KV_F32); break;
    case LC_KV_F16: block_t(b, LC_KV_F16); break;
    case LC_KV_BF16: block_t(b, LC_KV_BF16); break;
    case LC_KV_INT8: block_t(b, LC_KV_INT8); break;
    case LC_KV_FP8: block_t(b, LC_KV_FP8); break;
    }
}

const lc_decode_ops lc_decode_ops_avx512 = {NULL, NULL, NULL, NULL, block};
