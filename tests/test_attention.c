/* Flash attention against the float64 reference on fresh random inputs: every mask kind,
 * every vector path, every dtype, GQA ratios, head dims, n = 1, lengths that are not a
 * multiple of any tile, n_q != n_kv with offsets, fully masked rows, strided layouts,
 * soft-capping. Outputs are poisoned with NaN first so an unwritten element fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "random_mask.h"
#include "harness.h"

typedef struct shape {
    int64_t batch, n_q, n_kv, hq, hkv, dk, dv;
    lc_dtype tq, tk, tv, tout;
    int layout; /* 0 BSHD, 1 BHSD, 2 padded rows with interleaved dims */
    float scale, softcap;
    lc_isa isa;
    int threads;
} shape;

/* A tensor in the requested layout, filled with normal draws, in its own buffer. */
static lc_tensor make_tensor(int layout, lc_dtype t, int64_t b, int64_t s, int64_t h, int64_t d, test_rng *r) {
    lc_tensor v;
    int64_t cap;
    if (layout == 2) { /* dims at stride 2, rows padded by 3 elements */
        int64_t row = h * d * 2 + 3;
        cap = b * s * row;
        v = lc_tensor_bshd(NULL, t, b, s, h, d);
        v.stride[3] = 2, v.stride[2] = d * 2, v.stride[1] = row, v.stride[0] = s * row;
    } else {
        cap = b * s * h * d;
        v = layout == 1 ? lc_tensor_bhsd(NULL, t, b, s, h, d) : lc_tensor_bshd(NULL, t, b, s, h, d);
    }
    v.capacity = cap;
    float *f = malloc(sizeof(float) * (size_t)cap);
    lc_rng_fill_normal(f, (size_t)cap, r->seed, r->counter, 0, 1, 1);
    r->counter += (uint64_t)cap;
    v.data = malloc(lc_dtype_size(t) * (size_t)cap);
    lc_convert(v.data, t, f, LC_F32, (size_t)cap);
    free(f);
    return v;
}

static void poison(lc_tensor *t) {
    size_t bytes = lc_dtype_size(t->dtype) * (size_t)t->capacity;
    memset(t->data, 0xff, bytes); /* all-ones: NaN in f32, f16 and bf16 */
}

static float elem(const lc_tensor *t, int64_t b, int64_t s, int64_t h, int64_t d) {
    int64_t off = lc_tensor_offset(t, b, s, h, d);
    switch (t->dtype) {
    case LC_F16: return lc_f16_to_f32(((uint16_t *)t->data)[off]);
    case LC_BF16: return lc_bf16_to_f32(((uint16_t *)t->data)[off]);
    default: return ((float *)t->data)[off];
    }
}

static double rounding_of(lc_dtype t) { return t == LC_BF16 ? 0x1p-8 : t == LC_F16 ? 0x1p-11 : 0; }

static long cases_run;

