/* Storage dtypes and their conversions (IEEE 754 binary16 and bfloat16).
 * Rounding is to nearest, ties to even, done on the bit patterns so the result does not
 * depend on the compiler's or the CPU's floating-point mode. */
#include "longctx/core.h"
#include "dtype_paths.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name, *alias1, *alias2;
    int bits;
} dtypes[LC_DTYPE_COUNT] = {
    [LC_F32] = {"f32", "fp32", "float32", 32}, [LC_F16] = {"f16", "fp16", "float16", 16}, [LC_BF16] = {"bf16", "bfloat16", NULL, 16},
    [LC_INT8] = {"int8", "q8", NULL, 8},       [LC_FP8] = {"fp8", "float8", "e4m3", 8},    [LC_INT4] = {"int4", "q4", NULL, 4},
};

int lc_dtype_bits(lc_dtype t) { return (unsigned)t < LC_DTYPE_COUNT ? dtypes[t].bits : 0; }

size_t lc_dtype_size(lc_dtype t) { return (size_t)(lc_dtype_bits(t) / 8); }

double lc_dtype_bytes(lc_dtype t) { return lc_dtype_bits(t) / 8.0; }

const char *lc_dtype_name(lc_dtype t) { return (unsigned)t < LC_DTYPE_COUNT ? dtypes[t].name : "?"; }

int lc_dtype_is_float(lc_dtype t) { return t == LC_F32 || t == LC_F16 || t == LC_BF16; }

lc_status lc_dtype_parse(const char *text, lc_dtype *out) {
    if (!out) return lc_error(LC_EINVAL, "lc_dtype_parse: out must not be NULL");
    for (int i = 0; text && i < LC_DTYPE_COUNT; i++)
        if (!strcasecmp(text, dtypes[i].name) || (dtypes[i].alias1 && !strcasecmp(text, dtypes[i].alias1)) ||
            (dtypes[i].alias2 && !strcasecmp(text, dtypes[i].alias2))) {
            *out = (lc_dtype)i;
            return LC_OK;
        }
    return lc_error(LC_EINVAL, "unknown dtype '%s' (known: f32, f16, bf16, int8, fp8, int4)", text ? text : "(null)");
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

uint16_t lc_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    /* Add 0x7fff plus the lowest kept bit: rounds to nearest, ties to even; a carry
     * out of the mantissa correctly bumps the exponent (up to infinity). */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float lc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t lc_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
    if (a >= 0x38800000u) { /* normal half: exponent >= -14 */
        uint32_t r = a - 0x38000000u; /* rebias exponent 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (a < 0x33000000u) return sign; /* below half the smallest subnormal (2^-25): zero */
    /* Subnormal half: value = m * 2^-24 with m = round(a_value * 2^24). */
    uint32_t e = a >> 23;               /* biased f32 exponent, 102..112 */
    uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e;          /* 14..24: bits to drop */
    uint32_t kept = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (kept & 1u))) kept++;
    return (uint16_t)(sign | kept);
}

float lc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) return bits_f32(sign | 0x7f800000u | (m << 13)); /* inf / NaN */
    if (e != 0) return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
    if (m == 0) return bits_f32(sign);
    /* subnormal: normalise */
    e = 113u;
    while (!(m & 0x400u)) {
        m <<= 1;
        e--;
    }
    return bits_f32(sign | (e << 23) | ((m & 0x3ffu) << 13));
}

static float load_one(const void *src, lc_dtype t, size_t i) {
    switch (t) {
    case LC_F32: return ((const float *)src)[i];
    case LC_F16: return lc_f16_to_f32(((const uint16_t *)src)[i]);
    case LC_BF16: return lc_bf16_to_f32(((const uint16_t *)src)[i]);
    default: break; /* lc_convert takes float dtypes only */
    }
    return 0.0f;
}

static void store_one(void *dst, lc_dtype t, size_t i, float x) {
    switch (t) {
    case LC_F32: ((float *)dst)[i] = x; break;
    case LC_F16: ((uint16_t *)dst)[i] = lc_f32_to_f16(x); break;
    case LC_BF16: ((uint16_t *)dst)[i] = lc_f32_to_bf16(x); break;
    default: break; /* lc_convert takes float dtypes only */
    }
}

void lc_convert(void *dst, lc_dtype dst_type, const void *src, lc_dtype src_type, size_t n) {
    if (n == 0 || !dst || !src) return;
    if (dst_type == src_type) {
        memmove(dst, src, n * lc_dtype_size(src_type));
        return;
    }
    if (dst_type == LC_F32 && src_type == LC_BF16) { /* the widening readers take most: a shift, one loop the compiler vectorises */
        const uint16_t *s = src;
        uint32_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = (uint32_t)s[i] << 16;
        return;
    }
    if (dst_type == LC_F32 && src_type == LC_F16) {
#ifdef LONGCTX_HAVE_X86_PATHS
        if (lc_isa_supported(LC_ISA_AVX2)) { /* F16C: vcvtph2ps */
            lc_widen_f16_avx2(dst, src, n);
            return;
        }
#endif
        const uint16_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = lc_f16_to_f32(s[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) store_one(dst, dst_type, i, load_one(src, src_type, i));
}
