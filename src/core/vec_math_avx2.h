/* exp, tanh, log, softplus and silu on 8 floats with AVX2 + FMA (internal): the same
 * reductions and polynomials as vec_math_avx512.h; 2^n is built in the exponent field, and
 * log takes exponent and mantissa from the bits (normal x > 0). */
#ifndef LONGCTX_VEC_MATH_AVX2_H
#define LONGCTX_VEC_MATH_AVX2_H

#include <immintrin.h>

static inline __m256 lc_exp256(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.37626f);
    __m256 tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n in [-126, 127] here, so (n + 127) << 23 is a normal power of two */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tiny, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

static inline __m256 lc_tanh256(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 a = _mm256_andnot_ps(sign, x);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
    __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
    __m256 e = lc_exp256(_mm256_mul_ps(_mm256_min_ps(a, _mm256_set1_ps(9.0f)), _mm256_set1_ps(2.0f)));
    __m256 big = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sign));
    return _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

/* log(x) for normal x > 0 (+inf gives a large finite value: callers keep x finite). */
static inline __m256 lc_log256(__m256 x) {
    const __m256i bits = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000)));
    const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    const __m256 f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f)), z = _mm256_mul_ps(f, f);
    __m256 y = _mm256_set1_ps(7.0376836292E-2f);
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.1514610310E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.1676998740E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.2420140846E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.4249322787E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-1.6668057665E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.0000714765E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(-2.4999993993E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(3.3333331174E-1f));
    y = _mm256_mul_ps(_mm256_mul_ps(y, f), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(f, y));
}

/* softplus(x): x above 20 as is, else log1p(e^x) (see vec_math_avx512.h). */
static inline __m256 lc_softplus256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), u = lc_exp256(_mm256_min_ps(_mm256_set1_ps(20.0f), x)); /* NaN stays NaN (second operand) */
    const __m256 w = _mm256_add_ps(one, u), wm1 = _mm256_sub_ps(w, one);
    __m256 r = _mm256_div_ps(_mm256_mul_ps(lc_log256(w), u), wm1);
    r = _mm256_blendv_ps(r, u, _mm256_cmp_ps(wm1, _mm256_setzero_ps(), _CMP_EQ_OQ));
    return _mm256_blendv_ps(r, x, _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}

static inline __m256 lc_silu256(__m256 x) {
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), lc_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

#endif
