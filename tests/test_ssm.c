/* Mamba's selective scan and Mamba-2's SSD against their float64 sequential recurrences on
 * fresh random inputs: odd lengths, n = 1, chunk sizes that do not divide n, groups,
 * extreme dt (tiny, huge, clamped), states carried across calls, 64K-token recurrences at
 * small width; the step on every vector path at the shapes of real layers (state 128, head
 * dim 64) and ragged ones, on 1-3 threads; the mixer layers' prefill continued by steps against
 * one prefill over all tokens (outputs token by token, conv and SSM states); the causal conv1d
 * against a float64 convolution, its state carried over two calls; NaN propagation; bad input.
 * The comparison with transformers itself is test_ssm_golden. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static float *randn(size_t n, test_rng *r, float mean, float sd) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    lc_rng_fill_normal(x, n, r->seed, r->counter, mean, sd, 1);
    r->counter += n;
    return x;
}

/* max |a - b| / (atol + rtol |b|), NaN counts as infinite */
static double scaled_err(const float *a, const float *b, size_t n, double atol, double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* ---- selective scan ---------------------------------------------------------------------- */

typedef struct scan_data {
    lc_selective_scan s;
    float *x, *dt, *bias, *A, *B, *C, *D, *z, *y, *h;
} scan_data;

static scan_data scan_make(int64_t batch, int64_t n, int64_t E, int64_t N, float dt_mean, test_rng *r) {
    scan_data d;
    d.x = randn((size_t)(batch * n * E), r, 0, 1), d.dt = randn((size_t)(batch * n * E), r, dt_mean, 1);
    d.bias = randn((size_t)E, r, 0, 0.5f), d.A = randn((size_t)(E * N), r, 0, 1), d.B = randn((size_t)(batch * n * N), r, 0, 1);
    d.C = randn((size_t)(batch * n * N), r, 0, 1), d.D = randn((size_t)E, r, 0, 1), d.z = randn((size_t)(batch * n * E), r, 0, 1);
    d.y = randn((size_t)(batch * n * E), r, 0, 1), d.h = randn((size_t)(batch * E * N), r, 0, 1);
    for (int64_t i = 0; i < E * N; i++) d.A[i] = -expf(d.A[i]);
    lc_selective_scan s = {batch, n, E, N, d.x, d.dt, d.bias, d.A, d.B, d.C, d.D, d.z, d.y, d.h, batch * E * N, 2, LC_ISA_AUTO};
    d.s = s;
    return d;
}

static void scan_free(scan_data *d) {
    free(d->x), free(d->dt), free(d->bias), free(d->A), free(d->B), free(d->C), free(d->D), free(d->z), free(d->y), free(d->h);
}

/* run vs naive from the same random start state; outputs and final states */
static void scan_compare(scan_data *d, const char *what, double tol) {
    size_t ny = (size_t)(d->s.batch * d->s.n * d->s.channels), nh = (size_t)d->s.h_floats;
    float *h0 = malloc(sizeof(float) * nh), *y_ref = malloc(sizeof(float) * ny), *h_ref = malloc(sizeof(float) * nh);
    memcpy(h0, d->h, sizeof(float) * nh);
    lc_status st = lc_selective_scan_naive(&d->s);
    memcpy(y_ref, d->y, sizeof(float) * ny), memcpy(h_ref, d->h, sizeof(float) * nh);
    memcpy(d->h, h0, sizeof(float) * nh);
    memset(d->y, 0xff, sizeof(float) * ny);
    lc_status st2 = lc_selective_scan_f32(&d->s);
    CHECK(!st && !st2, "%s: %s", what, lc_last_error());
    double ey = scaled_err(d->y, y_ref, ny, tol, tol), eh = scaled_err(d->h, h_ref, nh, tol, tol);
    CHECK(ey <= 1 && eh <= 1, "%s (b=%lld n=%lld E=%lld N=%lld isa=%s threads=%d): scaled error y %g, state %g", what, (long long)d->s.batch,
          (long long)d->s.n, (long long)d->s.channels, (long long)d->s.state, lc_isa_name(d->s.isa), d->s.threads, ey, eh);
    free(h0), free(y_ref), free(h_ref);
}

static void test_scan(uint64_t seed) {
    test_rng r = {seed, 0};
    for (int i = 0; i < 40; i++) {
        int64_t n = test_below(&r, 3) == 0 ? 1 : 1 + (int64_t)test_below(&r, 200);
        scan_data d = scan_make(1 + (int64_t)test_below(&r, 2), n, 1 + (int64_t)test_below(&r, 40), 1 + (int64_t)test_below(&r, 20), -1, &r);
        d.s.threads = 1 + (int)test_below(&r, 3);
        d.s.isa = (lc_isa)(1 + test_below(&r, 3)); /* portable, AVX2, AVX-512 */
        if (!lc_isa_supported(d.s.isa)) d.s.isa = LC_ISA_PORTABLE;
        if (test_below(&r, 4) == 0) d.s.z = NULL;
        if (test_below(&r, 4) == 0) d.s.D = NULL, d.s.dt_bias = NULL;
        scan_compare(&d, "random scan", 1e-4);
        scan_free(&d);
    }
    /* the shapes of real layers and ragged ones: state 16 (Mamba's, a register-held path on
     * AVX-512) and others, channels around the vector widths, 1-3 threads, one token (decoding)
     * and a few, on every vector path */
    static const int64_t states[] = {16, 16, 16, 8, 32, 5}, channels[] = {16, 48, 100, 256, 17, 1};
    for (int i = 0; i < 12; i++) {
        const int64_t N = states[test_below(&r, 6)], E = channels[test_below(&r, 6)], n = test_below(&r, 2) ? 1 : 1 + (int64_t)test_below(&r, 9);
        scan_data d = scan_make(1 + (int64_t)test_below(&r, 2), n, E, N, -1, &r);
        d.s.threads = 1 + (int)test_below(&r, 3);
        if (test_below(&r, 4) == 0) d.s.z = NULL;
        if (test_below(&r, 4) == 0) d.s.D = NULL, d.s.dt_bias = NULL;
        for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++)
            if (lc_isa_supported(isa)) d.s.isa = isa, scan_compare(&d, "layer-sized scan", 1e-4);
        scan_free(&d);
    }
    static const float extreme[] = {-40, 30, 80}; /* dt ~ e^-40, ~30, ~80 (exp(dt A) underflows to 0) */
    for (int i = 0; i < 3; i++) {
        scan_data d = scan_make(1, 37, 9, 5, extreme[i], &r);
        char what[48];
        snprintf(what, sizeof what, "extreme dt around softplus(%g)", (double)extreme[i]);
        for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++)
            if (lc_isa_supported(isa)) d.s.isa = isa, scan_compare(&d, what, 1e-4);
        scan_free(&d);
    }
    /* 64K tokens at width 2 x 4: the f32 recurrence stays with the f64 one */
    scan_data d = scan_make(1, 65536, 2, 4, -2, &r);
    scan_compare(&d, "64K-token scan", 1e-3);
    scan_free(&d);
}

