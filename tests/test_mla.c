/* MLA against naive multi-head attention built in float64 from the same weights and the
 * latents as the cache stores them (f32, f16, bf16, int8 or fp8): the absorbed decode and the float64
 * prefill to 1e-6 relative to max |out|, the f32 fast_prefill and fast_decode (split-key
 * across threads, caches of up to 1300 tokens: several tiles per chunk) to 1e-5; the error that f16
 * and bf16 storage adds against f32 latents, within twice its first-order bound; the cache's
 * bytes; bad calls refused with a sentence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "longctx/cache.h"
#include "longctx/mla.h"

static float *normals(test_rng *g, size_t n, float sd) {
    float *x = malloc(sizeof(float) * n);
    lc_rng_fill_normal(x, n, g->seed, g->counter, 0, sd, 1);
    g->counter += n;
    return x;
}

/* out[i,h] = softmax over j <= n - n_q + i of scale (q.k) times v, all in float64; with
 * m->window, only the keys j > n - n_q + i - window and j < m->sinks.
 * sens (or NULL) gets the first-order bound on what rounding the latents and rope keys to
 * relative eps does to the output, divided by eps, the largest over heads, query rows and
 * output elements. Key and value elements move by at most eps times kb = sum_r |w| |lat_r|
 * (rope keys: eps |kr|), so score j by at most eps A_j, A_j = scale (sum_d |q_d| kb_jd +
 * sum_e |qr_e kr_je|); with p = softmax(s), dp_j = p_j (ds_j - sum_k p_k ds_k), so
 *   |d out_e| <= eps sum_j p_j (2 A_j |v_je - out_e| + vb_je). */
static void naive_mha(const lc_mla *m, const float *lat, const float *kr, int64_t n, const float *qn, const float *qr, int n_q, double *out, double *sens) {
    const int H = m->heads, R = m->rank, N = m->nope, P = m->rope, DV = m->v_dim;
    double scale = 1.0 / sqrt((double)(N + P));
    double *k = malloc(sizeof(double) * (size_t)n * (N + P)), *v = malloc(sizeof(double) * (size_t)n * DV), *s = malloc(sizeof(double) * (size_t)n);
    double *kb = malloc(sizeof(double) * (size_t)n * N + 1), *vb = malloc(sizeof(double) * (size_t)n * DV), *a = malloc(sizeof(double) * (size_t)n);
    if (sens) *sens = 0;
    for (int h = 0; h < H; h++) {
        for (int64_t j = 0; j < n; j++) {
            for (int d = 0; d < N; d++) {
                double x = 0, y = 0;
                for (int r = 0; r < R; r++) {
                    double t = (double)m->w_uk[((size_t)h * N + d) * R + r] * lat[j * R + r];
                    x += t, y += fabs(t);
                }
                k[j * (N + P) + d] = x, kb[j * N + d] = y;
            }
            for (int e = 0; e < P; e++) k[j * (N + P) + N + e] = kr[j * P + e];
            for (int e = 0; e < DV; e++) {
                double x = 0, y = 0;
                for (int r = 0; r < R; r++) {
                    double t = (double)m->w_uv[((size_t)h * DV + e) * R + r] * lat[j * R + r];
                    x += t, y += fabs(t);
                }
                v[j * DV + e] = x, vb[j * DV + e] = y;
            }
        }
        for (int i = 0; i < n_q; i++) {
            const float *q = qn + ((size_t)i * H + h) * N, *qe = qr + ((size_t)i * H + h) * P;
            int64_t last = n - n_q + i;
            double mx = -INFINITY, l = 0;
#define SEEN(j) (m->window == 0 || (j) < m->sinks || last - (j) < m->window)
            for (int64_t j = 0; j <= last; j++) {
                s[j] = -INFINITY, a[j] = 0;
                if (!SEEN(j)) continue;
                double dot = 0, bound = 0;
                for (int d = 0; d < N; d++) dot += (double)q[d] * k[j * (N + P) + d], bound += fabs((double)q[d]) * kb[j * N + d];
                for (int e = 0; e < P; e++) dot += (double)qe[e] * k[j * (N + P) + N + e], bound += fabs((double)qe[e] * kr[j * P + e]);
                s[j] = dot * scale, a[j] = bound * scale;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j <= last; j++) s[j] = exp(s[j] - mx), l += s[j]; /* p_j l; 0 where unseen */
#undef SEEN
            double *o = out + ((size_t)i * H + h) * DV;
            for (int e = 0; e < DV; e++) {
                o[e] = 0;
                for (int64_t j = 0; j <= last; j++) o[e] += s[j] * v[j * DV + e];
                o[e] /= l;
                if (!sens) continue;
                double d = 0;
                for (int64_t j = 0; j <= last; j++) d += s[j] * (2 * a[j] * fabs(v[j * DV + e] - o[e]) + vb[j * DV + e]);
                *sens = fmax(*sens, d / l);
            }
        }
    }
    free(k), free(v), free(s), free(kb), free(vb), free(a);
}

