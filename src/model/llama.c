/* The llama-family layer (Llama, Mistral, Qwen2, Gemma 2 differ only by config flags):
 *
 *   h = norm(x);  q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv);  RoPE(q, k)   (lc_rope_apply)
 *   a = attention(q, K, V)     prompts: lc_attention_flash (a contiguous cache read in place, or a
 *                              window's keys gathered), else lc_decode over lc_kv (single tokens;
 *                              prompt chunks over a paged f16 / bf16 cache)
 *   x += [norm](a Wo)          Gemma 2 norms the attention's output before the residual
 *   x += [norm](down(act(h' Wg) * h' Wu)),  h' = norm(x)
 *   logits = norm(x) W_lm      (Gemma 2: cap * tanh(logits / cap))
 *
 * RMSNorm as transformers: x / sqrt(mean(x^2) + eps) * w, Gemma: * (1 + w). Matrix products
 * are lc_matmul on the weights in place, f32, f16 or bf16 ([out, in] row-major: y = x W^T). */
#include <math.h>
#include <string.h>

#include "arch_internal.h"

static lc_matmul product(const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy, int threads, int x_f32) {
    lc_matmul d;
    memset(&d, 0, sizeof d);
    d.m = rows, d.n = l->out, d.k = l->in;
    d.x = x, d.ldx = ldx, d.w = l->w, d.w_dtype = l->dtype, d.bias = l->b, d.y = y, d.ldy = ldy;
    d.threads = threads, d.x_f32 = x_f32;
    return d;
}

static lc_matmul product_on(const lc_context *ctx, const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy) {
    lc_matmul d = product(x, rows, ldx, l, y, ldy, ctx->threads, ctx->cfg.activations_f32);
    d.pool = ctx->pool;
    return d;
}

lc_status lc_model_linear(const lc_context *ctx, const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy) {
    lc_matmul d = product_on(ctx, x, rows, ldx, l, y, ldy);
    return lc_matmul_tiled(&d, ctx->matmul_ws, ctx->matmul_ws_bytes);
}

size_t lc_model_linear_workspace(const lc_model *m, int64_t rows, int threads, int activations_f32) {
    if (lc_arch_extended(m->cfg.arch)) return 0; /* f32 weights through cblas (arch_forward.c) */
    const int64_t counts[2] = {rows < LC_MATMUL_STREAM_ROWS ? rows : LC_MATMUL_STREAM_ROWS - 1, rows};
    size_t most = 0;
    for (int64_t l = 0; l <= m->cfg.layers; l++) {
        const lc_layer_weights *w = &m->layer[l < m->cfg.layers ? l : 0];
        const lc_linear *ls[] = {&w->q, &w->k, &w->v, &w->o, &w->gate, &w->up, &w->down};
        for (int i = 0; i < (l < m->cfg.layers ? 7 : 1); i++)
            for (int c = 0; c < 2; c++) {
                const lc_linear *one = l < m->cfg.layers ? ls[i] : &m->lm_head;
                lc_matmul d = product(NULL, counts[c], one->in, one, NULL, one->out, threads, activations_f32);
                size_t b = lc_matmul_workspace_size(&d);
                if (b > most) most = b;
            }
    }
    return most;
}

/* Rows of a norm or of the activation per pool task. */
/* Kept keys from which a token's attention runs on an OpenMP team (lc_decode's threads) rather
 * than on the calling thread: 4096 f32 keys of 4 KV heads of 64 are 8 MiB per layer, about a
 * tenth of a 1B model's layer of bf16 weights. */
#define DECODE_TEAM_KEYS 4096
#define ROWS_PER_TASK 8

typedef struct norm_job {
    const lc_model_config *c;
    const float *x, *w;
    float *out;
    int64_t rows;
} norm_job;

static void rms_norm_rows(void *arg, int64_t t, int thread) {
    (void)thread;
    const norm_job *j = arg;
    const int64_t n = j->c->hidden, r1 = (t + 1) * ROWS_PER_TASK < j->rows ? (t + 1) * ROWS_PER_TASK : j->rows;
    const float eps = (float)j->c->norm_eps, one = j->c->norm_unit_offset ? 1.0f : 0.0f;
    for (int64_t r = t * ROWS_PER_TASK; r < r1; r++) {
        const float *xr = j->x + r * n;
        float *o = j->out + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = 1.0f / sqrtf((float)(ss / (double)n) + eps);
        for (int64_t i = 0; i < n; i++) o[i] = (xr[i] * inv) * (j->w[i] + one);
    }
}

