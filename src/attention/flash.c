/* Flash attention on the CPU (Dao et al. 2022, Algorithm 1; online softmax of Milakov and
 * Gimelshein 2018). For one (batch, head, query tile) a thread keeps the running maximum m,
 * the running sum l and the unnormalised output O of each query, and for each key tile the
 * mask does not rule out (trimmed to the keys some query of the tile may see):
 *
 *     S  = scale Q K^T                            (flash_tile.h: our own micro-kernels)
 *     S  = cap tanh(S / cap), masked entries -inf
 *     m' = max(m, rowmax S);  P = exp(S - m');  l = l e^{m - m'} + rowsum P
 *     O  = O e^{m - m'} + P V
 *
 * and finally out = O / l, lse = m + log l. The scores are held transposed (key-major) so
 * the softmax runs with the queries in the vector lanes (flash_tile.h). Memory beyond inputs
 * and output is the per-thread tile workspace, independent of the sequence length. Each
 * query tile is computed by one thread from start to end, so results do not depend on the
 * thread count. */
#include "longctx/attention.h"
#include "flash_ops.h"
#include "flash_tile.h"
#include "../core/tensor_io.h"
#include "sequences.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { ALIGN = 64 };

/* The plan: tiles of tile_q queries x tile_k keys, one query tile of one (batch, head) per
 * task; a partial tile is trimmed to the keys its queries may see in steps of `trim` keys.
 * Every query tile reads all of its head's K and V: once they no longer fit in the caches
 * near the core, taller query tiles read them fewer times; shorter ones waste less of a
 * causal diagonal (a tile computes its diagonal block whole) and keep the scratch (packed Q,
 * S^T, O) small. Measured on one thread, f32, the sizes alternating in one process (best of
 * 3-10 runs, GFLOP/s, 128 x 256 / 256 x 256): n = 16K, d = 64 / 128 / 256, full 183 / 193,
 * 160 / 177, 131 / 160; causal 160 / 159, 165 / 184, 140 / 161; n = 4K full 173 / 178,
 * 166 / 170, 169 / 179, causal 159 / 158, 170 / 167, 179 / 183; n = 1K causal 167 / 151,
 * 181 / 165, 175 / 162 (full within 3 %). 256 x 128, 384 x 128 and 512 x 128 were within a
 * few percent of 256 x 256 at 4K-16K and further behind under a causal mask at 1K. A prompt
 * of 512 queries at the end of 4K keys (8 heads, d = 128, 2 threads, causal, f16 or f32 K and
 * V: 4 MiB a head as f32) took 28.7-29.3 ms in 256-row tiles against 31.7-32.2 in 128-row
 * ones (K and V are read, and 16-bit ones widened, once per query tile); square 3K-4K causal
 * calls were within the noise either way. So: TILE_Q_TALL query rows once a head's K and V
 * (as f32) pass TALL_KV_BYTES, else TILE_Q. Rows of S^T are one
 * vector longer than npad: a power of two apart (512 bytes), the rows a micro-kernel walks
 * share a few L1 sets. */
enum { TILE_Q = 128, TILE_Q_TALL = 256, TILE_K = 256, TRIM = 16, TALL_KV_BYTES = 2 << 20 };
typedef struct flash_plan {
    int64_t tile_q, tile_k, trim;
    int64_t npad; /* tile_q rounded up to the panel of the tile products */
    int64_t lds;  /* floats between the rows of S^T: npad and one vector more */
    const lc_flash_ops *row;
    const lc_flash_tile_ops *tile;
} flash_plan;

