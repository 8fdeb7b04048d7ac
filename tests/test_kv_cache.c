/* KV caches and decode attention. Every layout and storage type against the float64
 * reference (lc_attention_naive) over the values the cache stores (out and lse, on every
 * vector path the CPU runs: portable, AVX2, AVX-512), and against a
 * contiguous f32 cache of the same tokens (int8 / fp8: the error is measured and must
 * stay within the bound docs/kv-cache.md states); ring and sinks also against the full
 * sequence under the equivalent window / sinks mask; paged fork and free checked
 * token by token against a shadow copy under random operations, and for leaks; prompt
 * chunks (many queries) over paged caches with random block tables; bad calls refused with
 * a sentence. The decode cases and their tolerances are
 * tests/cases/decode_cases.c's; the inputs are drawn here, fresh from the run's seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode_cases.h"
#include "harness.h"
#include "longctx/decode.h"

static float *normals(test_rng *g, size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    lc_rng_fill_normal(x, n, g->seed, g->counter, 0, 1, 1);
    g->counter += n;
    return x;
}

/* The kept tokens as stored: k, v [kept, H, D] f32, positions [kept]. */
static int64_t gather(const lc_kv_cache *c, int seq, float *k, float *v, int64_t *pos) {
    const lc_kv_config *g = lc_kv_config_of(c);
    int64_t ms = lc_kv_max_spans(c, seq), ns = 0, t = 0;
    lc_kv_span *sp = malloc(sizeof(lc_kv_span) * (size_t)ms);
    CHECK(lc_kv_spans(c, seq, sp, ms, &ns) == LC_OK, "%s", lc_last_error());
    size_t esz = lc_dtype_size(g->dtype), rowb = (size_t)g->heads_kv * g->head_dim * esz;
    for (int64_t s = 0; s < ns; s++)
        for (int64_t j = 0; j < sp[s].n; j++, t++) {
            if (pos) pos[t] = sp[s].pos0 + j;
            for (int h = 0; h < g->heads_kv; h++) {
                size_t off = (size_t)j * rowb + (size_t)h * g->head_dim * esz;
                float kscale = sp[s].k_scale ? sp[s].k_scale[j * g->heads_kv + h] : 0;
                float vscale = sp[s].v_scale ? sp[s].v_scale[j * g->heads_kv + h] : 0;
                lc_kv_load_row(k + (t * g->heads_kv + h) * g->head_dim, (const char *)sp[s].k + off, kscale, g->dtype, g->head_dim);
                lc_kv_load_row(v + (t * g->heads_kv + h) * g->head_dim, (const char *)sp[s].v + off, vscale, g->dtype, g->head_dim);
            }
        }
    free(sp);
    return t;
}

/* Reference decode: naive attention of q over the given keys with bottom-right causality,
 * or (window >= 0) over all keys with a window / sinks mask. */
static void reference(const float *q, int n_q, int hq, const float *k, const float *v, int64_t n, int hkv, int D,
                      int64_t window, int64_t sinks, float *out, float *lse) {
    lc_attention a = {0};
    a.q = lc_tensor_bshd((void *)q, LC_F32, 1, n_q, hq, D);
    a.k = lc_tensor_bshd((void *)k, LC_F32, 1, n, hkv, D);
    a.v = lc_tensor_bshd((void *)v, LC_F32, 1, n, hkv, D);
    a.out = lc_tensor_bshd(out, LC_F32, 1, n_q, hq, D);
    a.lse = lse;
    a.mask.causal = 1;
    a.mask.q_offset = n - n_q;
    if (window >= 0) {
        a.mask.window.enabled = 1, a.mask.window.left = window - 1, a.mask.window.right = -1;
        a.mask.sinks = sinks;
    }
    lc_status st = lc_attention_naive(&a, 0);
    CHECK(st == LC_OK, "naive: %s", lc_last_error());
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i])), s = fmax(s, fabs(b[i]));
    if (scale) *scale = s;
    return m;
}

static double worst_q[5]; /* measured error vs the unquantised cache, per dtype */
static double worst_round[5]; /* measured error of the rounded query vs the f32 one, per dtype */

/* What lc_decode does to the query, keys and values when it rounds the query (decode.h,
 * query_f32): int8 caches: q ~ s * round(q / s), s = max|q| / 127 per row; fp8 and bf16
 * caches: q to bf16, and (fp8) keys and values stored as e4m3 subnormals (below 2^-6 of the token's scale)
 * read as 0. (The probabilities' rounding is not replayed: the test bounds it.) */
