/* Flash-decoding on the CPU: the kept keys of one sequence are cut into ranges; each
 * (KV head, range) task keeps an online softmax (Milakov & Gimelshein 2018) for the
 * n_q x G query rows of that head's group, and the partial (m, l, acc) are merged:
 *   M = max_t m_t,  L = sum_t l_t e^(m_t - M),  out = sum_t acc_t e^(m_t - M) / L. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/decode.h"
#include "decode_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define BT LC_DECODE_BT /* keys per block: scores for a block, one rescale per row per block */

/* Per-thread scratch in floats: K and V rows [BT, D] each, scores [R, BT], R row pointers,
 * then the fused path's rescale factors [R], probability units [R], key / value scales [BT]
 * each, the rounded query's R row pointers, scales and sums, the block's key and value
 * scales by head [H, BT] each, and (64-byte aligned) the range's running state: per head,
 * m [R], l [R] and acc [R, D]. */
static size_t state_floats(int D, int R, int H) { return (size_t)H * R * (D + 2); }
static size_t scratch_floats(int D, int R, int H) {
    return ((size_t)(2 * D + R + 2 * H) * BT + 8 * (size_t)R + 2 * BT + 15) / 16 * 16 + (state_floats(D, R, H) + 15) / 16 * 16; /* 64-byte multiples */
}

/* The rounded query (lc_decode_block.qr) of all n_q * heads_q rows: rows, scales, sums. */
static size_t rounded_query_bytes(const lc_decode *d, const lc_kv_config *g) {
    if (g->dtype != LC_INT8 && g->dtype != LC_FP8 && g->dtype != LC_BF16) return 0;
    return (size_t)d->n_q * d->heads_q * (LC_DECODE_QR_BYTES(g->head_dim) + 2 * sizeof(float)) + 64;
}

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

typedef struct plan {
    const lc_kv_config *g;
    int64_t kept, split, ranges, nspans, len;
    int G, R, D, threads;
} plan;

static void make_plan(const lc_decode *d, plan *p) {
    p->g = lc_kv_config_of(d->cache);
    p->kept = lc_kv_seq_kept(d->cache, d->seq);
    p->len = lc_kv_seq_len(d->cache, d->seq);
    p->threads = lc_threads_resolve(d->threads);
    p->D = p->g->head_dim;
    p->G = d->heads_q / p->g->heads_kv;
    p->R = p->G * d->n_q;
    int64_t s = d->split;
    if (s <= 0) { /* about 4 ranges per thread, at least 256 keys each */
        int64_t want = (int64_t)p->threads * 4;
        s = (p->kept + want - 1) / want;
        if (s < 256) s = 256;
    }
    p->split = s;
    p->ranges = p->kept > 0 ? (p->kept + s - 1) / s : 0;
    p->nspans = lc_kv_max_spans(d->cache, d->seq);
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
    return LC_OK;
}

/* Per range and row: m, l, acc[D]; per thread: k and v rows, scores. Then the spans. */
size_t lc_decode_workspace_size(const lc_decode *d) {
    if (lc_decode_check(d)) return 0;
    plan p;
    make_plan(d, &p);
    size_t partial = (size_t)p.ranges * (size_t)p.g->heads_kv * (size_t)p.R * (size_t)(p.D + 2);
    size_t scratch = (size_t)p.threads * scratch_floats(p.D, p.R, p.g->heads_kv);
    return sizeof(float) * (partial + 16 + scratch) + sizeof(lc_kv_span) * (size_t)p.nspans + 64 + rounded_query_bytes(d, p.g);
}

size_t lc_decode_bytes_read(const lc_decode *d) {
    if (lc_decode_check(d)) return 0;
    const lc_kv_config *g = lc_kv_config_of(d->cache);
    return (size_t)lc_kv_seq_kept(d->cache, d->seq) * lc_kv_slot_bytes(g);
}

/* The rounded query of all rows (NULL rows: not rounded). */
typedef struct rounded_query {
    const uint8_t *rows;
    const float *scales;
    const int32_t *sums;
} rounded_query;

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
 * together: rows are read in order); its (m, l, acc) per head go to out. Scratch: kbuf,
 * vbuf [BT, D], sc [R, BT] and the rest of scratch_floats. */
