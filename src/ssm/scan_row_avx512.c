/* The selective scan's token over a block of channels with AVX-512 (see scan_row.h): dt's
 * softplus, dt x, D and the gate for 16 channels at a time; each channel's state update and
 * sum over N in vectors of 16 state entries. With N = 16 (Mamba's state) B and C stay in
 * registers and the 16 channels' sums are reduced together (a transpose folded into adds:
 * 3 instructions a channel where a reduction of its own takes 8). */
#include <immintrin.h>

#include "../core/vec_math_avx512.h"
#include "scan_row.h"

static inline __mmask16 lanes(int64_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u); }

/* h[i] = exp(A[i] dt) h[i] + dx B[i] over i < N; returns sum_i C[i] h[i]. */
static inline float row(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N) {
    const __m512 vdt = _mm512_set1_ps(dt), vdx = _mm512_set1_ps(dx);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < N; i += 16) {
        const __mmask16 m = lanes(N - i);
        __m512 a = _mm512_maskz_loadu_ps(m, A + i), hv = _mm512_maskz_loadu_ps(m, h + i);
        __m512 b = _mm512_maskz_loadu_ps(m, B + i), c = _mm512_maskz_loadu_ps(m, C + i);
        hv = _mm512_fmadd_ps(lc_exp512(_mm512_mul_ps(a, vdt)), hv, _mm512_mul_ps(vdx, b));
        _mm512_mask_storeu_ps(h + i, m, hv);
        acc = _mm512_fmadd_ps(hv, c, acc); /* masked lanes are 0 * 0 */
    }
    return _mm512_reduce_add_ps(acc);
}

/* r[c] = sum_i a[c][i], c < 16: halves, then quarters, then pairs of lanes added across the
 * vectors until each 128-bit block holds four channels' sums; the blocks then reordered. */
static inline __m512 sum16(const __m512 a[16]) {
    __m512 t[8], u[4], v[2];
    for (int k = 0; k < 8; k++) /* lanes 0-7: channel k's 8 partial sums; 8-15: channel k + 8's */
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[k], a[k + 8], 0x44), _mm512_shuffle_f32x4(a[k], a[k + 8], 0xee));
    for (int k = 0; k < 4; k++) /* blocks: channel k, k + 8, k + 4, k + 12 (4 partials each) */
        u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[k], t[k + 4], 0x88), _mm512_shuffle_f32x4(t[k], t[k + 4], 0xdd));
    for (int k = 0; k < 2; k++) /* per block: u[k]'s and u[k + 2]'s channel, 2 partials each, interleaved */
        v[k] = _mm512_add_ps(_mm512_unpacklo_ps(u[k], u[k + 2]), _mm512_unpackhi_ps(u[k], u[k + 2]));
    /* per block: the sums of u[0]'s, u[1]'s, u[2]'s and u[3]'s channel: 0-3, 8-11, 4-7, 12-15 */
    const __m512 w = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
    return _mm512_shuffle_f32x4(w, w, 0xd8);
}

/* 16 channels with N = 16: their dt and dx in dts[k], dxs[k] (each broadcast from memory, a
 * load rather than a shuffle); returns their sums. */
static inline __m512 rows16(const float *A, float *h, __m512 b, __m512 c, const float *dts, const float *dxs) {
    __m512 acc[16];
    for (int k = 0; k < 16; k++) {
        const __m512 dA = lc_exp512(_mm512_mul_ps(_mm512_loadu_ps(A + 16 * k), _mm512_set1_ps(dts[k])));
        const __m512 hv = _mm512_fmadd_ps(dA, _mm512_loadu_ps(h + 16 * k), _mm512_mul_ps(_mm512_set1_ps(dxs[k]), b));
        _mm512_storeu_ps(h + 16 * k, hv);
        acc[k] = _mm512_mul_ps(hv, c);
    }
    return sum16(acc);
}

void ssm_scan_block_avx512(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                           float *h, int64_t d0, int64_t d1) {
    const int64_t N = s->state;
    float dts[16] __attribute__((aligned(64))), dxs[16] __attribute__((aligned(64))), ys[16] __attribute__((aligned(64)));
    for (int64_t d = d0; d < d1; d += 16) {
        const __mmask16 m = lanes(d1 - d);
        const int nc = d1 - d < 16 ? (int)(d1 - d) : 16;
        __m512 raw = _mm512_maskz_loadu_ps(m, dt + d);
        if (s->dt_bias) raw = _mm512_add_ps(raw, _mm512_maskz_loadu_ps(m, s->dt_bias + d));
        const __m512 vdt = lc_softplus512(raw), xv = _mm512_maskz_loadu_ps(m, x + d);
        const __m512 vdx = _mm512_mul_ps(vdt, xv);
        __m512 yv;
        _mm512_store_ps(dts, vdt), _mm512_store_ps(dxs, vdx);
        if (N == 16 && nc == 16) {
            yv = rows16(s->A + d * N, h + d * N, _mm512_loadu_ps(B), _mm512_loadu_ps(C), dts, dxs);
        } else {
            for (int c = 0; c < nc; c++) ys[c] = row(s->A + (d + c) * N, h + (d + c) * N, B, C, dts[c], dxs[c], N);
            yv = _mm512_maskz_load_ps(m, ys);
        }
        if (s->D) yv = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, s->D + d), yv);
        if (z) yv = _mm512_mul_ps(yv, lc_silu512(_mm512_maskz_loadu_ps(m, z + d)));
        _mm512_mask_storeu_ps(y + d, m, yv);
    }
}
