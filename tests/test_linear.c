/* Linear attention against its float64 quadratic reference on fresh random inputs: every
 * feature map, causal and not, decay, normalisation, chunk sizes that do not divide n,
 * n = 1, strided layouts; the chunkwise and recurrent forms against each other (outputs
 * and states, a prefill continued by steps); a 64K-token recurrence at small width against
 * a float64 recurrence; FAVOR+ draws (orthogonal, seeded, redrawable, unbiased) and its
 * max-shift on inputs whose features would overflow; NaN propagation; bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct lin_case {
    int64_t batch, n, heads, dk, dv, features, chunk;
    lc_feature_map feature;
    int causal, normalize, decay, layout, threads;
    float in_scale;
} lin_case;

static lc_tensor make(int layout, int64_t b, int64_t s, int64_t h, int64_t d, test_rng *r, float scale) {
    lc_tensor t = layout ? lc_tensor_bhsd(NULL, LC_F32, b, s, h, d) : lc_tensor_bshd(NULL, LC_F32, b, s, h, d);
    t.data = malloc(sizeof(float) * (size_t)t.capacity);
    lc_rng_fill_normal(t.data, (size_t)t.capacity, r->seed, r->counter, 0, scale, 1);
    r->counter += (uint64_t)t.capacity;
    return t;
}

static float at(const lc_tensor *t, int64_t b, int64_t s, int64_t h, int64_t d) { return ((float *)t->data)[lc_tensor_offset(t, b, s, h, d)]; }

typedef struct lin_setup {
    lc_linear_attention a;
    float *omega, *decay;
} lin_setup;

static lin_setup setup(const lin_case *c, test_rng *r) {
    lin_setup s;
    memset(&s, 0, sizeof s);
    lc_linear_attention *a = &s.a;
    a->q = make(c->layout, c->batch, c->n, c->heads, c->dk, r, c->in_scale);
    a->k = make(c->layout, c->batch, c->n, c->heads, c->dk, r, c->in_scale);
    a->v = make(c->layout, c->batch, c->n, c->heads, c->dv, r, 1);
    a->out = make(c->layout, c->batch, c->n, c->heads, c->dv, r, 1);
    a->feature = c->feature, a->causal = c->causal, a->normalize = c->normalize, a->chunk = c->chunk, a->threads = c->threads;
    if (c->feature == LC_FEATURE_FAVOR) {
        a->features = c->features;
        s.omega = malloc(sizeof(float) * (size_t)(c->features * c->dk));
        lc_favor_draw(s.omega, c->features, c->dk, r->seed, r->counter++);
        a->omega = s.omega;
    }
    if (c->decay) {
        s.decay = malloc(sizeof(float) * (size_t)c->heads);
        for (int64_t h = 0; h < c->heads; h++) s.decay[h] = h == 0 ? 1.0f : (float)(0.5 + 0.5 * test_uniform(r));
        a->decay = s.decay;
    }
    return s;
}

static void teardown(lin_setup *s) {
    free(s->a.q.data), free(s->a.k.data), free(s->a.v.data), free(s->a.out.data), free(s->omega), free(s->decay);
}

static void describe(const lin_case *c, char *buf, size_t n) {
    snprintf(buf, n, "b=%lld n=%lld h=%lld dk=%lld dv=%lld %s m=%lld causal=%d norm=%d decay=%d chunk=%lld layout=%d threads=%d scale=%g",
             (long long)c->batch, (long long)c->n, (long long)c->heads, (long long)c->dk, (long long)c->dv, lc_feature_map_name(c->feature),
             (long long)c->features, c->causal, c->normalize, c->decay, (long long)c->chunk, c->layout, c->threads, (double)c->in_scale);
}

/* Largest |got - want| / (1e-4 + 1e-4 |want| + 1e-4 rowmax): <= 1 passes; NaN fails. */
static double compare_out(const lc_tensor *got, const lc_tensor *want) {
    double worst = 0;
    for (int64_t b = 0; b < want->shape[0]; b++)
        for (int64_t t = 0; t < want->shape[1]; t++)
            for (int64_t h = 0; h < want->shape[2]; h++) {
                double rowmax = 0;
                for (int64_t d = 0; d < want->shape[3]; d++) rowmax = fmax(rowmax, fabs(at(want, b, t, h, d)));
                for (int64_t d = 0; d < want->shape[3]; d++) {
                    double w = at(want, b, t, h, d), g = at(got, b, t, h, d);
                    double e = fabs(g - w) / (1e-4 + 1e-4 * fabs(w) + 1e-4 * rowmax);
                    if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
                }
            }
    return worst;
}

