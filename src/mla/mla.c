/* MLA (DeepSeek-V2): the latent cache and the f32 up-projecting prefill; the checks are in
 * mla_check.c, the float64 prefill in mla_prefill.c, the absorbed decode in mla_decode.c (see
 * include/longctx/mla.h and docs/mla.md). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/attention.h"
#include "longctx/cache.h"
#include "mla_internal.h"
#include "../core/machine.h"

static int quantized(lc_dtype t) { return t == LC_INT8 || t == LC_FP8; }

/* Bytes of a token: its rank + rope values, and two scales when quantized. */
static size_t token_bytes(lc_dtype t, int rank, int rope) {
    return lc_dtype_size(t) * (size_t)(rank + rope) + (quantized(t) ? 2 * sizeof(float) : 0);
}

size_t lc_mla_token_bytes(const lc_mla *m) { return m ? token_bytes(m->dtype, m->rank, m->rope) : 0; }

size_t lc_mla_cache_footprint(const lc_mla *m, int64_t capacity) {
    if (!m || capacity < 0) return 0;
    return sizeof(struct lc_mla_cache) + token_bytes(m->dtype, m->rank, m->rope) * (size_t)capacity;
}

lc_status lc_mla_cache_create(const lc_mla *m, int64_t capacity, lc_mla_cache **out) {
    lc_status st = lc_mla_check(m);
    if (st) return st;
    if (!out) return lc_error(LC_EINVAL, "out is NULL");
    if (capacity < 1) return lc_error(LC_EINVAL, "mla cache capacity=%lld must be >= 1", (long long)capacity);
    const double want = (double)token_bytes(m->dtype, m->rank, m->rope) * (double)capacity;
    if (want > 0x1p60 || lc_past_machine(want))
        return lc_error(LC_ENOMEM, "mla cache of %.0f bytes (capacity=%lld) is more than this machine's memory", want, (long long)capacity);
    lc_mla_cache *c = calloc(1, sizeof *c);
    if (c) c->lat = malloc(lc_dtype_size(m->dtype) * (size_t)capacity * (size_t)(m->rank + m->rope));
    if (c && quantized(m->dtype)) c->scales = malloc(2 * sizeof(float) * (size_t)capacity);
    if (!c || !c->lat || (quantized(m->dtype) && !c->scales)) {
        if (c) free(c->lat), free(c->scales);
        free(c);
        return lc_error(LC_ENOMEM, "mla cache of %zu bytes", lc_mla_cache_footprint(m, capacity));
    }
    c->rank = m->rank, c->rope = m->rope, c->dtype = m->dtype, c->capacity = capacity;
    c->window = m->window, c->sinks = m->sinks;
    *out = c;
    return LC_OK;
}

void lc_mla_cache_destroy(lc_mla_cache *c) {
    if (c) free(c->lat), free(c->scales), free(c);
}

int64_t lc_mla_cache_len(const lc_mla_cache *c) { return c ? c->len : -1; }
int64_t lc_mla_cache_rows(const lc_mla_cache *c) { return c ? c->rows : -1; }
void lc_mla_cache_reset(lc_mla_cache *c) {
    if (c) c->len = c->rows = c->dropped = 0;
}

