/* AVX2 + FMA + F16C row operations for the flash kernel (built with -mavx2 -mfma -mf16c;
 * called only when cpuid reports them). Tails run in scalar code. */
#include "flash_ops.h"
#include "../core/tensor_io.h"
#include "../core/vec_math_avx2.h"

#include <math.h>

static float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static void load_row(float *dst, const void *src, lc_dtype t, int64_t stride, int64_t n) {
    int64_t c = 0;
    if (stride == 1) {
        for (; c + 8 <= n; c += 8) {
            __m256 x;
            if (t == LC_F32) {
                x = _mm256_loadu_ps((const float *)src + c);
            } else {
                __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)src + c));
                x = t == LC_F16 ? _mm256_cvtph_ps(h) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
            }
            _mm256_storeu_ps(dst + c, x);
        }
    }
    for (; c < n; c++) dst[c] = lc_load_elem(src, t, c * stride);
}

static float row_max(const float *s, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(s + c));
    float r = hmax(m);
    for (; c < n; c++) r = s[c] > r ? s[c] : r;
    return r;
}

static float exp_sum(float *s, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        __m256 e = lc_exp256(_mm256_sub_ps(_mm256_loadu_ps(s + c), vm));
        _mm256_storeu_ps(s + c, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum(acc);
    for (; c < n; c++) {
        s[c] = expf(s[c] - m);
        sum += s[c];
    }
    return sum;
}

static void softcap(float *s, int64_t n, float cap) {
    const __m256 vc = _mm256_set1_ps(cap), vi = _mm256_set1_ps(1.0f / cap);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) _mm256_storeu_ps(s + c, _mm256_mul_ps(vc, lc_tanh256(_mm256_mul_ps(_mm256_loadu_ps(s + c), vi))));
    for (; c < n; c++) s[c] = cap * tanhf(s[c] / cap);
}

static void store_row(void *dst, lc_dtype t, const float *src, float scale, int64_t n) {
    const __m256 s = _mm256_set1_ps(scale);
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(src + c), s);
        if (t == LC_F32) {
            _mm256_storeu_ps((float *)dst + c, x);
        } else if (t == LC_F16) {
            _mm_storeu_si128((__m128i *)((uint16_t *)dst + c), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        } else { /* bf16: add 0x7fff and the lowest kept bit (ties to even); NaN quiet */
            const __m256i u = _mm256_castps_si256(x);
            __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1)))), 16);
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
            r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x0040)), nan);
            _mm_storeu_si128((__m128i *)((uint16_t *)dst + c), _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
        }
    }
    for (; c < n; c++) lc_store_elem(dst, t, c, src[c] * scale);
}

static const lc_flash_ops ops = {load_row, row_max, exp_sum, softcap, store_row};

const lc_flash_ops *lc_flash_ops_avx2(void) { return &ops; }