/* ---- SSD ----------------------------------------------------------------------------------- */

typedef struct ssd_data {
    lc_ssd s;
    float *x, *dt, *bias, *A, *B, *C, *D, *y, *h;
} ssd_data;

static ssd_data ssd_make(int64_t batch, int64_t n, int64_t H, int64_t P, int64_t G, int64_t N, float dt_mean, test_rng *r) {
    ssd_data d;
    d.x = randn((size_t)(batch * n * H * P), r, 0, 1), d.dt = randn((size_t)(batch * n * H), r, dt_mean, 1);
    d.bias = randn((size_t)H, r, 0, 0.5f), d.A = randn((size_t)H, r, 0, 1), d.B = randn((size_t)(batch * n * G * N), r, 0, 1);
    d.C = randn((size_t)(batch * n * G * N), r, 0, 1), d.D = randn((size_t)H, r, 0, 1), d.y = randn((size_t)(batch * n * H * P), r, 0, 1);
    d.h = randn((size_t)(batch * H * P * N), r, 0, 1);
    for (int64_t i = 0; i < H; i++) d.A[i] = -expf(d.A[i]);
    lc_ssd s = {batch, n, H, P, G, N, d.x, d.dt, d.bias, 0, 0, d.A, d.B, d.C, d.D, d.y, d.h, batch * H * P * N, 0, 2, LC_ISA_AUTO};
    d.s = s;
    return d;
}

