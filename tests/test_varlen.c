/* Packed variable-length batches (attention.h, lc_varlen) on fresh random inputs. Each call
 * packs 1-6 sequences of awkward lengths (no queries, no keys, one token, lengths off the
 * 128 / 256 tiles, chunked prefills with fewer queries than keys, more queries than keys
 * under the full mask) with GQA, d_k != d_v, every dtype, both token-major and head-major
 * layouts, soft-capping and every positional mask (causal, window with dilation, sinks,
 * strided, fixed), and checks, out and lse:
 *   - flash against the float64 reference of the same packed call;
 *   - flash against the reference run on each sequence alone: its rows sliced out of the
 *     packed tensors, a plain call with mask.q_offset = n - m;
 *   - the pair count against the mask asked pair by pair;
 *   - bitwise equal outputs on 1 and 3 threads;
 * and that a packed call of one sequence equals the plain call bitwise. Outputs are poisoned
 * with NaN first, so an element a kernel does not write fails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cases.h"
#include "harness.h"
#include "random_mask.h"

enum { MAX_SEQS = 6 };

/* One packed call's shape. */
typedef struct varlen_case {
    attn_case c; /* batch 1, n_q / n_kv the packed totals, heads, dims, dtypes, layout */
    int count;
    int32_t q_starts[MAX_SEQS + 1], kv_starts[MAX_SEQS + 1];
    int64_t max_q, max_kv;
    int mask_kind; /* random_mask.h: 0 full, 1 causal, 2 window, 3 dilated, 5 sinks, 6 strided, 7 fixed */
} varlen_case;

/* A length near a tile edge, or anything up to `most`. */
static int64_t awkward_len(test_rng *r, int64_t most) {
    static const int64_t edges[] = {1, 2, 15, 16, 17, 127, 128, 129, 255, 256, 257};
    int64_t n = test_below(r, 2) ? edges[test_below(r, 11)] : 1 + (int64_t)test_below(r, (uint64_t)most);
    return n < most ? n : most;
}

/* Sequence lengths (m queries, n keys) of one kind: 0 no queries; 1 no keys (full mask
 * only); 2 one token; 3 a prompt (m = n); 4 a chunk of a prefill (m < n); 5 a decode step
 * (m = 1); 6 more queries than keys (full mask only). */
static void draw_sequence(test_rng *r, int full, int64_t *m, int64_t *n) {
    int kind;
    do kind = (int)test_below(r, 7);
    while (!full && (kind == 1 || kind == 6));
    switch (kind) {
    case 0: *m = 0, *n = test_below(r, 2) ? 0 : awkward_len(r, 300); break;
    case 1: *m = awkward_len(r, 200), *n = 0; break;
    case 2: *m = *n = 1; break;
    case 3: *m = *n = awkward_len(r, 300); break;
    case 4: *n = 2 + awkward_len(r, 400), *m = 1 + (int64_t)test_below(r, (uint64_t)*n - 1); break;
    case 5: *m = 1, *n = awkward_len(r, 400); break;
    default: *n = awkward_len(r, 100), *m = *n + 1 + (int64_t)test_below(r, 200); break;
    }
}

static lc_dtype random_dtype(test_rng *r) { return (lc_dtype)test_below(r, 3); /* f32, f16, bf16 */ }