/* RMSNorm of rows rows of hidden values, on the context's pool. */
static void rms_norm(lc_context *ctx, const float *x, int64_t rows, const float *w, float *out) {
    norm_job j = {&ctx->model->cfg, x, w, out, rows};
    lc_pool_run(ctx->pool, (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rms_norm_rows, &j);
}

static float activation(lc_activation a, float x) {
    switch (a) {
    case LC_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case LC_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    default: return x / (1.0f + expf(-x));
    }
}

typedef struct act_job {
    lc_activation act;
    float *g;
    const float *u;
    int64_t rows, width;
} act_job;

static void gate_rows(void *arg, int64_t t, int thread) {
    (void)thread;
    const act_job *j = arg;
    const int64_t r1 = (t + 1) * ROWS_PER_TASK < j->rows ? (t + 1) * ROWS_PER_TASK : j->rows;
    for (int64_t i = t * ROWS_PER_TASK * j->width; i < r1 * j->width; i++) j->g[i] = activation(j->act, j->g[i]) * j->u[i];
}

static lc_status run_decode(lc_context *ctx, lc_decode *d) {
    size_t need = lc_decode_workspace_size(d);
    if (!need) return lc_decode_check(d);
    if (need > ctx->decode_ws_bytes) { /* grows with the cache's length, a few times per context at most */
        void *ws = lc_aligned_alloc(need, 64);
        if (!ws) return lc_error(LC_ENOMEM, "decode workspace of %zu bytes", need);
        lc_aligned_free(ctx->decode_ws);
        ctx->decode_ws = ws, ctx->decode_ws_bytes = need;
    }
    return lc_decode_attention(d, ctx->decode_ws, ctx->decode_ws_bytes);
}

lc_status lc_model_gather(lc_context *ctx, const lc_kv_cache *cache, int seq, int64_t *G) {
    const lc_kv_config *g = lc_kv_config_of(cache);
    const int H = g->heads_kv, D = g->head_dim;
    const size_t es = lc_dtype_size(g->dtype), row = (size_t)H * D * es;
    lc_kv_span *sp = ctx->spans;
    int64_t n = 0, at = 0;
    lc_status st = lc_kv_spans(cache, seq, sp, ctx->max_spans, &n);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < sp[i].n; t++, at++)
            for (int h = 0; h < H; h++) {
                const uint8_t *kr = (const uint8_t *)sp[i].k + (size_t)t * row + (size_t)h * D * es;
                const uint8_t *vr = (const uint8_t *)sp[i].v + (size_t)t * row + (size_t)h * D * es;
                float ks = sp[i].k_scale ? sp[i].k_scale[t * H + h] : 0, vs = sp[i].v_scale ? sp[i].v_scale[t * H + h] : 0;
                lc_kv_load_row(ctx->gk + (at * H + h) * D, kr, ks, g->dtype, D);
                lc_kv_load_row(ctx->gv + (at * H + h) * D, vr, vs, g->dtype, D);
            }
    *G = at;
    return LC_OK;
}