static void round_like_decode(lc_dtype t, float *q, size_t rows, int D, float *k, float *v, size_t krows) {
    for (size_t r = 0; r < rows; r++) {
        float *x = q + r * D, amax = 0;
        if (t == LC_FP8 || t == LC_BF16) {
            for (int e = 0; e < D; e++) x[e] = lc_bf16_to_f32(lc_f32_to_bf16(x[e]));
            continue;
        }
        for (int e = 0; e < D; e++) amax = fmaxf(amax, fabsf(x[e]));
        for (int e = 0; e < D && amax > 0; e++) x[e] = (float)lrintf(x[e] * (127 / amax)) * (amax / 127);
    }
    for (size_t r = 0; t == LC_FP8 && r < 2 * krows; r++) { /* the token's scale is max|x| / 448 */
        float *x = (r < krows ? k : v) + (r % krows) * D, amax = 0;
        for (int e = 0; e < D; e++) amax = fmaxf(amax, fabsf(x[e]));
        for (int e = 0; e < D; e++)
            if (fabsf(x[e]) < 0x1p-6f * 0.9375f * amax / 448) x[e] = 0;
    }
}

static void test_decode(test_rng *g) {
    for (int trial = 0; trial < DECODE_CPU_TRIALS; trial++) {
        const decode_case dc = decode_case_random_cpu(trial, g->seed, &g->counter);
        const decode_tolerance *tol = decode_tolerance_of(&dc);
        lc_kv_config c = {0};
        c.layout = dc.layout, c.dtype = dc.dtype, c.heads_kv = dc.heads_kv, c.head_dim = dc.head_dim, c.max_seqs = dc.batch;
        const int G = dc.group, n_q = dc.n_q;
        const int64_t len = dc.len;
        c.capacity = len + dc.spare;
        c.block_size = dc.block_size;
        c.num_blocks = c.max_seqs * ((c.capacity + c.block_size - 1) / c.block_size);
        c.window = dc.window, c.sinks = dc.sinks;
        lc_kv_cache *kc = NULL, *ref = NULL;
        CHECK(lc_kv_create(&c, &kc) == LC_OK, "%s", lc_last_error());
        lc_kv_config rc = c;
        rc.layout = LC_KV_CONTIGUOUS, rc.dtype = LC_F32, rc.max_seqs = 1;
        CHECK(lc_kv_create(&rc, &ref) == LC_OK, "%s", lc_last_error());
        if (!kc || !ref) return;
        CHECK(lc_kv_bytes(kc) == lc_kv_footprint(&c), "footprint");
        int seq = 0, rseq = 0, other = 0;
        if (c.max_seqs > 1) CHECK(lc_kv_seq_new(kc, &other) == LC_OK, "%s", lc_last_error()); /* a neighbour */
        CHECK(lc_kv_seq_new(kc, &seq) == LC_OK && lc_kv_seq_new(ref, &rseq) == LC_OK, "%s", lc_last_error());
        const size_t row = (size_t)c.heads_kv * c.head_dim;
        float *K = normals(g, (size_t)len * row), *V = normals(g, (size_t)len * row);
        for (int64_t p = 0; p < len;) { /* random chunk sizes */
            int64_t n = 1 + (int64_t)test_below(g, 40);
            if (n > len - p) n = len - p;
            CHECK(lc_kv_append(kc, seq, p, K + p * row, V + p * row, n) == LC_OK, "%s", lc_last_error());
            CHECK(lc_kv_append(ref, rseq, p, K + p * row, V + p * row, n) == LC_OK, "%s", lc_last_error());
            if (c.max_seqs > 1 && p < 20) lc_kv_append(kc, other, p, V + p * row, K + p * row, n);
            p += n;
        }
        int64_t kept = lc_kv_seq_kept(kc, seq);
        int hq = c.heads_kv * G;
        float *q = normals(g, (size_t)n_q * hq * c.head_dim);
        float *out = malloc(sizeof(float) * (size_t)n_q * hq * c.head_dim), *exp_ = malloc(sizeof(float) * (size_t)n_q * hq * c.head_dim);
        float *out_f32 = malloc(sizeof(float) * (size_t)n_q * hq * c.head_dim);
        float *lse = malloc(sizeof(float) * (size_t)n_q * hq), *lse_ref = malloc(sizeof(float) * (size_t)n_q * hq);
        float *gk = malloc(sizeof(float) * (size_t)kept * row), *gv = malloc(sizeof(float) * (size_t)kept * row);
        int64_t *gp = malloc(sizeof(int64_t) * (size_t)kept);
        CHECK(gather(kc, seq, gk, gv, gp) == kept, "gather");
        for (int64_t t = 1; t < kept; t++) CHECK(gp[t] > gp[t - 1], "spans out of position order");
        CHECK(gp[kept - 1] == len - 1, "last kept position %lld, len %lld", (long long)gp[kept - 1], (long long)len);
        reference(q, n_q, hq, gk, gv, kept, c.heads_kv, c.head_dim, -1, 0, exp_, lse_ref);
        const int64_t split = dc.split;
        const int threads = dc.threads;
        for (int variant = 0; variant < 8; variant++) { /* every vector path this CPU runs, query f32 or rounded */
            lc_isa isa = (lc_isa)(LC_ISA_PORTABLE + variant / 2);
            if (isa > LC_ISA_AVX512 || !lc_isa_supported(isa)) continue;
            lc_decode d = {.cache = kc, .seq = seq, .q = q, .n_q = n_q, .heads_q = hq, .out = out, .lse = lse,
                           .split = split, .threads = threads, .isa = isa, .query_f32 = variant % 2};
            const int rounds = lc_decode_rounds_query(&d);
            if (variant % 2 == 0 && !rounds) continue; /* the same as query_f32 = 1 */
            memset(out, 0xff, sizeof(float) * (size_t)n_q * hq * c.head_dim);
            CHECK(lc_decode_attention_alloc(&d) == LC_OK, "%s", lc_last_error());
            /* 1: against float64 over exactly what the cache holds (and the rounded query) */
            const float *want = exp_, *want_lse = lse_ref;
            float *exp_r = NULL, *lse_r = NULL;
            if (rounds) {
                float *qr = malloc(sizeof(float) * (size_t)n_q * hq * c.head_dim), *kr = malloc(sizeof(float) * (size_t)kept * row);
                float *vr = malloc(sizeof(float) * (size_t)kept * row);
                memcpy(qr, q, sizeof(float) * (size_t)n_q * hq * c.head_dim), memcpy(kr, gk, sizeof(float) * (size_t)kept * row);
                memcpy(vr, gv, sizeof(float) * (size_t)kept * row);
                round_like_decode(c.dtype, qr, (size_t)n_q * hq, c.head_dim, kr, vr, (size_t)kept * c.heads_kv);
                exp_r = malloc(sizeof(float) * (size_t)n_q * hq * c.head_dim), lse_r = malloc(sizeof(float) * (size_t)n_q * hq);
                reference(qr, n_q, hq, kr, vr, kept, c.heads_kv, c.head_dim, -1, 0, exp_r, lse_r);
                want = exp_r, want_lse = lse_r;
                double vs, e = max_abs_diff(exp_r, exp_, (size_t)n_q * hq * c.head_dim, NULL);
                max_abs_diff(gv, gv, (size_t)kept * row, &vs);
                if (e / (vs + 1e-30) > worst_round[c.dtype]) worst_round[c.dtype] = e / (vs + 1e-30);
                free(qr), free(kr), free(vr);
            }
            double sc, err = max_abs_diff(out, want, (size_t)n_q * hq * c.head_dim, &sc), bound = tol->out * (sc + 1);
            if (rounds) { /* + P.V with rounded probabilities */
                double vmax;
                max_abs_diff(gv, gv, (size_t)kept * row, &vmax);
                bound += decode_tolerance_rounded_p(c.dtype, kept, vmax);
            }
            CHECK(err <= bound, "trial %d %s%s %s/%s H%d G%d D%d len %lld nq %d split %lld: err %.3g", trial, lc_isa_name(isa), rounds ? " (rounded query)" : "",
                  lc_kv_layout_name(c.layout), lc_dtype_name(c.dtype), c.heads_kv, G, c.head_dim, (long long)len, n_q,
                  (long long)split, err);
            /* 2: ring and sinks, n_q = 1: the full sequence under a window / sinks mask */
            if ((c.layout == LC_KV_RING || c.layout == LC_KV_SINKS) && c.dtype == LC_F32) {
                float *e2 = malloc(sizeof(float) * (size_t)hq * c.head_dim), *o1 = malloc(sizeof(float) * (size_t)hq * c.head_dim);
                lc_decode d1 = d;
                d1.n_q = 1, d1.q = q + (size_t)(n_q - 1) * hq * c.head_dim, d1.lse = NULL, d1.out = o1;
                CHECK(lc_decode_attention_alloc(&d1) == LC_OK, "%s", lc_last_error());
                reference(d1.q, 1, hq, K, V, len, c.heads_kv, c.head_dim, c.window, c.layout == LC_KV_SINKS ? c.sinks : 0, e2, NULL);
                err = max_abs_diff(o1, e2, (size_t)hq * c.head_dim, &sc);
                CHECK(err <= tol->out * (sc + 1), "%s vs mask: err %.3g", lc_kv_layout_name(c.layout), err);
                err = max_abs_diff(o1, out + (size_t)(n_q - 1) * hq * c.head_dim, (size_t)hq * c.head_dim, &sc);
                CHECK(err <= tol->out * (sc + 1), "%s: last query alone vs with the others: err %.3g", lc_kv_layout_name(c.layout), err);
                free(e2), free(o1);
            }
            /* 3: against the contiguous f32 cache of the same tokens (all layouts keep all
             * tokens, or the reference is the kept subset: compare only full-keeping layouts) */
            if (c.layout == LC_KV_CONTIGUOUS || c.layout == LC_KV_PAGED || kept == len) {
                lc_decode dr = d;
                dr.cache = ref, dr.seq = rseq, dr.out = out_f32, dr.lse = NULL;
                CHECK(lc_decode_attention_alloc(&dr) == LC_OK, "%s", lc_last_error());
                /* errors relative to max|v|: a stored value is off by at most eps * |v| */
                err = max_abs_diff(out, out_f32, (size_t)n_q * hq * c.head_dim, NULL);
                max_abs_diff(V, V, (size_t)len * row, &sc);
                if (err / (sc + 1e-30) > worst_q[c.dtype]) worst_q[c.dtype] = err / (sc + 1e-30);
                CHECK(err <= tol->vs_f32[c.dtype] * sc + tol->vs_f32_abs, "%s %s/%s vs contiguous f32: err %.3g (scale %.3g) len %lld kept %lld nq %d W %lld S %lld", lc_isa_name(isa), lc_kv_layout_name(c.layout), lc_dtype_name(c.dtype), err, sc, (long long)len, (long long)kept, n_q, (long long)c.window, (long long)c.sinks);
            }
            for (int i = 0; i < n_q * hq; i++)
                CHECK(isfinite(lse[i]) && fabs(lse[i] - want_lse[i]) <= tol->lse * (1 + fabs(want_lse[i])), "%s lse %g, reference %g", lc_isa_name(isa), lse[i], want_lse[i]);
            free(exp_r), free(lse_r);
        }
        free(K), free(V), free(q), free(out), free(exp_), free(out_f32), free(lse), free(lse_ref), free(gk), free(gv), free(gp);
        lc_kv_destroy(kc), lc_kv_destroy(ref);
    }
    printf("decode: max |out - out_f32| / max|v|: f32 %.2g  f16 %.2g  bf16 %.2g  int8 %.2g  fp8 %.2g\n", worst_q[0],
           worst_q[1], worst_q[2], worst_q[3], worst_q[4]);
    printf("decode: the rounded query's max |out - out(f32 query)| / max|v|: bf16 %.2g  int8 %.2g  fp8 %.2g\n", worst_round[LC_BF16],
           worst_round[LC_INT8], worst_round[LC_FP8]);
}