static void ssd_free(ssd_data *d) {
    free(d->x), free(d->dt), free(d->bias), free(d->A), free(d->B), free(d->C), free(d->D), free(d->y), free(d->h);
}

/* chunked and step vs naive, from the same random start state */
static void ssd_compare(ssd_data *d, const char *what, double tol) {
    size_t ny = (size_t)(d->s.batch * d->s.n * d->s.heads * d->s.head_dim), nh = (size_t)d->s.h_floats;
    float *h0 = malloc(sizeof(float) * nh), *y_ref = malloc(sizeof(float) * ny), *h_ref = malloc(sizeof(float) * nh);
    memcpy(h0, d->h, sizeof(float) * nh);
    lc_status st = lc_ssd_naive(&d->s);
    CHECK(!st, "%s: naive %s", what, lc_last_error());
    memcpy(y_ref, d->y, sizeof(float) * ny), memcpy(h_ref, d->h, sizeof(float) * nh);
    /* form 0: chunked; 1, 2, 3: the step on the portable, AVX2 and AVX-512 paths */
    for (int form = 0; form < 4; form++) {
        if (form && !lc_isa_supported((lc_isa)form)) continue;
        d->s.isa = form ? (lc_isa)form : LC_ISA_AUTO;
        memcpy(d->h, h0, sizeof(float) * nh);
        memset(d->y, 0xff, sizeof(float) * ny);
        st = form ? lc_ssd_step(&d->s) : lc_ssd_chunked_alloc(&d->s);
        CHECK(!st, "%s: %s", what, lc_last_error());
        double ey = scaled_err(d->y, y_ref, ny, tol, tol), eh = scaled_err(d->h, h_ref, nh, tol, tol);
        CHECK(ey <= 1 && eh <= 1, "%s %s (b=%lld n=%lld H=%lld P=%lld G=%lld N=%lld chunk=%lld threads=%d): scaled error y %g, state %g", what,
              form ? lc_isa_name((lc_isa)form) : "chunked", (long long)d->s.batch, (long long)d->s.n, (long long)d->s.heads,
              (long long)d->s.head_dim, (long long)d->s.groups, (long long)d->s.state, (long long)d->s.chunk, d->s.threads, ey, eh);
    }
    d->s.isa = LC_ISA_AUTO;
    free(h0), free(y_ref), free(h_ref);
}

