/* lc_matmul: the tiled product against the float64 reference on random shapes (odd sizes, one
 * row, rows around the streaming limit, row strides wider than k), every weight dtype, every
 * instruction-set path this CPU runs, x kept f32 and rounded to bf16; the same bits on 1 and 3
 * threads (OpenMP or an lc_pool); bad descriptors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const lc_isa isas[] = {LC_ISA_PORTABLE, LC_ISA_AVX2, LC_ISA_AVX512};

/* |got - ref| within the f32 sums' error bound: k steps of rounding on sum |x w| */
static int close_enough(const lc_matmul *d, const float *got, const float *ref, double *worst) {
    const int64_t ldx = d->ldx ? d->ldx : d->k, ldw = d->ldw ? d->ldw : d->k, ldy = d->ldy ? d->ldy : d->n;
    const int rounds = lc_matmul_rounds_x(d);
    int ok = 1;
    for (int64_t i = 0; i < d->m; i++)
        for (int64_t j = 0; j < d->n; j++) {
            double mag = d->bias ? fabs(d->bias[j]) : 0;
            for (int64_t e = 0; e < d->k; e++) {
                float xv = d->x[i * ldx + e];
                if (rounds) xv = lc_bf16_to_f32(lc_f32_to_bf16(xv));
                float wv = d->w_dtype == LC_F32   ? ((const float *)d->w)[j * ldw + e]
                           : d->w_dtype == LC_F16 ? lc_f16_to_f32(((const uint16_t *)d->w)[j * ldw + e])
                                                  : lc_bf16_to_f32(((const uint16_t *)d->w)[j * ldw + e]);
                mag += fabs((double)xv * wv);
            }
            double err = fabs((double)got[i * ldy + j] - ref[i * ldy + j]), bound = (double)(d->k + 2) * 1.2e-7 * mag + 1e-30;
            if (err / bound > *worst) *worst = err / bound;
            if (!(err <= bound)) ok = 0;
        }
    return ok;
}

static void *weights(lc_dtype t, int64_t n, int64_t ldw, uint64_t seed) {
    float *f = malloc(sizeof(float) * (size_t)(n * ldw));
    lc_rng_fill_normal(f, (size_t)(n * ldw), seed, 0, 0, 1, 1);
    void *w = malloc(lc_dtype_size(t) * (size_t)(n * ldw));
    lc_convert(w, t, f, LC_F32, (size_t)(n * ldw));
    free(f);
    return w;
}