static flash_plan make_plan(const lc_attention *a) {
    flash_plan p;
    lc_isa isa;
    lc_isa_resolve(a->isa, &isa);
    p.row = lc_flash_ops_for(isa);
    p.tile = lc_flash_tile_ops_for(isa);
    const int64_t n_kv = a->varlen.count > 0 ? a->varlen.max_kv : a->k.shape[1]; /* the keys one query tile reads */
    const double kv_bytes = (double)n_kv * (double)(a->q.shape[3] + a->v.shape[3]) * sizeof(float);
    p.tile_q = kv_bytes > TALL_KV_BYTES ? TILE_Q_TALL : TILE_Q, p.tile_k = TILE_K, p.trim = TRIM;
    p.npad = (p.tile_q + p.tile->panel - 1) / p.tile->panel * p.tile->panel;
    p.lds = p.npad + 16;
    return p;
}

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* One thread's scratch, carved from the caller's workspace. */
typedef struct tile_ws {
    float *q;      /* tile_q x dk: Q rows when they cannot be read in place */
    float *qp;     /* npad x dk: scaled Q in panels */
    float *k;      /* tile_k x dk: K rows when they cannot be read in place */
    float *v;      /* tile_k x dv */
    float *st;     /* tile_k x lds: scores, then probabilities, key-major */
    float *o;      /* tile_q x dv: unnormalised output */
    float *m, *l, *alpha, *colmax; /* npad each */
    float *vp;     /* tile_k x vpanel: a packed panel of V */
    uint8_t *mask; /* tile_k x tile_q, key-major */
} tile_ws;

/* The parts of one thread's scratch, laid out for the taller query tile whichever the plan
 * chose, so that the workspace does not depend on the sequence length. */
static size_t carve(const flash_plan *p, uint8_t *base, int64_t dk, int64_t dv, tile_ws *w) {
    const size_t f = sizeof(float);
    const int64_t rows = TILE_Q_TALL, npad = (rows + p->tile->panel - 1) / p->tile->panel * p->tile->panel, lds = npad + 16;
    const size_t sizes[12] = {f * (size_t)(rows * dk), f * (size_t)(npad * dk), f * (size_t)(p->tile_k * dk), f * (size_t)(p->tile_k * dv),
                              f * (size_t)(p->tile_k * lds), f * (size_t)(rows * dv), f * (size_t)npad, f * (size_t)npad,
                              f * (size_t)npad, f * (size_t)npad, f * (size_t)(p->tile_k * p->tile->vpanel), (size_t)(rows * p->tile_k)};
    void **parts[12] = {(void **)&w->q, (void **)&w->qp, (void **)&w->k, (void **)&w->v, (void **)&w->st, (void **)&w->o, (void **)&w->m,
                        (void **)&w->l, (void **)&w->alpha, (void **)&w->colmax, (void **)&w->vp, (void **)&w->mask};
    size_t off = 0;
    for (int i = 0; i < 12; i++) {
        if (base) *parts[i] = base + off;
        off += round_up(sizes[i]);
    }
    return off;
}

static size_t thread_ws_bytes(const flash_plan *p, int64_t dk, int64_t dv) {
    tile_ws w;
    return carve(p, NULL, dk, dv, &w);
}

/* Varlen: the first query tile of each sequence, in the call's order of tiles, and the
 * total after the last ([count + 1] int64, after the threads' scratch). */
static size_t tile_table_bytes(const lc_attention *a) { return a->varlen.count > 0 ? round_up(sizeof(int64_t) * (size_t)(a->varlen.count + 1)) : 0; }

