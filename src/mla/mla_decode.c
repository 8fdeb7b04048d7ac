/* MLA decode (DeepSeek-V2): the absorbed query attends over the latent cache itself
 * (docs/mla.md, "Decode"). With q_lat = W_UK^T q_nope every head scores token j as
 * scale (q_lat . c_j + q_rope . k^R_j) and gathers o_lat = sum_j p_j c_j, so all heads
 * share one "key" [c_j ; k^R_j] (r + P values) and one "value" c_j (its first r): multi-
 * query attention with d_k = r + P, d_v = r, followed by out = W_UV o_lat / l.
 *
 * Two paths:
 *  - float64 (default): one (query, head) row at a time, scalar loops in double; 1e-6.
 *  - fast_decode: every row at once against tiles of TILE_K tokens (OpenBLAS sgemm:
 *    S = Q_lat C^T, O += P C), online softmax within a chunk of tokens, the tokens split
 *    into one contiguous chunk per thread and the chunks merged by log-sum-exp
 *    (flash-decoding; src/core/lse_merge.h). Each latent is read once per step, whatever the head count. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../attention/flash_ops.h"
#include "../core/lse_merge.h"
#include "mla_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The plan of fast_decode (f32_chunks below): one contiguous chunk of the tokens per
 * thread, walked in tiles of TILE_K latents. A longer tile gives the two sgemms per tile
 * more columns and rescales the running output less often; a shorter one keeps the tile
 * (converted to f32 for f16 / bf16 caches: TILE_K (rank + rope) floats, 0.56 MiB at
 * DeepSeek-V2's 512 + 64) and its scores in L2 between the two products. Measured with
 * bench/mla --decode-only --heads 128 --tokens 8192 (2 threads, best of 3 alternating runs
 * on a shared 2-core machine): 128-latent tiles 30.5 ms, 256 39.7 ms, 512 31.8 ms, with
 * each size's runs 1.8-2x apart: within the noise. 256 was chosen, not settled by it. */
enum { TILE_K = 256, ALIGN = 64 };

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }
static void *align_up(void *p) { return (void *)(((uintptr_t)p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1)); }

/* ---- float64 path ------------------------------------------------------------------ */

/* Per thread: q_lat, o_lat (r doubles each), the n scores, one row as f32. */
static size_t f64_thread_bytes(const lc_mla *m, int64_t n) {
    return round_up(sizeof(double) * (size_t)(2 * m->rank + n) + sizeof(float) * (size_t)(m->rank + m->rope));
}

