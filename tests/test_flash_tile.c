/* The flash kernel's tile products (src/attention/flash_tile.h) on every vector path this CPU
 * runs, against float64 references on fresh random inputs: awkward shapes (one query or key,
 * counts that are not a multiple of the panel or of the micro-kernels' rows, head dims 64,
 * 128, 256 and odd ones, leading dimensions wider than the rows), running states with
 * masked (-inf) scores, columns masked throughout and NaN scores; and the output rows'
 * conversion bit for bit. The whole kernel is tested through lc_attention_flash by
 * test_attention. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/attention/flash_ops.h"
#include "../src/attention/flash_tile.h"
#include "harness.h"

static long products_run;

/* n normal draws into x. */
static void draw(float *x, int64_t n, test_rng *r) {
    lc_rng_fill_normal(x, (size_t)n, r->seed, r->counter, 0, 1, 1);
    r->counter += (uint64_t)n;
}

static float *alloc_f(int64_t n) { return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1)); }

/* A head dim: the common ones, and odd ones around the vector widths. */
static int64_t draw_dim(test_rng *r) {
    static const int64_t dims[] = {64, 128, 256, 1, 3, 7, 15, 17, 31, 33, 47, 63, 65, 80, 96, 127, 129, 255};
    return dims[test_below(r, sizeof dims / sizeof dims[0])];
}

/* A count around the tiles: 1, small, or near a multiple of 12 / 16 / 32 up to 300. */
static int64_t draw_count(test_rng *r, int64_t max) {
    switch (test_below(r, 4)) {
    case 0: return 1 + (int64_t)test_below(r, 4);
    case 1: return 1 + (int64_t)test_below(r, (uint64_t)max);
    case 2: {
        int64_t m = (1 + (int64_t)test_below(r, 8)) * (test_below(r, 2) ? 12 : 16) + (int64_t)test_below(r, 3) - 1;
        return m < 1 ? 1 : m > max ? max : m;
    }
    default: return max - (int64_t)test_below(r, 3);
    }
}

/* pack_q and scores_t: the layout exactly, the products within f32 rounding of the sum of
 * |terms| (a NaN key now and then: its scores NaN), the column maxima exactly. Returns the count of wrong elements. */
static long check_scores(lc_isa isa, const lc_flash_tile_ops *t, test_rng *r) {
    const int64_t rows = draw_count(r, 140), cols = draw_count(r, 300), dk = draw_dim(r);
    const int64_t ldq = dk + (int64_t)test_below(r, 3), ldk = dk + (int64_t)test_below(r, 3);
    const int64_t npad = (rows + t->panel - 1) / t->panel * t->panel, lds = npad + 16 * (int64_t)test_below(r, 2);
    const float scale = (float)(0.05 + test_uniform(r));
    float *q = alloc_f(rows * ldq), *k = alloc_f(cols * ldk), *qp = alloc_f(npad * dk), *st = alloc_f(cols * lds), *colmax = alloc_f(npad);
    draw(q, rows * ldq, r), draw(k, cols * ldk, r);
    memset(qp, 0xff, sizeof(float) * (size_t)(npad * dk)); /* NaN: an unwritten element shows */
    memset(st, 0xff, sizeof(float) * (size_t)(cols * lds));
    t->pack_q(qp, q, ldq, rows, dk, scale);
    long bad = 0;
    for (int64_t i = 0; i < npad; i++)
        for (int64_t d = 0; d < dk; d++) {
            const float want = i < rows ? scale * q[i * ldq + d] : 0.0f, got = qp[(i / t->panel) * t->panel * dk + d * t->panel + i % t->panel];
            bad += got != want;
        }
    if (test_below(r, 4) == 0) k[test_below(r, (uint64_t)(cols * ldk))] = NAN; /* a NaN key: its column max skips it */
    t->scores_t(st, lds, colmax, k, ldk, cols, qp, npad, dk);
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < npad; i++) {
            double want = 0, mag = 0;
            for (int64_t d = 0; d < dk; d++) {
                const double qv = i < rows ? (double)(scale * q[i * ldq + d]) : 0.0, term = qv * k[j * ldk + d];
                want += term, mag += fabs(term);
            }
            const double got = st[j * lds + i];
            if (isnan(want)) bad += !isnan(got);
            else bad += !(fabs(got - want) <= 1e-6 * (double)dk * mag + 1e-30);
        }
    for (int64_t i = 0; i < npad; i++) { /* the column maximum of what was stored, exactly */
        float mx = -INFINITY;
        for (int64_t j = 0; j < cols; j++) mx = st[j * lds + i] > mx ? st[j * lds + i] : mx;
        bad += memcmp(&mx, &colmax[i], sizeof mx) != 0;
    }
    CHECK(bad == 0, "%s: pack_q / scores_t rows=%lld cols=%lld dk=%lld ldq=%lld ldk=%lld lds=%lld: %ld wrong", lc_isa_name(isa), (long long)rows,
          (long long)cols, (long long)dk, (long long)ldq, (long long)ldk, (long long)lds, bad);
    free(q), free(k), free(qp), free(st), free(colmax);
    products_run++;
    return bad;
}