size_t lc_attention_flash_workspace_size(const lc_attention *a) {
    if (lc_attention_check(a)) return 0;
    const flash_plan p = make_plan(a);
    return ALIGN + (size_t)lc_threads_resolve(a->threads) * thread_ws_bytes(&p, a->q.shape[3], a->v.shape[3]) + tile_table_bytes(a);
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

/* Rows [s0, s0+rows) of one (b, h) as f32 rows: the tensor itself when it is f32 with unit
 * dim stride (no copy), else converted into `scratch`. */
static const float *tile_rows(const lc_flash_ops *ops, float *scratch, const lc_tensor *t, int64_t b, int64_t s0, int64_t rows, int64_t h, int64_t *ld) {
    if (t->dtype == LC_F32 && t->stride[3] == 1 && t->stride[1] >= t->shape[3]) {
        *ld = t->stride[1];
        return (const float *)t->data + lc_tensor_offset(t, b, s0, h, 0);
    }
    *ld = t->shape[3];
    load_rows(ops, scratch, t->shape[3], t, b, s0, rows, h);
    return scratch;
}

/* Keys [*lo, *hi) of the tile [j0, j0 + cols) that some query of rows [i0, i0 + rows) may
 * see, in steps of `trim` from either end (a partial tile's empty margins: the far side of a
 * causal diagonal, the near side of a window). */
static void trim_keys(const lc_mask *m, int64_t i0, int64_t rows, int64_t j0, int64_t cols, int64_t trim, int64_t *lo, int64_t *hi) {
    int64_t a = 0, b = cols;
    while (b - a > trim && lc_mask_classify_tile(m, i0, i0 + rows, j0 + b - trim, j0 + b) == LC_TILE_EMPTY) b -= trim;
    while (b - a > trim && lc_mask_classify_tile(m, i0, i0 + rows, j0 + a, j0 + a + trim) == LC_TILE_EMPTY) a += trim;
    *lo = a, *hi = b;
}

/* -inf into the scores st[j lds + i] where mask[j ldm + i] is 0 (both key-major). */
static void mask_scores(float *st, int64_t lds, const uint8_t *mask, int64_t ldm, int64_t rows, int64_t cols) {
    for (int64_t j = 0; j < cols; j++) {
        float *s = st + j * lds;
        const uint8_t *mj = mask + j * ldm;
        for (int64_t i = 0; i < rows; i++) s[i] = mj[i] ? s[i] : -INFINITY;
    }
}

/* One (sequence, head, query tile), start to finish: rows [i0, i0 + tile_q) of the sequence's
 * queries (never past its end) over its keys, under its mask (sequences.h). */
static void flash_tile(const lc_attention *a, const flash_plan *p, const tile_ws *w, const lc_attn_seq *sq, int64_t h, int64_t i0, float scale) {
    const int64_t n_q = sq->n_q, n_kv = sq->n_kv, dk = a->q.shape[3], dv = a->v.shape[3], b = sq->b, q0 = sq->q0, kv0 = sq->kv0;
    const lc_mask *mask = &sq->mask;
    const int64_t hk = h / (a->q.shape[2] / a->k.shape[2]);
    const int64_t rows = n_q - i0 < p->tile_q ? n_q - i0 : p->tile_q;
    const int64_t panel = p->tile->panel, npad = (rows + panel - 1) / panel * panel;

    int64_t ldq, ldk, ldv;
    const float *q = tile_rows(p->row, w->q, &a->q, b, q0 + i0, rows, h, &ldq);
    p->tile->pack_q(w->qp, q, ldq, rows, dk, scale);
    for (int64_t r = 0; r < npad; r++) w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->o, 0, sizeof(float) * (size_t)(rows * dv));

    for (int64_t t0 = 0; t0 < n_kv; t0 += p->tile_k) {
        const int64_t tcols = n_kv - t0 < p->tile_k ? n_kv - t0 : p->tile_k;
        const lc_tile_class cls = lc_mask_classify_tile(mask, i0, i0 + rows, t0, t0 + tcols);
        if (cls == LC_TILE_EMPTY) continue;
        int64_t lo = 0, hi = tcols;
        if (cls == LC_TILE_PARTIAL) trim_keys(mask, i0, rows, t0, tcols, p->trim, &lo, &hi);
        const int64_t j0 = t0 + lo, cols = hi - lo;
        const float *k = tile_rows(p->row, w->k, &a->k, b, kv0 + j0, cols, hk, &ldk);
        const float *v = tile_rows(p->row, w->v, &a->v, b, kv0 + j0, cols, hk, &ldv);
        const int64_t lds = p->lds;
        p->tile->scores_t(w->st, lds, w->colmax, k, ldk, cols, w->qp, npad, dk);
        if (a->softcap > 0)
            for (int64_t j = 0; j < cols; j++) p->row->softcap(w->st + j * lds, npad, a->softcap);
        if (cls == LC_TILE_PARTIAL) {
            lc_mask_fill_tile_keys(mask, i0, rows, j0, cols, w->mask, p->tile_q);
            mask_scores(w->st, lds, w->mask, p->tile_q, rows, cols);
        }
        const int changed = a->softcap > 0 || cls == LC_TILE_PARTIAL; /* the scores' maximum is no longer scores_t's */
        p->tile->softmax_t(w->st, lds, cols, npad, changed ? NULL : w->colmax, w->m, w->l, w->alpha);
        p->tile->accumulate(w->o, dv, w->alpha, w->st, lds, rows, v, ldv, cols, dv, w->vp);
    }

    for (int64_t r = 0; r < rows; r++) {
        float l = w->l[r], inv = isnan(l) ? NAN : l > 0 ? 1.0f / l : 0.0f; /* fully masked row: zeros; NaN stays NaN */
        const float *o = w->o + r * dv;
        if (a->out.stride[3] == 1) {
            p->row->store_row((uint8_t *)a->out.data + (size_t)lc_tensor_offset(&a->out, b, q0 + i0 + r, h, 0) * lc_dtype_size(a->out.dtype), a->out.dtype,
                              o, inv, dv);
        } else {
            for (int64_t d = 0; d < dv; d++) lc_store_elem(a->out.data, a->out.dtype, lc_tensor_offset(&a->out, b, q0 + i0 + r, h, d), o[d] * inv);
        }
        if (a->lse) a->lse[(b * a->q.shape[2] + h) * a->q.shape[1] + q0 + i0 + r] = isnan(l) ? NAN : l > 0 ? w->m[r] + logf(l) : -INFINITY;
    }
}

