/* MLA (DeepSeek-V2): a latent cache, an up-projecting prefill and an absorbed decode.
 * Both accumulate in float64 (see include/longctx/mla.h and docs/mla.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/attention.h"
#include "longctx/mla.h"

#ifdef _OPENMP
#include <omp.h>
#endif

struct lc_mla_cache {
    int rank, rope;
    int64_t capacity, len;
    float *lat; /* [capacity, rank + rope]: c_kv then k_rope */
};

lc_status lc_mla_check(const lc_mla *m) {
    if (!m) return lc_error(LC_EINVAL, "mla is NULL");
    if (m->heads < 1 || m->rank < 1 || m->nope < 0 || m->rope < 0 || m->v_dim < 1 || m->nope + m->rope < 1)
        return lc_error(LC_EINVAL, "mla: heads=%d, rank=%d, v_dim=%d must be >= 1 and nope=%d, rope=%d >= 0 with nope+rope >= 1",
                        m->heads, m->rank, m->v_dim, m->nope, m->rope);
    if ((m->nope > 0 && !m->w_uk) || !m->w_uv) return lc_error(LC_EINVAL, "mla.w_uk and mla.w_uv must not be NULL");
    if (m->scale < 0 || !isfinite(m->scale)) return lc_error(LC_EINVAL, "mla.scale=%g must be finite and >= 0", m->scale);
    return LC_OK;
}

size_t lc_mla_cache_footprint(const lc_mla *m, int64_t capacity) {
    return sizeof(struct lc_mla_cache) + sizeof(float) * (size_t)capacity * (size_t)(m->rank + m->rope);
}

lc_status lc_mla_cache_create(const lc_mla *m, int64_t capacity, lc_mla_cache **out) {
    lc_status st = lc_mla_check(m);
    if (st) return st;
    if (!out) return lc_error(LC_EINVAL, "out is NULL");
    if (capacity < 1) return lc_error(LC_EINVAL, "mla cache capacity=%lld must be >= 1", (long long)capacity);
    lc_mla_cache *c = calloc(1, sizeof *c);
    if (c) c->lat = malloc(sizeof(float) * (size_t)capacity * (size_t)(m->rank + m->rope));
    if (!c || !c->lat) {
        free(c);
        return lc_error(LC_ENOMEM, "mla cache of %zu bytes", lc_mla_cache_footprint(m, capacity));
    }
    c->rank = m->rank, c->rope = m->rope, c->capacity = capacity;
    *out = c;
    return LC_OK;
}

void lc_mla_cache_destroy(lc_mla_cache *c) {
    if (c) free(c->lat), free(c);
}

int64_t lc_mla_cache_len(const lc_mla_cache *c) { return c ? c->len : -1; }
size_t lc_mla_cache_bytes(const lc_mla_cache *c) {
    return sizeof(struct lc_mla_cache) + sizeof(float) * (size_t)c->capacity * (size_t)(c->rank + c->rope);
}

lc_status lc_mla_cache_append(lc_mla_cache *c, int64_t pos, const float *c_kv, const float *k_rope, int64_t n) {
    if (!c || !c_kv || (c->rope > 0 && !k_rope)) return lc_error(LC_EINVAL, "mla append: cache, c_kv and k_rope must not be NULL");
    if (n < 1) return lc_error(LC_EINVAL, "mla append: n=%lld must be >= 1", (long long)n);
    if (pos != c->len) return lc_error(LC_ERANGE, "mla append: position %lld is out of order; the next position is %lld", (long long)pos, (long long)c->len);
    if (pos + n > c->capacity) return lc_error(LC_ERANGE, "mla append: %lld tokens at %lld pass the capacity of %lld", (long long)n, (long long)pos, (long long)c->capacity);
    const int w = c->rank + c->rope;
    for (int64_t t = 0; t < n; t++) {
        memcpy(c->lat + (pos + t) * w, c_kv + t * c->rank, sizeof(float) * (size_t)c->rank);
        if (c->rope) memcpy(c->lat + (pos + t) * w + c->rank, k_rope + t * c->rope, sizeof(float) * (size_t)c->rope);
    }
    c->len += n;
    return LC_OK;
}

static lc_status common_check(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, const float *out) {
    lc_status st = lc_mla_check(m);
    if (st) return st;
    if (!c) return lc_error(LC_EINVAL, "mla cache is NULL");
    if (c->rank != m->rank || c->rope != m->rope) return lc_error(LC_EINVAL, "mla cache was made for rank=%d rope=%d, not %d/%d", c->rank, c->rope, m->rank, m->rope);
    if ((m->nope && !q_nope) || (m->rope && !q_rope) || !out) return lc_error(LC_EINVAL, "mla: q_nope, q_rope and out must not be NULL");
    if (n_q < 1 || n_q > c->len) return lc_error(LC_ERANGE, "mla: n_q=%d must lie in [1, cached length %lld]", n_q, (long long)c->len);
    return LC_OK;
}