/* Paged fork / free under random operations, each sequence checked token by token
 * against its shadow copy; at the end every block is back in the pool. */
static void test_paged_fork(test_rng *g) {
    for (int trial = 0; trial < 20; trial++) {
        lc_kv_config c = {.layout = LC_KV_PAGED, .dtype = trial % 2 ? LC_INT8 : LC_F32, .heads_kv = 2, .head_dim = 3,
                          .max_seqs = 6, .capacity = 100, .block_size = 1 + (int)test_below(g, 8), .num_blocks = 400};
        lc_kv_cache *kc;
        CHECK(lc_kv_create(&c, &kc) == LC_OK, "%s", lc_last_error());
        const int row = 6;
        float *shadow = calloc((size_t)c.max_seqs * 100 * row, sizeof(float)); /* k values; v = -k */
        int alive[6] = {0};
        for (int op = 0; op < 300; op++) {
            int s = (int)test_below(g, 6), what = (int)test_below(g, 10);
            if (!alive[s] && what < 8) {
                int id;
                if (lc_kv_seq_new(kc, &id) == LC_OK) alive[id] = 1;
            } else if (alive[s] && what < 6) {
                int64_t len = lc_kv_seq_len(kc, s), n = 1 + (int64_t)test_below(g, 7);
                if (len + n > 100) continue;
                float *k = normals(g, (size_t)n * row), *v = malloc(sizeof(float) * (size_t)n * row);
                for (int i = 0; i < n * row; i++) v[i] = -k[i];
                lc_status st = lc_kv_append(kc, s, len, k, v, n);
                CHECK(st == LC_OK || st == LC_ENOMEM, "%s", lc_last_error());
                if (st == LC_OK) memcpy(shadow + ((size_t)s * 100 + len) * row, k, sizeof(float) * (size_t)n * row);
                free(k), free(v);
            } else if (alive[s] && what < 8) {
                int d;
                if (lc_kv_seq_fork(kc, s, &d) == LC_OK) {
                    alive[d] = 1;
                    memcpy(shadow + (size_t)d * 100 * row, shadow + (size_t)s * 100 * row, sizeof(float) * 100 * row);
                }
            } else if (alive[s]) {
                CHECK(lc_kv_seq_remove(kc, s) == LC_OK, "%s", lc_last_error());
                alive[s] = 0;
            }
        }
        float k[100 * 6], v[100 * 6];
        for (int s = 0; s < 6; s++) {
            if (!alive[s]) continue;
            int64_t n = gather(kc, s, k, v, NULL);
            CHECK(n == lc_kv_seq_len(kc, s), "kept");
            for (int64_t i = 0; i < n * row; i++) {
                float e = shadow[(size_t)s * 100 * row + i];
                double tol = c.dtype == LC_INT8 ? 0.02 * fabs(e) + 0.03 : 0;
                CHECK(fabs(k[i] - e) <= tol && fabs(v[i] + e) <= tol, "seq %d value %lld: %g vs %g", s, (long long)i, k[i], e);
            }
            lc_kv_seq_remove(kc, s);
        }
        CHECK(lc_kv_free_blocks(kc) == c.num_blocks, "leak: %lld of %lld blocks free", (long long)lc_kv_free_blocks(kc), (long long)c.num_blocks);
        free(shadow);
        lc_kv_destroy(kc);
    }
    /* Sharing is real: a fork of a 40-token sequence takes no block until it writes,
     * then exactly one (the copied partial last block). */
    lc_kv_config c = {.layout = LC_KV_PAGED, .dtype = LC_F16, .heads_kv = 1, .head_dim = 4, .max_seqs = 2,
                      .capacity = 64, .block_size = 16, .num_blocks = 8};
    lc_kv_cache *kc;
    float x[64 * 4];
    for (int i = 0; i < 64 * 4; i++) x[i] = (float)i;
    int a, b;
    lc_kv_create(&c, &kc);
    lc_kv_seq_new(kc, &a);
    lc_kv_append(kc, a, 0, x, x, 40);
    CHECK(lc_kv_free_blocks(kc) == 5, "%lld", (long long)lc_kv_free_blocks(kc));
    lc_kv_seq_fork(kc, a, &b);
    CHECK(lc_kv_free_blocks(kc) == 5, "fork took blocks");
    lc_kv_append(kc, b, 40, x, x, 1);
    CHECK(lc_kv_free_blocks(kc) == 4, "copy on write: %lld free", (long long)lc_kv_free_blocks(kc));
    lc_kv_append(kc, a, 40, x + 4, x + 4, 1);
    CHECK(lc_kv_free_blocks(kc) == 4, "the sole owner writes in place: %lld free", (long long)lc_kv_free_blocks(kc));
    float ka[41 * 4], va[41 * 4], kb[41 * 4], vb[41 * 4];
    gather(kc, a, ka, va, NULL), gather(kc, b, kb, vb, NULL);
    CHECK(!memcmp(ka, kb, 40 * 4 * sizeof(float)) && ka[160] == 4 && kb[160] == 0, "fork contents %g %g", ka[160], kb[160]);
    lc_kv_seq_remove(kc, a), lc_kv_seq_remove(kc, b);
    CHECK(lc_kv_free_blocks(kc) == 8, "leak");
    lc_kv_destroy(kc);
}