/* How far an f32 exp(x) may be from the float64 one: a few ulp, plus the rounding of the f32
 * argument (s - m rounded: relative error |x| 2^-24 in the result), plus results below
 * FLT_MIN (flushed to 0 or denormal). */
static double exp_tolerance(double x, double want) { return want > 0 ? want * (4e-7 + 1.2e-7 * fabs(x)) + 1.2e-38 : 1.2e-38; }

/* softmax_t: scores with masked entries, whole columns masked, a NaN now and then; running
 * states fresh (-inf, 0), finite or masked so far. */
static long check_softmax(lc_isa isa, const lc_flash_tile_ops *t, test_rng *r) {
    const int64_t cols = draw_count(r, 300), npad = t->panel * (1 + (int64_t)test_below(r, 4)), lds = npad + 16 * (int64_t)test_below(r, 2);
    float *st = alloc_f(cols * lds), *m = alloc_f(npad), *l = alloc_f(npad), *alpha = alloc_f(npad);
    double *ref = malloc(sizeof(double) * (size_t)(cols * lds));
    draw(st, cols * lds, r);
    const double spread = 1 + 30 * test_uniform(r);
    for (int64_t e = 0; e < cols * lds; e++) st[e] *= (float)spread;
    float *m0 = alloc_f(npad), *l0 = alloc_f(npad);
    int *nan_col = calloc((size_t)npad, sizeof(int));
    for (int64_t i = 0; i < npad; i++) {
        const int kind = (int)test_below(r, 8); /* 0: column masked throughout; 1: a NaN; 2-3: fresh; else a running state */
        for (int64_t j = 0; j < cols; j++)
            if (kind == 0 || test_below(r, 5) == 0) st[j * lds + i] = -INFINITY;
        if (kind == 1) st[test_below(r, (uint64_t)cols) * lds + i] = NAN, nan_col[i] = 1;
        if (kind <= 3) m0[i] = -INFINITY, l0[i] = 0;
        else m0[i] = (float)(spread * (2 * test_uniform(r) - 1)), l0[i] = (float)(0.5 + 10 * test_uniform(r));
        if (kind == 0 && test_below(r, 2)) m0[i] = (float)(spread * (2 * test_uniform(r) - 1)), l0[i] = 1; /* masked tile after seen keys */
    }
    for (int64_t e = 0; e < cols * lds; e++) ref[e] = st[e];
    memcpy(m, m0, sizeof(float) * (size_t)npad), memcpy(l, l0, sizeof(float) * (size_t)npad);
    float *colmax = NULL; /* half the time the column maxima are given, as scores_t finds them */
    if (test_below(r, 2)) {
        colmax = alloc_f(npad);
        for (int64_t i = 0; i < npad; i++) {
            colmax[i] = -INFINITY;
            for (int64_t j = 0; j < cols; j++) colmax[i] = st[j * lds + i] > colmax[i] ? st[j * lds + i] : colmax[i];
        }
    }
    t->softmax_t(st, lds, cols, npad, colmax, m, l, alpha);
    free(colmax);
    long bad = 0;
    for (int64_t i = 0; i < npad; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < cols; j++)
            if (ref[j * lds + i] > mx) mx = ref[j * lds + i];
        const double mn = m0[i] > mx ? m0[i] : mx, meff = mn == -INFINITY ? 0 : mn, a = exp(m0[i] - meff);
        double sum = 0;
        for (int64_t j = 0; j < cols; j++) {
            const double arg = ref[j * lds + i] - meff, want = exp(arg), got = st[j * lds + i];
            sum += want;
            if (isnan(want)) bad += !isnan(got);
            else bad += !(fabs(got - want) <= exp_tolerance(arg, want));
        }
        const double want_l = l0[i] * a + sum;
        bad += m[i] != (float)mn;
        bad += !(fabs(alpha[i] - a) <= exp_tolerance(m0[i] - meff, a));
        if (nan_col[i]) bad += !isnan(l[i]);
        else bad += !(fabs(l[i] - want_l) <= 1e-5 * want_l);
    }
    CHECK(bad == 0, "%s: softmax_t cols=%lld npad=%lld lds=%lld spread=%g: %ld wrong", lc_isa_name(isa), (long long)cols, (long long)npad, (long long)lds, spread, bad);
    free(st), free(m), free(l), free(alpha), free(ref), free(m0), free(l0), free(nan_col);
    products_run++;
    return bad;
}

