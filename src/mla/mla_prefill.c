/* MLA prefill in float64 (docs/mla.md, "Prefill"). One task is one head and one chunk of
 * the queries; it walks the keys in tiles of TILE_K tokens and, for each tile,
 *
 *     C  = latents of the tile (f64)                       [cols, rank + rope]
 *     K  = [C_lat W_UK[h]^T ; C_rope],  V = C_lat W_UV[h]^T  (DeepSeek-V2, Sec. 2.1.2-2.1.3)
 *     for each tile of TILE_Q queries that see a key of the tile:
 *         S  = (scale Q) K^T, keys after the query's position -inf
 *         m' = max(m, rowmax S);  P = exp(S - m');  l = l e^{m - m'} + rowsum P
 *         O  = O e^{m - m'} + P V
 *
 * and finally out = O / l (the online softmax of Milakov and Gimelshein 2018, as in
 * lc_attention_flash, but with every product, exp and sum in float64 and K, V never
 * stored beyond one tile). Each key is up-projected once per task, so a task covers as
 * many queries as the thread count allows: chunks are split only when there are fewer
 * heads than threads. Memory: per thread the head's weights, one key tile and the chunk's
 * Q, O, m, l - never n x n, nor n x heads x d. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mla_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The plan (lc_mla_prefill_f64 below): one task per head and chunk of queries, chunks
 * split only when there are fewer heads than threads; each task walks the keys in tiles of
 * TILE_K and the queries that see a tile in tiles of TILE_Q. Larger tiles give dgemm
 * longer products; smaller ones keep a key tile's float64 latents, K and V (TILE_K (rank
 * + rope + d_k + d_v) doubles: 0.88 MiB at DeepSeek-V2's shapes) and the scores in L2.
 * Measured with bench/mla --heads 2 --tokens 2048 --threads 1 (the float64 prefill, best
 * of 4 alternating runs on a shared 2-core machine): 64 x 128 0.123 s, 32 x 128 0.122,
 * 64 x 64 0.113, 128 x 128 0.117, 64 x 256 0.118, with each size's runs up to 2x apart:
 * within the noise. 64 x 128 was chosen, not settled by it. */
enum { TILE_Q = 64, TILE_K = 128 };

typedef struct pf_ws {
    double *wk, *wv; /* [nope, rank], [v_dim, rank]: the head's weights */
    double *lat;     /* [TILE_K, rank + rope] */
    double *k, *v;   /* [TILE_K, nope + rope], [TILE_K, v_dim] */
    double *s;       /* [TILE_Q, TILE_K]: scores, then probabilities */
    double *q, *o;   /* [chunk, nope + rope] (times scale), [chunk, v_dim] */
    double *m, *l;   /* [chunk] */
    float *row;      /* [rank + rope]: one cached row as f32 */
} pf_ws;

static size_t ws_doubles(const lc_mla *m, int64_t chunk) {
    const size_t R = (size_t)m->rank, W = R + (size_t)m->rope, DK = (size_t)(m->nope + m->rope), DV = (size_t)m->v_dim;
    return (size_t)m->nope * R + DV * R + TILE_K * (W + DK + DV) + TILE_Q * TILE_K + (size_t)chunk * (DK + DV + 2) + (W + 1) / 2;
}

static pf_ws carve(double *p, const lc_mla *m, int64_t chunk) {
    const size_t R = (size_t)m->rank, W = R + (size_t)m->rope, DK = (size_t)(m->nope + m->rope), DV = (size_t)m->v_dim;
    pf_ws w;
    w.wk = p, p += (size_t)m->nope * R;
    w.wv = p, p += DV * R;
    w.lat = p, p += TILE_K * W;
    w.k = p, p += TILE_K * DK;
    w.v = p, p += TILE_K * DV;
    w.s = p, p += TILE_Q * TILE_K;
    w.q = p, p += (size_t)chunk * DK;
    w.o = p, p += (size_t)chunk * DV;
    w.m = p, p += (size_t)chunk;
    w.l = p, p += (size_t)chunk;
    w.row = (float *)p;
    return w;
}

/* Online-softmax update of rows [r0, r0 + rows) of the chunk (global query index i0 + r)
 * with key tile [j0, j0 + cols), the keys the mask hides left out. */
static void update(const pf_ws *w, const lc_mask *mask, int dv, int64_t r0, int64_t rows, int64_t i0, int64_t j0, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        double *s = w->s + r * TILE_K;
        const int64_t i = i0 + r0 + r;
        double mx = w->m[r0 + r];
        for (int64_t c = 0; c < cols; c++)
            if (lc_mask_allows(mask, i, j0 + c)) mx = s[c] > mx ? s[c] : mx;
        if (mx == -INFINITY) { /* no key of this tile, nor before it */
            for (int64_t c = 0; c < cols; c++) s[c] = 0;
            continue;
        }
        const double alpha = exp(w->m[r0 + r] - mx); /* 0 on the first tile seen (m = -inf) */
        double sum = 0;
        for (int64_t c = 0; c < cols; c++) sum += s[c] = lc_mask_allows(mask, i, j0 + c) ? exp(s[c] - mx) : 0;
        w->m[r0 + r] = mx;
        w->l[r0 + r] = w->l[r0 + r] * alpha + sum;
        double *o = w->o + (r0 + r) * dv;
        for (int d = 0; d < dv; d++) o[d] *= alpha;
    }
}