/* phi(x) of FAVOR+ in float64, written out from the paper's formula. */
static void favor_f64(const float *omega, int m, int d, const float *x, double *phi) {
    double sc = pow(d, -0.25), half = 0;
    for (int i = 0; i < d; i++) half += x[i] * sc * x[i] * sc / 2;
    for (int r = 0; r < m; r++) {
        double dot = 0;
        for (int i = 0; i < d; i++) dot += omega[r * d + i] * x[i] * sc;
        phi[r] = exp(dot - half) / sqrt((double)m);
    }
}

static lin_case random_case(test_rng *r) {
    static const int64_t dks[] = {1, 4, 7, 16, 33}, dvs[] = {1, 5, 16, 24}, ms[] = {1, 8, 33, 64}, chunks[] = {0, 1, 3, 7, 16, 64, 100};
    lin_case c;
    c.batch = 1 + (int64_t)test_below(r, 2);
    switch (test_below(r, 4)) {
    case 0: c.n = 1; break;
    case 1: c.n = 1 + (int64_t)test_below(r, 20); break;
    case 2: c.n = 63 + (int64_t)test_below(r, 4); break;
    default: c.n = 1 + (int64_t)test_below(r, 300);
    }
    c.heads = 1 + (int64_t)test_below(r, 3);
    c.dk = dks[test_below(r, 5)], c.dv = dvs[test_below(r, 4)];
    c.feature = (lc_feature_map)test_below(r, 3);
    c.features = c.feature == LC_FEATURE_FAVOR ? ms[test_below(r, 4)] : 0;
    c.chunk = chunks[test_below(r, 7)];
    c.causal = test_below(r, 4) != 0;
    c.normalize = test_below(r, 4) != 0;
    c.decay = c.causal && test_below(r, 2);
    c.layout = (int)test_below(r, 2);
    c.threads = 1 + (int)test_below(r, 3);
    c.in_scale = c.normalize ? 1.0f : 0.5f;
    return c;
}

/* The fast form (and, when causal, the recurrence) against the reference. */
static void check_case(const lin_case *c, test_rng *r) {
    char what[256];
    describe(c, what, sizeof what);
    lin_setup s = setup(c, r);
    lc_linear_attention ref = s.a;
    ref.out = make(c->layout, c->batch, c->n, c->heads, c->dv, r, 1);
    lc_status st = lc_linear_attention_naive(&ref, 0);
    CHECK(st == LC_OK, "%s: naive %s", what, lc_last_error());
    memset(s.a.out.data, 0xff, sizeof(float) * (size_t)s.a.out.capacity);
    int64_t sf = lc_linear_state_floats(&s.a) * c->batch * c->heads;
    float *state = c->causal ? calloc((size_t)sf, sizeof(float)) : NULL;
    st = lc_linear_attention_forward_alloc(&s.a, state, c->causal ? sf : 0);
    CHECK(st == LC_OK, "%s: forward %s", what, lc_last_error());
    double e = compare_out(&s.a.out, &ref.out);
    CHECK(e <= 1, "%s: forward vs reference, worst scaled error %g", what, e);
    if (c->causal) { /* the recurrence, in calls of random lengths, and its final state */
        float *state2 = calloc((size_t)sf, sizeof(float));
        memset(s.a.out.data, 0xff, sizeof(float) * (size_t)s.a.out.capacity);
        lc_linear_attention part = s.a;
        for (int64_t t0 = 0; t0 < c->n;) {
            int64_t m = 1 + (int64_t)test_below(r, 5);
            if (m > c->n - t0) m = c->n - t0;
            part.q.data = (float *)s.a.q.data + t0 * s.a.q.stride[1], part.q.shape[1] = m, part.q.capacity = s.a.q.capacity - t0 * s.a.q.stride[1];
            part.k.data = (float *)s.a.k.data + t0 * s.a.k.stride[1], part.k.shape[1] = m, part.k.capacity = s.a.k.capacity - t0 * s.a.k.stride[1];
            part.v.data = (float *)s.a.v.data + t0 * s.a.v.stride[1], part.v.shape[1] = m, part.v.capacity = s.a.v.capacity - t0 * s.a.v.stride[1];
            part.out.data = (float *)s.a.out.data + t0 * s.a.out.stride[1], part.out.shape[1] = m,
            part.out.capacity = s.a.out.capacity - t0 * s.a.out.stride[1];
            st = lc_linear_attention_step(&part, state2, sf);
            CHECK(st == LC_OK, "%s: step %s", what, lc_last_error());
            t0 += m;
        }
        e = compare_out(&s.a.out, &ref.out);
        CHECK(e <= 1, "%s: recurrence vs reference, worst scaled error %g", what, e);
        /* states: same scale c, same S and z up to rounding */
        double worst = 0;
        for (int64_t i = 0; i < sf; i++) {
            double tol = 1e-4 * (1 + fabs(state[i])); /* S, z and the log-scale c alike */
            if (!(fabs(state[i] - state2[i]) <= tol)) worst = fmax(worst, fabs(state[i] - state2[i]) / tol);
        }
        CHECK(worst == 0, "%s: chunkwise and recurrent final states differ (scaled %g)", what, worst);
        free(state2);
    }
    free(state);
    free(ref.out.data);
    teardown(&s);
}