/* A prompt chunk against its cached prefix: lc_decode with n_q x group >= 64 query rows,
 * which it runs through the flash kernel's tile products over the cache's spans
 * (src/cache/decode_tiled.c). Paged caches with random block tables (other sequences
 * appended in between and removed in random order, so the pool hands out scattered
 * blocks), and the other layouts; every storage dtype, head dims off the vector widths, GQA
 * 1-8, chunks of 8 to 200 queries against prefixes of 0 to 600 tokens (across the 256-key
 * tiles), every vector path: out and lse against the float64 reference over what the cache
 * holds; the same output for the query kept f32 or not (the tiled path never rounds it)
 * and on 1 and 3 threads, bitwise. */
static void test_prefill(test_rng *g) {
    static const int dims[] = {16, 33, 64, 128}, blocks[] = {1, 3, 16, 24};
    enum { TRIALS = 24 };
    for (int trial = 0; trial < TRIALS; trial++) {
        lc_kv_config c = {0};
        c.layout = trial % 3 ? LC_KV_PAGED : (lc_kv_layout)(trial / 3 % 4), c.dtype = (lc_dtype)(trial % 5);
        c.heads_kv = 1 + (int)test_below(g, 2), c.head_dim = dims[test_below(g, 4)];
        const int G = 1 + (int)test_below(g, 8), hq = c.heads_kv * G;
        int n_q = (64 + G - 1) / G + (int)test_below(g, 200);
        if (n_q > 200) n_q = 200;
        const int64_t prefix = test_below(g, 3) == 0 ? 0 : (int64_t)test_below(g, 600), len = prefix + n_q;
        c.max_seqs = 4, c.capacity = len, c.block_size = blocks[test_below(g, 4)];
        c.num_blocks = c.max_seqs * ((c.capacity + c.block_size - 1) / c.block_size);
        c.window = n_q + (int64_t)test_below(g, 300), c.sinks = (int64_t)test_below(g, 6);
        lc_kv_cache *kc = NULL;
        CHECK(lc_kv_create(&c, &kc) == LC_OK, "%s", lc_last_error());
        if (!kc) return;
        /* the sequence and three others, appended in random interleaved chunks; the others
         * removed at random points, so their blocks come back to the pool out of order */
        int seq = 0, other[3], alive = 3;
        CHECK(lc_kv_seq_new(kc, &seq) == LC_OK, "%s", lc_last_error());
        for (int o = 0; o < 3; o++) CHECK(lc_kv_seq_new(kc, &other[o]) == LC_OK, "%s", lc_last_error());
        const size_t row = (size_t)c.heads_kv * c.head_dim;
        float *K = normals(g, (size_t)len * row), *V = normals(g, (size_t)len * row);
        int64_t olen[3] = {0, 0, 0};
        for (int64_t p = 0; p < len;) {
            int64_t n = 1 + (int64_t)test_below(g, 50);
            if (n > len - p) n = len - p;
            CHECK(lc_kv_append(kc, seq, p, K + p * row, V + p * row, n) == LC_OK, "%s", lc_last_error());
            p += n;
            for (int o = 0; o < 3; o++) {
                if (other[o] < 0) continue;
                int64_t m = (int64_t)test_below(g, 20);
                if (m > len - olen[o]) m = len - olen[o];
                if (m > 0 && lc_kv_append(kc, other[o], olen[o], V, K, m) == LC_OK) olen[o] += m;
                if (alive > 0 && test_below(g, 6) == 0) lc_kv_seq_remove(kc, other[o]), other[o] = -1, alive--;
            }
        }
        const int64_t kept = lc_kv_seq_kept(kc, seq);
        const size_t qn = (size_t)n_q * hq * c.head_dim;
        float *q = normals(g, qn), *out = malloc(sizeof(float) * qn), *first = malloc(sizeof(float) * qn), *want = malloc(sizeof(float) * qn);
        float *lse = malloc(sizeof(float) * (size_t)n_q * hq), *want_lse = malloc(sizeof(float) * (size_t)n_q * hq);
        float *gk = malloc(sizeof(float) * (size_t)kept * row), *gv = malloc(sizeof(float) * (size_t)kept * row);
        CHECK(gather(kc, seq, gk, gv, NULL) == kept, "gather");
        reference(q, n_q, hq, gk, gv, kept, c.heads_kv, c.head_dim, -1, 0, want, want_lse);
        const decode_tolerance *tol = decode_tolerance_of(NULL);
        double sc;
        max_abs_diff(want, want, qn, &sc);
        for (lc_isa isa = LC_ISA_PORTABLE; isa <= LC_ISA_AVX512; isa++) {
            if (!lc_isa_supported(isa)) continue;
            lc_decode d = {.cache = kc, .seq = seq, .q = q, .n_q = n_q, .heads_q = hq, .out = out, .lse = lse, .threads = 1 + (int)test_below(g, 3), .isa = isa};
            CHECK(lc_decode_rounds_query(&d) == 0, "a prompt chunk's query is not rounded");
            memset(out, 0xff, sizeof(float) * qn), memset(lse, 0xff, sizeof(float) * (size_t)n_q * hq);
            CHECK(lc_decode_attention_alloc(&d) == LC_OK, "%s", lc_last_error());
            double err = max_abs_diff(out, want, qn, NULL);
            CHECK(err <= tol->out * (sc + 1), "prefill trial %d %s %s/%s block %d H%d G%d D%d prefix %lld n_q %d kept %lld: err %.3g", trial,
                  lc_isa_name(isa), lc_kv_layout_name(c.layout), lc_dtype_name(c.dtype), c.block_size, c.heads_kv, G, c.head_dim, (long long)prefix,
                  n_q, (long long)kept, err);
            int lse_ok = 1;
            for (int i = 0; i < n_q * hq; i++) lse_ok &= fabs(lse[i] - want_lse[i]) <= tol->lse * (1 + fabs(want_lse[i]));
            CHECK(lse_ok, "prefill trial %d %s: lse off the reference", trial, lc_isa_name(isa));
            memcpy(first, out, sizeof(float) * qn);
            d.threads = d.threads == 3 ? 1 : 3, d.query_f32 = 1;
            CHECK(lc_decode_attention_alloc(&d) == LC_OK && !memcmp(first, out, sizeof(float) * qn),
                  "prefill trial %d %s: another thread count or an f32 query changed the output", trial, lc_isa_name(isa));
        }
        free(K), free(V), free(q), free(out), free(first), free(want), free(lse), free(want_lse), free(gk), free(gv);
        lc_kv_destroy(kc);
    }
}

