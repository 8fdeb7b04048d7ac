/* Retrieval beyond a layer's window (lc_context_config.retrieval, include/longctx/model.h).
 *
 * KNN. A windowed layer's ring cache holds the sinks and the last W keys; the keys it evicts
 * move into a kNN memory (positions [sinks, memory_end)). A query at position P attends in one
 * softmax over its window [P - W + 1, P], the sinks and the top_k keys of the older positions
 * [sinks, P - W + 1). For a prompt chunk at positions [pos, pos + m), the older positions of a
 * query are the memory plus the chunk's "gap": keys still in the gathered ring but already
 * behind that query's window. The window's result (out, lse) from flash and the retrieved
 * keys' partial merge by log-sum-exp (src/core/lse_merge.h):
 *
 *   out = (e^lse out + sum_{j in top} e^{s_j} v_j) / (e^lse + sum_{j in top} e^{s_j}),
 *   s_j = scale q . k_j (soft-capped as the model caps).
 *
 * BLOCKS. The cache keeps every key; lc_block_attention picks, per query and head, the top_k
 * blocks by mean key besides the sinks and the window. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/lse_merge.h"
#include "model_internal.h"

typedef struct candidate {
    float dot;   /* q . k, unscaled */
    int64_t at;  /* >= 0: a gathered row; < 0: memory position -1 - at */
} candidate;

static int by_dot_desc(const void *a, const void *b) {
    float x = ((const candidate *)a)->dot, y = ((const candidate *)b)->dot;
    return (x < y) - (x > y);
}

typedef struct knn_job {
    const lc_context *ctx;
    const lc_attn_plan *p;
    const lc_run *r;
    const float *q;          /* [m, QW] */
    float *out;              /* [m, Hq D] */
    int64_t s0, first;       /* the first non-sink gathered row and its position */
    int64_t kk;              /* memory results per (head, row) */
    const int64_t *mem_pos;  /* [Hq, m, kk] */
    const float *mem_dot;
    uint8_t *scratch;        /* per thread: candidates, then acc and a key row */
    size_t scratch_stride;
    lc_status *status;       /* [threads] */
} knn_job;

/* One query row t: every head's top_k older keys, merged into the window's result. */
static void knn_row(void *arg, int64_t t, int thread) {
    const knn_job *j = arg;
    const lc_model_config *c = &j->ctx->model->cfg;
    const int64_t Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, m = j->r->m;
    const int64_t W = j->p->window, K = j->ctx->cfg.retrieval.top_k, P = j->r->pos + t;
    const float scale = (float)c->attn_scale, cap = (float)c->attn_softcap;
    candidate *cand = (candidate *)(j->scratch + (size_t)thread * j->scratch_stride);
    candidate *top = cand + j->kk + m; /* the merged top K: at most kk + m */
    float *acc = (float *)(top + j->kk + m), *key = acc + D;
    /* the gap: positions [max(memory_end, first), P - W + 1), rows s0 + (position - first) */
    int64_t g0 = j->p->memory_end > j->first ? j->p->memory_end : j->first, g1 = P - W + 1;
    if (g1 < g0) g1 = g0;
    for (int64_t h = 0; h < Hq; h++) {
        const int64_t hk = h / (Hq / Hkv);
        const float *qr = j->q + t * QW + h * D;
        int64_t n = 0;
        for (int64_t g = g0; g < g1; g++) {
            const float *kr = j->ctx->gk + ((j->s0 + g - j->first) * Hkv + hk) * D;
            float s = 0;
            for (int64_t d = 0; d < D; d++) s += qr[d] * kr[d];
            cand[n++] = (candidate){s, j->s0 + g - j->first};
        }
        qsort(cand, (size_t)n, sizeof *cand, by_dot_desc);
        /* merge with the memory's results (best first) into the top K */
        const int64_t *mp = j->mem_pos + (h * m + t) * j->kk;
        const float *md = j->mem_dot + (h * m + t) * j->kk;
        int64_t a = 0, b = 0, k = 0;
        while (k < K && (a < n || b < j->kk)) {
            if (b < j->kk && mp[b] < 0) b++; /* a search that found fewer keys than asked */
            else if (b >= j->kk || (a < n && cand[a].dot >= md[b])) top[k++] = cand[a++];
            else top[k] = (candidate){md[b], -1 - mp[b]}, k++, b++;
        }
        if (k == 0) continue;
        float mx = -INFINITY, l = 0;
        for (int64_t i = 0; i < k; i++) {
            float s = top[i].dot * scale;
            if (cap > 0) s = cap * tanhf(s / cap);
            top[i].dot = s;
            mx = s > mx ? s : mx;
        }
        memset(acc, 0, sizeof(float) * (size_t)D);
        for (int64_t i = 0; i < k; i++) {
            const float e = expf(top[i].dot - mx);
            const float *vr;
            if (top[i].at >= 0) vr = j->ctx->gv + (top[i].at * Hkv + hk) * D;
            else {
                lc_status st = lc_knn_memory_get(j->p->memory, hk, -1 - top[i].at, key, key + D);
                if (st) { j->status[thread] = st; return; }
                vr = key + D;
            }
            l += e;
            for (int64_t d = 0; d < D; d++) acc[d] += e * vr[d];
        }
        float *o = j->out + t * Hq * D + h * D, mo = j->ctx->lse[h * m + t], lo = 1;
        lc_lse_fold(o, &mo, &lo, acc, mx, l, D);
        lc_lse_finish(o, o, mo, lo, D);
    }
}