static void test_random(uint64_t seed) {
    test_rng r = {seed, 0};
    for (int i = 0; i < 150; i++) {
        lin_case c = random_case(&r);
        check_case(&c, &r);
    }
}

static void test_named(uint64_t seed) {
    test_rng r = {seed ^ 0x51ed2701u, 0};
    lin_case base = {2, 130, 2, 16, 8, 0, 32, LC_FEATURE_ELU1, 1, 1, 0, 0, 2, 1.0f};
    for (int f = 0; f < 3; f++) {
        lin_case c = base;
        c.feature = (lc_feature_map)f, c.features = f == 2 ? 64 : 0;
        c.n = 1, check_case(&c, &r);                       /* one token */
        c.n = 130, c.chunk = 7, check_case(&c, &r);        /* chunk not dividing n */
        c.decay = 1, check_case(&c, &r);                   /* RetNet decay */
        c.causal = 0, c.decay = 0, check_case(&c, &r);     /* non-causal */
        c.causal = 1, c.normalize = 0, c.in_scale = 0.5f, check_case(&c, &r);
    }
    /* FAVOR+ on inputs whose unshifted features would overflow / underflow f32 */
    lin_case big = base;
    big.feature = LC_FEATURE_FAVOR, big.features = 32, big.in_scale = 6.0f;
    check_case(&big, &r);
    big.decay = 1, check_case(&big, &r);
    big.causal = 0, big.decay = 0, check_case(&big, &r);
}

/* A prefill (chunkwise) continued by single-token steps equals the reference over all. */
static void test_prefill_then_decode(uint64_t seed) {
    test_rng r = {seed ^ 0xdec0de, 0};
    for (int f = 0; f < 3; f++) {
        lin_case c = {1, 77, 2, 8, 8, f == 2 ? 16 : 0, 16, (lc_feature_map)f, 1, 1, 1, 0, 1, 1.0f};
        lin_setup s = setup(&c, &r);
        lc_linear_attention ref = s.a;
        ref.out = make(0, 1, c.n, c.heads, c.dv, &r, 1);
        lc_linear_attention_naive(&ref, 0);
        int64_t sf = lc_linear_state_floats(&s.a) * c.heads;
        float *state = calloc((size_t)sf, sizeof(float));
        lc_linear_attention pre = s.a;
        const int64_t k = 50;
        pre.q.shape[1] = pre.k.shape[1] = pre.v.shape[1] = pre.out.shape[1] = k;
        CHECK(lc_linear_attention_forward_alloc(&pre, state, sf) == LC_OK, "prefill: %s", lc_last_error());
        for (int64_t t = k; t < c.n; t++) {
            lc_linear_attention one = s.a;
            lc_tensor *ts[4] = {&one.q, &one.k, &one.v, &one.out};
            for (int i = 0; i < 4; i++) ts[i]->data = (float *)ts[i]->data + t * ts[i]->stride[1], ts[i]->shape[1] = 1, ts[i]->capacity -= t * ts[i]->stride[1];
            CHECK(lc_linear_attention_step(&one, state, sf) == LC_OK, "step: %s", lc_last_error());
        }
        double e = compare_out(&s.a.out, &ref.out);
        CHECK(e <= 1, "%s: prefill of 50 then 27 steps vs reference, worst scaled error %g", lc_feature_map_name(c.feature), e);
        free(state), free(ref.out.data);
        teardown(&s);
    }
}