/* Attention of one run in layer l: q, k, v rows in ctx->qkv (RoPE applied), out into ctx->att. */
static lc_status attend(lc_context *ctx, int64_t l, const lc_run *r) {
    const lc_model_config *c = &ctx->model->cfg;
    const lc_attn_plan *p = &ctx->attn[l];
    const int64_t Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, KW = Hkv * D;
    float *q = ctx->qkv + r->row * QW, *out = ctx->att + r->row * Hq * D;
    lc_status st;
    if (p->retrieval) return lc_model_attend_retrieval(ctx, l, r, q, out); /* retrieval.c */
    if (r->m == 1 && c->attn_softcap == 0) { /* one token: append, then the decode kernel over the cache */
        if ((st = lc_kv_append(p->cache, r->seq, r->pos, q + Hq * D, q + Hq * D + KW, 1))) return st;
        lc_decode d;
        memset(&d, 0, sizeof d);
        d.cache = p->cache, d.seq = r->seq, d.q = q, d.n_q = 1, d.heads_q = (int)Hq, d.out = out;
        /* lc_decode cuts the keys into ranges of at least 256: no more threads than ranges. Below
         * DECODE_TEAM_KEYS keys it runs on this thread alone: the weight products around it run
         * on the context's pool, and an OpenMP team's idle threads would spin for milliseconds
         * beside the pool's (src/core/pool.c) */
        const int64_t kept = lc_kv_seq_kept(p->cache, r->seq), ranges = (kept + 255) / 256;
        d.scale = (float)c->attn_scale, d.query_f32 = ctx->cfg.query_f32;
        d.threads = kept < DECODE_TEAM_KEYS ? 1 : ranges < ctx->threads ? (int)ranges : ctx->threads;
        return run_decode(ctx, &d);
    }
    if (p->chunk_decode) { /* a prompt chunk: append, then lc_decode over the cache (many queries: its tile products over the pages) */
        float *ck = ctx->gk, *cv = ctx->gv;
        for (int64_t t = 0; t < r->m; t++) {
            memcpy(ck + t * KW, q + t * QW + Hq * D, sizeof(float) * (size_t)KW);
            memcpy(cv + t * KW, q + t * QW + Hq * D + KW, sizeof(float) * (size_t)KW);
        }
        if ((st = lc_kv_append(p->cache, r->seq, r->pos, ck, cv, r->m))) return st;
        /* lc_decode takes the queries packed, [m, Hq, D]: the run's rows of qkv hold them QW
         * apart, and their keys and values are in the cache now, so they are packed in place
         * (row t moves down to t Hq D <= t QW, in increasing t: no row is overwritten unread) */
        for (int64_t t = 1; t < r->m; t++) memmove(q + t * Hq * D, q + t * QW, sizeof(float) * (size_t)(Hq * D));
        lc_decode d;
        memset(&d, 0, sizeof d);
        d.cache = p->cache, d.seq = r->seq, d.q = q, d.n_q = (int)r->m, d.heads_q = (int)Hq, d.out = out;
        d.scale = (float)c->attn_scale, d.query_f32 = ctx->cfg.query_f32, d.threads = ctx->threads;
        return run_decode(ctx, &d);
    }
    /* a prompt chunk (or a soft-capped token): flash over the cache's keys and the chunk's */
    lc_attention a;
    memset(&a, 0, sizeof a);
    a.mask = lc_mask_causal();
    int64_t G = 0;
    float *ck, *cv; /* the chunk's keys and values, contiguous */
    if (p->direct) {
        ck = ctx->gk, cv = ctx->gv;
    } else {
        if ((st = lc_model_gather(ctx, p->cache, r->seq, &G))) return st;
        ck = ctx->gk + G * KW, cv = ctx->gv + G * KW;
    }
    for (int64_t t = 0; t < r->m; t++) {
        memcpy(ck + t * KW, q + t * QW + Hq * D, sizeof(float) * (size_t)KW);
        memcpy(cv + t * KW, q + t * QW + Hq * D + KW, sizeof(float) * (size_t)KW);
    }
    int64_t n_kv;
    if (p->direct) { /* append first, then read the cache where it lies */
        if ((st = lc_kv_append(p->cache, r->seq, r->pos, ck, cv, r->m))) return st;
        lc_kv_span span;
        int64_t ns = 0;
        if ((st = lc_kv_spans(p->cache, r->seq, &span, 1, &ns))) return st;
        n_kv = span.n;
        lc_dtype dt = lc_kv_config_of(p->cache)->dtype;
        a.k = lc_tensor_bshd((void *)span.k, dt, 1, n_kv, Hkv, D);
        a.v = lc_tensor_bshd((void *)span.v, dt, 1, n_kv, Hkv, D);
        a.mask.q_offset = r->pos;
    } else {
        n_kv = G + r->m;
        a.k = lc_tensor_bshd(ctx->gk, LC_F32, 1, n_kv, Hkv, D);
        a.v = lc_tensor_bshd(ctx->gv, LC_F32, 1, n_kv, Hkv, D);
        a.mask.q_offset = G;
        if (p->window > 0) {
            a.mask.window = (lc_mask_window){1, p->window - 1, 0, 0};
            a.mask.sinks = p->sinks;
        }
    }
    a.q = lc_tensor_bshd(q, LC_F32, 1, r->m, Hq, D);
    a.q.stride[1] = QW, a.q.stride[0] = r->m * QW, a.q.capacity = (r->m - 1) * QW + Hq * D;
    a.out = lc_tensor_bshd(out, LC_F32, 1, r->m, Hq, D);
    a.scale = (float)c->attn_scale;
    a.softcap = (float)c->attn_softcap;
    a.threads = ctx->threads;
    if ((st = lc_attention_flash(&a, ctx->flash_ws, ctx->flash_ws_bytes))) return st;
    if (!p->direct) st = lc_kv_append(p->cache, r->seq, r->pos, ck, cv, r->m);
    return st;
}