lc_status lc_mla_cache_copy(lc_mla_cache *dst, const lc_mla_cache *src) {
    if (!dst || !src) return lc_error(LC_EINVAL, "mla cache copy: dst and src must not be NULL");
    if (dst->rank != src->rank || dst->rope != src->rope || dst->dtype != src->dtype || dst->window != src->window || dst->sinks != src->sinks)
        return lc_error(LC_EINVAL, "mla cache copy: caches differ (rank %d/%d, rope %d/%d, dtype %s/%s, window %lld/%lld, sinks %lld/%lld)", dst->rank,
                        src->rank, dst->rope, src->rope, lc_dtype_name(dst->dtype), lc_dtype_name(src->dtype), (long long)dst->window,
                        (long long)src->window, (long long)dst->sinks, (long long)src->sinks);
    if (src->rows > dst->capacity)
        return lc_error(LC_ERANGE, "mla cache copy: %lld rows pass the destination's capacity of %lld", (long long)src->rows, (long long)dst->capacity);
    if (dst != src && src->rows > 0) {
        memcpy(dst->lat, src->lat, lc_dtype_size(src->dtype) * (size_t)src->rows * (size_t)(src->rank + src->rope));
        if (src->scales) memcpy(dst->scales, src->scales, 2 * sizeof(float) * (size_t)src->rows);
    }
    dst->len = src->len, dst->rows = src->rows, dst->dropped = src->dropped;
    return LC_OK;
}

size_t lc_mla_cache_bytes(const lc_mla_cache *c) {
    if (!c) return 0;
    return sizeof(struct lc_mla_cache) + token_bytes(c->dtype, c->rank, c->rope) * (size_t)c->capacity;
}

lc_status lc_mla_cache_append(lc_mla_cache *c, int64_t pos, const float *c_kv, const float *k_rope, int64_t n) {
    if (!c || !c_kv || (c->rope > 0 && !k_rope)) return lc_error(LC_EINVAL, "mla append: cache, c_kv and k_rope must not be NULL");
    if (n < 1) return lc_error(LC_EINVAL, "mla append: n=%lld must be >= 1", (long long)n);
    if (pos != c->len) return lc_error(LC_ERANGE, "mla append: position %lld is out of order; the next position is %lld", (long long)pos, (long long)c->len);
    const size_t w = (size_t)(c->rank + c->rope), es = lc_dtype_size(c->dtype);
    int64_t drop = 0; /* under a window: rows past the sinks whose positions no query from pos on sees */
    if (c->window > 0 && c->rows > c->sinks) {
        drop = pos - c->window + 1 - (c->sinks + c->dropped);
        if (drop > c->rows - c->sinks) drop = c->rows - c->sinks;
        if (drop < 0) drop = 0;
    }
    if (c->rows - drop + n > c->capacity)
        return lc_error(LC_ERANGE, "mla append: %lld tokens at %lld pass the capacity of %lld rows (%lld kept)", (long long)n, (long long)pos,
                        (long long)c->capacity, (long long)(c->rows - drop));
    if (drop > 0) {
        const int64_t s = c->sinks, keep = c->rows - s - drop;
        memmove((uint8_t *)c->lat + (size_t)s * w * es, (uint8_t *)c->lat + (size_t)(s + drop) * w * es, (size_t)keep * w * es);
        if (c->scales) memmove(c->scales + 2 * s, c->scales + 2 * (s + drop), 2 * sizeof(float) * (size_t)keep);
        c->rows -= drop, c->dropped += drop;
    }
    const int64_t r0 = c->rows; /* the row the first new token goes to */
    float unused[2];
    for (int64_t t = 0; t < n; t++) {
        uint8_t *row = (uint8_t *)c->lat + (size_t)(r0 + t) * w * es;
        float *sc = c->scales ? c->scales + 2 * (r0 + t) : unused;
        lc_kv_store_row(row, &sc[0], c->dtype, c_kv + t * c->rank, c->rank);
        if (c->rope) lc_kv_store_row(row + (size_t)c->rank * es, &sc[1], c->dtype, k_rope + t * c->rope, c->rope);
    }
    c->len += n, c->rows += n;
    return LC_OK;
}