/* 64K tokens at width 4: chunkwise and recurrent against a float64 recurrence. */
static void test_long(uint64_t seed) {
    test_rng r = {seed ^ 0x1016, 0};
    const int64_t n = 65536;
    for (int f = 0; f < 3; f += 2)
        for (int dec = 0; dec < 2; dec++) {
            lin_case c = {1, n, 1, 4, 4, f == 2 ? 8 : 0, 64, (lc_feature_map)f, 1, 1, dec, 0, 1, 1.0f};
            lin_setup s = setup(&c, &r);
            if (dec) s.decay[0] = 0.999f;
            const int64_t F = lc_linear_features(&s.a), sf = lc_linear_state_floats(&s.a);
            float *st1 = calloc((size_t)sf, sizeof(float)), *st2 = calloc((size_t)sf, sizeof(float));
            CHECK(lc_linear_attention_forward_alloc(&s.a, st1, sf) == LC_OK, "long forward: %s", lc_last_error());
            lc_tensor chunk_out = s.a.out;
            s.a.out = make(0, 1, n, 1, 4, &r, 1);
            CHECK(lc_linear_attention_step(&s.a, st2, sf) == LC_OK, "long step: %s", lc_last_error());
            double S[64 * 4] = {0}, z[64] = {0}, pk[64], pq[64], worst1 = 0, worst2 = 0;
            double g = dec ? log((double)s.decay[0]) : 0;
            for (int64_t t = 0; t < n; t++) {
                const float *q = (float *)s.a.q.data + t * 4, *k = (float *)s.a.k.data + t * 4, *v = (float *)s.a.v.data + t * 4;
                if (f == 2) { /* FAVOR+: F = 8 features of a width-4 row */
                    favor_f64(s.omega, (int)F, 4, k, pk), favor_f64(s.omega, (int)F, 4, q, pq);
                } else { /* elu + 1: one feature per dim */
                    for (int64_t i = 0; i < F; i++) {
                        pk[i] = k[i] > 0 ? k[i] + 1.0 : exp(k[i]);
                        pq[i] = q[i] > 0 ? q[i] + 1.0 : exp(q[i]);
                    }
                }
                double num[4] = {0}, den = 0;
                for (int64_t i = 0; i < F; i++) {
                    z[i] = exp(g) * z[i] + pk[i], den += pq[i] * z[i];
                    for (int e = 0; e < 4; e++) S[i * 4 + e] = exp(g) * S[i * 4 + e] + pk[i] * v[e], num[e] += pq[i] * S[i * 4 + e];
                }
                for (int e = 0; e < 4; e++) {
                    double want = num[e] / den;
                    double e1 = fabs(((float *)chunk_out.data)[t * 4 + e] - want), e2 = fabs(((float *)s.a.out.data)[t * 4 + e] - want);
                    if (!(e1 <= worst1)) worst1 = isnan(e1) ? INFINITY : e1;
                    if (!(e2 <= worst2)) worst2 = isnan(e2) ? INFINITY : e2;
                }
            }
            CHECK(worst1 <= 2e-3 && worst2 <= 2e-3, "64K %s decay=%d: worst |err| chunkwise %g, recurrent %g (f64 recurrence)", lc_feature_map_name(c.feature), dec,
                  worst1, worst2);
            free(st1), free(st2), free(chunk_out.data);
            teardown(&s);
        }
}

/* FAVOR+ draws: orthogonal inside a block, a pure function of (seed, draw), a redraw
 * differs, and phi(q).phi(k) averages to exp(q.k / sqrt(d)). */