static void decode_row_f64(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, int64_t row, uint8_t *ws,
                           float *out) {
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope;
    const int64_t n = c->rows;
    const lc_mask mask = lc_mla_mask(c, n_q);
    const double scale = m->scale > 0 ? m->scale : 1.0 / sqrt((double)(N + P));
    double *qlat = (double *)ws, *olat = qlat + R, *s = olat + R;
    float *buf = (float *)(s + n);
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
        if (!lc_mask_allows(&mask, i, j)) continue;
        const float *lat = lc_mla_row(c, j, buf);
        double dot = 0;
        for (int r = 0; r < R; r++) dot += qlat[r] * lat[r];
        for (int e = 0; e < P; e++) dot += (double)qr[e] * lat[R + e];
        s[j] = dot * scale;
        if (s[j] > mx) mx = s[j];
    }
    for (int r = 0; r < R; r++) olat[r] = 0;
    for (int64_t j = 0; j <= last; j++) {
        if (!lc_mask_allows(&mask, i, j)) continue;
        double p = exp(s[j] - mx);
        l += p;
        const float *lat = lc_mla_row(c, j, buf);
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

/* ---- f32 split-key path -------------------------------------------------------------- */

/* Whether tiles of latents are read in place: f32 rows in one array (not paged). */
static int in_place(const lc_mla *m) { return m->dtype == LC_F32 && m->block_size == 0; }

/* One chunk's scratch: scores S [rows, TILE_K], the tile as f32 [TILE_K, r + P] (caches
 * not read in place), the unnormalised o_lat [rows, r], the running max and sum [rows]. */
typedef struct chunk_ws {
    float *s, *tile, *o, *m, *l;
} chunk_ws;

static size_t chunk_bytes(const lc_mla *m, int64_t rows) {
    const size_t W = (size_t)(m->rank + m->rope);
    return round_up(sizeof(float) * (size_t)rows * TILE_K) + (in_place(m) ? 0 : round_up(sizeof(float) * TILE_K * W)) +
           round_up(sizeof(float) * (size_t)rows * (size_t)m->rank) + 2 * round_up(sizeof(float) * (size_t)rows);
}

static chunk_ws carve_chunk(uint8_t *p, const lc_mla *m, int64_t rows) {
    chunk_ws w;
    const size_t W = (size_t)(m->rank + m->rope);
    w.s = (float *)p, p += round_up(sizeof(float) * (size_t)rows * TILE_K);
    w.tile = NULL;
    if (!in_place(m)) w.tile = (float *)p, p += round_up(sizeof(float) * TILE_K * W);
    w.o = (float *)p, p += round_up(sizeof(float) * (size_t)rows * (size_t)m->rank);
    w.m = (float *)p, p += round_up(sizeof(float) * (size_t)rows);
    w.l = (float *)p;
    return w;
}

/* One chunk per thread, at least one tile each. */
static int f32_chunks(const lc_mla *m, int64_t n) {
    const int64_t tiles = (n + TILE_K - 1) / TILE_K;
    const int t = lc_threads_resolve(m->threads);
    return tiles < t ? (int)tiles : t;
}

/* Tokens [j0, j1) for every row (query i, head h; row = i H + h), online softmax. */
static void decode_chunk_f32(const lc_mla *m, const lc_mla_cache *c, const lc_flash_ops *ops, const float *qlat, int n_q, int64_t j0, int64_t j1,
                             const chunk_ws *w) {
    const int R = m->rank, W = m->rank + m->rope;
    const int64_t rows = (int64_t)n_q * m->heads;
    const lc_mask mask = lc_mla_mask(c, n_q);
    for (int64_t r = 0; r < rows; r++) w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->o, 0, sizeof(float) * (size_t)rows * (size_t)R);
    for (int64_t t0 = j0; t0 < j1; t0 += TILE_K) {
        const int cols = (int)(j1 - t0 < TILE_K ? j1 - t0 : TILE_K);
        const float *lat = lc_mla_span(c, t0, cols, w->tile);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, cols, W, 1.0f, qlat, W, lat, W, 0.0f, w->s, TILE_K);
        if (lc_mask_classify_tile(&mask, 0, n_q, t0, t0 + cols) != LC_TILE_FULL) /* some query may not see some key */
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = t0; j < t0 + cols; j++)
                    if (!lc_mask_allows(&mask, r / m->heads, j)) w->s[r * TILE_K + (j - t0)] = -INFINITY;
        lc_flash_softmax_rows(ops, w->s, TILE_K, rows, cols, w->m, w->l, w->o, R);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, R, cols, 1.0f, w->s, TILE_K, lat, W, 1.0f, w->o, R);
    }
}

static size_t f32_bytes(const lc_mla *m, const lc_mla_cache *c, int n_q) {
    const int64_t rows = (int64_t)n_q * m->heads;
    const size_t chunks = (size_t)f32_chunks(m, c->rows);
    return round_up(sizeof(float) * (size_t)rows * (size_t)(m->rank + m->rope)) + round_up(sizeof(chunk_ws) * chunks) + chunks * chunk_bytes(m, rows);
}