lc_status lc_llama_forward(lc_context *ctx, const int32_t *tokens, const lc_run *runs, int n_runs, int64_t rows, const int64_t *out_rows,
                           int64_t n_out, float *logits) {
    if (lc_arch_extended(ctx->model->cfg.arch)) return lc_arch_forward(ctx, tokens, runs, n_runs, rows, out_rows, n_out, logits); /* arch_forward.c */
    const lc_model *m = ctx->model;
    const lc_model_config *c = &m->cfg;
    const int64_t H = c->hidden, Hq = c->heads, Hkv = c->kv_heads, D = c->head_dim, QW = (Hq + 2 * Hkv) * D, FF = c->intermediate;
    float *x = ctx->x, *h = ctx->h, *qkv = ctx->qkv, *att = ctx->att, *tmp = ctx->tmp, *g = ctx->gate, *u = ctx->up;
    const float es = (float)c->embed_scale;
    for (int64_t r = 0; r < rows; r++) {
        lc_convert(x + r * H, LC_F32, (const uint8_t *)m->embed + (size_t)((int64_t)tokens[r] * H) * lc_dtype_size(m->embed_dtype), m->embed_dtype,
                   (size_t)H);
        if (es != 1.0f)
            for (int64_t i = 0; i < H; i++) x[r * H + i] *= es;
    }
    lc_status st;
    for (int64_t l = 0; l < c->layers; l++) {
        const lc_layer_weights *w = &m->layer[l];
        rms_norm(ctx, x, rows, w->norm_in, h);
        if ((st = lc_model_linear(ctx, h, rows, H, &w->q, qkv, QW))) return st;
        if ((st = lc_model_linear(ctx, h, rows, H, &w->k, qkv + Hq * D, QW))) return st;
        if ((st = lc_model_linear(ctx, h, rows, H, &w->v, qkv + (Hq + Hkv) * D, QW))) return st;
        for (int i = 0; i < n_runs; i++) {
            const lc_run *r = &runs[i];
            /* q and k heads of the run's rows, one view: [1, m, Hq + Hkv, D] with row stride QW */
            lc_tensor qk = lc_tensor_bshd(qkv + r->row * QW, LC_F32, 1, r->m, Hq + Hkv, D);
            qk.stride[1] = QW, qk.stride[0] = r->m * QW, qk.capacity = (r->m - 1) * QW + (Hq + Hkv) * D;
            if ((st = lc_rope_apply(&ctx->rope, &qk, NULL, r->pos, r->pos + r->m))) return st;
            if ((st = attend(ctx, l, r))) return st;
        }
        if ((st = lc_model_linear(ctx, att, rows, Hq * D, &w->o, tmp, H))) return st;
        if (c->sandwich_norms) rms_norm(ctx, tmp, rows, w->norm_attn_out, tmp);
        for (int64_t i = 0; i < rows * H; i++) x[i] += tmp[i];
        rms_norm(ctx, x, rows, w->norm_mlp_in, h);
        if ((st = lc_model_linear(ctx, h, rows, H, &w->gate, g, FF))) return st;
        if ((st = lc_model_linear(ctx, h, rows, H, &w->up, u, FF))) return st;
        act_job aj = {c->act, g, u, rows, FF};
        lc_pool_run(ctx->pool, (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, gate_rows, &aj);
        if ((st = lc_model_linear(ctx, g, rows, FF, &w->down, tmp, H))) return st;
        if (c->sandwich_norms) rms_norm(ctx, tmp, rows, w->norm_mlp_out, tmp);
        for (int64_t i = 0; i < rows * H; i++) x[i] += tmp[i];
    }
    if (n_out == 0) return LC_OK;
    for (int64_t i = 0; i < n_out; i++) /* the rows whose logits are asked for */
        memcpy(tmp + i * H, x + (out_rows ? out_rows[i] : i) * H, sizeof(float) * (size_t)H);
    rms_norm(ctx, tmp, n_out, m->norm_out, h);
    if (ctx->want_hidden) { /* lc_context_prefill_hidden */
        memcpy(logits, h, sizeof(float) * (size_t)(n_out * H));
        return LC_OK;
    }
    const int64_t V = c->vocab;
    if ((st = lc_model_linear(ctx, h, n_out, H, &m->lm_head, logits, V))) return st;
    if (c->final_softcap > 0) {
        const float cap = (float)c->final_softcap;
        for (int64_t i = 0; i < n_out * V; i++) logits[i] = tanhf(logits[i] / cap) * cap;
    }
    return LC_OK;
}

/* For Jamba's attention layers (arch_forward.c). */
lc_status lc_llama_attend(lc_context *ctx, int64_t l, const lc_run *r) { return attend(ctx, l, r); }
