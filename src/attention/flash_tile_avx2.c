/* The flash kernel's tile products with AVX2 + FMA (flash_tile.h; built with -mavx2 -mfma,
 * called only when cpuid reports them). The micro-kernels of flash_tile_avx512.c at half the
 * width, sized for 16 registers: 6 keys x 16 queries (one panel) for the scores, 6 queries x
 * 16 columns of V for the products (a panel of V copied in address order first), 12 sums
 * held over the inner dimension; ragged columns of V through masked loads and stores. */
#include <immintrin.h>
#include <math.h>

#include "../core/vec_math_avx2.h"
#include "flash_tile.h"

#define INLINE static inline __attribute__((always_inline))
enum { PANEL = 16, MR = 6 };

static void pack_q(float *qp, const float *q, int64_t ldq, int64_t rows, int64_t dk, float scale) {
    const int64_t npad = (rows + PANEL - 1) / PANEL * PANEL;
    for (int64_t p0 = 0; p0 < npad; p0 += PANEL) {
        float *blk = qp + p0 * dk;
        for (int64_t r = 0; r < PANEL; r++)
            for (int64_t d = 0; d < dk; d++) blk[d * PANEL + r] = p0 + r < rows ? scale * q[(p0 + r) * ldq + d] : 0.0f;
    }
}

INLINE void scores_micro(float *st, int64_t lds, float *cm, const float *k, int64_t ldk, const float *qp, int64_t dk, const int R) {
    __m256 s0[MR], s1[MR];
#pragma GCC unroll 6
    for (int a = 0; a < R; a++) s0[a] = _mm256_setzero_ps(), s1[a] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dk; d++) {
        const __m256 q0 = _mm256_loadu_ps(qp + d * PANEL), q1 = _mm256_loadu_ps(qp + d * PANEL + 8);
#pragma GCC unroll 6
        for (int a = 0; a < R; a++) {
            const __m256 b = _mm256_broadcast_ss(k + a * ldk + d);
            s0[a] = _mm256_fmadd_ps(b, q0, s0[a]);
            s1[a] = _mm256_fmadd_ps(b, q1, s1[a]);
        }
    }
    __m256 c0 = _mm256_loadu_ps(cm), c1 = _mm256_loadu_ps(cm + 8);
#pragma GCC unroll 6
    for (int a = 0; a < R; a++) {
        _mm256_storeu_ps(st + a * lds, s0[a]), _mm256_storeu_ps(st + a * lds + 8, s1[a]);
        c0 = _mm256_max_ps(s0[a], c0), c1 = _mm256_max_ps(s1[a], c1); /* NaN skipped (second operand) */
    }
    _mm256_storeu_ps(cm, c0), _mm256_storeu_ps(cm + 8, c1);
}

#define SCORES(R)                                                                                                                  \
    static void scores_##R(float *st, int64_t lds, float *cm, const float *k, int64_t ldk, const float *qp, int64_t dk) {          \
        scores_micro(st, lds, cm, k, ldk, qp, dk, R);                                                                              \
    }
SCORES(1) SCORES(2) SCORES(3) SCORES(4) SCORES(5) SCORES(6)
typedef void (*scores_fn)(float *, int64_t, float *, const float *, int64_t, const float *, int64_t);
static const scores_fn scores_r[MR + 1] = {NULL, scores_1, scores_2, scores_3, scores_4, scores_5, scores_6};

static void scores_t(float *st, int64_t lds, float *colmax, const float *k, int64_t ldk, int64_t cols, const float *qp, int64_t npad, int64_t dk) {
    for (int64_t p0 = 0; p0 < npad; p0 += PANEL) {
        _mm256_storeu_ps(colmax + p0, _mm256_set1_ps(-INFINITY)), _mm256_storeu_ps(colmax + p0 + 8, _mm256_set1_ps(-INFINITY));
        for (int64_t j = 0; j < cols; j += MR) {
            const int r = cols - j < MR ? (int)(cols - j) : MR;
            scores_r[r](st + j * lds + p0, lds, colmax + p0, k + j * ldk, ldk, qp + p0 * dk, dk);
        }
    }
}