static varlen_case draw_case(test_rng *r) {
    static const int kinds[] = {0, 1, 2, 3, 5, 6, 7};
    static const int64_t dims[] = {16, 32, 40, 64, 80, 128};
    varlen_case v;
    memset(&v, 0, sizeof v);
    v.mask_kind = kinds[test_below(r, 7)];
    do { /* the packed totals must be positive (a tensor has no empty axis) */
        v.count = 1 + (int)test_below(r, MAX_SEQS);
        v.max_q = v.max_kv = 0;
        for (int s = 0; s < v.count; s++) {
            int64_t m, n;
            draw_sequence(r, v.mask_kind == 0, &m, &n);
            v.q_starts[s + 1] = v.q_starts[s] + (int32_t)m, v.kv_starts[s + 1] = v.kv_starts[s] + (int32_t)n;
            if (m > v.max_q) v.max_q = m;
            if (n > v.max_kv) v.max_kv = n;
        }
    } while (v.q_starts[v.count] == 0 || v.kv_starts[v.count] == 0);
    attn_case *c = &v.c;
    snprintf(c->name, sizeof c->name, "varlen %s, %d sequences", test_mask_kind_name[v.mask_kind], v.count);
    c->batch = 1, c->n_q = v.q_starts[v.count], c->n_kv = v.kv_starts[v.count];
    c->hkv = 1 + (int64_t)test_below(r, 2);
    c->hq = c->hkv * (1 + (int64_t)test_below(r, 4));
    c->dk = dims[test_below(r, 6)];
    c->dv = test_below(r, 3) ? c->dk : dims[test_below(r, 6)];
    c->tq = random_dtype(r), c->tk = random_dtype(r), c->tv = random_dtype(r), c->tout = random_dtype(r);
    c->layout = (int)test_below(r, 2) ? ATTN_BHSD : ATTN_BSHD;
    c->scale = test_below(r, 4) ? 0.0f : (float)(0.05 + test_uniform(r));
    c->softcap = test_below(r, 4) ? 0.0f : (float)(1 + 30 * test_uniform(r));
    c->threads = 1 + (int)test_below(r, 3);
    return v;
}

/* A tensor [1, s, h, d] (BSHD or BHSD) filled with normal draws, in its own buffer. */
static lc_tensor make_tensor(int layout, lc_dtype t, int64_t s, int64_t h, int64_t d, test_rng *r) {
    lc_tensor v = layout == ATTN_BHSD ? lc_tensor_bhsd(NULL, t, 1, s, h, d) : lc_tensor_bshd(NULL, t, 1, s, h, d);
    v.capacity = s * h * d;
    float *f = malloc(sizeof(float) * (size_t)v.capacity);
    lc_rng_fill_normal(f, (size_t)v.capacity, r->seed, r->counter, 0, 1, 1);
    r->counter += (uint64_t)v.capacity;
    v.data = malloc(lc_dtype_size(t) * (size_t)v.capacity);
    lc_convert(v.data, t, f, LC_F32, (size_t)v.capacity);
    free(f);
    return v;
}

/* Rows [s0, s0 + n) of a packed tensor as a plain [1, n, h, d] view of the same memory. */
static lc_tensor slice_rows(const lc_tensor *t, int64_t s0, int64_t n) {
    lc_tensor v = *t;
    v.data = (uint8_t *)t->data + (size_t)(s0 * t->stride[1]) * lc_dtype_size(t->dtype);
    v.shape[1] = n;
    v.capacity = t->capacity - s0 * t->stride[1];
    return v;
}

static float elem(const lc_tensor *t, int64_t s, int64_t h, int64_t d) {
    int64_t off = lc_tensor_offset(t, 0, s, h, d);
    switch (t->dtype) {
    case LC_F16: return lc_f16_to_f32(((uint16_t *)t->data)[off]);
    case LC_BF16: return lc_bf16_to_f32(((uint16_t *)t->data)[off]);
    default: return ((float *)t->data)[off];
    }
}

/* Worst errors of `got` rows [g0, g0 + n) against `want` rows [w0, w0 + n), out and lse
 * (lse rows: [heads, got_rows] and [heads, want_rows]); 1 if within the tolerance. */
typedef struct verdict {
    double out_err, out_tol, lse_err;
    int ok;
} verdict;

static void compare_rows(const attn_case *c, const lc_tensor *got, const float *got_lse, int64_t g0, int64_t got_rows, const lc_tensor *want,
                         const float *want_lse, int64_t w0, int64_t want_rows, int64_t n, verdict *v) {
    const attn_tolerance *tol = attn_tolerance_cpu(c);
    for (int64_t i = 0; i < n; i++)
        for (int64_t h = 0; h < c->hq; h++) {
            for (int64_t d = 0; d < c->dv; d++) {
                double w = elem(want, w0 + i, h, d), g = elem(got, g0 + i, h, d);
                double bound = tol->out_abs + (tol->out_rel + case_rounding(c->tout)) * fabs(w), err = fabs(g - w);
                if (!(err <= bound)) v->ok = 0; /* NaN fails too */
                if (!(err <= v->out_err)) v->out_err = err, v->out_tol = bound;
            }
            double lw = want_lse[h * want_rows + w0 + i], lg = got_lse[h * got_rows + g0 + i];
            if (isinf(lw) && lw < 0) {
                if (!(isinf(lg) && lg < 0)) v->ok = 0, v->lse_err = INFINITY;
            } else if (!(fabs(lg - lw) <= tol->lse_abs + tol->lse_rel * fabs(lw))) {
                v->ok = 0;
                if (!(fabs(lg - lw) <= v->lse_err)) v->lse_err = fabs(lg - lw);
            }
        }
}