/* Runs naive and flash on one shape and mask; returns 1 if they agree. */
static int compare(const shape *s, const lc_mask *mask, test_rng *r, const char *what) {
    lc_attention a = {0};
    a.q = make_tensor(s->layout, s->tq, s->batch, s->n_q, s->hq, s->dk, r);
    a.k = make_tensor(s->layout, s->tk, s->batch, s->n_kv, s->hkv, s->dk, r);
    a.v = make_tensor(s->layout, s->tv, s->batch, s->n_kv, s->hkv, s->dv, r);
    a.out = make_tensor(s->layout, s->tout, s->batch, s->n_q, s->hq, s->dv, r);
    a.scale = s->scale, a.softcap = s->softcap, a.mask = *mask, a.isa = s->isa, a.threads = s->threads;
    size_t rows = (size_t)(s->batch * s->hq * s->n_q);
    float *lse = malloc(rows * sizeof(float)), *lse_ref = malloc(rows * sizeof(float));
    a.lse = lse;
    lc_attention ref = a;
    ref.out = make_tensor(0, LC_F32, s->batch, s->n_q, s->hq, s->dv, r);
    ref.lse = lse_ref;

    int ok = 1;
    poison(&a.out);
    memset(lse, 0xff, rows * sizeof(float));
    lc_status st_ref = lc_attention_naive(&ref, 0), st = lc_attention_flash_alloc(&a);
    CHECK(st_ref == LC_OK && st == LC_OK, "%s: naive %s, flash %s: %s", what, lc_status_str(st_ref), lc_status_str(st), lc_last_error());
    if (st_ref || st) ok = 0;
    double worst = 0, tol_at_worst = 0, worst_lse = 0;
    for (int64_t b = 0; ok && b < s->batch; b++)
        for (int64_t i = 0; i < s->n_q; i++)
            for (int64_t h = 0; h < s->hq; h++) {
                for (int64_t d = 0; d < s->dv; d++) {
                    double want = elem(&ref.out, b, i, h, d), got = elem(&a.out, b, i, h, d);
                    double tol = 1e-4 + 1e-4 * fabs(want) + rounding_of(s->tout) * fabs(want);
                    double err = fabs(got - want);
                    if (!(err <= tol)) ok = 0; /* NaN fails too */
                    if (!(err <= worst)) worst = err, tol_at_worst = tol;
                }
                size_t row = (size_t)((b * s->hq + h) * s->n_q + i);
                double lw = lse_ref[row], lg = lse[row];
                if (isinf(lw)) {
                    if (!(isinf(lg) && lg < 0)) ok = 0, worst_lse = INFINITY;
                } else if (!(fabs(lg - lw) <= 1e-4 * (1 + fabs(lw)))) {
                    ok = 0;
                    if (!(fabs(lg - lw) <= worst_lse)) worst_lse = fabs(lg - lw);
                }
            }
    CHECK(ok, "%s: b=%lld n_q=%lld n_kv=%lld hq=%lld hkv=%lld dk=%lld dv=%lld q/k/v/out=%s/%s/%s/%s layout=%d isa=%s threads=%d "
              "softcap=%g offset=%lld causal=%d: worst |err| %g (tol %g), worst lse err %g",
          what, (long long)s->batch, (long long)s->n_q, (long long)s->n_kv, (long long)s->hq, (long long)s->hkv, (long long)s->dk,
          (long long)s->dv, lc_dtype_name(s->tq), lc_dtype_name(s->tk), lc_dtype_name(s->tv), lc_dtype_name(s->tout), s->layout,
          lc_isa_name(s->isa), s->threads, (double)s->softcap, (long long)mask->q_offset, mask->causal, worst, tol_at_worst, worst_lse);
    cases_run++;
    free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data), free(ref.out.data), free(lse), free(lse_ref);
    return ok;
}

static lc_dtype random_dtype(test_rng *r) { return (lc_dtype)test_below(r, 3); }

static int64_t random_len(test_rng *r, int64_t max) {
    switch (test_below(r, 5)) {
    case 0: return 1;
    case 1: return 1 + (int64_t)test_below(r, 17);
    case 2: return 127 + (int64_t)test_below(r, 4); /* around the query tile */
    case 3: return 255 + (int64_t)test_below(r, 4); /* around the key tile */
    default: return 1 + (int64_t)test_below(r, (uint64_t)max);
    }
}

static shape random_shape(test_rng *r, lc_isa isa) {
    static const int64_t dims[] = {32, 33, 64, 80, 96, 128, 256};
    shape s;
    s.batch = 1 + (int64_t)test_below(r, 2);
    s.n_q = random_len(r, 400), s.n_kv = test_below(r, 3) ? s.n_q : random_len(r, 400);
    s.hkv = 1 + (int64_t)test_below(r, 2);
    s.hq = s.hkv * (1 + (int64_t)test_below(r, 4)); /* GQA ratios 1..4; MQA when hkv = 1 */
    s.dk = dims[test_below(r, 7)];
    s.dv = test_below(r, 4) ? s.dk : dims[test_below(r, 7)];
    s.tq = random_dtype(r), s.tk = random_dtype(r), s.tv = random_dtype(r), s.tout = random_dtype(r);
    s.layout = (int)test_below(r, 3);
    s.scale = test_below(r, 4) ? 0.0f : (float)(0.05 + test_uniform(r));
    s.softcap = test_below(r, 4) ? 0.0f : (float)(1 + 30 * test_uniform(r));
    s.isa = isa;
    s.threads = 1 + (int)test_below(r, 3);
    return s;
}