lc_status lc_mla_decode(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out) {
    lc_status st = common_check(m, c, q_nope, q_rope, n_q, out);
    if (st) return st;
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, W = R + P;
    const int64_t n = c->len;
    const double scale = m->scale > 0 ? m->scale : 1.0 / sqrt((double)(N + P));
    const int64_t rows = (int64_t)n_q * H;
    double *ws = malloc(sizeof(double) * (size_t)lc_threads_resolve(m->threads) * (size_t)(2 * R + n));
    if (!ws) return lc_error(LC_ENOMEM, "mla decode workspace");
#pragma omp parallel for schedule(dynamic, 1) num_threads(lc_threads_resolve(m->threads))
    for (int64_t row = 0; row < rows; row++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *qlat = ws + (size_t)tid * (2 * R + n), *olat = qlat + R, *s = olat + R;
        const int i = (int)(row / H), h = (int)(row % H);
        const float *qn = q_nope + row * N, *qr = q_rope + row * P;
        /* absorb W_UK: q_lat[r] = sum_d W_UK[h][d][r] q_nope[d] */
        for (int r = 0; r < R; r++) qlat[r] = 0;
        for (int d = 0; d < N; d++) {
            const float *w = m->w_uk + ((size_t)h * N + d) * R;
            for (int r = 0; r < R; r++) qlat[r] += (double)w[r] * qn[d];
        }
        const int64_t last = n - n_q + i; /* causal: keys 0 .. last */
        double mx = -INFINITY, l = 0;
        for (int64_t j = 0; j <= last; j++) {
            const float *lat = c->lat + j * W;
            double dot = 0;
            for (int r = 0; r < R; r++) dot += qlat[r] * lat[r];
            for (int e = 0; e < P; e++) dot += (double)qr[e] * lat[R + e];
            s[j] = dot * scale;
            if (s[j] > mx) mx = s[j];
        }
        for (int r = 0; r < R; r++) olat[r] = 0;
        for (int64_t j = 0; j <= last; j++) {
            double p = exp(s[j] - mx);
            l += p;
            const float *lat = c->lat + j * W;
            for (int r = 0; r < R; r++) olat[r] += p * lat[r];
        }
        /* absorb W_UV: out = W_UV[h] o_lat / l */
        float *o = out + row * m->v_dim;
        for (int e = 0; e < m->v_dim; e++) {
            const float *w = m->w_uv + ((size_t)h * m->v_dim + e) * R;
            double acc = 0;
            for (int r = 0; r < R; r++) acc += (double)w[r] * olat[r];
            o[e] = (float)(acc / l);
        }
    }
    free(ws);
    return LC_OK;
}

lc_status lc_mla_prefill(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out) {
    lc_status st = common_check(m, c, q_nope, q_rope, n_q, out);
    if (st) return st;
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, DK = N + P, DV = m->v_dim, W = R + P;
    const int64_t n = c->len;
    float *k = malloc(sizeof(float) * (size_t)n * H * DK), *v = malloc(sizeof(float) * (size_t)n * H * DV);
    float *q = malloc(sizeof(float) * (size_t)n_q * H * DK);
    if (!k || !v || !q) {
        free(k), free(v), free(q);
        return lc_error(LC_ENOMEM, "mla prefill: up-projected k and v of %lld tokens", (long long)n);
    }
    /* up-project: k = [W_UK c ; k_rope], v = W_UV c (accumulated in float64) */
#pragma omp parallel for num_threads(lc_threads_resolve(m->threads))
    for (int64_t j = 0; j < n; j++) {
        const float *lat = c->lat + j * W;
        for (int h = 0; h < H; h++) {
            float *kr = k + (j * H + h) * DK, *vr = v + (j * H + h) * DV;
            for (int d = 0; d < N; d++) {
                const float *w = m->w_uk + ((size_t)h * N + d) * R;
                double a = 0;
                for (int r = 0; r < R; r++) a += (double)w[r] * lat[r];
                kr[d] = (float)a;
            }
            memcpy(kr + N, lat + R, sizeof(float) * (size_t)P);
            for (int e = 0; e < DV; e++) {
                const float *w = m->w_uv + ((size_t)h * DV + e) * R;
                double a = 0;
                for (int r = 0; r < R; r++) a += (double)w[r] * lat[r];
                vr[e] = (float)a;
            }
        }
    }
    for (int64_t t = 0; t < (int64_t)n_q * H; t++) {
        memcpy(q + t * DK, q_nope + t * N, sizeof(float) * (size_t)N);
        memcpy(q + t * DK + N, q_rope + t * P, sizeof(float) * (size_t)P);
    }
    lc_attention a = {0};
    a.q = lc_tensor_bshd(q, LC_F32, 1, n_q, H, DK);
    a.k = lc_tensor_bshd(k, LC_F32, 1, n, H, DK);
    a.v = lc_tensor_bshd(v, LC_F32, 1, n, H, DV);
    a.out = lc_tensor_bshd(out, LC_F32, 1, n_q, H, DV);
    a.scale = m->scale > 0 ? m->scale : 1.0f / sqrtf((float)DK);
    a.mask.causal = 1;
    a.mask.q_offset = n - n_q;
    a.threads = m->threads;
    st = lc_attention_flash_alloc(&a);
    free(k), free(v), free(q);
    return st;
}