static double max_abs(const double *x, size_t n) {
    double a = 0;
    for (size_t i = 0; i < n; i++) a = fmax(a, fabs(x[i]));
    return a;
}

static double max_err(const float *x, const double *ref, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs(x[i] - ref[i]));
    return e;
}

/* rows x width values as a cache of dtype t stores them (lc_kv_store_row: int8 and fp8 with
 * one scale per row), back in f32. */
static void as_stored(lc_dtype t, const float *x, int64_t rows, int width, float *out) {
    uint8_t *buf = malloc(sizeof(float) * (size_t)width + 1);
    for (int64_t r = 0; r < rows; r++) {
        float scale = 0;
        lc_kv_store_row(buf, &scale, t, x + r * width, width);
        lc_kv_load_row(out + r * width, buf, scale, t, width);
    }
    free(buf);
}

/* Windows and sinks: chunks of at most `window` tokens appended to a cache of sinks + 2
 * window rows (what the model runner allocates), each chunk's queries through every path,
 * against the reference over every position with the mask; the cache drops what no later
 * query sees and holds the sinks and the last window - 1 + chunk positions. */
static void test_window(test_rng *g) {
    const lc_dtype dtypes[] = {LC_F32, LC_BF16, LC_INT8};
    for (int trial = 0; trial < 24; trial++) {
        lc_mla m = {0};
        m.dtype = dtypes[trial % 3];
        m.heads = 1 + (int)test_below(g, 3), m.rank = 1 + (int)test_below(g, 24), m.nope = 1 + (int)test_below(g, 8);
        m.rope = (int)test_below(g, 5), m.v_dim = 1 + (int)test_below(g, 8), m.threads = 1 + (int)test_below(g, 2);
        m.window = 1 + (int64_t)test_below(g, trial % 4 == 3 ? 300 : 12), m.sinks = (int64_t)test_below(g, 4);
        m.block_size = trial % 2 ? 1 + (int64_t)test_below(g, 16) : 0;
        const int64_t n = 1 + (int64_t)test_below(g, 3 * m.window + 40);
        float *wuk = normals(g, (size_t)m.heads * m.nope * m.rank, 1.0f / sqrtf((float)m.rank));
        float *wuv = normals(g, (size_t)m.heads * m.v_dim * m.rank, 1.0f / sqrtf((float)m.rank));
        m.w_uk = wuk, m.w_uv = wuv;
        float *lat = normals(g, (size_t)n * m.rank, 1), *kr = normals(g, (size_t)n * m.rope + 1, 1);
        float *lat_s = malloc(sizeof(float) * (size_t)n * m.rank), *kr_s = malloc(sizeof(float) * ((size_t)n * m.rope + 1));
        as_stored(m.dtype, lat, n, m.rank, lat_s), as_stored(m.dtype, kr, m.rope ? n : 0, m.rope, kr_s);
        lc_mla_cache *c;
        CHECK(lc_mla_cache_create(&m, m.sinks + 2 * m.window, &c) == LC_OK, "%s", lc_last_error());
        int ok = 1;
        for (int64_t p = 0; p < n && ok;) {
            int64_t k = 1 + (int64_t)test_below(g, (uint64_t)m.window);
            if (k > n - p) k = n - p;
            ok &= lc_mla_cache_append(c, p, lat + p * m.rank, kr + p * m.rope, k) == LC_OK;
            /* held: the sinks before p, the positions in [max(sinks, p - window + 1), p), the chunk */
            const int64_t first = m.sinks > p - m.window + 1 ? m.sinks : p - m.window + 1;
            const int64_t hold = (p < m.sinks ? p : m.sinks) + (p > first ? p - first : 0) + k;
            p += k;
            CHECK(lc_mla_cache_len(c) == p && lc_mla_cache_rows(c) == hold, "window trial %d: %lld rows at %lld, want %lld", trial,
                  (long long)lc_mla_cache_rows(c), (long long)p, (long long)hold);
            float *qn = normals(g, (size_t)k * m.heads * m.nope, 1), *qr = normals(g, (size_t)k * m.heads * m.rope + 1, 1);
            const size_t no = (size_t)k * m.heads * m.v_dim;
            double *ref = malloc(sizeof(double) * no);
            float *got = malloc(sizeof(float) * no);
            naive_mha(&m, lat_s, kr_s, p, qn, qr, (int)k, ref, NULL);
            const double sc = max_abs(ref, no);
            lc_mla_attention a = {.mla = &m, .cache = c, .q_nope = qn, .q_rope = qr, .n_q = (int)k, .out = got};
            for (int path = 0; path < 4 && ok; path++) {
                m.fast_prefill = m.fast_decode = path >= 2;
                ok &= (path % 2 ? lc_mla_decode_alloc(&a) : lc_mla_prefill(&a)) == LC_OK;
                const double e = max_err(got, ref, no);
                CHECK(e <= (path >= 2 ? 1e-5 : 1e-6) * sc, "window trial %d (%s W%lld S%lld n%lld) at %lld, %s %s: err %.3g of %.3g", trial,
                      lc_dtype_name(m.dtype), (long long)m.window, (long long)m.sinks, (long long)n, (long long)p, path >= 2 ? "fast" : "f64",
                      path % 2 ? "decode" : "prefill", e, sc);
            }
            free(qn), free(qr), free(ref), free(got);
        }
        CHECK(ok, "window trial %d (W%lld S%lld n%lld): %s", trial, (long long)m.window, (long long)m.sinks, (long long)n, lc_last_error());
        lc_mla_cache_destroy(c);
        free(wuk), free(wuv), free(lat), free(kr), free(lat_s), free(kr_s);
    }
    /* refusals: a chunk past what the rows hold, sinks without a window, a cache of another
     * window, a negative block size */
    lc_mla m = {.heads = 1, .rank = 2, .nope = 1, .rope = 1, .v_dim = 1, .window = 4, .sinks = 1};
    float w[4] = {1, 2, 3, 4}, x[64] = {0};
    m.w_uk = w, m.w_uv = w;
    lc_mla_cache *c;
    CHECK(lc_mla_cache_create(&m, 6, &c) == LC_OK, "%s", lc_last_error());
    CHECK(lc_mla_cache_append(c, 0, x, x, 7) == LC_ERANGE && strstr(lc_last_error(), "capacity"), "%s", lc_last_error());
    lc_mla other = m;
    other.window = 5;
    float o[2];
    CHECK(lc_mla_cache_append(c, 0, x, x, 2) == LC_OK, "%s", lc_last_error());
    lc_mla_attention a = {.mla = &other, .cache = c, .q_nope = x, .q_rope = x, .n_q = 1, .out = o};
    CHECK(lc_mla_prefill(&a) == LC_EINVAL && strstr(lc_last_error(), "window=4"), "%s", lc_last_error());
    other = m, other.window = 0;
    CHECK(lc_mla_check(&other) == LC_EINVAL && strstr(lc_last_error(), "needs a window"), "%s", lc_last_error());
    other.window = -1;
    CHECK(lc_mla_check(&other) == LC_EINVAL && strstr(lc_last_error(), "mla.window=-1"), "%s", lc_last_error());
    other = m, other.block_size = -2;
    CHECK(lc_mla_check(&other) == LC_EINVAL && strstr(lc_last_error(), "mla.block_size=-2"), "%s", lc_last_error());
    lc_mla_cache_destroy(c);
}