/* Every mask kind on every vector path, on random shapes. */
static void test_masks_and_paths(uint64_t seed) {
    test_rng r = {seed, 0};
    for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
        if (!lc_isa_supported(isa)) continue;
        for (int kind = 0; kind < TEST_MASK_KINDS; kind++)
            for (int rep = 0; rep < 3; rep++) {
                shape s = random_shape(&r, isa);
                test_mask_store st;
                lc_mask m = test_random_mask(kind, &r, s.n_q, s.n_kv, &st);
                char what[64];
                snprintf(what, sizeof what, "mask %s", test_mask_kind_name[kind]);
                compare(&s, &m, &r, what);
            }
    }
}

static shape base_shape(void) {
    shape s = {1, 77, 77, 2, 1, 64, 64, LC_F32, LC_F32, LC_F32, LC_F32, 0, 0, 0, LC_ISA_AUTO, 2};
    return s;
}

/* The named cases of the issue, each on its own. */
static void test_named_cases(uint64_t seed) {
    test_rng r = {seed ^ 0x9e3779b97f4a7c15ull, 0};
    lc_mask causal = lc_mask_causal(), full = lc_mask_full();
    shape s = base_shape();

    s.n_q = s.n_kv = 1;
    compare(&s, &causal, &r, "n = 1");
    s = base_shape(), s.n_q = 1, s.n_kv = 300;
    lc_mask dec = lc_mask_causal();
    dec.q_offset = 299;
    compare(&s, &dec, &r, "one decode query at offset 299");
    s = base_shape(), s.n_q = 45, s.n_kv = 301;
    lc_mask pre = lc_mask_causal();
    pre.q_offset = 301 - 45;
    compare(&s, &pre, &r, "prefill of 45 into a cache of 256");
    s = base_shape(), s.n_q = 300, s.n_kv = 20;
    compare(&s, &full, &r, "n_q > n_kv, full");

    for (int64_t ratio = 1; ratio <= 8; ratio++) { /* every GQA ratio up to 8, and MQA */
        s = base_shape(), s.hkv = ratio == 8 ? 1 : 2, s.hq = ratio == 8 ? 8 : 2 * ratio, s.n_q = s.n_kv = 131;
        char what[32];
        snprintf(what, sizeof what, "GQA %lld:%lld", (long long)s.hq, (long long)s.hkv);
        compare(&s, &causal, &r, what);
    }
    static const int64_t dk[] = {32, 64, 96, 128, 192, 256}, dv[] = {32, 64, 96, 128, 128, 256};
    for (int i = 0; i < 6; i++) { /* head dims; 192/128 is MLA's */
        s = base_shape(), s.dk = dk[i], s.dv = dv[i], s.n_q = s.n_kv = 260;
        char what[32];
        snprintf(what, sizeof what, "head dims %lld/%lld", (long long)dk[i], (long long)dv[i]);
        compare(&s, &causal, &r, what);
    }
    for (int t = 0; t < 3; t++) { /* every dtype, in and out */
        s = base_shape(), s.tq = s.tk = s.tv = s.tout = (lc_dtype)t, s.n_q = s.n_kv = 200;
        compare(&s, &causal, &r, "one dtype throughout");
    }
    /* fully masked rows: a non-causal window past the end of the keys, and an empty
     * bitmap row; out must be 0 and lse -inf */
    s = base_shape(), s.n_q = 40, s.n_kv = 10;
    lc_mask far = lc_mask_full();
    far.window.enabled = 1, far.window.left = 2, far.window.right = 2;
    compare(&s, &far, &r, "fully masked rows (window)");
    uint8_t bits[4] = {0, 0, 1, 1};
    lc_mask bm = lc_mask_full();
    bm.blocks.bits = bits, bm.blocks.block_q = 16, bm.blocks.block_k = 16, bm.blocks.n_qb = 2, bm.blocks.n_kb = 2;
    s = base_shape(), s.n_q = 32, s.n_kv = 32;
    compare(&s, &bm, &r, "fully masked rows (bitmap)");
    s = base_shape(), s.softcap = 5.0f, s.scale = 1.0f, s.n_q = s.n_kv = 140;
    compare(&s, &causal, &r, "soft-capping 5, scale 1");
    s = base_shape(), s.n_q = s.n_kv = 4097, s.batch = 1, s.hq = s.hkv = 1, s.dk = s.dv = 32;
    compare(&s, &causal, &r, "n = 4097 causal");
    lc_mask win = lc_mask_sliding_window(700);
    compare(&s, &win, &r, "n = 4097 window 700");
}

