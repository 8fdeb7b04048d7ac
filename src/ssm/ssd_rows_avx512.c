/* The SSD step's loop over one head's state with AVX-512 (see scan_row.h): four rows of the
 * state at a time, each with its own sum, so four chains of FMAs are in flight; B and C are
 * loaded once per 16 state entries for the four rows; ragged N through masks. */
#include <immintrin.h>

#include "scan_row.h"

static inline __mmask16 lanes(int64_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u); }

void ssm_ssd_rows_avx512(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y) {
    const __m512 va = _mm512_set1_ps(dA);
    int64_t d = 0;
    for (; d + 4 <= P; d += 4) {
        float *h0 = h + d * N, *h1 = h0 + N, *h2 = h1 + N, *h3 = h2 + N;
        const __m512 x0 = _mm512_set1_ps(dt * x[d]), x1 = _mm512_set1_ps(dt * x[d + 1]), x2 = _mm512_set1_ps(dt * x[d + 2]), x3 = _mm512_set1_ps(dt * x[d + 3]);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t i = 0; i < N; i += 16) {
            const __mmask16 m = lanes(N - i);
            const __m512 b = _mm512_maskz_loadu_ps(m, B + i), c = _mm512_maskz_loadu_ps(m, C + i);
            const __m512 v0 = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, h0 + i), _mm512_mul_ps(x0, b));
            const __m512 v1 = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, h1 + i), _mm512_mul_ps(x1, b));
            const __m512 v2 = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, h2 + i), _mm512_mul_ps(x2, b));
            const __m512 v3 = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, h3 + i), _mm512_mul_ps(x3, b));
            _mm512_mask_storeu_ps(h0 + i, m, v0), _mm512_mask_storeu_ps(h1 + i, m, v1);
            _mm512_mask_storeu_ps(h2 + i, m, v2), _mm512_mask_storeu_ps(h3 + i, m, v3);
            s0 = _mm512_fmadd_ps(c, v0, s0), s1 = _mm512_fmadd_ps(c, v1, s1), s2 = _mm512_fmadd_ps(c, v2, s2), s3 = _mm512_fmadd_ps(c, v3, s3);
        }
        y[d] = _mm512_reduce_add_ps(s0), y[d + 1] = _mm512_reduce_add_ps(s1), y[d + 2] = _mm512_reduce_add_ps(s2), y[d + 3] = _mm512_reduce_add_ps(s3);
    }
    for (; d < P; d++) {
        float *hd = h + d * N;
        const __m512 xd = _mm512_set1_ps(dt * x[d]);
        __m512 s = _mm512_setzero_ps();
        for (int64_t i = 0; i < N; i += 16) {
            const __mmask16 m = lanes(N - i);
            const __m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, hd + i), _mm512_mul_ps(xd, _mm512_maskz_loadu_ps(m, B + i)));
            _mm512_mask_storeu_ps(hd + i, m, v);
            s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, C + i), v, s);
        }
        y[d] = _mm512_reduce_add_ps(s);
    }
}