static long calls_compared;

static void describe(const varlen_case *v, char *buf, size_t n) {
    const attn_case *c = &v->c;
    int w = snprintf(buf, n, "%s: hq=%lld hkv=%lld dk=%lld dv=%lld q/k/v/out=%s/%s/%s/%s layout=%d softcap=%g threads=%d (m, n) =", c->name,
                     (long long)c->hq, (long long)c->hkv, (long long)c->dk, (long long)c->dv, lc_dtype_name(c->tq), lc_dtype_name(c->tk),
                     lc_dtype_name(c->tv), lc_dtype_name(c->tout), c->layout, (double)c->softcap, c->threads);
    for (int s = 0; s < v->count && w > 0 && (size_t)w < n; s++)
        w += snprintf(buf + w, n - (size_t)w, " (%d, %d)", (int)(v->q_starts[s + 1] - v->q_starts[s]), (int)(v->kv_starts[s + 1] - v->kv_starts[s]));
}

/* One packed call on the vector path `isa`: flash, the packed reference, the per-sequence
 * reference, the pair count and a second thread count. */
static void check_case(const varlen_case *v, lc_isa isa, test_rng *r) {
    const attn_case *c = &v->c;
    char what[512];
    describe(v, what, sizeof what);
    test_mask_store store;
    lc_mask mask = test_random_mask(v->mask_kind, r, v->max_q > 0 ? v->max_q : 1, v->max_kv > 0 ? v->max_kv : 1, &store);
    mask.q_offset = 0;

    lc_attention a = {0};
    a.q = make_tensor(c->layout, c->tq, c->n_q, c->hq, c->dk, r);
    a.k = make_tensor(c->layout, c->tk, c->n_kv, c->hkv, c->dk, r);
    a.v = make_tensor(c->layout, c->tv, c->n_kv, c->hkv, c->dv, r);
    a.out = make_tensor(c->layout, c->tout, c->n_q, c->hq, c->dv, r);
    a.scale = c->scale, a.softcap = c->softcap, a.mask = mask, a.isa = isa, a.threads = c->threads;
    a.varlen = (lc_varlen){v->count, v->q_starts, v->kv_starts, v->max_q, v->max_kv};
    const size_t lse_n = (size_t)(c->hq * c->n_q), out_bytes = lc_dtype_size(c->tout) * (size_t)a.out.capacity;
    float *lse = malloc(sizeof(float) * lse_n), *lse_ref = malloc(sizeof(float) * lse_n), *lse_seq = malloc(sizeof(float) * lse_n);
    a.lse = lse;
    lc_attention ref = a;
    ref.out = make_tensor(ATTN_BSHD, LC_F32, c->n_q, c->hq, c->dv, r);
    ref.lse = lse_ref;

    /* flash with exactly the workspace it asks for; one byte less is refused */
    memset(a.out.data, 0xff, out_bytes), memset(lse, 0xff, sizeof(float) * lse_n);
    const size_t ws_bytes = lc_attention_flash_workspace_size(&a);
    void *ws = malloc(ws_bytes ? ws_bytes : 1);
    CHECK(ws_bytes > 0 && lc_attention_flash(&a, ws, ws_bytes - 1) == LC_EINVAL, "%s: a workspace one byte short is refused", what);
    lc_status st = lc_attention_flash(&a, ws, ws_bytes), st_ref = lc_attention_naive(&ref, 0);
    CHECK(st == LC_OK && st_ref == LC_OK, "%s: flash %s, naive %s: %s", what, lc_status_str(st), lc_status_str(st_ref), lc_last_error());
    if (st || st_ref) goto done;

    verdict packed = {0, 0, 0, 1};
    compare_rows(c, &a.out, lse, 0, c->n_q, &ref.out, lse_ref, 0, c->n_q, c->n_q, &packed);
    CHECK(packed.ok, "%s, isa %s: flash against the packed reference: worst |err| %g (tol %g), lse %g", what, lc_isa_name(isa), packed.out_err,
          packed.out_tol, packed.lse_err);

    /* each sequence alone: a plain call on its rows, at its own positions */
    verdict alone = {0, 0, 0, 1};
    for (int s = 0; s < v->count; s++) {
        const int64_t q0 = v->q_starts[s], m = v->q_starts[s + 1] - q0, k0 = v->kv_starts[s], n = v->kv_starts[s + 1] - k0;
        if (m == 0) continue;
        if (n == 0) { /* no keys: zeros, lse -inf */
            for (int64_t i = 0; i < m; i++)
                for (int64_t h = 0; h < c->hq; h++) {
                    float l = lse[h * c->n_q + q0 + i];
                    if (!(isinf(l) && l < 0)) alone.ok = 0, alone.lse_err = INFINITY;
                    for (int64_t d = 0; d < c->dv; d++)
                        if (elem(&a.out, q0 + i, h, d) != 0) alone.ok = 0, alone.out_err = INFINITY;
                }
            continue;
        }
        lc_attention one = a;
        one.varlen = (lc_varlen){0};
        one.q = slice_rows(&a.q, q0, m), one.k = slice_rows(&a.k, k0, n), one.v = slice_rows(&a.v, k0, n);
        one.out = make_tensor(ATTN_BSHD, LC_F32, m, c->hq, c->dv, r);
        one.lse = lse_seq;
        one.mask.q_offset = n >= m ? n - m : 0; /* m > n only under the full mask, which reads no position */
        st = lc_attention_naive(&one, 0);
        CHECK(st == LC_OK, "%s: the reference on sequence %d alone: %s", what, s, lc_last_error());
        if (st == LC_OK) compare_rows(c, &a.out, lse, q0, c->n_q, &one.out, lse_seq, 0, m, m, &alone);
        free(one.out.data);
    }
    CHECK(alone.ok, "%s, isa %s: flash against the reference of each sequence alone: worst |err| %g (tol %g), lse %g", what, lc_isa_name(isa),
          alone.out_err, alone.out_tol, alone.lse_err);

    /* pairs: the mask asked pair by pair, sequence by sequence */
    int64_t pairs = 0;
    for (int s = 0; s < v->count; s++) {
        const int64_t m = v->q_starts[s + 1] - v->q_starts[s], n = v->kv_starts[s + 1] - v->kv_starts[s];
        lc_mask ms = mask;
        ms.q_offset = n - m;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) pairs += lc_mask_allows(&ms, i, j);
    }
    CHECK(lc_attention_active_pairs(&a) == pairs * c->hq, "%s: active pairs %lld, the mask allows %lld", what, (long long)lc_attention_active_pairs(&a),
          (long long)(pairs * c->hq));

    /* another thread count: bitwise the same (each query tile is one thread's) */
    void *first = malloc(out_bytes);
    float *first_lse = malloc(sizeof(float) * lse_n);
    memcpy(first, a.out.data, out_bytes), memcpy(first_lse, lse, sizeof(float) * lse_n);
    a.threads = c->threads == 3 ? 1 : 3;
    memset(a.out.data, 0xff, out_bytes);
    st = lc_attention_flash_alloc(&a);
    CHECK(st == LC_OK && !memcmp(first, a.out.data, out_bytes) && !memcmp(first_lse, lse, sizeof(float) * lse_n),
          "%s: flash on %d and %d threads differ (%s)", what, c->threads, a.threads, lc_last_error());
    free(first), free(first_lse);
    calls_compared++;