static void test_ssd(uint64_t seed) {
    test_rng r = {seed ^ 0x55d, 0};
    static const int64_t chunks[] = {0, 1, 3, 8, 17, 64};
    for (int i = 0; i < 40; i++) {
        int64_t n = test_below(&r, 3) == 0 ? 1 : 1 + (int64_t)test_below(&r, 200);
        int64_t G = 1 + (int64_t)test_below(&r, 2), H = G * (1 + (int64_t)test_below(&r, 3));
        ssd_data d = ssd_make(1 + (int64_t)test_below(&r, 2), n, H, 1 + (int64_t)test_below(&r, 16), G, 1 + (int64_t)test_below(&r, 16), -1, &r);
        d.s.chunk = chunks[test_below(&r, 6)], d.s.threads = 1 + (int)test_below(&r, 3);
        if (test_below(&r, 4) == 0) d.s.D = NULL, d.s.dt_bias = NULL;
        if (test_below(&r, 4) == 0) d.s.dt_min = 0.01f, d.s.dt_max = 0.5f;
        ssd_compare(&d, "random ssd", 1e-4);
        ssd_free(&d);
    }
    /* the shapes of real layers and ragged ones around the vector widths: head dims that are
     * not a multiple of the step's four rows, states of 16, 64, 128 and odd sizes; one token
     * (decoding) and a few, on 1-3 threads, with enough heads to run them in parallel */
    static const int64_t states[] = {16, 64, 128, 7, 17, 33, 100, 129}, dims[] = {64, 1, 3, 6, 13, 32};
    for (int i = 0; i < 16; i++) {
        const int64_t N = states[test_below(&r, 8)], P = dims[test_below(&r, 6)], G = 1 + (int64_t)test_below(&r, 2);
        const int64_t H = G * (i < 4 ? 24 : 1 + (int64_t)test_below(&r, 4)), n = test_below(&r, 2) ? 1 : 1 + (int64_t)test_below(&r, 9);
        ssd_data d = ssd_make(1 + (int64_t)test_below(&r, 2), n, H, P, G, N, -1, &r);
        d.s.threads = 1 + (int)test_below(&r, 3);
        if (test_below(&r, 4) == 0) d.s.D = NULL;
        ssd_compare(&d, "layer-sized ssd", 1e-4);
        ssd_free(&d);
    }
    static const float extreme[] = {-40, 30, 80};
    for (int i = 0; i < 3; i++) {
        ssd_data d = ssd_make(1, 45, 4, 6, 2, 5, extreme[i], &r);
        d.s.chunk = 8;
        char what[48];
        snprintf(what, sizeof what, "extreme dt around softplus(%g)", (double)extreme[i]);
        ssd_compare(&d, what, 1e-4);
        ssd_free(&d);
    }
    ssd_data d = ssd_make(1, 65536, 2, 2, 1, 4, -2, &r);
    ssd_compare(&d, "64K-token ssd", 1e-3);
    ssd_free(&d);
}

/* ---- the layers: a prefill continued by steps equals one prefill ---------------------------- */

typedef struct layer_data {
    lc_mamba_weights w1;
    lc_mamba2_weights w2;
    float *mem[32];
    int nmem;
} layer_data;

static float *keep(layer_data *L, float *p) { return L->mem[L->nmem++] = p; }

static layer_data layers_make(test_rng *r) {
    layer_data L;
    memset(&L, 0, sizeof L);
    lc_mamba_weights *a = &L.w1;
    a->hidden = 12, a->inner = 20, a->state = 6, a->conv_kernel = 4, a->dt_rank = 3;
    a->in_proj_w = keep(&L, randn(40 * 12, r, 0, 0.3f)), a->in_proj_b = keep(&L, randn(40, r, 0, 0.3f));
    a->conv_w = keep(&L, randn(20 * 4, r, 0, 0.5f)), a->conv_b = keep(&L, randn(20, r, 0, 0.3f));
    a->x_proj_w = keep(&L, randn(15 * 20, r, 0, 0.3f)), a->dt_proj_w = keep(&L, randn(20 * 3, r, 0, 0.3f));
    a->dt_proj_b = keep(&L, randn(20, r, -1, 0.5f)), a->A_log = keep(&L, randn(20 * 6, r, 0, 0.5f)), a->D = keep(&L, randn(20, r, 0, 1));
    a->out_proj_w = keep(&L, randn(12 * 20, r, 0, 0.3f)), a->out_proj_b = keep(&L, randn(12, r, 0, 0.3f));
    lc_mamba2_weights *b = &L.w2; /* heads 4 x head_dim 5 = 20, groups 2, state 6: conv 44, in_proj 68 */
    b->hidden = 12, b->heads = 4, b->head_dim = 5, b->groups = 2, b->state = 6, b->conv_kernel = 4, b->norm_eps = 1e-5f, b->chunk = 8;
    b->in_proj_w = keep(&L, randn(68 * 12, r, 0, 0.3f)), b->in_proj_b = keep(&L, randn(68, r, 0, 0.3f));
    b->conv_w = keep(&L, randn(44 * 4, r, 0, 0.5f)), b->conv_b = keep(&L, randn(44, r, 0, 0.3f));
    b->dt_bias = keep(&L, randn(4, r, -1, 0.5f)), b->A_log = keep(&L, randn(4, r, 0, 0.5f)), b->D = keep(&L, randn(4, r, 0, 1));
    b->norm_w = keep(&L, randn(20, r, 1, 0.2f)), b->out_proj_w = keep(&L, randn(12 * 20, r, 0, 0.3f)), b->out_proj_b = keep(&L, randn(12, r, 0, 0.3f));
    return L;
}

