/* Decode attention for many queries at once: a prompt chunk of n_q new tokens against the
 * kept tokens of its sequence, with the flash kernel's tile products (Dao et al. 2022,
 * Algorithm 1; src/attention/flash_tile.h) over the cache's spans, read through the block
 * table where they lie, never gathered into one buffer.
 *
 * A task is one KV head h, a group of gs of its query heads and a tile of tq queries: its
 * rows are r = i gs + g (query i0 + i, query head h G + g0 + g), every query head of a query
 * side by side, so that a few queries of a large group fill the tile products' panels (the
 * rows past tq gs, up to the panel, are padding). It walks the kept tokens in position
 * order, TILE_K at a time, widening that head's K and V rows to f32 (once per tile for all
 * of the task's rows), and for each tile
 *
 *     S^T = K (scale Q)^T,   -inf where pos_j > P_i          P_i = len - n_q + i0 + i
 *     m' = max(m, colmax S^T);  P^T = exp(S^T - m');  l = l e^{m - m'} + colsum P^T
 *     O  = O e^{m - m'} + P V
 *
 * stopping at the first token past the tile's last query; out = O / l, lse = m + log l.
 * Each output row is computed by one task in a fixed order, so the result does not depend
 * on the thread count. */
#include <math.h>
#include <string.h>

#include "decode_tiled.h"
#include "../attention/flash_ops.h"
#include "../attention/flash_tile.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { ALIGN = 64 };

/* The plan. TILE_ROWS query rows per task, as the flash kernel's taller query tile (which it
 * takes once a head's K and V pass its caches, as a long prefix does; 512 rows measured no
 * faster); TILE_K tokens per key tile, as its key tile. MIN_ROWS: from n_q x group = 64 rows
 * on, this path; below, the decode block kernel (decode_ops.h), which reads each key once
 * for all the rows. Measured on 2 threads, 16K cached tokens in pages of 16, f32 and bf16,
 * d = 128, 32 / 8 heads, best of 7 in two alternating runs, ms, block kernel / this path:
 * 16 rows 13-22 / 37-50, 32 rows 25-41 / 29-44, 48 rows 37-64 / 48-68, 64 rows 53-76 /
 * 54-68, 128 rows 93-150 / 85-136, 256 rows 186-272 / 129-220. */
enum { TILE_ROWS = 256, TILE_K = 256, MIN_ROWS = 64 };

typedef struct tiled_plan {
    const lc_flash_tile_ops *tile;
    const lc_flash_ops *row;
    int group, heads_kv, head_dim;
    int64_t tq;      /* queries per task */
    int gs;          /* query heads per task */
    int64_t rows;    /* most rows of a task: tq gs rounded up to the panel */
    int64_t lds;     /* floats between the rows of S^T */
    int64_t n_qt, n_gt, tasks;
} tiled_plan;

static tiled_plan make_plan(const lc_decode *d, lc_isa isa) {
    tiled_plan p;
    const lc_kv_config *g = lc_kv_config_of(d->cache);
    p.tile = lc_flash_tile_ops_for(isa);
    p.row = lc_flash_ops_for(isa);
    p.heads_kv = g->heads_kv, p.head_dim = g->head_dim;
    p.group = d->heads_q / g->heads_kv;
    const int64_t panel = p.tile->panel;
    p.gs = p.group < TILE_ROWS ? p.group : TILE_ROWS;
    p.tq = TILE_ROWS / p.gs;
    if (p.tq > d->n_q) p.tq = d->n_q; /* no taller than the call */
    p.rows = (p.tq * p.gs + panel - 1) / panel * panel;
    p.lds = p.rows + 16; /* a vector more than the rows: rows of S^T a power of two apart share L1 sets */
    p.n_qt = (d->n_q + p.tq - 1) / p.tq;
    p.n_gt = (p.group + p.gs - 1) / p.gs;
    p.tasks = (int64_t)p.heads_kv * p.n_gt * p.n_qt;
    return p;
}