static void test_favor(uint64_t seed) {
    const int64_t d = 8, m = 20; /* two full blocks and a partial one */
    float *w1 = malloc(sizeof(float) * m * d), *w2 = malloc(sizeof(float) * m * d), *w3 = malloc(sizeof(float) * m * d);
    CHECK(lc_favor_draw(w1, m, d, seed, 0) == LC_OK && lc_favor_draw(w2, m, d, seed, 0) == LC_OK && lc_favor_draw(w3, m, d, seed, 1) == LC_OK,
          "favor draw: %s", lc_last_error());
    CHECK(!memcmp(w1, w2, sizeof(float) * m * d), "the same (seed, draw) gave different omega");
    CHECK(memcmp(w1, w3, sizeof(float) * m * d) != 0, "a redraw gave the same omega");
    double worst = 0;
    for (int64_t blk = 0; blk < m; blk += d)
        for (int64_t i = blk; i < blk + d && i < m; i++)
            for (int64_t j = blk; j < i; j++) {
                double dot = 0, ni = 0, nj = 0;
                for (int64_t c = 0; c < d; c++) dot += w1[i * d + c] * w1[j * d + c], ni += w1[i * d + c] * w1[i * d + c], nj += w1[j * d + c] * w1[j * d + c];
                worst = fmax(worst, fabs(dot) / sqrt(ni * nj));
            }
    CHECK(worst < 1e-5, "rows of one block are not orthogonal: |cos| up to %g", worst);
    free(w1), free(w2), free(w3);

    /* unbiased kernel: mean over 400 draws of m = 64 features, |q|, |k| ~ 1 */
    test_rng r = {seed ^ 0xfa7, 0};
    float q[8], k[8], qs = 0, ks = 0;
    for (int i = 0; i < 8; i++) q[i] = (float)(test_uniform(&r) - 0.5), k[i] = (float)(test_uniform(&r) - 0.5);
    for (int i = 0; i < 8; i++) qs += q[i] * q[i], ks += k[i] * k[i];
    for (int i = 0; i < 8; i++) q[i] /= sqrtf(qs), k[i] /= sqrtf(ks);
    double want = 0, mean = 0;
    for (int i = 0; i < 8; i++) want += q[i] * k[i];
    want = exp(want / sqrt(8.0));
    float omega[64 * 8];
    const int draws = 400;
    for (int dr = 0; dr < draws; dr++) {
        double pq[64], pk[64], dot = 0;
        lc_favor_draw(omega, 64, 8, seed, (uint64_t)dr + 7);
        favor_f64(omega, 64, 8, q, pq), favor_f64(omega, 64, 8, k, pk);
        for (int i = 0; i < 64; i++) dot += pq[i] * pk[i];
        mean += dot / draws;
    }
    CHECK(fabs(mean / want - 1) < 0.03, "FAVOR+ estimate of exp(q.k/sqrt(d)) = %g averages %g over %d draws", want, mean, draws);
}

/* NaN in a key or value: outputs before it are unaffected, outputs that see it are NaN. */
static void test_nan(uint64_t seed) {
    test_rng r = {seed ^ 0x7a7a, 0};
    for (int f = 0; f < 3; f++)
        for (int step = 0; step < 2; step++) {
            lin_case c = {1, 40, 1, 8, 4, f == 2 ? 16 : 0, 16, (lc_feature_map)f, 1, 1, 0, 0, 1, 1.0f};
            lin_setup s = setup(&c, &r);
            if (step) ((float *)s.a.k.data)[lc_tensor_offset(&s.a.k, 0, 21, 0, 3)] = NAN;
            else ((float *)s.a.v.data)[lc_tensor_offset(&s.a.v, 0, 21, 0, 1)] = NAN, ((float *)s.a.k.data)[lc_tensor_offset(&s.a.k, 0, 30, 0, 3)] = NAN;
            int64_t sf = lc_linear_state_floats(&s.a);
            float *state = calloc((size_t)sf, sizeof(float));
            lc_status st = step ? lc_linear_attention_step(&s.a, state, sf) : lc_linear_attention_forward_alloc(&s.a, state, sf);
            CHECK(st == LC_OK, "nan run: %s", lc_last_error());
            int before = 1, after = 1;
            for (int64_t t = 0; t < c.n; t++)
                for (int64_t e = 0; e < 4; e++) {
                    float o = at(&s.a.out, 0, t, 0, e);
                    /* step: k[21] NaN. chunkwise: v[21][1] NaN (only column 1 depends on it), then k[30] NaN */
                    int nan_expected = step ? t >= 21 : (t >= 30 || (t >= 21 && e == 1));
                    if (!nan_expected && !isfinite(o)) before = 0;
                    if (nan_expected && !isnan(o)) after = 0;
                }
            CHECK(before && after, "%s %s: NaN inputs: outputs that do not see them finite %d, outputs that do NaN %d", lc_feature_map_name(c.feature),
                  step ? "recurrent" : "chunkwise", before, after);
            free(state);
            teardown(&s);
        }
}