/* accumulate: o = alpha o + P V with ragged rows and columns, cols = 0 too. */
static long check_accumulate(lc_isa isa, const lc_flash_tile_ops *t, test_rng *r) {
    const int64_t rows = draw_count(r, 140), cols = test_below(r, 10) == 0 ? 0 : draw_count(r, 300), dv = draw_dim(r);
    const int64_t ldo = dv + (int64_t)test_below(r, 3), ldp = rows + (int64_t)test_below(r, 20), ldv = dv + (int64_t)test_below(r, 3);
    float *o = alloc_f(rows * ldo), *o0 = alloc_f(rows * ldo), *pt = alloc_f(cols * ldp), *v = alloc_f(cols * ldv), *alpha = alloc_f(rows);
    draw(o, rows * ldo, r), draw(v, cols * ldv, r);
    for (int64_t e = 0; e < cols * ldp; e++) pt[e] = (float)test_uniform(r);
    for (int64_t i = 0; i < rows; i++) alpha[i] = test_below(r, 4) == 0 ? 1.0f : test_below(r, 6) == 0 ? 0.0f : (float)test_uniform(r);
    memcpy(o0, o, sizeof(float) * (size_t)(rows * ldo));
    float *vp = lc_aligned_alloc(sizeof(float) * (size_t)((cols > 0 ? cols : 1) * t->vpanel), 64);
    t->accumulate(o, ldo, alpha, pt, ldp, rows, v, ldv, cols, dv, vp);
    lc_aligned_free(vp);
    long bad = 0;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t n = 0; n < dv; n++) {
            double want = (double)alpha[i] * o0[i * ldo + n], mag = fabs(want);
            for (int64_t j = 0; j < cols; j++) {
                const double term = (double)pt[j * ldp + i] * v[j * ldv + n];
                want += term, mag += fabs(term);
            }
            bad += !(fabs(o[i * ldo + n] - want) <= 1e-6 * (double)(cols + 2) * mag + 1e-30);
        }
        for (int64_t n = dv; n < ldo; n++) bad += memcmp(&o[i * ldo + n], &o0[i * ldo + n], sizeof(float)) != 0; /* the gap untouched */
    }
    CHECK(bad == 0, "%s: accumulate rows=%lld cols=%lld dv=%lld ldo=%lld ldp=%lld ldv=%lld: %ld wrong", lc_isa_name(isa), (long long)rows, (long long)cols, (long long)dv,
          (long long)ldo, (long long)ldp, (long long)ldv, bad);
    free(o), free(o0), free(pt), free(v), free(alpha);
    products_run++;
    return bad;
}

/* store_row (the output rows): bit for bit what lc_f32_to_f16 / lc_f32_to_bf16 give for
 * src * scale, on values with ties, NaN, infinities, denormals and overflow, any length. */
static long check_store_row(lc_isa isa, test_rng *r) {
    const lc_flash_ops *ops = lc_flash_ops_for(isa);
    long bad = 0;
    for (int rep = 0; rep < 30; rep++) {
        const int64_t n = 1 + (int64_t)test_below(r, 70);
        const float scale = rep % 3 ? (float)(0.25 + test_uniform(r)) : 1.0f;
        float src[70];
        for (int64_t c = 0; c < n; c++) {
            uint32_t u = (uint32_t)(test_below(r, 1ull << 32));
            switch (test_below(r, 6)) {
            case 0: u = (u & 0xffff0000u) | 0x8000u; break; /* a bf16 tie */
            case 1: u = (u & 0xffffe000u) | 0x1000u; break; /* an f16 tie (where normal) */
            case 2: u = test_below(r, 2) ? 0x7fc00001u : 0xff800000u; break; /* NaN, -inf */
            case 3: u &= 0x807fffffu; break; /* denormal */
            default: break;
            }
            memcpy(&src[c], &u, sizeof u);
        }
        for (int t = 0; t < 3; t++) {
            const lc_dtype dt = (lc_dtype)t;
            union {
                float f[70];
                uint16_t h[70];
            } out;
            ops->store_row(&out, dt, src, scale, n);
            for (int64_t c = 0; c < n; c++) {
                const float x = src[c] * scale;
                if (dt == LC_F32) bad += memcmp(&out.f[c], &x, sizeof x) != 0 && !(isnan(x) && isnan(out.f[c]));
                else if (dt == LC_F16) bad += out.h[c] != lc_f32_to_f16(x) && !(isnan(x) && isnan(lc_f16_to_f32(out.h[c])));
                else bad += out.h[c] != lc_f32_to_bf16(x) && !(isnan(x) && isnan(lc_bf16_to_f32(out.h[c]))); /* NaN payloads may differ */
            }
        }
    }
    CHECK(bad == 0, "%s: store_row: %ld elements differ from lc_f32_to_f16 / lc_f32_to_bf16", lc_isa_name(isa), bad);
    return bad;
}

int main(void) {
    test_rng r = {test_seed("test_flash_tile"), 0};
    for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
        if (!lc_isa_supported(isa)) {
            printf("%s: not supported here, skipped\n", lc_isa_name(isa));
            continue;
        }
        const lc_flash_tile_ops *t = lc_flash_tile_ops_for(isa);
        long bad = 0;
        for (int rep = 0; rep < 60; rep++) bad += check_scores(isa, t, &r) + check_softmax(isa, t, &r) + check_accumulate(isa, t, &r);
        bad += check_store_row(isa, &r);
        printf("%s: panel %lld, 180 products, %ld wrong elements\n", lc_isa_name(isa), (long long)t->panel, bad);
    }
    printf("%ld tile products against the float64 references\n", products_run);
    return test_finish("test_flash_tile");
}
