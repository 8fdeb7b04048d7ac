/* exp, tanh, log, softplus and silu on 16 floats with AVX-512 (internal; include only from
 * files built with -mavx512f). exp: Cephes' expf reduction and polynomial (x = n ln2 + r,
 * |r| <= ln2/2, degree-7 fit of e^r), about 2 ulp; tanh: Cephes' tanhf odd polynomial below
 * 0.625, 1 - 2/(e^{2|x|} + 1) above; log (x > 0): Cephes' logf (x = 2^e m, m in
 * [sqrt(1/2), sqrt(2)), degree-8 polynomial in m - 1), about 1 ulp; softplus as PyTorch
 * (x above 20 passes through, else log1p(e^x), log1p through Goldberg's correction
 * log(w) u / (w - 1), w = 1 + u); silu x / (1 + e^-x). NaN propagates. */
#ifndef LONGCTX_VEC_MATH_AVX512_H
#define LONGCTX_VEC_MATH_AVX512_H

#include <immintrin.h>

static inline __m512 lc_exp512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f), hi = _mm512_set1_ps(88.37626f);
    __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ); /* includes -inf: result 0 */
    x = _mm512_min_ps(hi, _mm512_max_ps(lo, x));            /* NaN stays NaN (second operand) */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_mov_ps((__mmask16)~tiny, _mm512_scalef_ps(y, n));
}

static inline __m512 lc_tanh512(__m512 x) {
    __m512 a = _mm512_abs_ps(x);
    __m512 z = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
    p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
    __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
    __m512 e = lc_exp512(_mm512_mul_ps(_mm512_min_ps(a, _mm512_set1_ps(9.0f)), _mm512_set1_ps(2.0f)));
    __m512 big = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
    big = _mm512_or_ps(big, _mm512_and_ps(x, _mm512_set1_ps(-0.0f))); /* sign of x */
    __mmask16 use_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
    return _mm512_mask_mov_ps(big, use_small, small);
}

/* log(x) for x > 0 (normal or denormal; +inf gives +inf). */
static inline __m512 lc_log512(__m512 x) {
    __m512 e = _mm512_getexp_ps(x);                                   /* floor(log2 x) */
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src); /* [1, 2) */
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f)), z = _mm512_mul_ps(f, f);
    __m512 y = _mm512_set1_ps(7.0376836292E-2f);
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.1514610310E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.1676998740E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.2420140846E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.4249322787E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-1.6668057665E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.0000714765E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(-2.4999993993E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(3.3333331174E-1f));
    y = _mm512_mul_ps(_mm512_mul_ps(y, f), z);
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

/* softplus(x): x above 20 as is, else log1p(e^x). */
static inline __m512 lc_softplus512(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f), u = lc_exp512(_mm512_min_ps(_mm512_set1_ps(20.0f), x)); /* NaN stays NaN (second operand) */
    const __m512 w = _mm512_add_ps(one, u), wm1 = _mm512_sub_ps(w, one);
    /* log1p(u) = log(w) u / (w - 1), exact for the rounded w; u itself where w rounds to 1 */
    __m512 r = _mm512_div_ps(_mm512_mul_ps(lc_log512(w), u), wm1);
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(wm1, _mm512_setzero_ps(), _CMP_EQ_OQ), u);
    return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ), x);
}

static inline __m512 lc_silu512(__m512 x) {
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), lc_exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

#endif
