/* The flash kernel's tile products with AVX-512 (flash_tile.h; built with -mavx512f and
 * friends, called only when cpuid reports them). Both products are register-blocked
 * micro-kernels, 24 sums of 16 lanes held over the whole inner dimension:
 *
 *   scores_t:   12 keys x 32 queries (one panel), over d: two vectors of the panel, a
 *               broadcast key element each;
 *   accumulate: 12 queries x 32 columns of V, over the keys: two vectors of a V row, a
 *               broadcast probability each; ragged columns through masks.
 *
 * Measured one thread on tiles of 128 queries x 256 keys, d = 64 / 128 / 256, against the
 * shapes 6 x 64, 8 x 48, 14 x 32 and 4 x 64: all within the run-to-run spread of a shared
 * machine (210-240 GFLOP/s); 12 x 32 keeps the panel narrow (less padding for short query
 * tiles) and the query groups of `accumulate` the same as the key groups of `scores_t`. */
#include <immintrin.h>
#include <math.h>

#include "flash_tile.h"

#define INLINE static inline __attribute__((always_inline))
enum { PANEL = 32, MR = 12 };

static void pack_q(float *qp, const float *q, int64_t ldq, int64_t rows, int64_t dk, float scale) {
    const int64_t npad = (rows + PANEL - 1) / PANEL * PANEL;
    for (int64_t p0 = 0; p0 < npad; p0 += PANEL) {
        float *blk = qp + p0 * dk;
        for (int64_t r = 0; r < PANEL; r++)
            for (int64_t d = 0; d < dk; d++) blk[d * PANEL + r] = p0 + r < rows ? scale * q[(p0 + r) * ldq + d] : 0.0f;
    }
}

/* Keys k[0 .. R) against one panel: st[a lds + 0 .. 32), and their maximum into cm[0 .. 32). */
INLINE void scores_micro(float *st, int64_t lds, float *cm, const float *k, int64_t ldk, const float *qp, int64_t dk, const int R) {
    __m512 s0[MR], s1[MR];
#pragma GCC unroll 12
    for (int a = 0; a < R; a++) s0[a] = _mm512_setzero_ps(), s1[a] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dk; d++) {
        const __m512 q0 = _mm512_loadu_ps(qp + d * PANEL), q1 = _mm512_loadu_ps(qp + d * PANEL + 16);
#pragma GCC unroll 12
        for (int a = 0; a < R; a++) {
            const __m512 b = _mm512_set1_ps(k[a * ldk + d]);
            s0[a] = _mm512_fmadd_ps(b, q0, s0[a]);
            s1[a] = _mm512_fmadd_ps(b, q1, s1[a]);
        }
    }
    __m512 c0 = _mm512_loadu_ps(cm), c1 = _mm512_loadu_ps(cm + 16);
#pragma GCC unroll 12
    for (int a = 0; a < R; a++) {
        _mm512_storeu_ps(st + a * lds, s0[a]), _mm512_storeu_ps(st + a * lds + 16, s1[a]);
        c0 = _mm512_max_ps(s0[a], c0), c1 = _mm512_max_ps(s1[a], c1); /* NaN skipped (second operand) */
    }
    _mm512_storeu_ps(cm, c0), _mm512_storeu_ps(cm + 16, c1);
}

#define SCORES(R)                                                                                                                  \
    static void scores_##R(float *st, int64_t lds, float *cm, const float *k, int64_t ldk, const float *qp, int64_t dk) {          \
        scores_micro(st, lds, cm, k, ldk, qp, dk, R);                                                                              \
    }
SCORES(1) SCORES(2) SCORES(3) SCORES(4) SCORES(5) SCORES(6) SCORES(7) SCORES(8) SCORES(9) SCORES(10) SCORES(11) SCORES(12)
typedef void (*scores_fn)(float *, int64_t, float *, const float *, int64_t, const float *, int64_t);
static const scores_fn scores_r[MR + 1] = {NULL, scores_1, scores_2, scores_3, scores_4, scores_5, scores_6,
                                           scores_7, scores_8, scores_9, scores_10, scores_11, scores_12};

static void scores_t(float *st, int64_t lds, float *colmax, const float *k, int64_t ldk, int64_t cols, const float *qp, int64_t npad, int64_t dk) {
    for (int64_t p0 = 0; p0 < npad; p0 += 16) _mm512_storeu_ps(colmax + p0, _mm512_set1_ps(-INFINITY));
    for (int64_t j = 0; j < cols; j += MR) {
        const int r = cols - j < MR ? (int)(cols - j) : MR;
        for (int64_t p0 = 0; p0 < npad; p0 += PANEL) scores_r[r](st + j * lds + p0, lds, colmax + p0, k + j * ldk, ldk, qp + p0 * dk, dk);
    }
}

/* exp(x) for x <= 0 (and NaN, which stays NaN) for the softmax: lc_exp512's reduction and
 * polynomial without its upper clamp and underflow mask. x is raised to -120 at least, whose
 * 2^n scaling underflows to exactly 0 (so -inf gives 0). */
INLINE __m512 exp_neg(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-120.0f), x); /* NaN stays NaN (second operand) */
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

