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

/* Rows per block and blocks of a cache of `capacity` rows. */
static int64_t block_rows(const lc_mla *m, int64_t capacity) { return m->block_size > 0 ? m->block_size : capacity > 0 ? capacity : 1; }

size_t lc_mla_cache_footprint(const lc_mla *m, int64_t capacity) {
    if (!m || capacity < 0) return 0;
    const int64_t br = block_rows(m, capacity), nb = m->block_size > 0 ? (capacity + br - 1) / br : 1;
    const size_t tb = token_bytes(m->dtype, m->rank, m->rope);
    return sizeof(struct lc_mla_cache) + (size_t)nb * sizeof(uint8_t *) + (m->block_size > 0 ? (size_t)(nb * br) : (size_t)capacity) * tb;
}

/* Bytes of one block: its rows and (int8 / fp8) their scales. */
static size_t block_bytes(const lc_mla_cache *c) { return (size_t)c->block_rows * (c->row_bytes + (c->scaled ? 2 * sizeof(float) : 0)); }

/* Block b allocated (paged caches: on first use). */
static lc_status ensure_block(lc_mla_cache *c, int64_t b) {
    if (c->blocks[b]) return LC_OK;
    const size_t bytes = block_bytes(c);
    if (!(c->blocks[b] = malloc(bytes))) return lc_error(LC_ENOMEM, "mla cache: a block of %zu bytes", bytes);
    c->allocated++;
    return LC_OK;
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
    if (!c) return lc_error(LC_ENOMEM, "mla cache header of %zu bytes", sizeof *c);
    c->rank = m->rank, c->rope = m->rope, c->dtype = m->dtype, c->capacity = capacity;
    c->window = m->window, c->sinks = m->sinks;
    c->block_rows = block_rows(m, capacity), c->n_blocks = (capacity + c->block_rows - 1) / c->block_rows;
    c->row_bytes = lc_dtype_size(m->dtype) * (size_t)(m->rank + m->rope), c->scaled = quantized(m->dtype), c->paged = m->block_size > 0;
    c->blocks = calloc((size_t)c->n_blocks, sizeof *c->blocks);
    st = c->blocks ? (m->block_size > 0 ? LC_OK : ensure_block(c, 0)) : lc_error(LC_ENOMEM, "mla cache: %lld block pointers", (long long)c->n_blocks);
    if (st) {
        lc_mla_cache_destroy(c);
        return st;
    }
    *out = c;
    return LC_OK;
}

void lc_mla_cache_destroy(lc_mla_cache *c) {
    if (!c) return;
    for (int64_t b = 0; c->blocks && b < c->n_blocks; b++) free(c->blocks[b]);
    free(c->blocks), free(c);
}

int64_t lc_mla_cache_len(const lc_mla_cache *c) { return c ? c->len : -1; }
int64_t lc_mla_cache_rows(const lc_mla_cache *c) { return c ? c->rows : -1; }
void lc_mla_cache_reset(lc_mla_cache *c) {
    if (c) c->len = c->rows = c->dropped = 0;
}

/* Row s of src into row d of dst (values and scales). */
static void copy_row(lc_mla_cache *dst, int64_t d, const lc_mla_cache *src, int64_t s) {
    memmove(lc_mla_row_at(dst, d), lc_mla_row_at(src, s), src->row_bytes);
    if (src->scaled) memmove(lc_mla_scales_at(dst, d), lc_mla_scales_at(src, s), 2 * sizeof(float));
}

lc_status lc_mla_cache_copy(lc_mla_cache *dst, const lc_mla_cache *src) {
    if (!dst || !src) return lc_error(LC_EINVAL, "mla cache copy: dst and src must not be NULL");
    if (dst->rank != src->rank || dst->rope != src->rope || dst->dtype != src->dtype || dst->window != src->window || dst->sinks != src->sinks)
        return lc_error(LC_EINVAL, "mla cache copy: caches differ (rank %d/%d, rope %d/%d, dtype %s/%s, window %lld/%lld, sinks %lld/%lld)", dst->rank,
                        src->rank, dst->rope, src->rope, lc_dtype_name(dst->dtype), lc_dtype_name(src->dtype), (long long)dst->window,
                        (long long)src->window, (long long)dst->sinks, (long long)src->sinks);
    if (src->rows > dst->capacity)
        return lc_error(LC_ERANGE, "mla cache copy: %lld rows pass the destination's capacity of %lld", (long long)src->rows, (long long)dst->capacity);
    if (dst == src) return LC_OK;
    for (int64_t b = 0; src->rows > 0 && b <= (src->rows - 1) / dst->block_rows; b++) {
        lc_status st = ensure_block(dst, b);
        if (st) return st;
    }
    for (int64_t j = 0; j < src->rows; j++) copy_row(dst, j, src, j);
    dst->len = src->len, dst->rows = src->rows, dst->dropped = src->dropped;
    return LC_OK;
}

