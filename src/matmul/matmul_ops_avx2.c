/* lc_matmul's loops with AVX2 + FMA + F16C: weights widened to f32 in registers (f16:
 * vcvtph2ps; bf16: a 16-bit shift), x kept f32. */
#include <immintrin.h>
#include <string.h>

#include "matmul_ops.h"

#define INLINE static inline __attribute__((always_inline))
#define MR 4 /* rows of x per pass */

/* 8 weights from element e on, as f32 (n < 8: the first n, the rest zero). */
INLINE __m256 ld_w(const void *w, lc_dtype t, int64_t e, int n) {
    if (n < 8) {
        float tmp[8] = {0};
        for (int i = 0; i < n; i++)
            tmp[i] = t == LC_F32 ? ((const float *)w)[e + i]
                     : t == LC_F16 ? _cvtsh_ss(((const uint16_t *)w)[e + i])
                                   : lc_bf16_to_f32(((const uint16_t *)w)[e + i]);
        return _mm256_loadu_ps(tmp);
    }
    if (t == LC_F32) return _mm256_loadu_ps((const float *)w + e);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + e));
    if (t == LC_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE __m256 ld_x(const float *x, int64_t e, int n) {
    if (n < 8) {
        float tmp[8] = {0};
        memcpy(tmp, x + e, sizeof(float) * (size_t)n);
        return _mm256_loadu_ps(tmp);
    }
    return _mm256_loadu_ps(x + e);
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One weight row j against rows i .. i + R - 1 of x, in address order (rows side by side
 * stream from memory at half the speed), 16 columns a step in two sums per row of x. */
INLINE void row(const lc_matmul *d, lc_dtype t, int64_t j, int64_t i, const int R) {
    const uint8_t *wr = (const uint8_t *)d->w + (size_t)(j * d->ldw) * lc_dtype_size(t);
    const float *xr[MR];
    for (int b = 0; b < R; b++) xr[b] = d->x + (i + b) * d->ldx;
    __m256 acc[2][MR];
    for (int b = 0; b < R; b++) acc[0][b] = _mm256_setzero_ps(), acc[1][b] = _mm256_setzero_ps();
    const int64_t k = d->k;
    int64_t e = 0;
    for (; e + 16 <= k; e += 16) {
        const __m256 w0 = ld_w(wr, t, e, 8), w1 = ld_w(wr, t, e + 8, 8);
        for (int b = 0; b < R; b++) {
            acc[0][b] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[b] + e), acc[0][b]);
            acc[1][b] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr[b] + e + 8), acc[1][b]);
        }
    }
    for (; e < k; e += 8) {
        const int n = k - e < 8 ? (int)(k - e) : 8;
        const __m256 w0 = ld_w(wr, t, e, n);
        for (int b = 0; b < R; b++) acc[0][b] = _mm256_fmadd_ps(w0, ld_x(xr[b], e, n), acc[0][b]);
    }
    for (int b = 0; b < R; b++) {
        float s = hsum(_mm256_add_ps(acc[0][b], acc[1][b]));
        d->y[(i + b) * d->ldy + j] = d->bias ? s + d->bias[j] : s;
    }
}

INLINE void stream_t(const lc_matmul *d, lc_dtype t, int64_t n0, int64_t n1) {
    for (int64_t j = n0; j < n1; j++)
        for (int64_t i = 0; i < d->m; i += MR) {
            switch (d->m - i < MR ? d->m - i : MR) {
            case 1: row(d, t, j, i, 1); break;
            case 2: row(d, t, j, i, 2); break;
            case 3: row(d, t, j, i, 3); break;
            default: row(d, t, j, i, 4); break;
            }
        }
}

static void stream(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1) {
    (void)xq, (void)ldq; /* this path never rounds x */
    switch (d->w_dtype) {
    case LC_F16: stream_t(d, LC_F16, n0, n1); break;
    case LC_BF16: stream_t(d, LC_BF16, n0, n1); break;
    default: stream_t(d, LC_F32, n0, n1); break;
    }
}

static void widen(float *dst, const void *src, lc_dtype t, int64_t n) {
    int64_t i = 0;
    if (t == LC_F32) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
        return;
    }
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ld_w(src, t, i, 8));
    if (i < n) {
        __m256 v = ld_w(src, t, i, (int)(n - i));
        float tmp[8];
        _mm256_storeu_ps(tmp, v);
        memcpy(dst + i, tmp, sizeof(float) * (size_t)(n - i));
    }
}

static void round_bf16(uint16_t *dst, const float *src, int64_t n, int64_t pad) {
    for (int64_t e = 0; e < n; e++) dst[e] = lc_f32_to_bf16(src[e]);
    for (int64_t e = n; e < pad; e++) dst[e] = 0;
}

const lc_matmul_ops lc_matmul_ops_avx2 = {stream, widen, round_bf16, lc_matmul_pack_bf16_portable, NULL};
