/* f16 and bf16 conversions, exhaustively over all 65,536 bit patterns, against a slow
 * reference that rounds by comparing distances in double precision, and (where the CPU
 * has F16C) against the hardware's own conversion. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "harness.h"

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* The value of a binary16 pattern, straight from the definition. */
static double ref_f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* Nearest binary16 by search over the ordered magnitudes; ties go to the even pattern.
 * 0x7c00 stands in for 65536, the next step, so ties and overflow round as IEEE says. */
static uint16_t ref_f32_to_f16(float x) {
    if (isnan(x)) return 0x7e00;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a >= 65536.0) return sign | 0x7c00;
    unsigned lo = 0, hi = 0x7c00; /* value(lo) <= a < value(hi) */
    while (hi - lo > 1) {
        unsigned mid = (lo + hi) / 2;
        double v = mid == 0x7c00 ? 65536.0 : ref_f16_value((uint16_t)mid);
        if (v <= a) lo = mid; else hi = mid;
    }
    double vl = ref_f16_value((uint16_t)lo), vh = hi == 0x7c00 ? 65536.0 : ref_f16_value((uint16_t)hi);
    unsigned pick = (a - vl < vh - a) ? lo : (a - vl > vh - a) ? hi : ((lo & 1) ? hi : lo);
    return (uint16_t)(sign | pick);
}

static uint16_t ref_f32_to_bf16(float x) {
    if (isnan(x)) return 0x7fc0;
    uint32_t u = f32_bits(x), s = u & 0x80000000u, a = u & 0x7fffffffu;
    uint32_t lo = a & 0xffff0000u, hi = lo + 0x10000u; /* hi may be 0x7f800000: infinity */
    double d = fabs((double)x), dl = (double)bits_f32(lo), dh = hi >= 0x7f800000u ? ldexp(1.0, 128) : (double)bits_f32(hi);
    uint32_t pick = (d - dl < dh - d) ? lo : (d - dl > dh - d) ? hi : (((lo >> 16) & 1) ? hi : lo);
    return (uint16_t)((s | pick) >> 16);
}

static int same16(uint16_t a, uint16_t b, int nan_mask) {
    /* NaNs compare by class: both NaN (payloads may differ) */
    if (nan_mask == 0x7c00 && (a & 0x7c00) == 0x7c00 && (a & 0x3ff) && (b & 0x7c00) == 0x7c00 && (b & 0x3ff)) return 1;
    if (nan_mask == 0x7f80 && (a & 0x7f80) == 0x7f80 && (a & 0x7f) && (b & 0x7f80) == 0x7f80 && (b & 0x7f)) return 1;
    return a == b;
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float x) {
    return (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT), 0);
}
static int have_f16c(void) { return __builtin_cpu_supports("f16c"); }
#else
static uint16_t hw_f32_to_f16(float x) { return lc_f32_to_f16(x); }
static int have_f16c(void) { return 0; }
#endif

/* Every f32 the rounding can be sensitive to near one 16-bit grid point x: x itself, the
 * midpoints to its neighbours and one f32 ulp either side of them. */
static void probe_f16(float x, float next) {
    float mid = (float)(((double)x + (double)next) / 2);
    float probes[5] = {x, mid, nextafterf(mid, -INFINITY), nextafterf(mid, INFINITY), next};
    for (int p = 0; p < 5; p++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            float v = sgn ? -probes[p] : probes[p];
            uint16_t got = lc_f32_to_f16(v), want = ref_f32_to_f16(v);
            CHECK(same16(got, want, 0x7c00), "f32->f16(%a): got %04x want %04x", (double)v, got, want);
            if (have_f16c()) CHECK(same16(got, hw_f32_to_f16(v), 0x7c00), "f32->f16(%a) vs F16C %04x", (double)v, hw_f32_to_f16(v));
        }
    }
}

static void test_f16(uint64_t seed) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lc_f16_to_f32((uint16_t)h);
        double want = ref_f16_value((uint16_t)h);
        if (isnan(want)) {
            CHECK(isnan(f), "f16 %04x -> NaN", h);
            CHECK(isnan(lc_f16_to_f32(lc_f32_to_f16(f))), "NaN %04x round-trips as NaN", h);
        } else {
            CHECK((double)f == want && !signbit(f) == !signbit(want), "f16 %04x -> %a want %a", h, (double)f, want);
            CHECK(lc_f32_to_f16(f) == h, "f16 %04x round-trip gave %04x", h, lc_f32_to_f16(f));
        }
    }
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float x = lc_f16_to_f32((uint16_t)h), next = h + 1 == 0x7c00 ? 65536.0f : lc_f16_to_f32((uint16_t)(h + 1));
        probe_f16(x, next);
    }
    for (uint64_t i = 0; i < 1000000; i++) { /* random f32 patterns */
        float v = bits_f32(lc_rng_u32(seed, i));
        uint16_t got = lc_f32_to_f16(v), want = ref_f32_to_f16(v);
        CHECK(same16(got, want, 0x7c00), "f32->f16(%a) got %04x want %04x", (double)v, got, want);
    }
}