size_t lc_mla_cache_bytes(const lc_mla_cache *c) {
    if (!c) return 0;
    return sizeof(struct lc_mla_cache) + (size_t)c->n_blocks * sizeof(uint8_t *) + (size_t)c->allocated * block_bytes(c);
}

lc_status lc_mla_cache_append(lc_mla_cache *c, int64_t pos, const float *c_kv, const float *k_rope, int64_t n) {
    if (!c || !c_kv || (c->rope > 0 && !k_rope)) return lc_error(LC_EINVAL, "mla append: cache, c_kv and k_rope must not be NULL");
    if (n < 1) return lc_error(LC_EINVAL, "mla append: n=%lld must be >= 1", (long long)n);
    if (pos != c->len) return lc_error(LC_ERANGE, "mla append: position %lld is out of order; the next position is %lld", (long long)pos, (long long)c->len);
    int64_t drop = 0; /* under a window: rows past the sinks whose positions no query from pos on sees */
    if (c->window > 0 && c->rows > c->sinks) {
        drop = pos - c->window + 1 - (c->sinks + c->dropped);
        if (drop > c->rows - c->sinks) drop = c->rows - c->sinks;
        if (drop < 0) drop = 0;
    }
    if (c->rows - drop + n > c->capacity)
        return lc_error(LC_ERANGE, "mla append: %lld tokens at %lld pass the capacity of %lld rows (%lld kept)", (long long)n, (long long)pos,
                        (long long)c->capacity, (long long)(c->rows - drop));
    for (int64_t b = (c->rows - drop) / c->block_rows; b <= (c->rows - drop + n - 1) / c->block_rows; b++) {
        lc_status st = ensure_block(c, b);
        if (st) return st;
    }
    if (drop > 0) { /* the rows after the dropped ones move down, in order */
        for (int64_t j = c->sinks; j + drop < c->rows; j++) copy_row(c, j, c, j + drop);
        c->rows -= drop, c->dropped += drop;
    }
    const size_t es = lc_dtype_size(c->dtype);
    float unused[2];
    for (int64_t t = 0; t < n; t++) {
        const int64_t j = c->rows + t;
        uint8_t *row = lc_mla_row_at(c, j);
        float *sc = c->scaled ? lc_mla_scales_at(c, j) : unused;
        lc_kv_store_row(row, &sc[0], c->dtype, c_kv + t * c->rank, c->rank);
        if (c->rope) lc_kv_store_row(row + (size_t)c->rank * es, &sc[1], c->dtype, k_rope + t * c->rope, c->rope);
    }
    c->len += n, c->rows += n;
    return LC_OK;
}

void lc_mla_rows(const lc_mla_cache *c, int64_t j0, int64_t n, float *dst) {
    const size_t w = (size_t)(c->rank + c->rope), es = lc_dtype_size(c->dtype);
    for (int64_t t = 0; t < n && !c->scaled;) { /* the rows of one block are one run */
        const int64_t run = n - t < c->block_rows - (j0 + t) % c->block_rows ? n - t : c->block_rows - (j0 + t) % c->block_rows;
        lc_convert(dst + (size_t)t * w, LC_F32, lc_mla_row_at(c, j0 + t), c->dtype, (size_t)run * w);
        t += run;
    }
    for (int64_t t = 0; t < n && c->scaled; t++) {
        const uint8_t *row = lc_mla_row_at(c, j0 + t);
        float *d = dst + (size_t)t * w;
        const float *sc = lc_mla_scales_at(c, j0 + t);
        lc_kv_load_row(d, row, sc[0], c->dtype, c->rank);
        if (c->rope) lc_kv_load_row(d + c->rank, row + (size_t)c->rank * es, sc[1], c->dtype, c->rope);
    }
}

/* fast_prefill: up-project every token to f32 k and v (sgemm per head), then
 * lc_attention_flash. */
static lc_status prefill_f32(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out) {
    lc_status st;
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, DK = N + P, DV = m->v_dim, W = R + P;
    const int64_t n = c->rows;
    float *k = malloc(sizeof(float) * (size_t)n * H * DK), *v = malloc(sizeof(float) * (size_t)n * H * DV);
    const int in_place = c->dtype == LC_F32 && !c->paged; /* the rows are one f32 array */
    float *q = malloc(sizeof(float) * (size_t)n_q * H * DK), *lat32 = in_place ? NULL : malloc(sizeof(float) * (size_t)n * W);
    if (!k || !v || !q || (!in_place && !lat32)) {
        free(k), free(v), free(q), free(lat32);
        return lc_error(LC_ENOMEM, "mla prefill: %.0f bytes for the up-projected k and v of %lld tokens",
                        4.0 * ((double)n * H * (DK + DV) + (double)n_q * H * DK + (in_place ? 0 : (double)n * W)), (long long)n);
    }
    if (lat32) lc_mla_rows(c, 0, n, lat32);
    const float *lat = lat32 ? lat32 : (const float *)lc_mla_row_at(c, 0);
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