/* Moves positions [memory_end, end) of the gathered rows into the layer's memory. */
static lc_status evict(lc_context *ctx, lc_attn_plan *p, int64_t s0, int64_t first, int64_t end) {
    const lc_model_config *c = &ctx->model->cfg;
    const int64_t Hkv = c->kv_heads, D = c->head_dim;
    if (end <= p->memory_end) return LC_OK;
    if (p->memory_end < first) return lc_error(LC_EINTERNAL, "kNN memory ends at %lld, the ring starts at %lld", (long long)p->memory_end, (long long)first);
    if (!p->memory) {
        lc_knn_memory_config mc;
        memset(&mc, 0, sizeof mc);
        /* one thread: FAISS's OpenMP team would spin beside the context's pool (src/core/pool.c) */
        mc.heads = Hkv, mc.d_k = mc.d_v = D, mc.capacity = ctx->cfg.max_tokens, mc.index = LC_MEMORY_EXACT, mc.threads = 1;
        lc_status st = lc_knn_memory_create(&mc, &p->memory);
        if (st) return st;
    }
    const int64_t row = s0 + p->memory_end - first, n = end - p->memory_end;
    lc_tensor k = lc_tensor_bshd(ctx->gk + row * Hkv * D, LC_F32, 1, n, Hkv, D);
    lc_tensor v = lc_tensor_bshd(ctx->gv + row * Hkv * D, LC_F32, 1, n, Hkv, D);
    lc_status st = lc_knn_memory_append(p->memory, &k, &v);
    if (!st) p->memory_end = end;
    return st;
}