static void softmax_t(float *st, int64_t lds, int64_t cols, int64_t npad, const float *colmax, float *m, float *l, float *alpha) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int64_t i = 0; i < npad; i += 8) {
        __m256 mx = colmax ? _mm256_loadu_ps(colmax + i) : ninf;
        for (int64_t j = 0; !colmax && j < cols; j++) mx = _mm256_max_ps(_mm256_loadu_ps(st + j * lds + i), mx); /* NaN skipped (second operand) */
        const __m256 mo = _mm256_loadu_ps(m + i);
        const __m256 mn = _mm256_blendv_ps(mx, mo, _mm256_cmp_ps(mo, mx, _CMP_GT_OQ));
        const __m256 meff = _mm256_blendv_ps(mn, _mm256_setzero_ps(), _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ));
        const __m256 a = lc_exp256(_mm256_sub_ps(mo, meff));
        __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
        int64_t j = 0;
        for (; j + 2 <= cols; j += 2) {
            const __m256 e0 = lc_exp256(_mm256_sub_ps(_mm256_loadu_ps(st + j * lds + i), meff));
            const __m256 e1 = lc_exp256(_mm256_sub_ps(_mm256_loadu_ps(st + (j + 1) * lds + i), meff));
            _mm256_storeu_ps(st + j * lds + i, e0), _mm256_storeu_ps(st + (j + 1) * lds + i, e1);
            sum0 = _mm256_add_ps(sum0, e0), sum1 = _mm256_add_ps(sum1, e1);
        }
        if (j < cols) {
            const __m256 e0 = lc_exp256(_mm256_sub_ps(_mm256_loadu_ps(st + j * lds + i), meff));
            _mm256_storeu_ps(st + j * lds + i, e0);
            sum0 = _mm256_add_ps(sum0, e0);
        }
        _mm256_storeu_ps(l + i, _mm256_fmadd_ps(_mm256_loadu_ps(l + i), a, _mm256_add_ps(sum0, sum1)));
        _mm256_storeu_ps(m + i, mn);
        _mm256_storeu_ps(alpha + i, a);
    }
}

/* Queries i < R against a packed panel of 16 columns of V (vp[j 16 + ..], zeros past dv);
 * the output's ragged columns through masked loads and stores (m0, m1), full ones plain. */
INLINE void pv_micro(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, const float *vp, int64_t cols, __m256i m0, __m256i m1,
                     const int R, const int full) {
    __m256 s0[MR], s1[MR];
#pragma GCC unroll 6
    for (int a = 0; a < R; a++) {
        const __m256 al = _mm256_broadcast_ss(alpha + a);
        s0[a] = _mm256_mul_ps(al, full ? _mm256_loadu_ps(o + a * ldo) : _mm256_maskload_ps(o + a * ldo, m0));
        s1[a] = _mm256_mul_ps(al, full ? _mm256_loadu_ps(o + a * ldo + 8) : _mm256_maskload_ps(o + a * ldo + 8, m1));
    }
    for (int64_t j = 0; j < cols; j++) {
        const __m256 v0 = _mm256_load_ps(vp + j * 16), v1 = _mm256_load_ps(vp + j * 16 + 8);
#pragma GCC unroll 6
        for (int a = 0; a < R; a++) {
            const __m256 b = _mm256_broadcast_ss(pt + j * ldp + a);
            s0[a] = _mm256_fmadd_ps(b, v0, s0[a]);
            s1[a] = _mm256_fmadd_ps(b, v1, s1[a]);
        }
    }
#pragma GCC unroll 6
    for (int a = 0; a < R; a++) {
        if (full) _mm256_storeu_ps(o + a * ldo, s0[a]), _mm256_storeu_ps(o + a * ldo + 8, s1[a]);
        else _mm256_maskstore_ps(o + a * ldo, m0, s0[a]), _mm256_maskstore_ps(o + a * ldo + 8, m1, s1[a]);
    }
}

#define PV(R)                                                                                                                      \
    static void pv_##R(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, const float *vp, int64_t cols, __m256i m0, \
                       __m256i m1, int full) {                                                                                     \
        if (full) pv_micro(o, ldo, alpha, pt, ldp, vp, cols, m0, m1, R, 1);                                                        \
        else pv_micro(o, ldo, alpha, pt, ldp, vp, cols, m0, m1, R, 0);                                                             \
    }
PV(1) PV(2) PV(3) PV(4) PV(5) PV(6)
typedef void (*pv_fn)(float *, int64_t, const float *, const float *, int64_t, const float *, int64_t, __m256i, __m256i, int);
static const pv_fn pv_r[MR + 1] = {NULL, pv_1, pv_2, pv_3, pv_4, pv_5, pv_6};

/* Lanes [0, left) of a vector, as a maskload / maskstore mask. */
static inline __m256i lanes(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left >= 8 ? 8 : left <= 0 ? 0 : (int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void accumulate(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, int64_t rows, const float *v, int64_t ldv,
                       int64_t cols, int64_t dv, float *vp) {
    for (int64_t n = 0; n < dv; n += 16) {
        const __m256i m0 = lanes(dv - n), m1 = lanes(dv - n - 8);
        const int full = dv - n >= 16;
        for (int64_t j = 0; j < cols; j++) { /* the panel, in address order; zeros past dv */
            _mm256_store_ps(vp + j * 16, full ? _mm256_loadu_ps(v + j * ldv + n) : _mm256_maskload_ps(v + j * ldv + n, m0));
            _mm256_store_ps(vp + j * 16 + 8, full ? _mm256_loadu_ps(v + j * ldv + n + 8) : _mm256_maskload_ps(v + j * ldv + n + 8, m1));
        }
        for (int64_t i = 0; i < rows; i += MR) {
            const int r = rows - i < MR ? (int)(rows - i) : MR;
            pv_r[r](o + i * ldo + n, ldo, alpha + i, pt + i, ldp, vp, cols, m0, m1, full);
        }
    }
}

const lc_flash_tile_ops lc_flash_tile_avx2 = {PANEL, pack_q, scores_t, softmax_t, accumulate, 16};