int main(void) {
    test_rng g = {test_seed("test_mla"), 0};
    test_window(&g);
    const lc_dtype dtypes[] = {LC_F32, LC_F16, LC_BF16, LC_INT8, LC_FP8};
    double storage_err[5] = {0}; /* worst relative error of the f64 prefill against f32 latents, per dtype */
    double worst_fast_decode = 0;
    for (int trial = 0; trial < 70; trial++) {
        lc_mla m = {0};
        const int di = trial < 30 ? 0 : (int)test_below(&g, 5);
        m.dtype = dtypes[di];
        m.heads = 1 + (int)test_below(&g, 5);
        m.rank = 1 + (int)test_below(&g, 48);
        m.nope = (int)test_below(&g, 24) + (trial == 0 ? 0 : 1);
        m.rope = (int)test_below(&g, 9) + (trial == 0 ? 1 : 0);
        m.v_dim = 1 + (int)test_below(&g, 20);
        m.threads = 1 + (int)test_below(&g, 3);
        m.block_size = trial % 2 ? 1 + (int64_t)test_below(&g, 40) : 0; /* paged: blocks allocated as rows come */
        int64_t n = 1 + (int64_t)test_below(&g, trial % 5 == 4 ? 400 : trial % 5 == 3 ? 1300 : 200);
        int n_q = 1 + (int)test_below(&g, trial % 5 == 4 ? (uint64_t)n : 4); /* every 5th: a long prefill (several query tiles and chunks) */
        if (n_q > n) n_q = (int)n;
        float *wuk = normals(&g, (size_t)m.heads * m.nope * m.rank + 1, 1.0f / sqrtf((float)m.rank));
        float *wuv = normals(&g, (size_t)m.heads * m.v_dim * m.rank, 1.0f / sqrtf((float)m.rank));
        m.w_uk = wuk, m.w_uv = wuv;
        float *lat = normals(&g, (size_t)n * m.rank, 1), *kr = normals(&g, (size_t)n * m.rope + 1, 1);
        /* the latents as the cache stores them */
        float *lat_s = malloc(sizeof(float) * (size_t)n * m.rank), *kr_s = malloc(sizeof(float) * ((size_t)n * m.rope + 1));
        as_stored(m.dtype, lat, n, m.rank, lat_s), as_stored(m.dtype, kr, m.rope ? n : 0, m.rope, kr_s);
        kr_s[n * m.rope] = kr[n * m.rope];
        float *qn = normals(&g, (size_t)n_q * m.heads * m.nope + 1, 1), *qr = normals(&g, (size_t)n_q * m.heads * m.rope + 1, 1);
        lc_mla_cache *c;
        CHECK(lc_mla_cache_create(&m, n + 3, &c) == LC_OK, "%s", lc_last_error());
        if (!m.block_size) CHECK(lc_mla_cache_bytes(c) == lc_mla_cache_footprint(&m, n + 3), "bytes");
        for (int64_t p = 0; p < n;) {
            int64_t k = 1 + (int64_t)test_below(&g, 30);
            if (k > n - p) k = n - p;
            CHECK(lc_mla_cache_append(c, p, lat + p * m.rank, kr + p * m.rope, k) == LC_OK, "%s", lc_last_error());
            p += k;
        }
        if (m.block_size) { /* the blocks the rows reached, no more */
            const int64_t bs = m.block_size, unused = (n + 3 + bs - 1) / bs - (n + bs - 1) / bs;
            const size_t want = lc_mla_cache_footprint(&m, n + 3) - (size_t)(unused * bs) * lc_mla_token_bytes(&m);
            CHECK(lc_mla_cache_bytes(c) == want, "paged bytes %zu after %lld rows in blocks of %lld, want %zu", lc_mla_cache_bytes(c), (long long)n,
                  (long long)bs, want);
        }
        size_t no = (size_t)n_q * m.heads * m.v_dim;
        double *ref = malloc(sizeof(double) * no), *ref32 = malloc(sizeof(double) * no);
        float *dec = malloc(sizeof(float) * no), *pre = malloc(sizeof(float) * no), *fast = malloc(sizeof(float) * no), *fdec = malloc(sizeof(float) * no);
        naive_mha(&m, lat_s, kr_s, n, qn, qr, n_q, ref, NULL);
        lc_mla_attention a = {.mla = &m, .cache = c, .q_nope = qn, .q_rope = qr, .n_q = n_q};
        a.out = dec;
        CHECK(lc_mla_decode_alloc(&a) == LC_OK, "%s", lc_last_error());
        a.out = pre;
        CHECK(lc_mla_prefill(&a) == LC_OK, "%s", lc_last_error());
        m.fast_prefill = 1, m.fast_decode = 1;
        a.out = fast;
        CHECK(lc_mla_prefill(&a) == LC_OK, "%s", lc_last_error());
        for (size_t t = 0; t < no; t++) fdec[t] = NAN; /* poisoned: every output must be written */
        a.out = fdec;
        CHECK(lc_mla_decode_alloc(&a) == LC_OK, "%s", lc_last_error());
        if (trial % 3 == 0) { /* a forked sequence: the copy (values and scales; paged to contiguous and back) decodes bitwise the same */
            lc_mla_cache *c2;
            lc_mla m2 = m;
            m2.block_size = m.block_size ? 0 : 7;
            float *dec2 = malloc(sizeof(float) * no);
            CHECK(lc_mla_cache_create(&m2, n, &c2) == LC_OK && lc_mla_cache_copy(c2, c) == LC_OK, "copy: %s", lc_last_error());
            lc_mla_attention a2 = a;
            a2.mla = &m2, a2.cache = c2, a2.out = dec2;
            CHECK(lc_mla_decode_alloc(&a2) == LC_OK && !memcmp(dec2, fdec, sizeof(float) * no), "trial %d %s: decode of the copy", trial,
                  lc_dtype_name(m.dtype));
            free(dec2);
            lc_mla_cache_destroy(c2);
        }
        const double sc = max_abs(ref, no), ed = max_err(dec, ref, no), ep = max_err(pre, ref, no), ef = max_err(fast, ref, no);
        const double efd = max_err(fdec, ref, no);
        CHECK(ed <= 1e-6 * sc, "trial %d decode: err %.3g scale %.3g (%s H%d r%d nope%d rope%d v%d n%lld)", trial, ed, sc, lc_dtype_name(m.dtype), m.heads,
              m.rank, m.nope, m.rope, m.v_dim, (long long)n);
        CHECK(ep <= 1e-6 * sc, "trial %d prefill: err %.3g scale %.3g (%s H%d r%d nope%d rope%d v%d n%lld n_q%d)", trial, ep, sc, lc_dtype_name(m.dtype),
              m.heads, m.rank, m.nope, m.rope, m.v_dim, (long long)n, n_q);
        double sens;
        naive_mha(&m, lat, kr, n, qn, qr, n_q, ref32, &sens);
        /* the fast paths reassociate the absorbed products: f32 rounding of each term, over sums of
         * up to `rank` terms, bounded through the output's sensitivity to relative perturbations */
        const double fast_bound = 1e-5 * sc + 64 * 0x1p-24 * sens;
        CHECK(ef <= fast_bound, "trial %d fast prefill: err %.3g scale %.3g bound %.3g", trial, ef, sc, fast_bound);
        CHECK(efd <= fast_bound, "trial %d fast decode: err %.3g scale %.3g bound %.3g (%s H%d r%d nope%d rope%d n%lld n_q%d threads %d)", trial, efd,
              sc, fast_bound, lc_dtype_name(m.dtype), m.heads, m.rank, m.nope, m.rope, (long long)n, n_q, m.threads);
        worst_fast_decode = fmax(worst_fast_decode, efd / sc);
        /* f16 and bf16 round each value relative to itself; int8 and fp8 relative to their row's
         * largest, which the per-value sensitivity does not bound: measured only */
        const double es = max_err(pre, ref32, no), eps = m.dtype == LC_F16 ? 0x1p-11 : m.dtype == LC_BF16 ? 0x1p-8 : 0;
        const double bound = 1e-6 * sc + 2 * eps * sens;
        CHECK(m.dtype == LC_INT8 || m.dtype == LC_FP8 || es <= bound, "trial %d %s storage: err %.3g against f32 latents, bound %.3g", trial,
              lc_dtype_name(m.dtype), es, bound);
        storage_err[di] = fmax(storage_err[di], es / max_abs(ref32, no));
        free(wuk), free(wuv), free(lat), free(kr), free(lat_s), free(kr_s), free(qn), free(qr), free(ref), free(ref32), free(dec), free(pre), free(fast), free(fdec);
        lc_mla_cache_destroy(c);
    }
    /* Storage: f16 keeps 11 significant bits (relative rounding 2^-11 = 4.9e-4), bf16 8
     * (2^-8 = 3.9e-3); each trial's error against f32 latents is checked above against twice
     * its first-order bound (naive_mha's sens: a sharp softmax amplifies the rounding). */
    fprintf(stderr, "test_mla: fast_decode error, worst relative to max |out|: %.2e\n", worst_fast_decode);
    fprintf(stderr, "test_mla: prefill error against f32 latents, worst relative to max |out|: f32 %.2e, f16 %.2e, bf16 %.2e, int8 %.2e, fp8 %.2e\n",
            storage_err[0], storage_err[1], storage_err[2], storage_err[3], storage_err[4]);
    /* errors */
    float w[4] = {1, 2, 3, 4}, x[4] = {0}, o[4];
    lc_mla m = {.heads = 1, .rank = 2, .nope = 1, .rope = 1, .v_dim = 2, .w_uk = w, .w_uv = w};
    lc_mla_cache *c;
    CHECK(lc_mla_cache_create(&m, 2, &c) == LC_OK, "%s", lc_last_error());
    CHECK(lc_mla_cache_append(c, 1, x, x, 1) == LC_ERANGE && strstr(lc_last_error(), "out of order"), "%s", lc_last_error());
    CHECK(lc_mla_cache_append(c, 0, x, x, 3) == LC_ERANGE && strstr(lc_last_error(), "capacity"), "%s", lc_last_error());
    lc_mla_attention a = {.mla = &m, .cache = c, .q_nope = x, .q_rope = x, .n_q = 1, .out = o};
    CHECK(lc_mla_decode_alloc(&a) == LC_ERANGE && strstr(lc_last_error(), "n_q"), "%s", lc_last_error());
    CHECK(lc_mla_cache_append(c, 0, x, x, 1) == LC_OK, "%s", lc_last_error());
    for (int fast = 0; fast < 2; fast++) {
        m.fast_decode = fast;
        const size_t need = lc_mla_decode_workspace_size(&a);
        void *ws = malloc(need);
        CHECK(need > 0 && lc_mla_decode(&a, ws, need) == LC_OK, "%s", lc_last_error());
        CHECK(lc_mla_decode(&a, ws, need - 1) == LC_EINVAL && strstr(lc_last_error(), "workspace_bytes"), "%s", lc_last_error());
        CHECK(lc_mla_decode(&a, NULL, need) == LC_EINVAL && strstr(lc_last_error(), "workspace is NULL"), "%s", lc_last_error());
        free(ws);
    }
    m.dtype = (lc_dtype)7;
    CHECK(lc_mla_check(&m) == LC_EINVAL && strstr(lc_last_error(), "mla.dtype"), "%s", lc_last_error());
    m.dtype = LC_INT4;
    CHECK(lc_mla_check(&m) == LC_EINVAL && strstr(lc_last_error(), "int4"), "%s", lc_last_error());
    m.dtype = LC_INT8;
    CHECK(lc_mla_cache_footprint(&m, 10) - lc_mla_cache_footprint(&m, 0) == 10 * (3 + 8) && lc_mla_token_bytes(&m) == 3 + 8, "int8 footprint");
    m.dtype = LC_BF16;
    CHECK(lc_mla_cache_footprint(&m, 10) - lc_mla_cache_footprint(&m, 0) == 10 * 3 * 2, "bf16 footprint");
    m.w_uv = NULL;
    CHECK(lc_mla_check(&m) == LC_EINVAL && strstr(lc_last_error(), "w_uv"), "%s", lc_last_error());
    lc_mla_cache_destroy(c);
    return test_finish("test_mla");
}