static void test_errors_and_bytes(void) {
    float x[4 * 8] = {0};
    lc_kv_config c = {.layout = LC_KV_CONTIGUOUS, .dtype = LC_F32, .heads_kv = 2, .head_dim = 4, .max_seqs = 1, .capacity = 10};
    CHECK(lc_kv_slots(&c) == 10 && lc_kv_slot_bytes(&c) == 64, "slot bytes %zu", lc_kv_slot_bytes(&c));
    lc_kv_cache *kc;
    CHECK(lc_kv_create(&c, &kc) == LC_OK, "%s", lc_last_error());
    int s;
    lc_kv_seq_new(kc, &s);
    CHECK(lc_kv_append(kc, s, 0, x, x, 4) == LC_OK, "%s", lc_last_error());
    CHECK(lc_kv_append(kc, s, 5, x, x, 1) == LC_ERANGE && strstr(lc_last_error(), "out of order"), "%s", lc_last_error());
    CHECK(lc_kv_append(kc, s, 4, x, x, 7) == LC_ERANGE && strstr(lc_last_error(), "capacity"), "%s", lc_last_error());
    CHECK(lc_kv_seq_len(kc, s) == 4, "a refused append wrote");
    CHECK(lc_kv_append(kc, 3, 0, x, x, 1) == LC_ERANGE && strstr(lc_last_error(), "unknown"), "%s", lc_last_error());
    int t;
    CHECK(lc_kv_seq_new(kc, &t) == LC_ENOMEM && strstr(lc_last_error(), "in use"), "%s", lc_last_error());
    lc_kv_seq_remove(kc, s);
    CHECK(lc_kv_append(kc, s, 0, x, x, 1) == LC_ERANGE && strstr(lc_last_error(), "unknown"), "%s", lc_last_error());
    lc_decode d = {.cache = kc, .seq = s, .q = x, .out = x, .n_q = 1, .heads_q = 2};
    CHECK(lc_decode_attention_alloc(&d) == LC_ERANGE && strstr(lc_last_error(), "decode.seq"), "%s", lc_last_error());
    lc_kv_seq_new(kc, &s);
    lc_kv_append(kc, s, 0, x, x, 1);
    d.seq = s, d.heads_q = 3;
    CHECK(lc_decode_attention_alloc(&d) == LC_EINVAL && strstr(lc_last_error(), "heads_q"), "%s", lc_last_error());
    d.heads_q = 2, d.n_q = 2;
    CHECK(lc_decode_attention_alloc(&d) == LC_ERANGE && strstr(lc_last_error(), "n_q"), "%s", lc_last_error());
    lc_kv_destroy(kc);
    /* paged: the pool runs out -> LC_ENOMEM, nothing written */
    c = (lc_kv_config){.layout = LC_KV_PAGED, .dtype = LC_FP8, .heads_kv = 2, .head_dim = 4, .max_seqs = 2, .capacity = 100, .block_size = 2, .num_blocks = 3};
    CHECK(lc_kv_slot_bytes(&c) == 2 * 8 + 2 * 2 * 4, "fp8 slot bytes %zu", lc_kv_slot_bytes(&c));
    lc_kv_create(&c, &kc);
    lc_kv_seq_new(kc, &s);
    CHECK(lc_kv_append(kc, s, 0, x, x, 4) == LC_OK, "%s", lc_last_error());
    CHECK(lc_kv_append(kc, s, 4, x, x, 3) == LC_ENOMEM && strstr(lc_last_error(), "free blocks"), "%s", lc_last_error());
    CHECK(lc_kv_seq_len(kc, s) == 4 && lc_kv_free_blocks(kc) == 1, "refused append changed state");
    lc_kv_destroy(kc);
    /* ring memory does not grow with n */
    c = (lc_kv_config){.layout = LC_KV_RING, .dtype = LC_BF16, .heads_kv = 8, .head_dim = 128, .max_seqs = 1, .window = 4096};
    CHECK(lc_kv_slots(&c) == 4096 && lc_kv_slot_bytes(&c) == 2 * 8 * 128 * 2, "ring bytes");
    c.window = 0;
    CHECK(lc_kv_config_check(&c) == LC_EINVAL && strstr(lc_last_error(), "kv.window"), "%s", lc_last_error());
    c.layout = LC_KV_PAGED;
    CHECK(lc_kv_config_check(&c) == LC_EINVAL && strstr(lc_last_error(), "block_size"), "%s", lc_last_error());
}