static void decode_f32(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, uint8_t *ws, float *out) {
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, W = R + P, DV = m->v_dim;
    const int64_t rows = (int64_t)n_q * H, n = c->rows;
    const float scale = m->scale > 0 ? m->scale : 1.0f / sqrtf((float)(N + P));
    const int chunks = f32_chunks(m, n);
    float *qlat = (float *)ws; /* [rows, W]: scale [W_UK^T q_nope ; q_rope] */
    chunk_ws *cw = (chunk_ws *)(ws + round_up(sizeof(float) * (size_t)rows * (size_t)W)); /* each chunk's scratch */
    uint8_t *chunk_base = (uint8_t *)cw + round_up(sizeof(chunk_ws) * (size_t)chunks);
    for (int k = 0; k < chunks; k++) cw[k] = carve_chunk(chunk_base + (size_t)k * chunk_bytes(m, rows), m, rows);

    const int64_t tiles = (n + TILE_K - 1) / TILE_K;
    lc_isa isa;
    lc_isa_resolve(LC_ISA_AUTO, &isa);
    const lc_flash_ops *ops = lc_flash_ops_for(isa);
#pragma omp parallel num_threads(lc_threads_resolve(m->threads))
    {
#ifdef _OPENMP
        omp_set_num_threads(1); /* every product below on its own thread (see flash.c) */
#endif
        /* absorb W_UK: q_lat[i, h] = scale [W_UK[h]^T q_nope[i, h] ; q_rope[i, h]] */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (N > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_q, R, N, scale, q_nope + (size_t)h * N, H * N, m->w_uk + (size_t)h * N * R, R, 0.0f,
                            qlat + (size_t)h * W, H * W);
            for (int i = 0; i < n_q; i++) {
                float *q = qlat + ((size_t)i * H + h) * W;
                if (N == 0) memset(q, 0, sizeof(float) * (size_t)R);
                for (int e = 0; e < P; e++) q[R + e] = scale * q_rope[((size_t)i * H + h) * P + e];
            }
        }
#pragma omp for schedule(static, 1)
        for (int k = 0; k < chunks; k++) {
            const int64_t j0 = tiles * k / chunks * TILE_K, j1 = tiles * (k + 1) / chunks * TILE_K;
            decode_chunk_f32(m, c, ops, qlat, n_q, j0, j1 < n ? j1 : n, &cw[k]);
        }
        /* merge the chunks into chunk 0 by log-sum-exp, in chunk order */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *o = cw[0].o + r * R, mx = cw[0].m[r], l = cw[0].l[r];
            for (int k = 1; k < chunks; k++) lc_lse_fold(o, &mx, &l, cw[k].o + r * R, cw[k].m[r], cw[k].l[r], R);
            lc_lse_finish(o, o, mx, l, R);
        }
        /* absorb W_UV: out[i, h] = W_UV[h] o_lat[i, h] */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_q, DV, R, 1.0f, cw[0].o + (size_t)h * R, H * R, m->w_uv + (size_t)h * DV * R, R, 0.0f,
                        out + (size_t)h * DV, H * DV);
    }
}

/* ---- API ------------------------------------------------------------------------------ */

size_t lc_mla_decode_workspace_size(const lc_mla_attention *a) {
    if (lc_mla_attention_check(a)) return 0;
    const lc_mla *m = a->mla;
    const size_t body = m->fast_decode ? f32_bytes(m, a->cache, a->n_q) : (size_t)lc_threads_resolve(m->threads) * f64_thread_bytes(m, a->cache->rows);
    return body + ALIGN;
}

lc_status lc_mla_decode(const lc_mla_attention *a, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_mla_attention_check(a);
    if (st) return st;
    const size_t need = lc_mla_decode_workspace_size(a);
    if (!workspace) return lc_error(LC_EINVAL, "workspace is NULL: mla decode needs %zu bytes (lc_mla_decode_workspace_size)", need);
    if (workspace_bytes < need) return lc_error(LC_EINVAL, "workspace_bytes=%zu is less than the %zu bytes mla decode needs", workspace_bytes, need);
    const lc_mla *m = a->mla;
    const lc_mla_cache *c = a->cache;
    uint8_t *ws = align_up(workspace);
    if (m->fast_decode) {
        decode_f32(m, c, a->q_nope, a->q_rope, a->n_q, ws, a->out);
        return LC_OK;
    }
    const size_t per = f64_thread_bytes(m, c->rows);
    const int64_t rows = (int64_t)a->n_q * m->heads;
#pragma omp parallel for schedule(dynamic, 1) num_threads(lc_threads_resolve(m->threads))
    for (int64_t row = 0; row < rows; row++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        decode_row_f64(m, c, a->q_nope, a->q_rope, a->n_q, row, ws + (size_t)tid * per, a->out);
    }
    return LC_OK;
}

lc_status lc_mla_decode_alloc(const lc_mla_attention *a) {
    lc_status st = lc_mla_attention_check(a);
    if (st) return st;
    const size_t bytes = lc_mla_decode_workspace_size(a);
    void *ws = lc_aligned_alloc(bytes, ALIGN);
    if (!ws) return LC_ENOMEM;
    st = lc_mla_decode(a, ws, bytes);
    lc_aligned_free(ws);
    return st;
}
