/* The selective scan's inner loop over the state with AVX2 + FMA (see scan_row.h). */
#include <immintrin.h>

#include "../core/vec_math_avx2.h"
#include "scan_row.h"

float ssm_scan_row_avx2(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N) {
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
    for (; i < N; i++) { /* the tail in scalar code, with the same exp */
        __m256 e = lc_exp256(_mm256_set1_ps(A[i] * dt));
        h[i] = _mm256_cvtss_f32(e) * h[i] + dx * B[i];
        y += h[i] * C[i];
    }
    return y;
}