static void run_range(const lc_decode *d, const plan *p, const lc_decode_ops *ops, const lc_kv_span *spans,
                      const rounded_query *rq, int64_t a, int64_t b, float *out, float *kbuf, float *vbuf, float *sc) {
    const int D = p->D, G = p->G, R = p->R, H = p->g->heads_kv;
    const lc_dtype t = p->g->dtype;
    const size_t esz = lc_dtype_size(t), rowb = (size_t)H * D * esz;
    const float scale = d->scale > 0 ? d->scale : 1.0f / sqrtf((float)D);
    const size_t per = (size_t)R * (D + 2);
    const float **qrow = (const float **)(sc + (size_t)R * BT); /* R pointers after the scores */
    const void **qrrow = (const void **)(qrow + R);              /* then the rounded query's */
    float *cf = (float *)(qrrow + R), *qrs = cf + 2 * R + 2 * BT;
    int32_t *qrsum = (int32_t *)(qrs + R);
    float *ksh = (float *)(qrsum + R), *vsh = ksh + (size_t)H * BT; /* the block's scales, head-major */
    /* The running state lives in the thread's scratch and is copied out at the end: kept in
     * the shared partials instead, the same kernels read 3-15% slower on two threads here
     * (bench/results/NOTES.md; the cause was not established, this VM has no counters). */
    float *state = (float *)(((uintptr_t)(vsh + (size_t)H * BT) + 63) & ~(uintptr_t)63);
    for (int h = 0; h < H; h++) {
        float *m = state + h * per;
        for (int r = 0; r < R; r++) m[r] = -INFINITY, m[R + r] = 0;
        memset(m + 2 * R, 0, sizeof(float) * (size_t)R * D);
    }
    const int64_t qpos0 = p->len - d->n_q; /* position of query 0 */
    const float *krow[BT], *vrow[BT];
    token_block tbs[2], *cur = &tbs[0], *next = &tbs[1];
    token_walk w = walk_start(spans, a, b, rowb, H);
    walk_next(&w, cur);
    while (cur->n > 0) {
        walk_next(&w, next); /* its bytes are prefetched while this block computes */
        const int nb = cur->n;
        if (ops->block && cur->ks[0]) /* the fused kernels read them by head; the others per token */
            for (int u = 0; u < nb; u++)
                for (int h = 0; h < H; h++) ksh[h * BT + u] = cur->ks[u][h], vsh[h * BT + u] = cur->vs[u][h];
        for (int h = 0; h < H; h++) {
            float *m = state + h * per, *l = m + R, *acc = m + 2 * R;
            const size_t hoff = (size_t)h * D * esz;
            for (int i = 0; i < d->n_q; i++)
                for (int gq = 0; gq < G; gq++) {
                    size_t row = (size_t)i * d->heads_q + (size_t)h * G + gq;
                    qrow[i * G + gq] = d->q + row * D;
                    if (rq->rows) {
                        qrrow[i * G + gq] = rq->rows + row * LC_DECODE_QR_BYTES(D);
                        qrs[i * G + gq] = rq->scales[row], qrsum[i * G + gq] = rq->sums[row];
                    }
                }
            if (ops->block) {
                lc_decode_block blk = {.q = qrow, .R = R, .G = G, .D = D, .nb = nb, .bt = BT, .scale = scale, .t = t,
                                       .kt = cur->k, .vt = cur->v, .hoff = hoff, .ks = ksh + h * BT, .vs = vsh + h * BT,
                                       .vis = qpos0 - cur->pos0 + 1, .m = m, .l = l, .acc = acc,
                                       .sc = sc, .cf = cf, .unit = cf + R, .ksc = cf + 2 * R, .vsc = cf + 2 * R + BT,
                                       .qr = rq->rows ? qrrow : NULL, .qr_scale = qrs, .qr_sum = qrsum};
                blk.npf = prefetch_share(next, h, H, rowb, &blk.pk, &blk.pv);
                ops->block(&blk);
                continue;
            }
            for (int u = 0; u < next->n; u++)
                lc_prefetch_bytes(next->k[u] + hoff, (size_t)D * esz), lc_prefetch_bytes(next->v[u] + hoff, (size_t)D * esz);
            for (int u = 0; u < nb; u++) { /* K rows of the block, widened to f32 */
                if (t == LC_F32) krow[u] = (const float *)(cur->k[u] + hoff);
                else {
                    ops->load(kbuf + (size_t)u * D, cur->k[u] + hoff, cur->ks[u] ? cur->ks[u][h] : 0, t, D);
                    krow[u] = kbuf + (size_t)u * D;
                }
            }
            ops->scores(qrow, R, krow, nb, D, scale, sc, BT);
            for (int i = 0; i < d->n_q; i++) { /* causal among the new tokens */
                int64_t visible = qpos0 + i - cur->pos0 + 1;
                for (int gq = 0; gq < G; gq++)
                    for (int64_t u = visible < 0 ? 0 : visible; u < nb; u++) sc[(size_t)(i * G + gq) * BT + u] = -INFINITY;
            }
            for (int u = 0; u < nb; u++) { /* V rows */
                if (t == LC_F32) vrow[u] = (const float *)(cur->v[u] + hoff);
                else {
                    ops->load(vbuf + (size_t)u * D, cur->v[u] + hoff, cur->vs[u] ? cur->vs[u][h] : 0, t, D);
                    vrow[u] = vbuf + (size_t)u * D;
                }
            }
            ops->softmax(sc, R, nb, BT, m, l, acc, D);
            ops->pv(acc, R, sc, vrow, nb, D, BT);
        }
        token_block *done = cur;
        cur = next, next = done;
    }
    memcpy(out, state, sizeof(float) * state_floats(D, R, H));
}