static void test_bf16(uint64_t seed) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lc_bf16_to_f32((uint16_t)h);
        CHECK(f32_bits(f) == h << 16, "bf16 %04x widens by shifting", h);
        if (isnan(f)) {
            CHECK(isnan(lc_bf16_to_f32(lc_f32_to_bf16(f))), "bf16 NaN %04x stays NaN", h);
            continue;
        }
        CHECK(lc_f32_to_bf16(f) == h, "bf16 %04x round-trips, got %04x", h, lc_f32_to_bf16(f));
        if ((h & 0x7f80) == 0x7f80) continue; /* infinity: no next */
        uint32_t lo = h << 16;
        float probes[4] = {bits_f32(lo + 0x8000u), bits_f32(lo + 0x7fffu), bits_f32(lo + 0x8001u), bits_f32(lo + 1)};
        for (int p = 0; p < 4; p++) {
            uint16_t got = lc_f32_to_bf16(probes[p]), want = ref_f32_to_bf16(probes[p]);
            CHECK(got == want, "f32->bf16(%a) got %04x want %04x", (double)probes[p], got, want);
        }
    }
    for (uint64_t i = 0; i < 1000000; i++) {
        float v = bits_f32(lc_rng_u32(seed, i));
        uint16_t got = lc_f32_to_bf16(v), want = ref_f32_to_bf16(v);
        CHECK(same16(got, want, 0x7f80), "f32->bf16(%a) got %04x want %04x", (double)v, got, want);
    }
    CHECK(lc_f32_to_bf16(3.3895314e38f) == 0x7f7f, "the largest bf16 stays finite");
    CHECK(lc_f32_to_bf16(FLT_MAX) == 0x7f80, "FLT_MAX rounds up to bf16 inf");
    CHECK(lc_f32_to_bf16(-FLT_MAX) == 0xff80, "-FLT_MAX rounds to bf16 -inf");
}

static void test_convert(uint64_t seed) {
    enum { N = 1000 };
    float src[N], back[N];
    uint16_t mid[N];
    lc_rng_fill_normal(src, N, seed, 0, 0, 100, 1);
    const lc_dtype types[2] = {LC_F16, LC_BF16};
    for (int t = 0; t < 2; t++) {
        lc_convert(mid, types[t], src, LC_F32, N);
        lc_convert(back, LC_F32, mid, types[t], N);
        int ok = 1;
        for (int i = 0; i < N; i++) {
            uint16_t one = types[t] == LC_F16 ? lc_f32_to_f16(src[i]) : lc_f32_to_bf16(src[i]);
            ok &= mid[i] == one;
            ok &= back[i] == (types[t] == LC_F16 ? lc_f16_to_f32(one) : lc_bf16_to_f32(one));
        }
        CHECK(ok, "lc_convert f32 <-> %s matches the scalar conversions", lc_dtype_name(types[t]));
    }
    uint16_t h2[N];
    lc_convert(mid, LC_F16, src, LC_F32, N);
    lc_convert(h2, LC_BF16, mid, LC_F16, N);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= h2[i] == lc_f32_to_bf16(lc_f16_to_f32(mid[i]));
    CHECK(ok, "lc_convert f16 -> bf16");
    /* every f16 bit pattern widened by lc_convert (the vector path where the CPU has one) as
     * lc_f16_to_f32 does; a NaN stays a NaN of the same sign */
    static uint16_t all[65536];
    static float wide[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    lc_convert(wide, LC_F32, all, LC_F16, 65536);
    ok = 1;
    for (int i = 0; i < 65536; i++) {
        const float want = lc_f16_to_f32(all[i]);
        ok &= isnan(want) ? isnan(wide[i]) && signbit(wide[i]) == signbit(want) : memcmp(&wide[i], &want, 4) == 0;
    }
    CHECK(ok, "lc_convert f16 -> f32: every bit pattern as lc_f16_to_f32");
    CHECK(lc_dtype_size(LC_F32) == 4 && lc_dtype_size(LC_BF16) == 2 && lc_dtype_size((lc_dtype)5) == 0, "sizes");
}

int main(void) {
    uint64_t seed = test_seed("test_dtype");
    test_f16(seed);
    test_bf16(seed);
    test_convert(seed);
    return test_finish("test_dtype");
}