static void softmax_t(float *st, int64_t lds, int64_t cols, int64_t npad, const float *colmax, float *m, float *l, float *alpha) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < npad; i += 16) {
        __m512 mx = colmax ? _mm512_loadu_ps(colmax + i) : ninf;
        for (int64_t j = 0; !colmax && j < cols; j++) mx = _mm512_max_ps(_mm512_loadu_ps(st + j * lds + i), mx); /* NaN skipped (second operand) */
        const __m512 mo = _mm512_loadu_ps(m + i);
        const __m512 mn = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mo, mx, _CMP_GT_OQ), mx, mo);
        const __m512 meff = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mn, ninf, _CMP_EQ_OQ), mn, _mm512_setzero_ps());
        const __m512 a = exp_neg(_mm512_sub_ps(mo, meff));
        __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
        int64_t j = 0;
        for (; j + 2 <= cols; j += 2) {
            const __m512 e0 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(st + j * lds + i), meff));
            const __m512 e1 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(st + (j + 1) * lds + i), meff));
            _mm512_storeu_ps(st + j * lds + i, e0), _mm512_storeu_ps(st + (j + 1) * lds + i, e1);
            sum0 = _mm512_add_ps(sum0, e0), sum1 = _mm512_add_ps(sum1, e1);
        }
        if (j < cols) {
            const __m512 e0 = exp_neg(_mm512_sub_ps(_mm512_loadu_ps(st + j * lds + i), meff));
            _mm512_storeu_ps(st + j * lds + i, e0);
            sum0 = _mm512_add_ps(sum0, e0);
        }
        _mm512_storeu_ps(l + i, _mm512_fmadd_ps(_mm512_loadu_ps(l + i), a, _mm512_add_ps(sum0, sum1)));
        _mm512_storeu_ps(m + i, mn);
        _mm512_storeu_ps(alpha + i, a);
    }
}

/* Queries i < R against a packed panel of 32 columns of V (vp[j 32 + ..], zeros past dv):
 * o[a ldo + ..] = alpha[a] o[..] + sum_j pt[j ldp + a] vp[j 32 + ..], lanes outside m0, m1
 * left alone. */
INLINE void pv_micro(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, const float *vp, int64_t cols, __mmask16 m0,
                     __mmask16 m1, const int R) {
    __m512 s0[MR], s1[MR];
#pragma GCC unroll 12
    for (int a = 0; a < R; a++) {
        const __m512 al = _mm512_set1_ps(alpha[a]);
        s0[a] = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(m0, o + a * ldo));
        s1[a] = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(m1, o + a * ldo + 16));
    }
    for (int64_t j = 0; j < cols; j++) {
        const __m512 v0 = _mm512_load_ps(vp + j * 32), v1 = _mm512_load_ps(vp + j * 32 + 16);
#pragma GCC unroll 12
        for (int a = 0; a < R; a++) {
            const __m512 b = _mm512_set1_ps(pt[j * ldp + a]);
            s0[a] = _mm512_fmadd_ps(b, v0, s0[a]);
            s1[a] = _mm512_fmadd_ps(b, v1, s1[a]);
        }
    }
#pragma GCC unroll 12
    for (int a = 0; a < R; a++) _mm512_mask_storeu_ps(o + a * ldo, m0, s0[a]), _mm512_mask_storeu_ps(o + a * ldo + 16, m1, s1[a]);
}

#define PV(R)                                                                                                                      \
    static void pv_##R(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, const float *vp, int64_t cols, __mmask16 m0, \
                       __mmask16 m1) {                                                                                             \
        pv_micro(o, ldo, alpha, pt, ldp, vp, cols, m0, m1, R);                                                                     \
    }
PV(1) PV(2) PV(3) PV(4) PV(5) PV(6) PV(7) PV(8) PV(9) PV(10) PV(11) PV(12)
typedef void (*pv_fn)(float *, int64_t, const float *, const float *, int64_t, const float *, int64_t, __mmask16, __mmask16);
static const pv_fn pv_r[MR + 1] = {NULL, pv_1, pv_2, pv_3, pv_4, pv_5, pv_6, pv_7, pv_8, pv_9, pv_10, pv_11, pv_12};

static inline __mmask16 lanes(int64_t left) { return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1u); }

static void accumulate(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, int64_t rows, const float *v, int64_t ldv,
                       int64_t cols, int64_t dv, float *vp) {
    for (int64_t n = 0; n < dv; n += 32) {
        const __mmask16 m0 = lanes(dv - n), m1 = lanes(dv - n - 16);
        for (int64_t j = 0; j < cols; j++) { /* the panel, in address order; zeros past dv */
            _mm512_store_ps(vp + j * 32, _mm512_maskz_loadu_ps(m0, v + j * ldv + n));
            _mm512_store_ps(vp + j * 32 + 16, _mm512_maskz_loadu_ps(m1, v + j * ldv + n + 16));
        }
        for (int64_t i = 0; i < rows; i += MR) {
            const int r = rows - i < MR ? (int)(rows - i) : MR;
            pv_r[r](o + i * ldo + n, ldo, alpha + i, pt + i, ldp, vp, cols, m0, m1);
        }
    }
}

const lc_flash_tile_ops lc_flash_tile_avx512 = {PANEL, pack_q, scores_t, softmax_t, accumulate, 32};