static void layers_free(layer_data *L) {
    for (int i = 0; i < L->nmem; i++) free(L->mem[i]);
}

typedef lc_status (*layer_fn)(const void *w, const lc_mixer_io *io);
static lc_status m1_pre(const void *w, const lc_mixer_io *io) { return lc_mamba_prefill(w, io); }
static lc_status m1_step(const void *w, const lc_mixer_io *io) { return lc_mamba_step(w, io); }
static lc_status m2_pre(const void *w, const lc_mixer_io *io) { return lc_mamba2_prefill(w, io); }
static lc_status m2_step(const void *w, const lc_mixer_io *io) { return lc_mamba2_step(w, io); }

/* One prefill over n tokens vs a prefill of k tokens and then one step per token, and vs
 * pieces of random lengths alternating prefill and step. */
static void layer_continuation(const void *w, int64_t hidden, int64_t conv_f, int64_t ssm_f, layer_fn pre, layer_fn step, const char *name,
                               test_rng *r) {
    const int64_t batch = 2, n = 29;
    float *x = randn((size_t)(batch * n * hidden), r, 0, 1), *y_ref = malloc(sizeof(float) * (size_t)(batch * n * hidden));
    float *cs_ref = calloc((size_t)conv_f, sizeof(float)), *ss_ref = calloc((size_t)ssm_f, sizeof(float));
    lc_mixer_io io = {batch, n, x, y_ref, cs_ref, conv_f, ss_ref, ssm_f, 2};
    CHECK(pre(w, &io) == LC_OK, "%s prefill: %s", name, lc_last_error());
    for (int mode = 0; mode < 2; mode++) {
        float *y = malloc(sizeof(float) * (size_t)(batch * n * hidden)), *cs = calloc((size_t)conv_f, sizeof(float)), *ss = calloc((size_t)ssm_f, sizeof(float));
        float *xb = malloc(sizeof(float) * (size_t)(batch * n * hidden)), *yb = malloc(sizeof(float) * (size_t)(batch * n * hidden));
        memset(y, 0xff, sizeof(float) * (size_t)(batch * n * hidden));
        for (int64_t t0 = 0; t0 < n;) {
            int64_t m = mode == 0 ? (t0 == 0 ? 11 : 1) : 1 + (int64_t)test_below(r, 6);
            if (m > n - t0) m = n - t0;
            for (int64_t b = 0; b < batch; b++) memcpy(xb + b * m * hidden, x + (b * n + t0) * hidden, sizeof(float) * (size_t)(m * hidden));
            lc_mixer_io part = {batch, m, xb, yb, cs, conv_f, ss, ssm_f, 1};
            lc_status st = (mode == 0 ? t0 > 0 : test_below(r, 2)) ? step(w, &part) : pre(w, &part);
            CHECK(st == LC_OK, "%s piece: %s", name, lc_last_error());
            for (int64_t b = 0; b < batch; b++) memcpy(y + (b * n + t0) * hidden, yb + b * m * hidden, sizeof(float) * (size_t)(m * hidden));
            t0 += m;
        }
        double ey = scaled_err(y, y_ref, (size_t)(batch * n * hidden), 1e-5, 1e-4);
        double ec = scaled_err(cs, cs_ref, (size_t)conv_f, 1e-6, 1e-6), es = scaled_err(ss, ss_ref, (size_t)ssm_f, 1e-5, 1e-4);
        CHECK(ey <= 1 && ec <= 1 && es <= 1, "%s %s: scaled error outputs %g, conv state %g, ssm state %g", name,
              mode ? "random prefill/step pieces" : "prefill 11 then 18 steps", ey, ec, es);
        free(y), free(cs), free(ss), free(xb), free(yb);
    }
    /* NaN in token 9 of sequence 0: its outputs from 9 on are NaN, the earlier ones and sequence 1 are not */
    x[9 * hidden + 2] = NAN;
    memset(cs_ref, 0, sizeof(float) * (size_t)conv_f), memset(ss_ref, 0, sizeof(float) * (size_t)ssm_f);
    CHECK(pre(w, &io) == LC_OK, "%s prefill: %s", name, lc_last_error());
    int ok = 1;
    for (int64_t t = 0; t < n; t++)
        for (int64_t e = 0; e < hidden; e++) {
            if (t < 9 && !isfinite(y_ref[t * hidden + e])) ok = 0;
            if (t >= 9 && !isnan(y_ref[t * hidden + e])) ok = 0;
            if (!isfinite(y_ref[(n + t) * hidden + e])) ok = 0;
        }
    CHECK(ok, "%s: a NaN input at token 9 must make exactly the later outputs of its sequence NaN", name);
    free(x), free(y_ref), free(cs_ref), free(ss_ref);
}

