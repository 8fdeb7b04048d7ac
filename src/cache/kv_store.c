/* Cache storage types: f32, f16, bf16, and int8 / fp8 e4m3 with one symmetric scale per
 * row (per token and head): x ~= q * scale, scale = max|x| / qmax (127 or 448). */
#include <math.h>
#include <string.h>

#include "longctx/cache.h"

/* OCP FP8 E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN, largest 448. */
uint8_t lc_f32_to_fp8e4m3(float x) {
    uint8_t sign = signbit(x) ? 0x80 : 0;
    float a = fabsf(x);
    if (isnan(x)) return 0x7f;
    if (a >= 448.0f) return sign | 0x7e;
    if (a < 0x1p-6f) /* subnormal: units of 2^-9; 8 units is the smallest normal, code 0x08 */
        return sign | (uint8_t)nearbyintf(a * 0x1p9f);
    int e;
    frexpf(a, &e); /* a = f 2^e, f in [0.5, 1) */
    e -= 1;        /* a = (1 + m/8) 2^e */
    int m = (int)nearbyintf((ldexpf(a, -e) - 1.0f) * 8.0f);
    if (m == 8) m = 0, e++;
    return sign | (uint8_t)(((e + 7) << 3) | m);
}

float lc_fp8e4m3_to_f32(uint8_t x) {
    int e = (x >> 3) & 15, m = x & 7;
    float a;
    if (e == 15 && m == 7) a = NAN;
    else if (e == 0) a = ldexpf((float)m, -9);
    else a = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return x & 0x80 ? -a : a;
}

void lc_kv_store_row(void *dst, float *scale, lc_dtype t, const float *src, int n) {
    if (n <= 0 || !dst || !src) return;
    switch (t) {
    case LC_F32: memcpy(dst, src, sizeof(float) * (size_t)n); return;
    case LC_F16: lc_convert(dst, LC_F16, src, LC_F32, (size_t)n); return;
    case LC_BF16: lc_convert(dst, LC_BF16, src, LC_F32, (size_t)n); return;
    case LC_INT8:
    case LC_FP8: {
        float amax = 0;
        for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(src[i]));
        float qmax = t == LC_INT8 ? 127.0f : 448.0f, s = amax / qmax, inv = amax > 0 ? qmax / amax : 0;
        *scale = s;
        if (t == LC_INT8) {
            int8_t *q = dst;
            for (int i = 0; i < n; i++) {
                float r = nearbyintf(src[i] * inv);
                q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
            }
        } else {
            uint8_t *q = dst;
            for (int i = 0; i < n; i++) q[i] = lc_f32_to_fp8e4m3(src[i] * inv);
        }
        return;
    }
    case LC_INT4: break; /* not a cache dtype: refused by lc_kv_config_check */
    }
}

void lc_kv_load_row(float *dst, const void *src, float scale, lc_dtype t, int n) {
    if (n <= 0 || !dst || !src) return;
    switch (t) {
    case LC_F32: memcpy(dst, src, sizeof(float) * (size_t)n); return;
    case LC_F16: lc_convert(dst, LC_F32, src, LC_F16, (size_t)n); return;
    case LC_BF16: lc_convert(dst, LC_F32, src, LC_BF16, (size_t)n); return;
    case LC_INT8:
        for (int i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i] * scale;
        return;
    case LC_FP8: {
        static float lut[256];
        static volatile int ready;
        if (!ready) { /* idempotent: racing threads write the same values */
            for (int i = 0; i < 256; i++) lut[i] = lc_fp8e4m3_to_f32((uint8_t)i);
            ready = 1;
        }
        for (int i = 0; i < n; i++) dst[i] = lut[((const uint8_t *)src)[i]] * scale;
        return;
    }
    case LC_INT4: break; /* not a cache dtype: refused by lc_kv_config_check */
    }
}