void lc_mla_rows(const lc_mla_cache *c, int64_t j0, int64_t n, float *dst) {
    const size_t w = (size_t)(c->rank + c->rope), es = lc_dtype_size(c->dtype);
    if (!c->scales) {
        lc_convert(dst, LC_F32, (const uint8_t *)c->lat + (size_t)j0 * w * es, c->dtype, (size_t)n * w);
        return;
    }
    for (int64_t t = 0; t < n; t++) {
        const uint8_t *row = (const uint8_t *)c->lat + (size_t)(j0 + t) * w * es;
        const float *sc = c->scales + 2 * (j0 + t);
        lc_kv_load_row(dst + (size_t)t * w, row, sc[0], c->dtype, c->rank);
        if (c->rope) lc_kv_load_row(dst + (size_t)t * w + c->rank, row + (size_t)c->rank * es, sc[1], c->dtype, c->rope);
    }
}

/* fast_prefill: up-project every token to f32 k and v (sgemm per head), then
 * lc_attention_flash. */
static lc_status prefill_f32(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out) {
    lc_status st;
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, DK = N + P, DV = m->v_dim, W = R + P;
    const int64_t n = c->rows;
    float *k = malloc(sizeof(float) * (size_t)n * H * DK), *v = malloc(sizeof(float) * (size_t)n * H * DV);
    float *q = malloc(sizeof(float) * (size_t)n_q * H * DK), *lat32 = c->dtype == LC_F32 ? NULL : malloc(sizeof(float) * (size_t)n * W);
    if (!k || !v || !q || (c->dtype != LC_F32 && !lat32)) {
        free(k), free(v), free(q), free(lat32);
        return lc_error(LC_ENOMEM, "mla prefill: %.0f bytes for the up-projected k and v of %lld tokens",
                        4.0 * ((double)n * H * (DK + DV) + (double)n_q * H * DK + (c->dtype == LC_F32 ? 0 : (double)n * W)), (long long)n);
    }
    if (lat32) lc_mla_rows(c, 0, n, lat32);
    const float *lat = lat32 ? lat32 : (const float *)c->lat;
    /* up-project: k[:, h, :nope] = C W_UK[h]^T, k[:, h, nope:] = k_rope, v[:, h] = C W_UV[h]^T */
    for (int h = 0; h < H; h++) {
        if (N > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, N, R, 1.0f, lat, W, m->w_uk + (size_t)h * N * R, R, 0.0f, k + (size_t)h * DK, H * DK);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, DV, R, 1.0f, lat, W, m->w_uv + (size_t)h * DV * R, R, 0.0f, v + (size_t)h * DV, H * DV);
        for (int64_t j = 0; j < n; j++) memcpy(k + ((size_t)j * H + h) * DK + N, lat + (size_t)j * W + R, sizeof(float) * (size_t)P);
    }
    for (int64_t t = 0; t < (int64_t)n_q * H; t++) {
        if (N) memcpy(q + t * DK, q_nope + t * N, sizeof(float) * (size_t)N);
        if (P) memcpy(q + t * DK + N, q_rope + t * P, sizeof(float) * (size_t)P);
    }
    lc_attention a = {0};
    a.q = lc_tensor_bshd(q, LC_F32, 1, n_q, H, DK);
    a.k = lc_tensor_bshd(k, LC_F32, 1, n, H, DK);
    a.v = lc_tensor_bshd(v, LC_F32, 1, n, H, DV);
    a.out = lc_tensor_bshd(out, LC_F32, 1, n_q, H, DV);
    a.scale = m->scale > 0 ? m->scale : 1.0f / sqrtf((float)DK);
    a.mask = lc_mla_mask(c, n_q);
    a.threads = m->threads;
    st = lc_attention_flash_alloc(&a);
    free(k), free(v), free(q), free(lat32);
    return st;
}

lc_status lc_mla_prefill(const lc_mla_attention *a) {
    lc_status st = lc_mla_attention_check(a);
    if (st) return st;
    const lc_mla *m = a->mla;
    return m->fast_prefill ? prefill_f32(m, a->cache, a->q_nope, a->q_rope, a->n_q, a->out) : lc_mla_prefill_f64(m, a->cache, a->q_nope, a->q_rope, a->n_q, a->out);
}