done:
    free(ws);
    free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data), free(ref.out.data), free(lse), free(lse_ref), free(lse_seq);
}

/* Random packed calls on every vector path the CPU has. */
static void test_random_calls(uint64_t seed) {
    test_rng r = {seed, 0};
    enum { CALLS_PER_PATH = 40 };
    for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
        if (!lc_isa_supported(isa)) continue;
        for (int i = 0; i < CALLS_PER_PATH; i++) {
            varlen_case v = draw_case(&r);
            check_case(&v, isa, &r);
        }
    }
}

/* A sequence long enough that the kernel takes its taller query tiles (its keys pass the
 * plan's 4 MiB at d = 256), packed after a short one and before an empty one. */
static void test_tall_tiles(uint64_t seed) {
    test_rng r = {seed ^ 0x2545f4914f6cdd1dull, 0};
    varlen_case v;
    memset(&v, 0, sizeof v);
    v.mask_kind = 1;
    v.count = 3;
    const int32_t m[3] = {37, 300, 0}, n[3] = {37, 2300, 5};
    for (int s = 0; s < 3; s++) v.q_starts[s + 1] = v.q_starts[s] + m[s], v.kv_starts[s + 1] = v.kv_starts[s] + n[s];
    v.max_q = 300, v.max_kv = 2300;
    attn_case *c = &v.c;
    snprintf(c->name, sizeof c->name, "varlen causal, tall query tiles");
    c->batch = 1, c->n_q = v.q_starts[3], c->n_kv = v.kv_starts[3];
    c->hq = 2, c->hkv = 1, c->dk = c->dv = 256;
    c->tq = c->tk = c->tv = LC_BF16, c->tout = LC_F32;
    c->threads = 2;
    check_case(&v, LC_ISA_AUTO, &r);
}