int lc_decode_tiled_chosen(const lc_decode *d, lc_isa isa) {
    (void)isa;
    return (int64_t)d->n_q * (d->heads_q / lc_kv_config_of(d->cache)->heads_kv) >= MIN_ROWS;
}

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* One thread's scratch. */
typedef struct tiled_ws {
    float *q;                      /* rows x D: the task's query rows, in row order */
    float *qp;                     /* rows x D: scaled, in panels */
    float *st;                     /* TILE_K x lds: scores, then probabilities, key-major */
    float *k, *v;                  /* TILE_K x D each: the tile's rows of one head, f32 */
    float *o;                      /* rows x D: unnormalised output */
    float *m, *l, *alpha, *colmax; /* rows each */
    float *vp;                     /* TILE_K x vpanel: a packed panel of V */
    int64_t *pos;                  /* TILE_K: the tile's positions */
} tiled_ws;

static size_t carve(const tiled_plan *p, uint8_t *base, tiled_ws *w) {
    const size_t f = sizeof(float), D = (size_t)p->head_dim, R = (size_t)p->rows;
    size_t off = 0;
#define TAKE(field, type, bytes) (w->field = (type)(base ? base + off : NULL), off += round_up(bytes))
    TAKE(q, float *, f * R * D);
    TAKE(qp, float *, f * R * D);
    TAKE(st, float *, f * TILE_K * (size_t)p->lds);
    TAKE(k, float *, f * TILE_K * D);
    TAKE(v, float *, f * TILE_K * D);
    TAKE(o, float *, f * R * D);
    TAKE(m, float *, f * R);
    TAKE(l, float *, f * R);
    TAKE(alpha, float *, f * R);
    TAKE(colmax, float *, f * R);
    TAKE(vp, float *, f * TILE_K * (size_t)p->tile->vpanel);
    TAKE(pos, int64_t *, sizeof(int64_t) * TILE_K);
#undef TAKE
    return off;
}

size_t lc_decode_tiled_thread_bytes(const lc_decode *d, lc_isa isa) {
    const tiled_plan p = make_plan(d, isa);
    tiled_ws w;
    return carve(&p, NULL, &w);
}

/* Kept tokens read in position order: span s, token t of it. */
typedef struct token_cursor {
    const lc_kv_span *spans;
    int64_t nspans, s, t;
} token_cursor;

/* The next tile: up to TILE_K tokens at positions <= last, head h's K and V rows widened
 * into w->k, w->v and their positions into w->pos; returns how many (0: none left). */
static int64_t next_tile(const tiled_plan *p, const lc_kv_config *g, token_cursor *c, int h, int64_t last, const tiled_ws *w) {
    const int D = p->head_dim, H = p->heads_kv;
    const size_t es = lc_dtype_size(g->dtype), rowb = (size_t)H * D * es, head = (size_t)h * D * es;
    const int scaled = g->dtype == LC_INT8 || g->dtype == LC_FP8;
    int64_t n = 0;
    while (n < TILE_K && c->s < c->nspans) {
        const lc_kv_span *sp = &c->spans[c->s];
        if (c->t == sp->n) {
            c->s++, c->t = 0;
            continue;
        }
        if (sp->pos0 + c->t > last) break;
        const uint8_t *kr = (const uint8_t *)sp->k + (size_t)c->t * rowb + head, *vr = (const uint8_t *)sp->v + (size_t)c->t * rowb + head;
        if (scaled) {
            lc_kv_load_row(w->k + n * D, kr, sp->k_scale[c->t * H + h], g->dtype, D);
            lc_kv_load_row(w->v + n * D, vr, sp->v_scale[c->t * H + h], g->dtype, D);
        } else {
            p->row->load_row(w->k + n * D, kr, g->dtype, 1, D);
            p->row->load_row(w->v + n * D, vr, g->dtype, 1, D);
        }
        w->pos[n++] = sp->pos0 + c->t++;
    }
    return n;
}