static void test_layers(uint64_t seed) {
    test_rng r = {seed ^ 0x1a7e5, 0};
    layer_data L = layers_make(&r);
    layer_continuation(&L.w1, 12, lc_mamba_conv_state_floats(&L.w1, 2), lc_mamba_ssm_state_floats(&L.w1, 2), m1_pre, m1_step, "mamba", &r);
    for (int64_t chunk = 0; chunk <= 8; chunk += 3) { /* chunks 0 (64), 3, 6 over 29 tokens */
        L.w2.chunk = chunk;
        layer_continuation(&L.w2, 12, lc_mamba2_conv_state_floats(&L.w2, 2), lc_mamba2_ssm_state_floats(&L.w2, 2), m2_pre, m2_step, "mamba2", &r);
    }
    layers_free(&L);
}

/* ---- bad input --------------------------------------------------------------------------- */

/* ---- the causal conv1d: against a float64 convolution, the state carried over two calls ----- */

static void test_conv1d(uint64_t seed) {
    test_rng r = {seed ^ 0xc0417, 0};
    for (int i = 0; i < 40; i++) {
        const int64_t n = 1 + (int64_t)test_below(&r, i % 4 ? 100 : 3), C = 1 + (int64_t)test_below(&r, 20);
        const int64_t K = ((int64_t[]){1, 2, 4, 7, 64})[test_below(&r, 5)], S = K - 1, xs = C + (int64_t)test_below(&r, 3), ys = C + (int64_t)test_below(&r, 3);
        const int64_t B = 1 + (int64_t)test_below(&r, 2), n1 = (int64_t)test_below(&r, (uint64_t)n + 1); /* the first call's tokens */
        float *x = randn((size_t)(B * n * xs), &r, 0, 1), *w = randn((size_t)(C * K), &r, 0, 0.5f), *b = randn((size_t)C, &r, 0, 0.5f);
        float *s0 = randn((size_t)(B * C * S), &r, 0, 1), *st = malloc(sizeof(float) * (size_t)(B * C * S + 1)), *y = malloc(sizeof(float) * (size_t)(B * n * ys));
        const float *bias = test_below(&r, 2) ? b : NULL;
        memcpy(st, s0, sizeof(float) * (size_t)(B * C * S));
        /* the batch in two calls: tokens [0, n1), then [n1, n) (one call when n1 is 0 or n) */
        for (int part = 0; part < 2; part++) {
            const int64_t t0 = part ? n1 : 0, t1 = part ? n : n1;
            if (t1 <= t0) continue;
            float *xp = malloc(sizeof(float) * (size_t)(B * (t1 - t0) * xs)), *yp = malloc(sizeof(float) * (size_t)(B * (t1 - t0) * ys));
            for (int64_t bb = 0; bb < B; bb++) memcpy(xp + bb * (t1 - t0) * xs, x + (bb * n + t0) * xs, sizeof(float) * (size_t)((t1 - t0) * xs));
            lc_causal_conv1d c = {B, t1 - t0, C, K, xp, xs, w, bias, yp, ys, S ? st : NULL, B * C * S};
            CHECK(lc_causal_conv1d_f32(&c) == LC_OK, "conv1d: %s", lc_last_error());
            for (int64_t bb = 0; bb < B; bb++) memcpy(y + (bb * n + t0) * ys, yp + bb * (t1 - t0) * ys, sizeof(float) * (size_t)((t1 - t0) * ys));
            free(xp), free(yp);
        }
        double worst = 0;
        int state_ok = 1;
        for (int64_t bb = 0; bb < B; bb++)
            for (int64_t ch = 0; ch < C; ch++) {
                for (int64_t t = 0; t < n; t++) {
                    double acc = bias ? bias[ch] : 0;
                    for (int64_t j = 0; j < K; j++) {
                        const int64_t idx = t - S + j;
                        acc += (double)w[ch * K + j] * (idx >= 0 ? x[(bb * n + idx) * xs + ch] : s0[(bb * C + ch) * S + S + idx]);
                    }
                    const double want = acc / (1 + exp(-acc)), e = fabs(y[(bb * n + t) * ys + ch] - want) / (1e-6 + 1e-5 * fabs(want));
                    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
                }
                for (int64_t j = 0; j < S; j++) {
                    const int64_t idx = n - S + j;
                    state_ok &= st[(bb * C + ch) * S + j] == (idx >= 0 ? x[(bb * n + idx) * xs + ch] : s0[(bb * C + ch) * S + S + idx]);
                }
            }
        CHECK(worst <= 1 && state_ok, "conv1d b=%lld n=%lld C=%lld K=%lld split at %lld: scaled error %g, state %s", (long long)B, (long long)n, (long long)C,
              (long long)K, (long long)n1, worst, state_ok ? "right" : "wrong");
        free(x), free(w), free(b), free(s0), free(st), free(y);
    }
}

