/* The selective scan's inner loop over the state with AVX-512 (see scan_row.h). */
#include <immintrin.h>

#include "../core/vec_math_avx512.h"
#include "scan_row.h"

float ssm_scan_row_avx512(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N) {
    const __m512 vdt = _mm512_set1_ps(dt), vdx = _mm512_set1_ps(dx);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < N; i += 16) {
        const __mmask16 m = N - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (N - i)) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, A + i), hv = _mm512_maskz_loadu_ps(m, h + i);
        __m512 b = _mm512_maskz_loadu_ps(m, B + i), c = _mm512_maskz_loadu_ps(m, C + i);
        hv = _mm512_fmadd_ps(lc_exp512(_mm512_mul_ps(a, vdt)), hv, _mm512_mul_ps(vdx, b));
        _mm512_mask_storeu_ps(h + i, m, hv);
        acc = _mm512_fmadd_ps(hv, c, acc); /* masked lanes are 0 * 0 */
    }
    return _mm512_reduce_add_ps(acc);
}