/* One task: KV head h, query heads h G + g0 .. + gs - 1, queries i0 .. i0 + tq - 1. */
static void run_task(const lc_decode *d, const tiled_plan *p, const lc_kv_span *spans, int64_t nspans, int64_t len, int h, int g0, int64_t i0,
                     const tiled_ws *w) {
    const lc_kv_config *g = lc_kv_config_of(d->cache);
    const int D = p->head_dim, G = p->group, gs = G - g0 < p->gs ? G - g0 : p->gs;
    const int64_t tq = d->n_q - i0 < p->tq ? d->n_q - i0 : p->tq, panel = p->tile->panel;
    const int64_t used = tq * gs, rows = (used + panel - 1) / panel * panel, lds = p->lds;
    const float scale = d->scale > 0 ? d->scale : 1.0f / sqrtf((float)D);
    const int64_t first = len - d->n_q + i0, last = first + tq - 1; /* positions of the task's first and last query */

    for (int64_t i = 0; i < tq; i++) /* a query's gs heads are adjacent in q: one copy each */
        memcpy(w->q + i * gs * D, d->q + ((size_t)(i0 + i) * d->heads_q + (size_t)h * G + g0) * D, sizeof(float) * (size_t)(gs * D));
    p->tile->pack_q(w->qp, w->q, D, used, D, scale);
    for (int64_t r = 0; r < rows; r++) w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->o, 0, sizeof(float) * (size_t)(rows * D));

    token_cursor cur = {spans, nspans, 0, 0};
    int64_t cols;
    while ((cols = next_tile(p, g, &cur, h, last, w)) > 0) {
        p->tile->scores_t(w->st, lds, w->colmax, w->k, D, cols, w->qp, rows, D);
        const int partial = w->pos[cols - 1] > first; /* some query of the task does not see every key */
        if (partial) {                               /* query i sees the keys before the first past P_i */
            int64_t j = 0;
            for (int64_t i = 0; i < tq; i++) {
                while (j < cols && w->pos[j] <= first + i) j++;
                for (int64_t jj = j; jj < cols; jj++)
                    for (int gg = 0; gg < gs; gg++) w->st[jj * lds + i * gs + gg] = -INFINITY;
            }
        }
        p->tile->softmax_t(w->st, lds, cols, rows, partial ? NULL : w->colmax, w->m, w->l, w->alpha);
        p->tile->accumulate(w->o, D, w->alpha, w->st, lds, rows, w->v, D, cols, D, w->vp);
    }

    for (int gg = 0; gg < gs; gg++) {
        const int hq = h * G + g0 + gg;
        for (int64_t i = 0; i < tq; i++) {
            const int64_t r = i * gs + gg;
            const float l = w->l[r], inv = l > 0 ? 1.0f / l : 0.0f; /* no key visible: zeros, lse -inf */
            float *o = d->out + ((size_t)(i0 + i) * d->heads_q + hq) * D;
            const float *src = w->o + r * D;
            for (int e = 0; e < D; e++) o[e] = src[e] * inv;
            if (d->lse) d->lse[(size_t)hq * d->n_q + i0 + i] = l > 0 ? w->m[r] + logf(l) : -INFINITY;
        }
    }
}

void lc_decode_tiled(const lc_decode *d, lc_isa isa, int threads, const lc_kv_span *spans, int64_t nspans, int64_t len, uint8_t *scratch) {
    const tiled_plan p = make_plan(d, isa);
    tiled_ws w0;
    const size_t per_thread = carve(&p, NULL, &w0);
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        tiled_ws w;
        carve(&p, scratch + (size_t)tid * per_thread, &w);
        /* later query tiles see more keys: hand them out first */
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < p.tasks; t++) {
            const int64_t qt = p.n_qt - 1 - t % p.n_qt, rest = t / p.n_qt;
            run_task(d, &p, spans, nspans, len, (int)(rest / p.n_gt), (int)(rest % p.n_gt) * p.gs, qt * p.tq, &w);
        }
    }
}