static lc_status ops_of(lc_isa requested, const lc_decode_ops **ops) {
    lc_isa isa = LC_ISA_PORTABLE;
    lc_status st = lc_isa_resolve(requested, &isa);
    *ops = isa == LC_ISA_PORTABLE ? &lc_decode_ops_portable : isa == LC_ISA_AVX2 ? &lc_decode_ops_avx2 : &lc_decode_ops_avx512;
    return st;
}

int lc_decode_rounds_query(const lc_decode *d) {
    const lc_decode_ops *ops;
    if (lc_decode_check(d) || ops_of(d->isa, &ops) || d->query_f32) return 0;
    return ops->rounds_query && ops->rounds_query(lc_kv_config_of(d->cache)->dtype);
}

lc_status lc_decode_run(const lc_decode *d, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_decode_check(d);
    if (st) return st;
    size_t need = lc_decode_workspace_size(d);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "decode workspace: %zu bytes given, %zu needed", workspace ? workspace_bytes : 0, need);
    plan p;
    make_plan(d, &p);
    const int H = p.g->heads_kv, D = p.D, R = p.R, G = p.G;
    lc_kv_span *spans = (lc_kv_span *)workspace;
    int64_t nsp = 0;
    if ((st = lc_kv_spans(d->cache, d->seq, spans, p.nspans, &nsp))) return st;
    float *part = (float *)((char *)workspace + (sizeof(lc_kv_span) * (size_t)p.nspans + 63) / 64 * 64);
    const size_t per = (size_t)R * (D + 2);
    float *scratch = part + ((size_t)p.ranges * H * per + 15) / 16 * 16; /* 64-byte aligned */
    const int64_t tasks = p.ranges;
    const lc_decode_ops *ops;
    if ((st = ops_of(d->isa, &ops))) return st;
    rounded_query rq = {0};
    if (lc_decode_rounds_query(d)) {
        uint8_t *rows = (uint8_t *)(((uintptr_t)(scratch + (size_t)p.threads * scratch_floats(D, R, H)) + 63) & ~(uintptr_t)63);
        float *scales = (float *)(rows + (size_t)d->n_q * d->heads_q * LC_DECODE_QR_BYTES(D));
        lc_decode_round_rows(p.g->dtype, D, d->q, d->n_q * d->heads_q, rows, scales, (int32_t *)(scales + (size_t)d->n_q * d->heads_q));
        rq = (rounded_query){rows, scales, (const int32_t *)(scales + (size_t)d->n_q * d->heads_q)};
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(p.threads)
    for (int64_t task = 0; task < tasks; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *sb = scratch + (size_t)tid * scratch_floats(D, R, H);
        int64_t a = task * p.split, b = a + p.split < p.kept ? a + p.split : p.kept;
        run_range(d, &p, ops, spans, &rq, a, b, part + (size_t)task * H * per, sb, sb + (size_t)BT * D, sb + (size_t)2 * BT * D);
    }
    /* Merge the ranges of each (query, head) row. */
    for (int h = 0; h < H; h++)
        for (int r = 0; r < R; r++) {
            int i = r / G, hq = h * G + r % G;
            float *o = d->out + ((size_t)i * d->heads_q + hq) * D;
            float M = -INFINITY, L = 0;
            for (int64_t rg = 0; rg < p.ranges; rg++) M = fmaxf(M, part[(size_t)(rg * H + h) * per + r]);
            memset(o, 0, sizeof(float) * (size_t)D);
            if (M > -INFINITY)
                for (int64_t rg = 0; rg < p.ranges; rg++) {
                    const float *mp = part + (size_t)(rg * H + h) * per;
                    if (mp[r] == -INFINITY) continue;
                    float c = expf(mp[r] - M);
                    L += mp[R + r] * c;
                    const float *acc = mp + 2 * R + (size_t)r * D;
                    for (int e = 0; e < D; e++) o[e] += c * acc[e];
                }
            if (L > 0)
                for (int e = 0; e < D; e++) o[e] /= L;
            if (d->lse) d->lse[(size_t)hq * d->n_q + i] = L > 0 ? M + logf(L) : -INFINITY;
        }
    return LC_OK;
}

lc_status lc_decode_alloc(const lc_decode *d) {
    lc_status st = lc_decode_check(d);
    if (st) return st;
    size_t n = lc_decode_workspace_size(d);
    void *ws = lc_aligned_alloc(n, 64);
    if (!ws) return LC_ENOMEM;
    st = lc_decode_run(d, ws, n);
    lc_aligned_free(ws);
    return st;
}