static void test_random(uint64_t seed) {
    test_rng r = {seed, 0};
    static const int64_t ms[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 50};
    static const int64_t ks[] = {1, 2, 3, 16, 17, 31, 32, 33, 63, 100, 257, 300};
    static const int64_t ns[] = {1, 3, 4, 5, 11, 12, 13, 25, 47, 64, 130};
    double worst = 0;
    int rounded = 0;
    lc_pool *pool = NULL;
    lc_pool_create(3, &pool);
    for (int trial = 0; trial < 60; trial++) {
        lc_matmul d;
        memset(&d, 0, sizeof d);
        d.m = ms[test_below(&r, sizeof ms / sizeof *ms)];
        d.k = ks[test_below(&r, sizeof ks / sizeof *ks)];
        d.n = ns[test_below(&r, sizeof ns / sizeof *ns)];
        if (trial % 4 == 3) d.ldx = d.k + (int64_t)test_below(&r, 5), d.ldw = d.k + (int64_t)test_below(&r, 5) , d.ldy = d.n + 3;
        const int64_t ldx = d.ldx ? d.ldx : d.k, ldw = d.ldw ? d.ldw : d.k, ldy = d.ldy ? d.ldy : d.n;
        float *x = malloc(sizeof(float) * (size_t)(d.m * ldx)), *bias = malloc(sizeof(float) * (size_t)d.n);
        float *ref = malloc(sizeof(float) * (size_t)(d.m * ldy)), *y = malloc(sizeof(float) * (size_t)(d.m * ldy)),
              *y3 = malloc(sizeof(float) * (size_t)(d.m * ldy));
        lc_rng_fill_normal(x, (size_t)(d.m * ldx), seed, 1000 + (uint64_t)trial * 100000, 0, 1, 1);
        lc_rng_fill_normal(bias, (size_t)d.n, seed, 2000 + (uint64_t)trial * 100000, 0, 1, 1);
        d.x = x, d.bias = trial % 3 == 0 ? bias : NULL;
        for (int t = 0; t <= LC_BF16; t++) {
            void *w = weights((lc_dtype)t, d.n, ldw, seed + 7 + (uint64_t)trial);
            d.w = w, d.w_dtype = (lc_dtype)t;
            for (size_t ii = 0; ii < sizeof isas / sizeof *isas; ii++) {
                if (!lc_isa_supported(isas[ii])) continue;
                d.isa = isas[ii];
                for (int xf = 0; xf <= 1; xf++) {
                    d.x_f32 = xf;
                    rounded += lc_matmul_rounds_x(&d);
                    d.y = ref;
                    lc_status st = lc_matmul_naive(&d);
                    CHECK(st == LC_OK, "naive: %s", lc_last_error());
                    memset(y, 0xff, sizeof(float) * (size_t)(d.m * ldy));
                    memset(y3, 0xff, sizeof(float) * (size_t)(d.m * ldy));
                    d.y = y, d.threads = 1;
                    st = lc_matmul_tiled_alloc(&d);
                    CHECK(st == LC_OK, "tiled: %s", lc_last_error());
                    d.y = y3, d.threads = 3;
                    if (trial % 2) d.pool = pool; /* 3 threads too */
                    st = lc_matmul_tiled_alloc(&d);
                    CHECK(st == LC_OK, "tiled, 3 threads: %s", lc_last_error());
                    d.pool = NULL;
                    int ok = 1, same = 1;
                    for (int64_t i = 0; i < d.m; i++) { /* only the view's elements are compared: the gaps stay NaN */
                        for (int64_t j = 0; j < d.n; j++) same &= !memcmp(&y[i * ldy + j], &y3[i * ldy + j], sizeof(float));
                        for (int64_t j = d.n; j < ldy && i < d.m - 1; j++) ok &= isnan(y[i * ldy + j]);
                    }
                    ok &= close_enough(&d, y, ref, &worst);
                    CHECK(ok, "m=%lld n=%lld k=%lld ld=%lld,%lld,%lld w=%s isa=%s x_f32=%d bias=%d: off the float64 reference", (long long)d.m,
                          (long long)d.n, (long long)d.k, (long long)d.ldx, (long long)d.ldw, (long long)d.ldy, lc_dtype_name(d.w_dtype),
                          lc_isa_name(d.isa), xf, d.bias != NULL);
                    CHECK(same, "m=%lld n=%lld k=%lld w=%s isa=%s x_f32=%d: 1 and 3 threads differ", (long long)d.m, (long long)d.n, (long long)d.k,
                          lc_dtype_name(d.w_dtype), lc_isa_name(d.isa), xf);
                    d.threads = 0;
                }
            }
            free(w);
        }
        free(x), free(bias), free(ref), free(y), free(y3);
    }
    lc_pool_destroy(pool);
    printf("test_matmul: worst error %.3f of the bound; %d calls rounded x to bf16\n", worst, rounded);
    /* rounding happens exactly where the CPU has the bf16 dot product */
    lc_matmul d = {.m = 1, .n = 1, .k = 1, .x = (const float[]){1}, .w = (const uint16_t[]){0x3f80}, .w_dtype = LC_BF16, .y = (float[1]){0}};
    d.isa = LC_ISA_AVX512;
    if (lc_isa_supported(LC_ISA_AVX512)) {
        int bf16 = 0;
#if defined(__x86_64__)
        bf16 = __builtin_cpu_supports("avx512bf16") != 0;
#endif
        CHECK(lc_matmul_rounds_x(&d) == bf16, "avx512 rounds x: %d, the CPU's bf16: %d", lc_matmul_rounds_x(&d), bf16);
    }
    d.isa = LC_ISA_PORTABLE;
    CHECK(!lc_matmul_rounds_x(&d), "the portable path rounds x");
}