static void expect(lc_status got, lc_status want, const char *word, const char *what) {
    CHECK(got == want && strstr(lc_last_error(), word), "%s: got %s '%s', want %s naming '%s'", what, lc_status_str(got), lc_last_error(),
          lc_status_str(want), word);
}

static void test_bad_input(uint64_t seed) {
    test_rng r = {seed ^ 0xbad, 0};
    lin_case c = {1, 10, 2, 8, 4, 16, 0, LC_FEATURE_FAVOR, 1, 1, 1, 0, 1, 1.0f};
    lin_setup s = setup(&c, &r);
    lc_linear_attention a = s.a;
    int64_t sf = lc_linear_state_floats(&a) * 2;
    float *state = calloc((size_t)sf + 1, sizeof(float));
    a.features = 0;
    expect(lc_linear_attention_forward_alloc(&a, state, sf), LC_EINVAL, "features", "FAVOR+ with zero features");
    a = s.a, a.omega = NULL;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "omega", "FAVOR+ without omega");
    a = s.a, a.k.shape[1] = 9;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "k.shape[1]", "k shorter than q");
    a = s.a, a.out.shape[3] = 3;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "out.shape[3]", "out dim");
    a = s.a, a.v.shape[2] = 1;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "v.shape[2]", "v heads");
    a = s.a;
    expect(lc_linear_attention_forward_alloc(&a, state, sf + 1), LC_EINVAL, "state_floats", "state of the wrong size");
    expect(lc_linear_attention_step(&a, state, sf - 1), LC_EINVAL, "state_floats", "step state of the wrong size");
    expect(lc_linear_attention_step(&a, NULL, sf), LC_EINVAL, "state", "step without a state");
    s.decay[1] = 1.5f;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "decay[1]", "decay above 1");
    s.decay[1] = 0.9f;
    a.causal = 0;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "decay", "decay without causal");
    a.decay = NULL;
    expect(lc_linear_attention_forward_alloc(&a, state, sf), LC_EINVAL, "state", "state on a non-causal pass");
    a = s.a, a.feature = LC_FEATURE_ELU1;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "features", "elu with a feature count");
    a = s.a, a.q.dtype = LC_BF16;
    expect(lc_linear_attention_check(&a), LC_EUNSUPPORTED, "q.dtype", "bf16 input");
    a = s.a, a.out = a.v;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "overlaps", "out aliasing v");
    a = s.a, a.chunk = -1;
    expect(lc_linear_attention_check(&a), LC_EINVAL, "chunk", "negative chunk");
    a = s.a;
    char ws[16];
    expect(lc_linear_attention_forward(&a, state, sf, ws, sizeof ws), LC_EINVAL, "workspace", "small workspace");
    expect(lc_favor_draw(NULL, 4, 4, 1, 0), LC_EINVAL, "omega", "favor draw into NULL");
    expect(lc_favor_draw(s.omega, 0, 4, 1, 0), LC_EINVAL, "features", "favor draw of zero features");
    free(state);
    teardown(&s);
}

int main(void) {
    uint64_t seed = test_seed("test_linear");
    test_random(seed);
    test_named(seed);
    test_prefill_then_decode(seed);
    test_long(seed);
    test_favor(seed);
    test_nan(seed);
    test_bad_input(seed);
    return test_finish("test_linear");
}
