/* Flash attention against the float64 reference on fresh random inputs: every mask kind,
 * every vector path, every dtype, GQA ratios, head dims, n = 1, lengths that are not a
 * multiple of any tile, n_q != n_kv with offsets, fully masked rows, strided layouts,
 * soft-capping. Outputs are poisoned with NaN first so an unwritten element fails. The
 * cases and their tolerance are tests/cases/attention_cases.c's; the inputs are drawn here,
 * fresh from the run's seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cases.h"
#include "harness.h"
#include "random_mask.h"

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

static long cases_run;

/* Runs naive and flash on one case with the given mask, vector path and threads; returns 1
 * if they agree within the table's tolerance. */
static int compare(const attn_case *s, const lc_mask *mask, lc_isa isa, int threads, test_rng *r) {
    const attn_tolerance *tol = attn_tolerance_cpu(s);
    lc_attention a = {0};
    a.q = make_tensor(s->layout, s->tq, s->batch, s->n_q, s->hq, s->dk, r);
    a.k = make_tensor(s->layout, s->tk, s->batch, s->n_kv, s->hkv, s->dk, r);
    a.v = make_tensor(s->layout, s->tv, s->batch, s->n_kv, s->hkv, s->dv, r);
    a.out = make_tensor(s->layout, s->tout, s->batch, s->n_q, s->hq, s->dv, r);
    a.scale = s->scale, a.softcap = s->softcap, a.mask = *mask, a.isa = isa, a.threads = threads;
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
    CHECK(st_ref == LC_OK && st == LC_OK, "%s: naive %s, flash %s: %s", s->name, lc_status_str(st_ref), lc_status_str(st), lc_last_error());
    if (st_ref || st) ok = 0;
    double worst = 0, tol_at_worst = 0, worst_lse = 0;
    for (int64_t b = 0; ok && b < s->batch; b++)
        for (int64_t i = 0; i < s->n_q; i++)
            for (int64_t h = 0; h < s->hq; h++) {
                for (int64_t d = 0; d < s->dv; d++) {
                    double want = elem(&ref.out, b, i, h, d), got = elem(&a.out, b, i, h, d);
                    double bound = tol->out_abs + (tol->out_rel + case_rounding(s->tout)) * fabs(want);
                    double err = fabs(got - want);
                    if (!(err <= bound)) ok = 0; /* NaN fails too */
                    if (!(err <= worst)) worst = err, tol_at_worst = bound;
                }
                size_t row = (size_t)((b * s->hq + h) * s->n_q + i);
                double lw = lse_ref[row], lg = lse[row];
                if (isinf(lw)) {
                    if (!(isinf(lg) && lg < 0)) ok = 0, worst_lse = INFINITY;
                } else if (!(fabs(lg - lw) <= tol->lse_abs + tol->lse_rel * fabs(lw))) {
                    ok = 0;
                    if (!(fabs(lg - lw) <= worst_lse)) worst_lse = fabs(lg - lw);
                }
            }
    CHECK(ok, "%s: b=%lld n_q=%lld n_kv=%lld hq=%lld hkv=%lld dk=%lld dv=%lld q/k/v/out=%s/%s/%s/%s layout=%d isa=%s threads=%d "
              "softcap=%g offset=%lld causal=%d: worst |err| %g (tol %g), worst lse err %g",
          s->name, (long long)s->batch, (long long)s->n_q, (long long)s->n_kv, (long long)s->hq, (long long)s->hkv, (long long)s->dk,
          (long long)s->dv, lc_dtype_name(s->tq), lc_dtype_name(s->tk), lc_dtype_name(s->tv), lc_dtype_name(s->tout), s->layout,
          lc_isa_name(isa), threads, (double)s->softcap, (long long)mask->q_offset, mask->causal, worst, tol_at_worst, worst_lse);
    cases_run++;
    free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data), free(ref.out.data), free(lse), free(lse_ref);
    return ok;
}

/* Every mask kind on every vector path, on the table's random cases. */
static void test_masks_and_paths(uint64_t seed) {
    test_rng r = {seed, 0};
    for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
        if (!lc_isa_supported(isa)) continue;
        for (int kind = 0; kind < TEST_MASK_KINDS; kind++)
            for (int rep = 0; rep < ATTN_RANDOM_REPS; rep++) {
                attn_case s = attn_case_random(kind, r.seed, &r.counter);
                test_mask_store st;
                lc_mask m = test_random_mask(kind, &r, s.n_q, s.n_kv, &st);
                snprintf(s.name, sizeof s.name, "mask %s", test_mask_kind_name[kind]);
                compare(&s, &m, isa, s.threads, &r);
            }
    }
}

/* The table's named cases, each on its own. */
static void test_named_cases(uint64_t seed) {
    test_rng r = {seed ^ 0x9e3779b97f4a7c15ull, 0};
    int n;
    attn_case *cases = attn_cases_select(ATTN_CPU_NAMED, CASE_FULL, NULL, &n);
    CHECK(cases && n > 0, "the table's named cases");
    for (int i = 0; cases && i < n; i++) {
        lc_mask m = attn_case_mask(&cases[i]);
        compare(&cases[i], &m, LC_ISA_AUTO, cases[i].threads, &r);
    }
    free(cases);
}

/* The same call on 1, 2 and 3 threads gives bitwise the same output. */
static void test_thread_determinism(uint64_t seed) {
    test_rng r = {seed ^ 0x5bd1e995u, 0};
    int n;
    attn_case *cases = attn_cases_select(ATTN_CPU_DETERMINISM, CASE_FULL, NULL, &n);
    CHECK(cases && n > 0, "the table's determinism cases");
    for (int c = 0; cases && c < n; c++) {
        const attn_case *s = &cases[c];
        lc_attention a = {0};
        a.q = make_tensor(s->layout, s->tq, s->batch, s->n_q, s->hq, s->dk, &r);
        a.k = make_tensor(s->layout, s->tk, s->batch, s->n_kv, s->hkv, s->dk, &r);
        a.v = make_tensor(s->layout, s->tv, s->batch, s->n_kv, s->hkv, s->dv, &r);
        a.out = make_tensor(s->layout, s->tout, s->batch, s->n_q, s->hq, s->dv, &r);
        a.mask = attn_case_mask(s), a.scale = s->scale, a.softcap = s->softcap;
        size_t bytes = lc_dtype_size(s->tout) * (size_t)a.out.capacity;
        void *first = malloc(bytes);
        int same = 1;
        for (int t = 1; t <= 3; t++) {
            a.threads = t;
            CHECK(lc_attention_flash_alloc(&a) == LC_OK, "%s: flash on %d threads", s->name, t);
            if (t == 1) memcpy(first, a.out.data, bytes);
            else same &= !memcmp(first, a.out.data, bytes);
        }
        CHECK(same, "%s: flash output identical on 1, 2 and 3 threads", s->name);
        free(first), free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data);
    }
    free(cases);
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
