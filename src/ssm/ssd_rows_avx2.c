/* The SSD step's loop over one head's state with AVX2 + FMA (see scan_row.h): four rows of
 * the state at a time as in ssd_rows_avx512.c, eight entries a vector; the ragged end of N
 * through masked loads and stores. */
#include <immintrin.h>

#include "scan_row.h"

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lanes [0, left) of a vector, as a maskload / maskstore mask. */
static inline __m256i lanes(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left >= 8 ? 8 : (int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void ssm_ssd_rows_avx2(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y) {
    const __m256 va = _mm256_set1_ps(dA);
    const int64_t full = N / 8 * 8;
    const __m256i mt = lanes(N - full);
    int64_t d = 0;
    for (; d + 4 <= P; d += 4) {
        float *hr[4] = {h + d * N, h + (d + 1) * N, h + (d + 2) * N, h + (d + 3) * N};
        __m256 xr[4], s[4];
        for (int r = 0; r < 4; r++) xr[r] = _mm256_set1_ps(dt * x[d + r]), s[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < full; i += 8) {
            const __m256 b = _mm256_loadu_ps(B + i), c = _mm256_loadu_ps(C + i);
            for (int r = 0; r < 4; r++) {
                const __m256 v = _mm256_fmadd_ps(va, _mm256_loadu_ps(hr[r] + i), _mm256_mul_ps(xr[r], b));
                _mm256_storeu_ps(hr[r] + i, v);
                s[r] = _mm256_fmadd_ps(c, v, s[r]);
            }
        }
        if (full < N) {
            const __m256 b = _mm256_maskload_ps(B + full, mt), c = _mm256_maskload_ps(C + full, mt);
            for (int r = 0; r < 4; r++) {
                const __m256 v = _mm256_fmadd_ps(va, _mm256_maskload_ps(hr[r] + full, mt), _mm256_mul_ps(xr[r], b));
                _mm256_maskstore_ps(hr[r] + full, mt, v);
                s[r] = _mm256_fmadd_ps(c, v, s[r]);
            }
        }
        for (int r = 0; r < 4; r++) y[d + r] = hsum(s[r]);
    }
    for (; d < P; d++) {
        float *hd = h + d * N;
        const __m256 xd = _mm256_set1_ps(dt * x[d]);
        __m256 s = _mm256_setzero_ps();
        for (int64_t i = 0; i < N; i += 8) {
            const __m256i m = lanes(N - i);
            const __m256 v = _mm256_fmadd_ps(va, _mm256_maskload_ps(hd + i, m), _mm256_mul_ps(xd, _mm256_maskload_ps(B + i, m)));
            _mm256_maskstore_ps(hd + i, m, v);
            s = _mm256_fmadd_ps(_mm256_maskload_ps(C + i, m), v, s);
        }
        y[d] = hsum(s);
    }
}