static void test_fp8(test_rng *g) {
    for (int i = 0; i < 256; i++) {
        float f = lc_fp8e4m3_to_f32((uint8_t)i);
        if ((i & 0x7f) == 0x7f) CHECK(isnan(f), "code %d not NaN", i);
        else CHECK(lc_f32_to_fp8e4m3(f) == i || (f == 0 && (i & 0x7f) == 0), "code %d -> %g -> %d", i, f, lc_f32_to_fp8e4m3(f));
    }
    CHECK(lc_fp8e4m3_to_f32(0x7e) == 448 && lc_f32_to_fp8e4m3(1e6f) == 0x7e && lc_f32_to_fp8e4m3(-1e6f) == 0xfe, "saturation");
    for (int t = 0; t < 20000; t++) { /* nearest code, brute force */
        float x = (float)((test_uniform(g) * 2 - 1) * ldexp(1, (int)test_below(g, 20) - 10));
        float got = lc_fp8e4m3_to_f32(lc_f32_to_fp8e4m3(x)), best = 0;
        for (int i = 0; i < 255; i++) {
            float f = lc_fp8e4m3_to_f32((uint8_t)i);
            if (!isnan(f) && fabsf(f - x) < fabsf(best - x)) best = f;
        }
        CHECK(fabsf(got - x) == fabsf(best - x), "%g -> %g, nearest %g", x, got, best);
    }
}

int main(void) {
    test_rng g = {test_seed("test_kv_cache"), 0};
    test_fp8(&g);
    test_errors_and_bytes();
    test_paged_fork(&g);
    test_decode(&g);
    test_prefill(&g);
    return test_finish("test_kv_cache");
}
