/* Flash attention on the CPU (Dao et al. 2022, Algorithm 1; online softmax of Milakov and
 * Gimelshein 2018). For one (batch, head, query tile) a thread keeps the running row
 * maximum m, the running sum l and the unnormalised output O, and for each key tile the
 * mask does not rule out:
 *
 *     S  = scale Q K^T                            (OpenBLAS sgemm on the tile)
 *     S  = cap tanh(S / cap), masked entries -inf
 *     m' = max(m, rowmax S);  P = exp(S - m');  l = l e^{m - m'} + rowsum P
 *     O  = O e^{m - m'} + P V                     (sgemm, beta = 1)
 *
 * and finally out = O / l, lse = m + log l. Memory beyond inputs and output is the
 * per-thread tile workspace, independent of the sequence length. Each query tile is
 * computed by one thread from start to end, so results do not depend on thread count. */
#include "longctx/attention.h"
#include "flash_ops.h"
#include "../core/tensor_io.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The plan: tiles of TILE_Q queries x TILE_K keys, one query tile of one (batch, head)
 * per task. Larger tiles run sgemm nearer its peak and classify fewer tiles against the
 * mask; smaller ones keep a thread's scratch (Q, K, V, S, O and the mask: 0.53 MiB at
 * d = 128) in L2 and skip more of a causal or window mask's empty area. Measured with
 * bench/attention --quick --lengths 2048 --dims 128 --threads 1 (full f32, best of 5
 * alternating runs on a shared 2-core AVX-512 machine): 128 x 256 32.7 ms, 256 x 256 32.9,
 * 64 x 256 33.8, 128 x 128 40.9, 64 x 128 40.5; the causal and bf16 rows, and n = 4096
 * on two threads, moved less between the sizes than from run to run. */
enum { TILE_Q = 128, TILE_K = 256, ALIGN = 64 };

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* One thread's scratch, carved from the caller's workspace. */
typedef struct tile_ws {
    float *q;    /* TILE_Q x dk (inputs that sgemm cannot read in place) */
    float *k;    /* TILE_K x dk */
    float *v;    /* TILE_K x dv */
    float *s;    /* TILE_Q x TILE_K: scores, then probabilities */
    float *o;    /* TILE_Q x dv: unnormalised output */
    float *m, *l; /* TILE_Q each */
    uint8_t *mask; /* TILE_Q x TILE_K */
} tile_ws;

static size_t thread_ws_bytes(int64_t dk, int64_t dv) {
    return round_up(sizeof(float) * TILE_Q * (size_t)dk) + round_up(sizeof(float) * TILE_K * (size_t)dk) +
           round_up(sizeof(float) * TILE_K * (size_t)dv) + round_up(sizeof(float) * TILE_Q * TILE_K) +
           round_up(sizeof(float) * TILE_Q * (size_t)dv) + 2 * round_up(sizeof(float) * TILE_Q) + round_up(TILE_Q * TILE_K);
}

static tile_ws carve(uint8_t *base, int64_t dk, int64_t dv) {
    tile_ws w;
    w.q = (float *)base, base += round_up(sizeof(float) * TILE_Q * (size_t)dk);
    w.k = (float *)base, base += round_up(sizeof(float) * TILE_K * (size_t)dk);
    w.v = (float *)base, base += round_up(sizeof(float) * TILE_K * (size_t)dv);
    w.s = (float *)base, base += round_up(sizeof(float) * TILE_Q * TILE_K);
    w.o = (float *)base, base += round_up(sizeof(float) * TILE_Q * (size_t)dv);
    w.m = (float *)base, base += round_up(sizeof(float) * TILE_Q);
    w.l = (float *)base, base += round_up(sizeof(float) * TILE_Q);
    w.mask = base;
    return w;
}

size_t lc_attention_flash_workspace_size(const lc_attention *a) {
    if (lc_attention_check(a)) return 0;
    return ALIGN + (size_t)lc_threads_resolve(a->threads) * thread_ws_bytes(a->q.shape[3], a->v.shape[3]);
}