/* A packed call of one sequence is the plain call: bitwise the same out and lse. */
static void test_one_sequence_is_plain(uint64_t seed) {
    test_rng r = {seed ^ 0x9e3779b97f4a7c15ull, 0};
    for (int rep = 0; rep < 12; rep++) {
        varlen_case v = draw_case(&r);
        const attn_case *c = &v.c;
        const int64_t nq = c->n_q, nkv = c->n_kv;
        if (v.mask_kind != 0 && nq > nkv) continue; /* refused by both forms (the plain one at a negative offset) */
        test_mask_store store;
        lc_mask mask = test_random_mask(v.mask_kind, &r, nq, nkv, &store);
        lc_attention a = {0};
        a.q = make_tensor(c->layout, c->tq, nq, c->hq, c->dk, &r);
        a.k = make_tensor(c->layout, c->tk, nkv, c->hkv, c->dk, &r);
        a.v = make_tensor(c->layout, c->tv, nkv, c->hkv, c->dv, &r);
        a.out = make_tensor(c->layout, c->tout, nq, c->hq, c->dv, &r);
        a.scale = c->scale, a.softcap = c->softcap, a.threads = c->threads;
        const size_t lse_n = (size_t)(c->hq * nq), out_bytes = lc_dtype_size(c->tout) * (size_t)a.out.capacity;
        float *lse = malloc(sizeof(float) * lse_n), *lse_plain = malloc(sizeof(float) * lse_n);
        void *plain = malloc(out_bytes);
        a.mask = mask;
        a.mask.q_offset = nkv >= nq ? nkv - nq : 0;
        a.lse = lse_plain;
        lc_status st_plain = lc_attention_flash_alloc(&a);
        memcpy(plain, a.out.data, out_bytes);
        const int32_t qs[2] = {0, (int32_t)nq}, ks[2] = {0, (int32_t)nkv};
        a.varlen = (lc_varlen){1, qs, ks, nq, nkv};
        a.mask.q_offset = 0;
        a.lse = lse;
        memset(a.out.data, 0xff, out_bytes);
        lc_status st = lc_attention_flash_alloc(&a);
        CHECK(st_plain == LC_OK && st == LC_OK, "one sequence %lld x %lld: plain %s, varlen %s: %s", (long long)nq, (long long)nkv,
              lc_status_str(st_plain), lc_status_str(st), lc_last_error());
        CHECK(!memcmp(plain, a.out.data, out_bytes) && !memcmp(lse, lse_plain, sizeof(float) * lse_n),
              "one sequence %lld x %lld (%s mask): the packed call differs from the plain one", (long long)nq, (long long)nkv,
              test_mask_kind_name[v.mask_kind]);
        free(plain), free(lse), free(lse_plain);
        free(a.q.data), free(a.k.data), free(a.v.data), free(a.out.data);
    }
}

int main(void) {
    uint64_t seed = test_seed("test_varlen");
    test_random_calls(seed);
    test_tall_tiles(seed);
    test_one_sequence_is_plain(seed);
    printf("%ld packed calls compared with the float64 reference, packed and per sequence\n", calls_compared);
    return test_finish("test_varlen");
}