static lc_status attend_knn(lc_context *ctx, lc_attn_plan *p, const lc_run *r, const float *q, float *out, int64_t G) {
    const lc_model_config *c = &ctx->model->cfg;
    const int64_t Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, m = r->m;
    lc_attention a; /* the window and the sinks, with their log-sum-exp */
    memset(&a, 0, sizeof a);
    a.mask = lc_mask_causal();
    a.mask.q_offset = G;
    a.mask.window = (lc_mask_window){1, p->window - 1, 0, 0};
    a.mask.sinks = p->sinks;
    a.q = lc_tensor_bshd((void *)q, LC_F32, 1, m, Hq, D);
    a.q.stride[1] = QW, a.q.stride[0] = m * QW, a.q.capacity = (m - 1) * QW + Hq * D;
    a.k = lc_tensor_bshd(ctx->gk, LC_F32, 1, G + m, Hkv, D);
    a.v = lc_tensor_bshd(ctx->gv, LC_F32, 1, G + m, Hkv, D);
    a.out = lc_tensor_bshd(out, LC_F32, 1, m, Hq, D);
    a.lse = ctx->lse;
    a.scale = (float)c->attn_scale;
    a.softcap = (float)c->attn_softcap;
    a.threads = m == 1 ? 1 : ctx->threads; /* one token: an OpenMP team would cost more than it does */
    lc_status st = lc_attention_flash(&a, ctx->flash_ws, ctx->flash_ws_bytes);
    if (st) return st;
    /* gathered rows: the sinks [0, s0) at their positions, then consecutive positions from `first` */
    const int64_t s0 = G < p->sinks ? G : p->sinks, first = r->pos - (G - s0);
    knn_job j = {ctx, p, r, q, out, s0, first, 0, NULL, NULL, NULL, 0, NULL};
    const int64_t held = p->memory ? lc_knn_memory_size(p->memory) : 0;
    const int64_t K = ctx->cfg.retrieval.top_k;
    j.kk = held < K ? held : K;
    int64_t *mem_pos = NULL;
    float *mem_dot = NULL;
    if (j.kk > 0) {
        mem_pos = malloc(sizeof *mem_pos * (size_t)(Hq * m * j.kk));
        mem_dot = malloc(sizeof *mem_dot * (size_t)(Hq * m * j.kk));
        if (!mem_pos || !mem_dot) st = lc_error(LC_ENOMEM, "kNN retrieval: %lld results", (long long)(Hq * m * j.kk));
        if (!st) st = lc_knn_memory_search(p->memory, &a.q, j.kk, mem_pos, mem_dot);
    }
    j.mem_pos = mem_pos, j.mem_dot = mem_dot;
    j.scratch_stride = ((sizeof(candidate) * (size_t)(2 * (j.kk + m)) + sizeof(float) * (size_t)(3 * D)) + 63) / 64 * 64;
    const int threads = lc_pool_threads(ctx->pool);
    if (!st) {
        j.scratch = malloc(j.scratch_stride * (size_t)threads);
        j.status = calloc((size_t)threads, sizeof(lc_status));
        if (!j.scratch || !j.status) st = lc_error(LC_ENOMEM, "kNN retrieval scratch of %zu bytes", j.scratch_stride * (size_t)threads);
    }
    if (!st) {
        st = lc_pool_run(ctx->pool, m, knn_row, &j);
        for (int i = 0; i < threads && !st; i++) st = j.status[i];
    }
    /* the keys this run pushes out of the window: positions before pos + m - W */
    if (!st) st = evict(ctx, p, s0, first, r->pos + m - p->window);
    free(mem_pos), free(mem_dot), free(j.scratch), free(j.status);
    return st;
}

static lc_status attend_blocks(lc_context *ctx, const lc_attn_plan *p, const lc_run *r, const float *q, float *out, int64_t G) {
    const lc_model_config *c = &ctx->model->cfg;
    const int64_t Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, m = r->m;
    lc_block_attention b;
    memset(&b, 0, sizeof b);
    b.q = lc_tensor_bshd((void *)q, LC_F32, 1, m, Hq, D);
    b.q.stride[1] = QW, b.q.stride[0] = m * QW, b.q.capacity = (m - 1) * QW + Hq * D;
    b.k = lc_tensor_bshd(ctx->gk, LC_F32, 1, G + m, Hkv, D);
    b.v = lc_tensor_bshd(ctx->gv, LC_F32, 1, G + m, Hkv, D);
    b.out = lc_tensor_bshd(out, LC_F32, 1, m, Hq, D);
    b.q_offset = G;
    b.block = ctx->cfg.retrieval.block;
    b.top_blocks = ctx->cfg.retrieval.top_k;
    b.window = p->window;
    b.sinks = p->sinks;
    b.scale = (float)c->attn_scale;
    b.threads = m == 1 ? 1 : ctx->threads;
    return lc_block_attention_retrieve_alloc(&b);
}

lc_status lc_model_attend_retrieval(lc_context *ctx, int64_t l, const lc_run *r, const float *q, float *out) {
    const lc_model_config *c = &ctx->model->cfg;
    lc_attn_plan *p = &ctx->attn[l];
    const int64_t Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, KW = Hkv * D;
    int64_t G = 0;
    lc_status st = lc_model_gather(ctx, p->cache, r->seq, &G);
    if (st) return st;
    float *ck = ctx->gk + G * KW, *cv = ctx->gv + G * KW;
    for (int64_t t = 0; t < r->m; t++) {
        memcpy(ck + t * KW, q + t * QW + Hq * D, sizeof(float) * (size_t)KW);
        memcpy(cv + t * KW, q + t * QW + Hq * D + KW, sizeof(float) * (size_t)KW);
    }
    st = p->retrieval == LC_RETRIEVAL_KNN ? attend_knn(ctx, p, r, q, out, G) : attend_blocks(ctx, p, r, q, out, G);
    return st ? st : lc_kv_append(p->cache, r->seq, r->pos, ck, cv, r->m);
}

void lc_model_retrieval_reset(lc_context *ctx) {
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        lc_attn_plan *p = &ctx->attn[l];
        lc_knn_memory_destroy(p->memory);
        p->memory = NULL;
        p->memory_end = p->sinks;
    }
}