/* Head h, queries [i0, i1). */
static void task(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out, const pf_ws *w, int h,
                 int64_t i0, int64_t i1, double scale) {
    const int H = m->heads, R = m->rank, P = m->rope, N = m->nope, DK = N + P, DV = m->v_dim, W = R + P;
    const lc_mask mask = lc_mla_mask(c, n_q);
    const int64_t off = c->rows - n_q, rows_all = i1 - i0, last = off + i1 - 1; /* the last key any of these queries sees */
    for (size_t x = 0; x < (size_t)N * R; x++) w->wk[x] = m->w_uk[(size_t)h * N * R + x];
    for (size_t x = 0; x < (size_t)DV * R; x++) w->wv[x] = m->w_uv[(size_t)h * DV * R + x];
    for (int64_t i = i0; i < i1; i++) {
        double *q = w->q + (i - i0) * DK;
        for (int d = 0; d < N; d++) q[d] = scale * q_nope[((size_t)i * H + h) * N + d];
        for (int e = 0; e < P; e++) q[N + e] = scale * q_rope[((size_t)i * H + h) * P + e];
        w->m[i - i0] = -INFINITY, w->l[i - i0] = 0;
    }
    memset(w->o, 0, sizeof(double) * (size_t)rows_all * DV);

    for (int64_t j0 = 0; j0 <= last; j0 += TILE_K) {
        const int64_t cols = last + 1 - j0 < TILE_K ? last + 1 - j0 : TILE_K;
        for (int64_t t = 0; t < cols; t++) {
            const float *row = lc_mla_row(c, j0 + t, w->row);
            for (int x = 0; x < W; x++) w->lat[t * W + x] = row[x];
            for (int e = 0; e < P; e++) w->k[t * DK + N + e] = row[R + e];
        }
        if (N > 0) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cols, N, R, 1.0, w->lat, W, w->wk, R, 0.0, w->k, DK);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)cols, DV, R, 1.0, w->lat, W, w->wv, R, 0.0, w->v, DV);
        /* the first query of the chunk at or after key j0 */
        for (int64_t r0 = j0 - off > i0 ? j0 - off - i0 : 0; r0 < rows_all; r0 += TILE_Q) {
            const int64_t rows = rows_all - r0 < TILE_Q ? rows_all - r0 : TILE_Q;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, DK, 1.0, w->q + r0 * DK, DK, w->k, DK, 0.0, w->s, TILE_K);
            update(w, &mask, DV, r0, rows, i0, j0, cols);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, DV, (int)cols, 1.0, w->s, TILE_K, w->v, DV, 1.0, w->o + r0 * DV, DV);
        }
    }
    for (int64_t r = 0; r < rows_all; r++) /* every query sees itself, so l > 0 */
        for (int d = 0; d < DV; d++) out[((size_t)(i0 + r) * H + h) * DV + d] = (float)(w->o[r * DV + d] / w->l[r]);
}

lc_status lc_mla_prefill_f64(const lc_mla *m, const lc_mla_cache *c, const float *q_nope, const float *q_rope, int n_q, float *out) {
    const int nt = lc_threads_resolve(m->threads);
    /* chunks per head: enough to give every thread a task, no smaller than one query tile */
    int64_t per_head = (nt + m->heads - 1) / m->heads, q_tiles = (n_q + TILE_Q - 1) / TILE_Q;
    if (per_head > q_tiles) per_head = q_tiles;
    const int64_t chunk = (n_q + per_head - 1) / per_head, tasks = (int64_t)m->heads * per_head;
    const size_t per = ws_doubles(m, chunk);
    double *ws = malloc(sizeof(double) * per * (size_t)nt);
    if (!ws) return lc_error(LC_ENOMEM, "mla prefill: workspace of %zu bytes", sizeof(double) * per * (size_t)nt);
    const double scale = m->scale > 0 ? m->scale : 1.0 / sqrt((double)(m->nope + m->rope));
#pragma omp parallel num_threads(nt)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        omp_set_num_threads(1); /* the tile products run on this thread alone (see flash.c) */
#endif
        const pf_ws w = carve(ws + (size_t)tid * per, m, chunk);
        /* later chunks see more keys under the causal mask: hand them out first */
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t k = per_head - 1 - t % per_head, i0 = k * chunk, i1 = i0 + chunk < n_q ? i0 + chunk : n_q;
            if (i0 < i1) task(m, c, q_nope, q_rope, n_q, out, &w, (int)(t / per_head), i0, i1, scale);
        }
    }
    free(ws);
    return LC_OK;
}