/* Large values and special values pass through as IEEE sums do. */
static void test_special(void) {
    float x[40], y[2], ref[2];
    uint16_t w[80];
    for (int e = 0; e < 40; e++) x[e] = 1, w[e] = lc_f32_to_bf16(1), w[40 + e] = lc_f32_to_bf16(-2);
    w[40 + 7] = lc_f32_to_bf16(INFINITY);
    lc_matmul d = {.m = 1, .n = 2, .k = 40, .x = x, .w = w, .w_dtype = LC_BF16, .y = y};
    for (size_t ii = 0; ii < sizeof isas / sizeof *isas; ii++) {
        if (!lc_isa_supported(isas[ii])) continue;
        d.isa = isas[ii];
        d.y = y;
        CHECK(lc_matmul_tiled_alloc(&d) == LC_OK, "%s", lc_last_error());
        d.y = ref;
        lc_matmul_naive(&d);
        CHECK(y[0] == 40 && ref[0] == 40 && isinf(y[1]) && y[1] > 0, "isa %s: %g %g (want 40, inf)", lc_isa_name(d.isa), y[0], y[1]);
    }
}

static void test_bad_input(void) {
    static float x[400], y[400], b[8];
    uint16_t w[64] = {0};
    lc_matmul ok = {.m = 2, .n = 4, .k = 8, .x = x, .w = w, .w_dtype = LC_BF16, .y = y};
    CHECK(lc_matmul_check(&ok) == LC_OK, "%s", lc_last_error());
    CHECK(lc_matmul_check(NULL) == LC_EINVAL, "NULL descriptor");
    lc_matmul d = ok;
    d.m = 0;
    CHECK(lc_matmul_check(&d) == LC_EINVAL && strstr(lc_last_error(), "m=0"), "m=0: %s", lc_last_error());
    d = ok, d.k = -1;
    CHECK(lc_matmul_check(&d) == LC_EINVAL, "k=-1");
    d = ok, d.x = NULL;
    CHECK(lc_matmul_check(&d) == LC_EINVAL, "x NULL");
    d = ok, d.w_dtype = LC_INT8;
    CHECK(lc_matmul_check(&d) == LC_EUNSUPPORTED && strstr(lc_last_error(), "int8"), "int8 weights: %s", lc_last_error());
    d = ok, d.ldx = 7;
    CHECK(lc_matmul_check(&d) == LC_EINVAL && strstr(lc_last_error(), "ldx=7"), "ldx < k: %s", lc_last_error());
    d = ok, d.ldy = 3;
    CHECK(lc_matmul_check(&d) == LC_EINVAL && strstr(lc_last_error(), "ldy=3"), "ldy < n: %s", lc_last_error());
    d = ok, d.threads = -2;
    CHECK(lc_matmul_check(&d) == LC_EINVAL, "threads -2");
    d = ok, d.w = (const uint8_t *)w + 1;
    CHECK(lc_matmul_check(&d) == LC_EINVAL && strstr(lc_last_error(), "aligned"), "misaligned w: %s", lc_last_error());
    d = ok, d.y = x + 4;
    CHECK(lc_matmul_check(&d) == LC_EINVAL && strstr(lc_last_error(), "overlaps"), "y over x: %s", lc_last_error());
    d = ok, d.bias = b, d.y = b;
    CHECK(lc_matmul_check(&d) == LC_EINVAL, "y over bias");
    d = ok, d.isa = (lc_isa)9;
    CHECK(lc_matmul_check(&d) == LC_EINVAL, "isa 9");
    d = ok, d.m = 40, d.n = 1, d.x_f32 = 1; /* the sgemm path widens bf16 tiles: needs a workspace */
    size_t need = lc_matmul_workspace_size(&d);
    CHECK(need > 0, "widened tiles need a workspace");
    CHECK(lc_matmul_tiled(&d, NULL, 0) == LC_EINVAL && strstr(lc_last_error(), "workspace"), "no workspace: %s", lc_last_error());
    CHECK(lc_matmul_workspace_size(&(lc_matmul){.m = 0}) == 0, "workspace of a bad descriptor");
}

int main(void) {
    uint64_t seed = test_seed("test_matmul");
    test_random(seed);
    test_special();
    test_bad_input();
    return test_finish("test_matmul");
}
