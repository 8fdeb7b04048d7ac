/* lc_convert's f16 -> f32 widening with F16C (vcvtph2ps, 8 values an instruction): the same
 * values as lc_f16_to_f32, subnormals and infinities included; a signalling NaN comes back
 * quiet, as the hardware converts it. */
#include <immintrin.h>

#include "dtype_paths.h"

void lc_widen_f16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}
