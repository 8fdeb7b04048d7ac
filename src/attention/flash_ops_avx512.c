/* AVX-512 row operations for the flash kernel (built with -mavx512f -mavx512bw -mavx512dq
 * -mavx512vl; called only when cpuid reports them). Tails use masked loads and stores. */
#include "flash_ops.h"
#include "../core/tensor_io.h"
#include "../core/vec_math_avx512.h"

#include <math.h>

static inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u); }

static void load_row(float *dst, const void *src, lc_dtype t, int64_t stride, int64_t n) {
    if (stride != 1) {
        for (int64_t c = 0; c < n; c++) dst[c] = lc_load_elem(src, t, c * stride);
        return;
    }
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = tail_mask(n - c);
        __m512 x;
        if (t == LC_F32) {
            x = _mm512_maskz_loadu_ps(k, (const float *)src + c);
        } else {
            __m256i h = _mm256_maskz_loadu_epi16(k, (const uint16_t *)src + c);
            x = t == LC_F16 ? _mm512_cvtph_ps(h) : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        }
        _mm512_mask_storeu_ps(dst + c, k, x);
    }
}

static float row_max(const float *s, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t c = 0; c < n; c += 16) m = _mm512_mask_max_ps(m, tail_mask(n - c), m, _mm512_maskz_loadu_ps(tail_mask(n - c), s + c));
    return _mm512_reduce_max_ps(m);
}

static float exp_sum(float *s, int64_t n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = tail_mask(n - c);
        __m512 e = _mm512_maskz_mov_ps(k, lc_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + c), vm)));
        _mm512_mask_storeu_ps(s + c, k, e);
        acc = _mm512_add_ps(acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

static void softcap(float *s, int64_t n, float cap) {
    const __m512 vc = _mm512_set1_ps(cap), vi = _mm512_set1_ps(1.0f / cap);
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = tail_mask(n - c);
        __m512 x = _mm512_maskz_loadu_ps(k, s + c);
        _mm512_mask_storeu_ps(s + c, k, _mm512_mul_ps(vc, lc_tanh512(_mm512_mul_ps(x, vi))));
    }
}

static void store_row(void *dst, lc_dtype t, const float *src, float scale, int64_t n) {
    const __m512 s = _mm512_set1_ps(scale);
    for (int64_t c = 0; c < n; c += 16) {
        const __mmask16 k = tail_mask(n - c);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, src + c), s);
        if (t == LC_F32) {
            _mm512_mask_storeu_ps((float *)dst + c, k, x);
        } else if (t == LC_F16) {
            _mm256_mask_storeu_epi16((uint16_t *)dst + c, k, _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        } else { /* bf16: add 0x7fff and the lowest kept bit (ties to even); NaN quiet */
            const __m512i u = _mm512_castps_si512(x);
            const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)))), 16);
            const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
            const __m512i b = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x0040));
            _mm256_mask_storeu_epi16((uint16_t *)dst + c, k, _mm512_cvtepi32_epi16(b));
        }
    }
}

static const lc_flash_ops ops = {load_row, row_max, exp_sum, softcap, store_row};

const lc_flash_ops *lc_flash_ops_avx512(void) { return &ops; }