/* The same call on 1, 2 and 3 threads gives bitwise the same output. */
static void test_thread_determinism(uint64_t seed) {
    test_rng r = {seed ^ 0x5bd1e995u, 0};
    shape s = base_shape();
    s.batch = 2, s.n_q = s.n_kv = 333, s.hq = 4, s.hkv = 2;
    lc_attention a = {0};
    a.q = make_tensor(0, LC_F32, s.batch, s.n_q, s.hq, s.dk, &r);
    a.k = make_tensor(0, LC_F32, s.batch, s.n_kv, s.hkv, s.dk, &r);
    a.v = make_tensor(0, LC_F32, s.batch, s.n_kv, s.hkv, s.dv, &r);
    a.out = make_tensor(0, LC_F32, s.batch, s.n_q, s.hq, s.dv, &r);
    a.mask = lc_mask_causal();
    size_t bytes = sizeof(float) * (size_t)a.out.capacity;
    float *first = malloc(bytes);
    int same = 1;
    for (int t = 1; t <= 3; t++) {
        a.threads = t;
        CHECK(lc_attention_flash_alloc(&a) == LC_OK, "flash on %d threads", t);
        if (t == 1) memcpy(first, a.out.data, bytes);
        else same &= !memcmp(first, a.out.data, bytes);
    }
    CHECK(same, "flash output identical on 1, 2 and 3 threads");
    free(first), free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data);
}

/* The workspace does not grow with the sequence: 128K tokens need what 1K tokens need. */
static void test_workspace_bound(void) {
    size_t ws[2];
    for (int p = 0; p < 2; p++) {
        int64_t n = p ? 131072 : 1024, e = n * 128;
        float *buf = malloc(sizeof(float) * (size_t)(4 * e)); /* never touched */
        lc_attention a = {0};
        a.q = lc_tensor_bshd(buf, LC_F32, 1, n, 1, 128);
        a.k = lc_tensor_bshd(buf + e, LC_F32, 1, n, 1, 128);
        a.v = lc_tensor_bshd(buf + 2 * e, LC_F32, 1, n, 1, 128);
        a.out = lc_tensor_bshd(buf + 3 * e, LC_F32, 1, n, 1, 128);
        a.threads = 2, a.mask = lc_mask_causal();
        ws[p] = lc_attention_flash_workspace_size(&a);
        free(buf);
    }
    CHECK(ws[1] > 0 && ws[1] == ws[0], "workspace %zu at 128K vs %zu at 1K: %s", ws[1], ws[0], lc_last_error());
    CHECK(ws[1] < ((size_t)64 << 20), "workspace %zu under 64 MiB", ws[1]);
}

int main(void) {
    uint64_t seed = test_seed("test_attention");
    test_masks_and_paths(seed);
    test_named_cases(seed);
    test_thread_determinism(seed);
    test_workspace_bound();
    printf("%ld comparisons of flash against the float64 reference\n", cases_run);
    return test_finish("test_attention");
}
