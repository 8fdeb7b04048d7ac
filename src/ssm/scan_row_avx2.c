/* The selective scan's token over a block of channels with AVX2 + FMA (see scan_row.h):
 * dt's softplus, dt x, D and the gate for 8 channels at a time; each channel's state update
 * and sum over N in vectors of 8 state entries, the ragged end in scalar code with the same
 * exp. */
#include <immintrin.h>

#include "../core/vec_math_avx2.h"
#include "scan_row.h"

static inline float row(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N) {
    const __m256 vdt = _mm256_set1_ps(dt), vdx = _mm256_set1_ps(dx);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= N; i += 8) {
        __m256 hv = _mm256_loadu_ps(h + i);
        hv = _mm256_fmadd_ps(lc_exp256(_mm256_mul_ps(_mm256_loadu_ps(A + i), vdt)), hv, _mm256_mul_ps(vdx, _mm256_loadu_ps(B + i)));
        _mm256_storeu_ps(h + i, hv);
        acc = _mm256_fmadd_ps(hv, _mm256_loadu_ps(C + i), acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float y = _mm_cvtss_f32(s);
    for (; i < N; i++) {
        __m256 e = lc_exp256(_mm256_set1_ps(A[i] * dt));
        h[i] = _mm256_cvtss_f32(e) * h[i] + dx * B[i];
        y += h[i] * C[i];
    }
    return y;
}

void ssm_scan_block_avx2(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                         float *h, int64_t d0, int64_t d1) {
    const int64_t N = s->state;
    float dts[8], dxs[8], ys[8];
    for (int64_t d = d0; d < d1; d += 8) {
        const int nc = d1 - d < 8 ? (int)(d1 - d) : 8;
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(nc), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 raw = _mm256_maskload_ps(dt + d, m);
        if (s->dt_bias) raw = _mm256_add_ps(raw, _mm256_maskload_ps(s->dt_bias + d, m));
        const __m256 vdt = lc_softplus256(raw), xv = _mm256_maskload_ps(x + d, m);
        _mm256_storeu_ps(dts, vdt), _mm256_storeu_ps(dxs, _mm256_mul_ps(vdt, xv));
        for (int c = 0; c < nc; c++) ys[c] = row(s->A + (d + c) * N, h + (d + c) * N, B, C, dts[c], dxs[c], N);
        __m256 yv = _mm256_maskload_ps(ys, m);
        if (s->D) yv = _mm256_fmadd_ps(xv, _mm256_maskload_ps(s->D + d, m), yv);
        if (z) yv = _mm256_mul_ps(yv, lc_silu256(_mm256_maskload_ps(z + d, m)));
        _mm256_maskstore_ps(y + d, m, yv);
    }
}
