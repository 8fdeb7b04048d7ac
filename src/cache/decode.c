/* Flash-decoding on the CPU (Dao et al. 2023): the kept keys of one sequence are cut into
 * ranges; each range is one task, which walks its keys in blocks of LC_DECODE_BT and, for
 * every KV head, folds each block into the online softmax (Milakov & Gimelshein 2018) of
 * the n_q x group query rows of that head (the block kernel, decode_ops.h). The ranges'
 * partial (max, sum, acc) are then merged by log-sum-exp (src/core/lse_merge.h), in range
 * order. The split into ranges depends on the thread count when lc_decode.split = 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/decode.h"
#include "../core/overlap.h"
#include "../core/lse_merge.h"
#include "decode_ops.h"
#include "decode_tiled.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define BT LC_DECODE_BT /* keys per block */

enum { ALIGN = 64 };

static size_t round_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* int8: q ~ s * round(q / s), s = max|q| / 127 per row (llama.cpp's q8 rounding of the
 * query); fp8: bf16 of 2^64 q (the 2^64 keeps the products of fp8 keys widened with a
 * 2^-120 exponent bias in f32's normal range, see decode_ops_avx512.c); bf16: bf16 of q. */
void lc_decode_round_rows(lc_dtype t, int D, const float *qs, int n, uint8_t *rows, float *scales, int32_t *sums) {
    const size_t rb = LC_DECODE_QR_BYTES(D);
    for (int r = 0; r < n; r++) {
        const float *q = qs + (size_t)r * D;
        uint8_t *o = rows + (size_t)r * rb;
        memset(o, 0, rb);
        if (t == LC_FP8 || t == LC_BF16) {
            for (int e = 0; e < D; e++) ((uint16_t *)o)[e] = lc_f32_to_bf16(t == LC_FP8 ? ldexpf(q[e], 64) : q[e]);
            continue;
        }
        float amax = 0;
        for (int e = 0; e < D; e++) amax = fmaxf(amax, fabsf(q[e]));
        float s = amax / 127, inv = amax > 0 ? 127 / amax : 0;
        int32_t sum = 0;
        for (int e = 0; e < D; e++) {
            int v = (int)lrintf(q[e] * inv);
            ((int8_t *)o)[e] = (int8_t)v, sum += v;
        }
        scales[r] = s, sums[r] = sum;
    }
}

/* The shape of one call, and how its keys are split into ranges. */
typedef struct plan {
    const lc_kv_config *g;
    int64_t kept, len;  /* tokens kept, tokens written (the next position) */
    int64_t split;      /* keys per range */
    int64_t ranges;
    int64_t nspans;     /* spans lc_kv_spans may return */
    int group, rows, head_dim, heads_kv, threads;
    int rounds_query;   /* the call rounds the query (lc_decode_rounds_query) */
    lc_isa isa;         /* resolved */
    int tiled;          /* many queries: the tile products over the spans (decode_tiled.h) */
} plan;

static void make_plan(const lc_decode *d, plan *p) {
    p->g = lc_kv_config_of(d->cache);
    p->kept = lc_kv_seq_kept(d->cache, d->seq);
    p->len = lc_kv_seq_len(d->cache, d->seq);
    p->threads = lc_threads_resolve(d->threads);
    p->head_dim = p->g->head_dim;
    p->heads_kv = p->g->heads_kv;
    p->group = d->heads_q / p->heads_kv;
    p->rows = p->group * d->n_q;
    /* split = 0: about RANGES_PER_THREAD ranges per thread, so that the dynamic schedule
     * evens out the threads, of at least MIN_RANGE keys. One range per thread and 16 per
     * thread read within 4% of this at 256K and 512K keys (f16, int8 with the rounded query,
     * two threads). */
    enum { RANGES_PER_THREAD = 4, MIN_RANGE = 256 };
    int64_t s = d->split;
    if (s <= 0) {
        int64_t want = (int64_t)p->threads * RANGES_PER_THREAD;
        s = (p->kept + want - 1) / want;
        if (s < MIN_RANGE) s = MIN_RANGE;
    }
    p->split = s;
    p->ranges = p->kept > 0 ? (p->kept + s - 1) / s : 0;
    p->nspans = lc_kv_max_spans(d->cache, d->seq);
    if (lc_isa_resolve(d->isa, &p->isa)) p->isa = LC_ISA_PORTABLE; /* refused by lc_decode_attention before any use */
    p->tiled = lc_decode_tiled_chosen(d, p->isa);
    if (p->tiled) p->ranges = 0;
    p->rounds_query = lc_decode_rounds_query(d);
}

/* Floats of one range's running state: per KV head, row_max [rows], row_sum [rows] and
 * acc [rows, head_dim]. */
static size_t state_floats(const plan *p) { return (size_t)p->heads_kv * (size_t)p->rows * (size_t)(p->head_dim + 2); }

/* One thread's scratch (every part 64-byte aligned): the block kernel's buffers, the block's
 * int8 / fp8 scales by head, and the running state of the range it works on. */
typedef struct thread_ws {
    float *key_f32, *value_f32;       /* [BT, head_dim] each */
    float *scores;                    /* [rows, BT] */
    const float **query;              /* [rows]: the block's query row pointers */
    const void **rounded;             /* [rows]: the rounded query's */
    float *rounded_scale;             /* [rows] */
    int32_t *rounded_sum;             /* [rows] */
    float *rescale, *p_unit;          /* [rows] each */
    float *key_mult, *value_mult;     /* [BT] each */
    float *key_scales, *value_scales; /* [heads_kv, BT] each: the block's scales, head-major */
    float *state;                     /* state_floats(p): the range's (row_max, row_sum, acc) per head */
} thread_ws;

/* Carves one thread's scratch from base (NULL: only counts); returns its bytes. */
static size_t carve_thread(const plan *p, uint8_t *base, thread_ws *w) {
    const size_t D = (size_t)p->head_dim, R = (size_t)p->rows, H = (size_t)p->heads_kv;
    size_t off = 0;
#define TAKE(field, type, bytes) (w->field = (type)(base ? base + off : NULL), off += round_up(bytes))
    TAKE(key_f32, float *, sizeof(float) * BT * D);
    TAKE(value_f32, float *, sizeof(float) * BT * D);
    TAKE(scores, float *, sizeof(float) * R * BT);
    TAKE(query, const float **, sizeof(float *) * R);
    TAKE(rounded, const void **, sizeof(void *) * R);
    TAKE(rounded_scale, float *, sizeof(float) * R);
    TAKE(rounded_sum, int32_t *, sizeof(int32_t) * R);
    TAKE(rescale, float *, sizeof(float) * R);
    TAKE(p_unit, float *, sizeof(float) * R);
    TAKE(key_mult, float *, sizeof(float) * BT);
    TAKE(value_mult, float *, sizeof(float) * BT);
    TAKE(key_scales, float *, sizeof(float) * H * BT);
    TAKE(value_scales, float *, sizeof(float) * H * BT);
    TAKE(state, float *, sizeof(float) * state_floats(p));
#undef TAKE
    return off;
}

/* The caller's workspace (every part 64-byte aligned). */
typedef struct decode_ws {
    lc_kv_span *spans;      /* [nspans]: the kept tokens of the sequence */
    float *partials;        /* [ranges][state_floats]: each range's running state at its end */
    uint8_t *threads;       /* [threads][carve_thread bytes] */
    size_t thread_bytes;
    uint8_t *rounded;       /* rounds_query: [n_q * heads_q] rows of LC_DECODE_QR_BYTES(head_dim) */
    float *rounded_scale;   /* [n_q * heads_q] */
    int32_t *rounded_sum;   /* [n_q * heads_q] */
} decode_ws;

/* Carves the workspace from base (NULL: only counts); returns its bytes. */
static size_t carve_ws(const lc_decode *d, const plan *p, uint8_t *base, decode_ws *w) {
    const size_t nq = (size_t)d->n_q * (size_t)d->heads_q;
    thread_ws t;
    size_t off = 0;
    w->thread_bytes = p->tiled ? lc_decode_tiled_thread_bytes(d, p->isa) : carve_thread(p, NULL, &t);
#define TAKE(field, type, bytes) (w->field = (type)(base ? base + off : NULL), off += round_up(bytes))
    TAKE(spans, lc_kv_span *, sizeof(lc_kv_span) * (size_t)p->nspans);
    TAKE(partials, float *, sizeof(float) * (size_t)p->ranges * state_floats(p));
    TAKE(threads, uint8_t *, w->thread_bytes * (size_t)p->threads);
    TAKE(rounded, uint8_t *, p->rounds_query ? nq * LC_DECODE_QR_BYTES(p->head_dim) : 0);
    TAKE(rounded_scale, float *, p->rounds_query ? sizeof(float) * nq : 0);
    TAKE(rounded_sum, int32_t *, p->rounds_query ? sizeof(int32_t) * nq : 0);
#undef TAKE
    return off;
}

lc_status lc_decode_check(const lc_decode *d) {
    if (!d) return lc_error(LC_EINVAL, "decode is NULL");
    if (!d->cache) return lc_error(LC_EINVAL, "decode.cache is NULL");
    const lc_kv_config *g = lc_kv_config_of(d->cache);
    int64_t len = lc_kv_seq_len(d->cache, d->seq);
    if (len < 0) return lc_error(LC_ERANGE, "decode.seq=%d is not a live sequence of the cache", d->seq);
    if (!d->q || !d->out) return lc_error(LC_EINVAL, "decode.q and decode.out must not be NULL");
    if (d->n_q < 1) return lc_error(LC_EINVAL, "decode.n_q=%d must be >= 1", d->n_q);
    if (d->n_q > len) return lc_error(LC_ERANGE, "decode.n_q=%d queries but sequence %d holds only %lld tokens (append the new keys first)", d->n_q, d->seq, (long long)len);
    if (d->heads_q < 1 || d->heads_q % g->heads_kv)
        return lc_error(LC_EINVAL, "decode.heads_q=%d must be a positive multiple of the cache's heads_kv=%d", d->heads_q, g->heads_kv);
    if (d->scale < 0 || !isfinite(d->scale)) return lc_error(LC_EINVAL, "decode.scale=%g must be finite and >= 0", d->scale);
    if (d->split < 0) return lc_error(LC_EINVAL, "decode.split=%lld must be >= 0", (long long)d->split);
    if (d->threads < 0) return lc_error(LC_EINVAL, "decode.threads=%d must be >= 0 (0 is the default)", d->threads);
    /* a non-finite query would be rounded or quantised into garbage by the fast paths: refused */
    const int64_t nq_elems = (int64_t)d->n_q * d->heads_q * g->head_dim;
    for (int64_t i = 0; i < nq_elems; i++)
        if (!isfinite(d->q[i]))
            return lc_error(LC_EINVAL, "decode.q[%lld] (query %lld, head %lld) is %g: queries must be finite", (long long)i,
                            (long long)(i / ((int64_t)d->heads_q * g->head_dim)), (long long)(i / g->head_dim % d->heads_q), (double)d->q[i]);
    /* outputs must not alias inputs (or each other): q is read after out is written */
    const size_t rows = (size_t)d->n_q * (size_t)d->heads_q, qb = rows * (size_t)g->head_dim * sizeof(float), lb = rows * sizeof(float);
    if (lc_overlaps(d->out, qb, d->q, qb)) return lc_error(LC_EINVAL, "decode.out overlaps decode.q: the output must not alias an input");
    if (d->lse && lc_overlaps(d->lse, lb, d->q, qb)) return lc_error(LC_EINVAL, "decode.lse overlaps decode.q: the output must not alias an input");
    if (d->lse && lc_overlaps(d->lse, lb, d->out, qb)) return lc_error(LC_EINVAL, "decode.lse overlaps decode.out");
    return LC_OK;
}

size_t lc_decode_workspace_size(const lc_decode *d) {
    if (lc_decode_check(d)) return 0;
    plan p;
    make_plan(d, &p);
    decode_ws w;
    return carve_ws(d, &p, NULL, &w) + ALIGN; /* + ALIGN: the caller's pointer may be unaligned */
}

size_t lc_decode_bytes_read(const lc_decode *d) {
    if (lc_decode_check(d)) return 0;
    const lc_kv_config *g = lc_kv_config_of(d->cache);
    return (size_t)lc_kv_seq_kept(d->cache, d->seq) * lc_kv_slot_bytes(g);
}

/* The kept tokens [a, b) of a range, walked through the spans in blocks of up to BT tokens
 * at consecutive positions: a block may run over several spans (pages of 16 tokens, the
 * ring's wrap), but not over a gap in positions (sinks, then the window). */
typedef struct token_walk {
    const lc_kv_span *spans;
    int64_t s, off, left; /* span s, token off in it; tokens of the range left */
    size_t rowb;
    int H;
} token_walk;

/* One block's tokens: K and V rows of all heads, scale rows (NULL without scales). */
typedef struct token_block {
    const uint8_t *k[BT], *v[BT];
    const float *ks[BT], *vs[BT];
    int64_t pos0;
    int n;
} token_block;

static token_walk walk_start(const lc_kv_span *spans, int64_t a, int64_t b, size_t rowb, int H) {
    token_walk w = {spans, 0, a, b - a, rowb, H};
    while (w.left > 0 && w.off >= spans[w.s].n) w.off -= spans[w.s].n, w.s++;
    return w;
}

static void walk_next(token_walk *w, token_block *tb) {
    tb->n = 0;
    while (tb->n < BT && w->left > 0) {
        if (w->off == w->spans[w->s].n) w->s++, w->off = 0;
        const lc_kv_span *sp = &w->spans[w->s];
        if (tb->n == 0) tb->pos0 = sp->pos0 + w->off;
        else if (sp->pos0 + w->off != tb->pos0 + tb->n) break;
        int u = tb->n++;
        tb->k[u] = (const uint8_t *)sp->k + (size_t)w->off * w->rowb, tb->v[u] = (const uint8_t *)sp->v + (size_t)w->off * w->rowb;
        tb->ks[u] = sp->k_scale ? sp->k_scale + w->off * w->H : NULL, tb->vs[u] = sp->v_scale ? sp->v_scale + w->off * w->H : NULL;
        w->off++, w->left--;
    }
}

/* Head h's share of a block's bytes, to prefetch: its tokens [n h / H, n (h + 1) / H) in
 * address order, as far as they lie one after another in the cache (*pk = NULL: none). */
static size_t prefetch_share(const token_block *tb, int h, int H, size_t rowb, const uint8_t **pk, const uint8_t **pv) {
    int t0 = tb->n * h / H, t1 = tb->n * (h + 1) / H, t = t0 + 1;
    *pk = *pv = NULL;
    if (t0 >= t1) return 0;
    while (t < t1 && tb->k[t] == tb->k[t0] + (size_t)(t - t0) * rowb && tb->v[t] == tb->v[t0] + (size_t)(t - t0) * rowb) t++;
    *pk = tb->k[t0], *pv = tb->v[t0];
    return (size_t)(t - t0) * rowb;
}

/* One task: every KV head over kept tokens [a, b), block by block (all heads of a block
 * together: rows are read in order); its running state per head goes to out. */
static void run_range(const lc_decode *d, const plan *p, const lc_decode_ops *ops, const decode_ws *ws, int64_t a, int64_t b, const thread_ws *w,
                      float *out) {
    const int D = p->head_dim, G = p->group, R = p->rows, H = p->heads_kv;
    const lc_dtype t = p->g->dtype;
    const size_t esz = lc_dtype_size(t), rowb = (size_t)H * D * esz, per = (size_t)R * (D + 2);
    const float scale = d->scale > 0 ? d->scale : 1.0f / sqrtf((float)D);
    /* The running state lives in the thread's scratch and is copied out at the end: kept in
     * the shared partials instead, the same kernels read 3-15% slower on two threads (f32 3%,
     * fp8 15%), for a reason not known. */
    for (int h = 0; h < H; h++) {
        float *m = w->state + h * per;
        for (int r = 0; r < R; r++) m[r] = -INFINITY, m[R + r] = 0;
        memset(m + 2 * R, 0, sizeof(float) * (size_t)R * D);
    }
    const int64_t qpos0 = p->len - d->n_q; /* position of query 0 */
    token_block tbs[2], *cur = &tbs[0], *next = &tbs[1];
    token_walk walk = walk_start(ws->spans, a, b, rowb, H);
    walk_next(&walk, cur);
    while (cur->n > 0) {
        walk_next(&walk, next); /* its bytes are prefetched while this block computes (prefetching
                                 * 2 or 4 blocks ahead read f16 and int8 no faster, f32 slower) */
        const int nb = cur->n;
        if (cur->ks[0]) /* the kernels read the scales by head */
            for (int u = 0; u < nb; u++)
                for (int h = 0; h < H; h++) w->key_scales[h * BT + u] = cur->ks[u][h], w->value_scales[h * BT + u] = cur->vs[u][h];
        for (int h = 0; h < H; h++) {
            float *m = w->state + h * per;
            for (int i = 0; i < d->n_q; i++)
                for (int gq = 0; gq < G; gq++) {
                    const size_t row = (size_t)i * d->heads_q + (size_t)h * G + gq;
                    w->query[i * G + gq] = d->q + row * D;
                    if (p->rounds_query) {
                        w->rounded[i * G + gq] = ws->rounded + row * LC_DECODE_QR_BYTES(D);
                        w->rounded_scale[i * G + gq] = ws->rounded_scale[row], w->rounded_sum[i * G + gq] = ws->rounded_sum[row];
                    }
                }
            lc_decode_block blk = {
                .query = w->query, .rows = R, .group = G, .head_dim = D, .keys = nb, .score_stride = BT, .scale = scale, .dtype = t,
                .key_tokens = cur->k, .value_tokens = cur->v, .head_offset = (size_t)h * D * esz,
                .key_scales = cur->ks[0] ? w->key_scales + h * BT : NULL, .value_scales = cur->vs[0] ? w->value_scales + h * BT : NULL,
                .visible = qpos0 - cur->pos0 + 1, .row_max = m, .row_sum = m + R, .acc = m + 2 * R,
                .scores = w->scores, .rescale = w->rescale, .p_unit = w->p_unit, .key_mult = w->key_mult, .value_mult = w->value_mult,
                .key_f32 = w->key_f32, .value_f32 = w->value_f32,
                .rounded = p->rounds_query ? w->rounded : NULL, .rounded_scale = w->rounded_scale, .rounded_sum = w->rounded_sum};
            blk.prefetch_bytes = prefetch_share(next, h, H, rowb, &blk.prefetch_k, &blk.prefetch_v);
            ops->block(&blk);
        }
        token_block *done = cur;
        cur = next, next = done;
    }
    memcpy(out, w->state, sizeof(float) * state_floats(p));
}

int lc_decode_rounds_query(const lc_decode *d) {
    lc_isa isa;
    if (lc_decode_check(d) || d->query_f32 || lc_isa_resolve(d->isa, &isa) || lc_decode_tiled_chosen(d, isa)) return 0;
    return lc_decode_ops_for(isa)->rounds_query(lc_kv_config_of(d->cache)->dtype);
}

lc_status lc_decode_attention(const lc_decode *d, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_decode_check(d);
    if (st) return st;
    lc_isa isa;
    if ((st = lc_isa_resolve(d->isa, &isa))) return st;
    const size_t need = lc_decode_workspace_size(d);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "decode workspace: %zu bytes given, %zu needed", workspace ? workspace_bytes : 0, need);
    const lc_decode_ops *ops = lc_decode_ops_for(isa);
    plan p;
    make_plan(d, &p);
    decode_ws ws;
    carve_ws(d, &p, (uint8_t *)(((uintptr_t)workspace + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1)), &ws);
    int64_t nsp = 0;
    if ((st = lc_kv_spans(d->cache, d->seq, ws.spans, p.nspans, &nsp))) return st;
    if (p.tiled) {
        lc_decode_tiled(d, isa, p.threads, ws.spans, nsp, p.len, ws.threads);
        return LC_OK;
    }
    if (p.rounds_query) lc_decode_round_rows(p.g->dtype, p.head_dim, d->q, d->n_q * d->heads_q, ws.rounded, ws.rounded_scale, ws.rounded_sum);
    const size_t per_range = state_floats(&p);
#pragma omp parallel for schedule(dynamic, 1) num_threads(p.threads)
    for (int64_t range = 0; range < p.ranges; range++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        thread_ws w;
        carve_thread(&p, ws.threads + (size_t)tid * ws.thread_bytes, &w);
        const int64_t a = range * p.split, b = a + p.split < p.kept ? a + p.split : p.kept;
        run_range(d, &p, ops, &ws, a, b, &w, ws.partials + (size_t)range * per_range);
    }
    /* Merge the ranges of each (query, head) row, in range order: every range's state sits
     * at the same offset of its partial, one state_floats apart. */
    const int D = p.head_dim, R = p.rows, G = p.group;
    const size_t per = (size_t)R * (D + 2);
    for (int h = 0; h < p.heads_kv; h++)
        for (int r = 0; r < R; r++) {
            const int i = r / G, hq = h * G + r % G;
            float *o = d->out + ((size_t)i * d->heads_q + hq) * D, m = -INFINITY, l = 0;
            memset(o, 0, sizeof(float) * (size_t)D);
            for (int64_t rg = 0; rg < p.ranges; rg++) {
                const float *part = ws.partials + (size_t)rg * per_range + (size_t)h * per;
                lc_lse_fold(o, &m, &l, part + 2 * R + (size_t)r * D, part[r], part[R + r], D);
            }
            const float lse = lc_lse_finish(o, o, m, l, D);
            if (d->lse) d->lse[(size_t)hq * d->n_q + i] = lse;
        }
    return LC_OK;
}

lc_status lc_decode_attention_alloc(const lc_decode *d) {
    lc_status st = lc_decode_check(d);
    if (st) return st;
    const size_t n = lc_decode_workspace_size(d);
    void *ws = lc_aligned_alloc(n, ALIGN);
    if (!ws) return LC_ENOMEM;
    st = lc_decode_attention(d, ws, n);
    lc_aligned_free(ws);
    return st;
}