lc_status lc_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_attention_check(a);
    if (st) return st;
    size_t need = lc_attention_flash_workspace_size(a);
    if (!workspace) return lc_error(LC_EINVAL, "workspace is NULL: flash attention needs %zu bytes (lc_attention_flash_workspace_size)", need);
    if (workspace_bytes < need) return lc_error(LC_EINVAL, "workspace_bytes=%zu is less than the %zu bytes flash attention needs", workspace_bytes, need);
    const flash_plan p = make_plan(a);
    const int64_t dk = a->q.shape[3], dv = a->v.shape[3];
    const float scale = a->scale != 0 ? a->scale : 1.0f / sqrtf((float)dk);
    const int64_t heads = a->q.shape[2];
    const size_t per_thread = thread_ws_bytes(&p, dk, dv);
    uint8_t *base = (uint8_t *)(((uintptr_t)workspace + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    const int nt = lc_threads_resolve(a->threads);
    /* Tasks: (sequence, head, query tile). A plain call's sequences all have n_qt tiles; a
     * packed one's first tiles are tabled (tile_start), so that a tile never holds queries
     * of two sequences. */
    const int varlen = a->varlen.count > 0;
    int64_t n_qt = (a->q.shape[1] + p.tile_q - 1) / p.tile_q, *tile_start = NULL;
    if (varlen) {
        tile_start = (int64_t *)(base + (size_t)nt * per_thread);
        tile_start[0] = 0;
        for (int s = 0; s < a->varlen.count; s++) {
            const int64_t m = a->varlen.q_starts[s + 1] - a->varlen.q_starts[s];
            tile_start[s + 1] = tile_start[s] + (m + p.tile_q - 1) / p.tile_q;
        }
        n_qt = tile_start[a->varlen.count]; /* the call's tiles, per head */
    }
    const int64_t tasks = (varlen ? 1 : a->q.shape[0]) * heads * n_qt;

#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        tile_ws w;
        carve(&p, base + (size_t)tid * per_thread, dk, dv, &w);
        /* Later query tiles see more keys under a causal mask: hand them out first. */
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t qt = n_qt - 1 - t % n_qt, bh = t / n_qt, s, h;
            if (varlen) { /* qt counts the call's tiles: find its sequence */
                int64_t lo = 0, hi = a->varlen.count - 1;
                while (lo < hi) {
                    const int64_t mid = (lo + hi + 1) / 2;
                    if (tile_start[mid] <= qt) lo = mid; else hi = mid - 1;
                }
                s = lo, h = bh, qt -= tile_start[s];
            } else {
                s = bh / heads, h = bh % heads;
            }
            const lc_attn_seq sq = lc_attn_seq_at(a, s);
            flash_tile(a, &p, &w, &sq, h, qt * p.tile_q, scale);
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