static void expect(lc_status got, lc_status want, const char *word, const char *what) {
    CHECK(got == want && strstr(lc_last_error(), word), "%s: got %s '%s', want %s naming '%s'", what, lc_status_str(got), lc_last_error(),
          lc_status_str(want), word);
}

static void test_bad_input(uint64_t seed) {
    test_rng r = {seed ^ 0xbad5, 0};
    scan_data d = scan_make(1, 5, 3, 2, 0, &r);
    lc_selective_scan s = d.s;
    s.h_floats = 5;
    expect(lc_selective_scan_f32(&s), LC_EINVAL, "h_floats", "scan state of the wrong size");
    s = d.s, s.B = NULL;
    expect(lc_selective_scan_f32(&s), LC_EINVAL, "B", "scan without B");
    s = d.s, s.state = 0;
    expect(lc_selective_scan_naive(&s), LC_EINVAL, "state", "scan with no state size");
    scan_free(&d);

    ssd_data e = ssd_make(1, 5, 3, 2, 1, 2, 0, &r);
    lc_ssd q = e.s;
    q.groups = 2;
    expect(lc_ssd_chunked_alloc(&q), LC_EINVAL, "groups", "groups not dividing heads");
    q = e.s, q.h_floats++;
    expect(lc_ssd_step(&q), LC_EINVAL, "h_floats", "ssd state of the wrong size");
    q = e.s, q.dt_min = 1, q.dt_max = 0.5f;
    expect(lc_ssd_naive(&q), LC_EINVAL, "dt_min", "dt clamp upside down");
    q = e.s;
    char ws[8];
    expect(lc_ssd_chunked(&q, ws, sizeof ws), LC_EINVAL, "workspace", "small ssd workspace");
    ssd_free(&e);

    layer_data L = layers_make(&r);
    float x[12 * 3], y[12 * 3], cs[44 * 3], ss[4 * 5 * 6];
    lc_mixer_io io = {1, 3, x, y, cs, lc_mamba_conv_state_floats(&L.w1, 1), ss, lc_mamba_ssm_state_floats(&L.w1, 1), 1};
    memset(x, 0, sizeof x), memset(cs, 0, sizeof cs);
    io.ssm_state_floats = 119; /* 120 expected */
    expect(lc_mamba_prefill(&L.w1, &io), LC_EINVAL, "ssm_state_floats", "mamba ssm state of the wrong size");
    io.ssm_state_floats = 120, io.conv_state_floats = 61;
    expect(lc_mamba_step(&L.w1, &io), LC_EINVAL, "conv_state_floats", "mamba conv state of the wrong size");
    io.conv_state_floats = 60;
    lc_mamba_weights w1 = L.w1;
    w1.A_log = NULL;
    expect(lc_mamba_prefill(&w1, &io), LC_EINVAL, "A_log", "mamba without A_log");
    w1 = L.w1, w1.conv_kernel = 0;
    expect(lc_mamba_prefill(&w1, &io), LC_EINVAL, "conv_kernel", "mamba conv_kernel 0");
    lc_mamba2_weights w2 = L.w2;
    io.conv_state_floats = lc_mamba2_conv_state_floats(&w2, 1), io.ssm_state_floats = lc_mamba2_ssm_state_floats(&w2, 1);
    CHECK(lc_mamba2_prefill(&w2, &io) == LC_OK, "mamba2 prefill on good input: %s", lc_last_error());
    w2.groups = 3;
    expect(lc_mamba2_prefill(&w2, &io), LC_EINVAL, "groups", "mamba2 groups not dividing heads");
    w2 = L.w2, w2.norm_group = 7;
    expect(lc_mamba2_step(&w2, &io), LC_EINVAL, "norm_group", "mamba2 norm group not dividing the width");
    w2 = L.w2, io.n = 0;
    expect(lc_mamba2_prefill(&w2, &io), LC_EINVAL, "n=0", "mamba2 with no tokens");
    layers_free(&L);

    float cx[24], cw[8], cy[24], cst[6];
    lc_causal_conv1d c = {1, 4, 2, 4, cx, 3, cw, NULL, cy, 2, cst, 6};
    memset(cx, 0, sizeof cx), memset(cw, 0, sizeof cw), memset(cst, 0, sizeof cst);
    CHECK(lc_causal_conv1d_f32(&c) == LC_OK, "conv1d on good input: %s", lc_last_error());
    c.kernel = 65;
    expect(lc_causal_conv1d_check(&c), LC_EINVAL, "kernel", "conv1d kernel 65");
    c.kernel = 4, c.x_stride = 1;
    expect(lc_causal_conv1d_f32(&c), LC_EINVAL, "x_stride", "conv1d rows narrower than the channels");
    c.x_stride = 3, c.state_floats = 5;
    expect(lc_causal_conv1d_f32(&c), LC_EINVAL, "state_floats", "conv1d state of the wrong size");
    c.state_floats = 6, c.y = cx;
    expect(lc_causal_conv1d_f32(&c), LC_EINVAL, "overlaps", "conv1d y aliasing x");
    c.y = cy, c.state = NULL;
    expect(lc_causal_conv1d_f32(&c), LC_EINVAL, "state", "conv1d without its state");
}

int main(void) {
    uint64_t seed = test_seed("test_ssm");
    test_scan(seed);
    test_ssd(seed);
    test_layers(seed);
    test_conv1d(seed);
    test_bad_input(seed);
    return test_finish("test_ssm");
}
