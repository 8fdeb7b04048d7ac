/* Portable C row operations for the flash kernel (libm's expf and tanhf). */
#include "flash_ops.h"
#include "../core/tensor_io.h"

#include <math.h>

static void load_row(float *dst, const void *src, lc_dtype t, int64_t stride, int64_t n) {
    for (int64_t c = 0; c < n; c++) dst[c] = lc_load_elem(src, t, c * stride);
}

static float row_max(const float *s, int64_t n) {
    float m = -INFINITY;
    for (int64_t c = 0; c < n; c++) m = s[c] > m ? s[c] : m;
    return m;
}

static float exp_sum(float *s, int64_t n, float m) {
    float sum = 0;
    for (int64_t c = 0; c < n; c++) {
        s[c] = expf(s[c] - m);
        sum += s[c];
    }
    return sum;
}

static void softcap(float *s, int64_t n, float cap) {
    float inv = 1.0f / cap;
    for (int64_t c = 0; c < n; c++) s[c] = cap * tanhf(s[c] * inv);
}

static void store_row(void *dst, lc_dtype t, const float *src, float scale, int64_t n) {
    for (int64_t c = 0; c < n; c++) lc_store_elem(dst, t, c, src[c] * scale);
}

static const lc_flash_ops ops = {load_row, row_max, exp_sum, softcap, store_row};

const lc_flash_ops *lc_flash_ops_portable(void) { return &ops; }

const lc_flash_ops *lc_flash_ops_for(lc_isa isa) {
    switch (isa) {
#ifdef LONGCTX_HAVE_X86_PATHS
    case LC_ISA_AVX512: return lc_flash_ops_avx512();
    case LC_ISA_AVX2: return lc_flash_ops_avx2();
#endif
    default: return &ops;
    }
}