/* Rows [s0, s0+rows) of one (b, h) into dst (row stride `ld`), converted to f32. */
static void load_rows(const lc_flash_ops *ops, float *dst, int64_t ld, const lc_tensor *t, int64_t b, int64_t s0, int64_t rows, int64_t h) {
    size_t es = lc_dtype_size(t->dtype);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)t->data + (size_t)lc_tensor_offset(t, b, s0 + r, h, 0) * es;
        ops->load_row(dst + r * ld, src, t->dtype, t->stride[3], t->shape[3]);
    }
}

/* Online-softmax update of one tile's rows (flash_ops.h): leaves P in s and rescales o. */
void lc_flash_softmax_rows(const lc_flash_ops *ops, float *s, int64_t lds, int64_t rows, int64_t cols, float *m, float *l, float *o, int64_t dv) {
    for (int64_t r = 0; r < rows; r++, s += lds) {
        float m_old = m[r], m_new = ops->row_max(s, cols);
        if (m_old > m_new) m_new = m_old;
        if (m_new == -INFINITY) { /* every key so far masked: contributes nothing */
            int nan = 0;          /* ... unless a score is NaN, which the max skips: it must reach the row */
            for (int64_t c = 0; c < cols; c++) nan |= isnan(s[c]);
            if (!nan) {
                memset(s, 0, sizeof(float) * (size_t)cols);
                continue;
            }
            m_new = NAN;
        }
        float alpha = expf(m_old - m_new); /* 0 when m_old = -inf */
        float sum = ops->exp_sum(s, cols, m_new);
        l[r] = l[r] * alpha + sum;
        m[r] = m_new;
        if (alpha != 1.0f) {
            float *orow = o + r * dv;
            for (int64_t d = 0; d < dv; d++) orow[d] *= alpha;
        }
    }
}

/* Rows [s0, s0+rows) of one (b, h) as a row-major matrix for sgemm: the tensor itself when
 * it is f32 with unit dim stride (no copy), else converted into `scratch`. */
static const float *tile_rows(const lc_flash_ops *ops, float *scratch, const lc_tensor *t, int64_t b, int64_t s0, int64_t rows, int64_t h, int *ld) {
    if (t->dtype == LC_F32 && t->stride[3] == 1 && t->stride[1] >= t->shape[3] && t->stride[1] <= INT32_MAX) {
        *ld = (int)t->stride[1];
        return (const float *)t->data + lc_tensor_offset(t, b, s0, h, 0);
    }
    *ld = (int)t->shape[3];
    load_rows(ops, scratch, t->shape[3], t, b, s0, rows, h);
    return scratch;
}

/* One (batch, head, query tile), start to finish. */
static void flash_tile(const lc_attention *a, const lc_flash_ops *ops, const tile_ws *w, int64_t b, int64_t h, int64_t i0, float scale) {
    const int64_t n_q = a->q.shape[1], n_kv = a->k.shape[1], dv = a->v.shape[3];
    const int64_t hk = h / (a->q.shape[2] / a->k.shape[2]);
    const int64_t rows = n_q - i0 < TILE_Q ? n_q - i0 : TILE_Q;

    int ldq, ldk, ldv;
    const float *q = tile_rows(ops, w->q, &a->q, b, i0, rows, h, &ldq);
    for (int64_t r = 0; r < rows; r++) w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->o, 0, sizeof(float) * (size_t)(rows * dv));

    for (int64_t j0 = 0; j0 < n_kv; j0 += TILE_K) {
        const int64_t cols = n_kv - j0 < TILE_K ? n_kv - j0 : TILE_K;
        lc_tile_class cls = lc_mask_classify_tile(&a->mask, i0, i0 + rows, j0, j0 + cols);
        if (cls == LC_TILE_EMPTY) continue;
        const float *k = tile_rows(ops, w->k, &a->k, b, j0, cols, hk, &ldk);
        const float *v = tile_rows(ops, w->v, &a->v, b, j0, cols, hk, &ldv);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)a->q.shape[3], scale, q, ldq, k, ldk, 0.0f, w->s, TILE_K);
        if (a->softcap > 0)
            for (int64_t r = 0; r < rows; r++) ops->softcap(w->s + r * TILE_K, cols, a->softcap);
        if (cls == LC_TILE_PARTIAL) {
            lc_mask_fill_tile(&a->mask, i0, rows, j0, cols, w->mask, TILE_K);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    if (!w->mask[r * TILE_K + c]) w->s[r * TILE_K + c] = -INFINITY;
        }
        lc_flash_softmax_rows(ops, w->s, TILE_K, rows, cols, w->m, w->l, w->o, dv);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dv, (int)cols, 1.0f, w->s, TILE_K, v, ldv, 1.0f, w->o, (int)dv);
    }

    for (int64_t r = 0; r < rows; r++) {
        float l = w->l[r], inv = isnan(l) ? NAN : l > 0 ? 1.0f / l : 0.0f; /* fully masked row: zeros; NaN stays NaN */
        const float *o = w->o + r * dv;
        for (int64_t d = 0; d < dv; d++) lc_store_elem(a->out.data, a->out.dtype, lc_tensor_offset(&a->out, b, i0 + r, h, d), o[d] * inv);
        if (a->lse) a->lse[(b * a->q.shape[2] + h) * n_q + i0 + r] = isnan(l) ? NAN : l > 0 ? w->m[r] + logf(l) : -INFINITY;
    }
}

lc_status lc_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_attention_check(a);
    if (st) return st;
    size_t need = lc_attention_flash_workspace_size(a);
    if (!workspace) return lc_error(LC_EINVAL, "workspace is NULL: flash attention needs %zu bytes (lc_attention_flash_workspace_size)", need);
    if (workspace_bytes < need) return lc_error(LC_EINVAL, "workspace_bytes=%zu is less than the %zu bytes flash attention needs", workspace_bytes, need);
    lc_isa isa;
    lc_isa_resolve(a->isa, &isa);
    const lc_flash_ops *ops = lc_flash_ops_for(isa);
    const int64_t dk = a->q.shape[3], dv = a->v.shape[3];
    const float scale = a->scale != 0 ? a->scale : 1.0f / sqrtf((float)dk);
    const int64_t n_qt = (a->q.shape[1] + TILE_Q - 1) / TILE_Q, heads = a->q.shape[2];
    const int64_t tasks = a->q.shape[0] * heads * n_qt;
    const size_t per_thread = thread_ws_bytes(dk, dv);
    uint8_t *base = (uint8_t *)(((uintptr_t)workspace + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    const int nt = lc_threads_resolve(a->threads);

#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
        /* Tile products run on this thread alone: OpenBLAS reads this (task-local) ICV,
         * and a one-thread team is not "in parallel" to it. */
        omp_set_num_threads(1);
#else
        const int tid = 0;
#endif
        tile_ws w = carve(base + (size_t)tid * per_thread, dk, dv);
        /* Later query tiles see more keys under a causal mask: hand them out first. */
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t qt = n_qt - 1 - t % n_qt, bh = t / n_qt;
            flash_tile(a, ops, &w, bh / heads, bh % heads, qt * TILE_Q, scale);
        }
    }
    return LC_OK;
}

lc_status lc_attention_flash_alloc(const lc_attention *a) {
    lc_status st = lc_attention_check(a);
    if (st) return st;
    size_t bytes = lc_attention_flash_workspace_size(a);
    void *ws = lc_aligned_alloc(bytes, ALIGN);
    if (!ws) return LC_ENOMEM;
    st = lc_attention_flash(a, ws, bytes);
    lc_aligned_free(ws);
    return st;
}
