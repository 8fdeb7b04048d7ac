/* Contexts: the plan (which cache each attention layer gets, how it is read), every scratch
 * buffer allocated once, sequences, and the prefill / decode calls that cut work into
 * forwards of at most max_batch rows (src/model/llama.c runs them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/parse.h"
#include "arch_internal.h"

static lc_kv_config base_kv(const lc_model_config *m, const lc_context_config *c) {
    lc_kv_config k;
    memset(&k, 0, sizeof k);
    k.dtype = c->kv_dtype;
    k.heads_kv = m->kv_heads;
    k.head_dim = m->head_dim;
    k.max_seqs = c->max_seqs;
    return k;
}

/* The window a layer keeps: the model's, narrowed by the override. */
static int64_t layer_window(const lc_model_config *m, const lc_context_config *c, int64_t l) {
    int64_t w = m->layer[l].window;
    if (c->window > 0) w = w > 0 && w < c->window ? w : c->window;
    return w;
}

/* cfg with its zeros replaced by the defaults. */
static lc_context_config resolved(const lc_model *m, const lc_context_config *c) {
    lc_context_config r = *c;
    if (r.max_seqs == 0) r.max_seqs = 1;
    if (r.max_tokens == 0) r.max_tokens = m->cfg.max_pos < 4096 ? m->cfg.max_pos : 4096;
    if (r.max_batch == 0) r.max_batch = 512;
    if (r.max_batch < r.max_seqs) r.max_batch = r.max_seqs;
    if (r.block_size == 0) r.block_size = 16;
    if (r.retrieval.kind == LC_RETRIEVAL_BLOCKS && r.retrieval.block == 0) r.retrieval.block = 64;
    return r;
}

/* The RoPE a context uses: the model's, or the override's scaling on the model's base. */
static lc_rope context_rope(const lc_model *m, const lc_context_config *c, double (*factors)[LC_MODEL_MAX_ROPE_FACTORS]) {
    lc_rope r = lc_model_config_rope(&m->cfg);
    if (!c->rope_override) return r;
    lc_rope o = c->rope;
    o.layout = r.layout, o.head_dim = r.head_dim, o.partial = r.partial, o.theta = r.theta;
    if (o.max_pos == 0) o.max_pos = r.max_pos;
    if (o.original_max_pos == 0) o.original_max_pos = m->cfg.max_pos;
    if (o.type == LC_ROPE_LONGROPE && o.short_factor && o.long_factor) {
        int half = lc_rope_dim(&o) / 2;
        if (half > 0 && half <= LC_MODEL_MAX_ROPE_FACTORS) {
            memcpy(factors[0], o.short_factor, sizeof(double) * (size_t)half);
            memcpy(factors[1], o.long_factor, sizeof(double) * (size_t)half);
            o.short_factor = factors[0], o.long_factor = factors[1];
        }
    }
    return o;
}

lc_status lc_context_config_check(const lc_model *m, const lc_context_config *c) {
    if (!m || !c) return lc_error(LC_EINVAL, "context: model and config must not be NULL");
    const lc_model_config *mc = &m->cfg;
    if (c->max_seqs < 0 || c->max_seqs > 4096) return lc_error(LC_EINVAL, "context.max_seqs=%d must lie in [0, 4096] (0: 1)", c->max_seqs);
    if (c->max_tokens < 0 || c->max_tokens > ((int64_t)1 << 40))
        return lc_error(LC_EINVAL, "context.max_tokens=%lld must lie in [0, 2^40] (0: max_position_embeddings, at most 4096)", (long long)c->max_tokens);
    if (c->max_batch < 0 || c->max_batch > (1 << 20)) return lc_error(LC_EINVAL, "context.max_batch=%lld must lie in [0, 2^20] (0: 512)", (long long)c->max_batch);
    if (c->kv_dtype != LC_F32 && c->kv_dtype != LC_F16 && c->kv_dtype != LC_BF16 && c->kv_dtype != LC_INT8 && c->kv_dtype != LC_FP8) return lc_error(LC_EINVAL, "context.kv_dtype=%d is not a cache dtype", (int)c->kv_dtype);
    if (c->kv_layout != LC_KV_CONTIGUOUS && c->kv_layout != LC_KV_PAGED)
        return lc_error(LC_EINVAL, "context.kv_layout=%s: choose contiguous or paged; ring and sinks caches come from window and sinks",
                        lc_kv_layout_name(c->kv_layout));
    if (c->block_size < 0 || c->block_size > (1 << 16)) return lc_error(LC_EINVAL, "context.block_size=%d must lie in [0, 65536] (0: 16)", c->block_size);
    if (c->window < 0) return lc_error(LC_EINVAL, "context.window=%lld must be >= 0 (0: the model's)", (long long)c->window);
    if (c->sinks < 0) return lc_error(LC_EINVAL, "context.sinks=%lld must be >= 0", (long long)c->sinks);
    if (c->threads < 0) return lc_error(LC_EINVAL, "context.threads=%d must be >= 0 (0: the default)", c->threads);
    int windowed = 0;
    for (int64_t l = 0; l < mc->layers; l++) windowed += layer_window(mc, c, l) > 0;
    if (c->sinks > 0 && !windowed)
        return lc_error(LC_EINVAL, "context.sinks=%lld needs a window: %s has no sliding-window layer, set context.window", (long long)c->sinks,
                        lc_arch_name(mc->arch));
    const lc_retrieval *rv = &c->retrieval;
    if (rv->kind != LC_RETRIEVAL_NONE) {
        const char *name = rv->kind == LC_RETRIEVAL_KNN ? "knn" : "blocks";
        if (rv->kind != LC_RETRIEVAL_KNN && rv->kind != LC_RETRIEVAL_BLOCKS)
            return lc_error(LC_EINVAL, "context.retrieval.kind=%d is none (0), knn (1) or blocks (2)", (int)rv->kind);
        if (rv->top_k < 1 || rv->top_k > ((int64_t)1 << 40))
            return lc_error(LC_EINVAL, "context.retrieval.top_k=%lld must lie in [1, 2^40]", (long long)rv->top_k);
        if (rv->block < 0 || rv->block > ((int64_t)1 << 30))
            return lc_error(LC_EINVAL, "context.retrieval.block=%lld must lie in [0, 2^30] (0: 64)", (long long)rv->block);
        if (!windowed)
            return lc_error(LC_EINVAL, "context.retrieval %s retrieves what a window leaves out: %s has no sliding-window layer, set context.window",
                            name, lc_arch_name(mc->arch));
        if (rv->kind == LC_RETRIEVAL_KNN && c->max_seqs > 1)
            return lc_error(LC_EUNSUPPORTED, "context.retrieval knn keeps one memory per layer: context.max_seqs=%d must be 1", c->max_seqs);
        if (rv->kind == LC_RETRIEVAL_BLOCKS && mc->attn_softcap > 0)
            return lc_error(LC_EUNSUPPORTED, "context.retrieval blocks has no soft-capped scores (%s caps attention at %g)", lc_arch_name(mc->arch),
                            mc->attn_softcap);
    }
    if (c->rope_override) {
        double f[2][LC_MODEL_MAX_ROPE_FACTORS];
        lc_rope r = context_rope(m, c, f);
        lc_status s = lc_rope_check(&r);
        if (s) {
            char why[400];
            snprintf(why, sizeof why, "%s", lc_last_error());
            return lc_error(s, "context.rope (override): %s", why);
        }
    }
    return lc_arch_context_check(m, c); /* Mamba states, MLA caches (arch_context.c) */
}

lc_status lc_retrieval_parse(const char *text, lc_retrieval *out) {
    if (!text || !out) return lc_error(LC_EINVAL, "retrieval: text and out must not be NULL");
    memset(out, 0, sizeof *out);
    char buf[64];
    if (strlen(text) >= sizeof buf) return lc_error(LC_EINVAL, "retrieval '%.40s...' is too long: knn:K or blocks:K[,B]", text);
    snprintf(buf, sizeof buf, "%s", text);
    const int64_t most = (int64_t)1 << 40;
    if (!strcmp(buf, "none")) return LC_OK;
    if (!strncmp(buf, "knn:", 4) && !lc_parse_i64(buf + 4, strlen(buf + 4), 1, most, &out->top_k)) {
        out->kind = LC_RETRIEVAL_KNN;
        return LC_OK;
    }
    if (!strncmp(buf, "blocks:", 7)) {
        char *k = buf + 7, *comma = strchr(k, ',');
        size_t kn = comma ? (size_t)(comma - k) : strlen(k);
        if (!lc_parse_i64(k, kn, 1, most, &out->top_k) && (!comma || !lc_parse_i64(comma + 1, strlen(comma + 1), 1, 1 << 30, &out->block))) {
            out->kind = LC_RETRIEVAL_BLOCKS;
            return LC_OK;
        }
    }
    memset(out, 0, sizeof *out);
    return lc_error(LC_EINVAL, "retrieval '%s': knn:K (the top K evicted keys) or blocks:K[,B] (the top K blocks of B keys, default 64), K and B >= 1",
                    text);
}

void lc_context_destroy(lc_context *ctx) {
    if (!ctx) return;
    lc_arch_context_free(ctx);
    if (ctx->attn)
        for (int64_t l = 0; l < ctx->model->cfg.layers; l++) lc_kv_destroy(ctx->attn[l].cache), lc_knn_memory_destroy(ctx->attn[l].memory);
    free(ctx->attn), free(ctx->seq_alive), free(ctx->seq_len), free(ctx->runs), free(ctx->spans);
    float *bufs[] = {ctx->x, ctx->h, ctx->qkv, ctx->att, ctx->tmp, ctx->gate, ctx->up, ctx->gk, ctx->gv, ctx->lse};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) lc_aligned_free(bufs[i]);
    lc_aligned_free(ctx->flash_ws), lc_aligned_free(ctx->decode_ws), lc_aligned_free(ctx->matmul_ws);
    lc_pool_destroy(ctx->pool);
    free(ctx);
}

static float *scratch(lc_context *ctx, int64_t floats, int *bad) {
    size_t b = (size_t)(floats > 0 ? floats : 1) * sizeof(float);
    float *p = lc_aligned_alloc(b, 64);
    if (!p) *bad = 1;
    else ctx->scratch_bytes += b;
    return p;
}

lc_status lc_context_create(const lc_model *m, const lc_context_config *cfg, lc_context **out) {
    lc_context_config zero;
    memset(&zero, 0, sizeof zero);
    if (!cfg) cfg = &zero;
    lc_status s = lc_context_config_check(m, cfg);
    if (s) return s;
    if (!out) return lc_error(LC_EINVAL, "lc_context_create: out must not be NULL");
    *out = NULL;
    lc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lc_error(LC_ENOMEM, "context");
    const lc_model_config *mc = &m->cfg;
    ctx->model = m;
    ctx->cfg = resolved(m, cfg);
    const lc_context_config *c = &ctx->cfg;
    ctx->rope = context_rope(m, c, ctx->rope_factors);
    ctx->threads = lc_threads_resolve(c->threads);
    ctx->R = c->max_batch;
    ctx->attn = calloc((size_t)mc->layers, sizeof *ctx->attn);
    ctx->seq_alive = calloc((size_t)c->max_seqs, sizeof(int));
    ctx->seq_len = calloc((size_t)c->max_seqs, sizeof(int64_t));
    ctx->runs = calloc((size_t)ctx->R, sizeof(lc_run));
    if (!ctx->attn || !ctx->seq_alive || !ctx->seq_len || !ctx->runs) {
        lc_context_destroy(ctx);
        return lc_error(LC_ENOMEM, "context tables");
    }
    if ((s = lc_pool_create(ctx->threads, &ctx->pool))) {
        lc_context_destroy(ctx);
        return s;
    }
    const int64_t T = c->max_tokens;
    int64_t gather = 0;
    for (int64_t l = 0; l < mc->layers && !s; l++) {
        lc_attn_plan *p = &ctx->attn[l];
        if (mc->layer[l].mixer == LC_MIXER_MLA) { /* the window the latent cache keeps (arch_context.c), for it and the wall */
            p->window = layer_window(mc, c, l), p->sinks = p->window > 0 ? c->sinks : 0;
            continue;
        }
        if (mc->layer[l].mixer != LC_MIXER_ATTENTION) continue; /* Mamba layers: arch_context.c */
        lc_kv_config k = base_kv(mc, c);
        p->window = layer_window(mc, c, l);
        if (p->window > 0) p->retrieval = c->retrieval.kind, p->sinks = c->sinks, p->memory_end = c->sinks;
        if (p->window > 0 && p->retrieval != LC_RETRIEVAL_BLOCKS) { /* ring, or sinks + ring, never larger than the sequence can grow */
            k.layout = p->sinks > 0 ? LC_KV_SINKS : LC_KV_RING;
            k.window = p->window < T ? p->window : T;
            k.sinks = p->sinks < T ? p->sinks : T;
        } else {
            k.layout = c->kv_layout;
            k.capacity = T;
            if (k.layout == LC_KV_PAGED) {
                k.block_size = c->block_size;
                k.num_blocks = (int64_t)c->max_seqs * ((T + c->block_size - 1) / c->block_size); /* every sequence full */
            }
        }
        int plain = c->kv_dtype == LC_F32 || c->kv_dtype == LC_F16 || c->kv_dtype == LC_BF16;
        p->direct = k.layout == LC_KV_CONTIGUOUS && plain && !p->retrieval;
        /* A paged f16 / bf16 cache, every token kept, no soft-capping: a prompt chunk's
         * attention is lc_decode's tile products over the pages, which widen each key tile as
         * flash would, rather than a gather of the whole sequence into f32 then flash.
         * bench/results/prefill.txt (512 new tokens over 4K-16K cached, 2 threads), time of the
         * tiles / of gather + flash: f16 0.92-0.96, bf16 0.81-1.08; f32 1.07-1.13 (flash reads
         * the gathered rows in place, the tiles copy them), int8 1.15-1.18, fp8 1.25-1.36 (rows
         * widened once per query tile rather than once): those gather. */
        p->chunk_decode = k.layout == LC_KV_PAGED && (c->kv_dtype == LC_F16 || c->kv_dtype == LC_BF16) && p->window == 0 && !p->retrieval &&
                          mc->attn_softcap == 0;
        if (!p->direct && !p->chunk_decode) {
            int64_t kept = k.layout == LC_KV_RING ? k.window : k.layout == LC_KV_SINKS ? k.window + k.sinks : T;
            if (kept > gather) gather = kept;
        }
        s = lc_kv_create(&k, &p->cache);
        int64_t spans = k.layout == LC_KV_PAGED ? (T + k.block_size - 1) / k.block_size : 3;
        if (spans > ctx->max_spans) ctx->max_spans = spans;
    }
    if (!s && !(ctx->spans = calloc((size_t)ctx->max_spans, sizeof(lc_kv_span)))) s = lc_error(LC_ENOMEM, "context span table");
    if (s) {
        lc_context_destroy(ctx);
        return s;
    }
    ctx->gather_rows = gather + ctx->R;
    const int64_t R = ctx->R, H = mc->hidden, D = mc->head_dim, Hq = mc->heads, Hkv = mc->kv_heads;
    int bad = 0;
    ctx->x = scratch(ctx, R * H, &bad);
    ctx->h = scratch(ctx, R * H, &bad);
    ctx->qkv = scratch(ctx, R * (Hq + 2 * Hkv) * D, &bad);
    ctx->att = scratch(ctx, R * Hq * D, &bad);
    ctx->tmp = scratch(ctx, R * H, &bad);
    ctx->gate = scratch(ctx, R * mc->intermediate, &bad);
    ctx->up = scratch(ctx, R * mc->intermediate, &bad);
    ctx->gk = scratch(ctx, ctx->gather_rows * Hkv * D, &bad);
    ctx->gv = scratch(ctx, ctx->gather_rows * Hkv * D, &bad);
    ctx->lse = scratch(ctx, R * Hq, &bad);
    if (!bad && Hq > 0) { /* flash's workspace depends on the head dims and threads only */
        lc_attention a;
        memset(&a, 0, sizeof a);
        a.q = lc_tensor_bshd(ctx->att, LC_F32, 1, 1, Hq, D);
        a.k = lc_tensor_bshd(ctx->gk, LC_F32, 1, 1, Hkv, D);
        a.v = lc_tensor_bshd(ctx->gv, LC_F32, 1, 1, Hkv, D);
        a.out = lc_tensor_bshd(ctx->qkv, LC_F32, 1, 1, Hq, D);
        a.threads = ctx->threads;
        ctx->flash_ws_bytes = lc_attention_flash_workspace_size(&a);
        ctx->flash_ws = lc_aligned_alloc(ctx->flash_ws_bytes ? ctx->flash_ws_bytes : 64, 64);
        bad = !ctx->flash_ws || !ctx->flash_ws_bytes;
        ctx->scratch_bytes += ctx->flash_ws_bytes;
    }
    if (!bad) { /* the weight products' (bf16 x, or f16 / bf16 tiles widened for sgemm) */
        ctx->matmul_ws_bytes = lc_model_linear_workspace(m, R, ctx->threads, c->activations_f32);
        if (ctx->matmul_ws_bytes) {
            ctx->matmul_ws = lc_aligned_alloc(ctx->matmul_ws_bytes, 64);
            bad = !ctx->matmul_ws;
            ctx->scratch_bytes += ctx->matmul_ws_bytes;
        }
    }
    if (bad) {
        size_t want = ctx->scratch_bytes;
        lc_context_destroy(ctx);
        return lc_error(LC_ENOMEM, "context scratch for max_batch=%lld rows (%zu bytes allocated before failing)", (long long)R, want);
    }
    if ((s = lc_arch_context_init(ctx))) {
        lc_context_destroy(ctx);
        return s;
    }
    *out = ctx;
    return LC_OK;
}

static lc_status check_seq(const lc_context *ctx, int seq, const char *what) {
    if (!ctx) return lc_error(LC_EINVAL, "%s: context is NULL", what);
    if (seq < 0 || seq >= ctx->cfg.max_seqs || !ctx->seq_alive[seq])
        return lc_error(LC_ERANGE, "%s: sequence %d is not alive in this context (max_seqs=%d)", what, seq, ctx->cfg.max_seqs);
    return LC_OK;
}

lc_status lc_context_seq_new(lc_context *ctx, int *seq) {
    if (!ctx || !seq) return lc_error(LC_EINVAL, "lc_context_seq_new: context and seq must not be NULL");
    int s = -1;
    for (int i = 0; i < ctx->cfg.max_seqs && s < 0; i++)
        if (!ctx->seq_alive[i]) s = i;
    if (s < 0) return lc_error(LC_ENOMEM, "all %d sequences of the context are in use (context.max_seqs)", ctx->cfg.max_seqs);
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        int got = -1;
        if (!ctx->attn[l].cache) continue;
        lc_status st = lc_kv_seq_new(ctx->attn[l].cache, &got);
        if (st) return st;
        if (got != s) return lc_error(LC_EINTERNAL, "layer %lld's cache gave sequence %d, the context expected %d", (long long)l, got, s);
    }
    lc_status st = lc_arch_seq_new(ctx, s);
    if (st) return st;
    ctx->seq_alive[s] = 1, ctx->seq_len[s] = 0;
    *seq = s;
    return LC_OK;
}

lc_status lc_context_seq_fork(lc_context *ctx, int src, int *dst) {
    lc_status st = check_seq(ctx, src, "seq_fork");
    if (st) return st;
    if (!dst) return lc_error(LC_EINVAL, "seq_fork: dst must not be NULL");
    int d = -1;
    for (int i = 0; i < ctx->cfg.max_seqs && d < 0; i++)
        if (!ctx->seq_alive[i]) d = i;
    if (d < 0) return lc_error(LC_ENOMEM, "seq_fork: all %d sequences of the context are in use", ctx->cfg.max_seqs);
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        int got = -1;
        if (!ctx->attn[l].cache) continue;
        if ((st = lc_kv_seq_fork(ctx->attn[l].cache, src, &got))) return st;
        if (got != d) return lc_error(LC_EINTERNAL, "layer %lld's cache forked into %d, the context expected %d", (long long)l, got, d);
    }
    if ((st = lc_arch_seq_fork(ctx, src, d))) return st;
    ctx->seq_alive[d] = 1, ctx->seq_len[d] = ctx->seq_len[src];
    *dst = d;
    return LC_OK;
}

lc_status lc_context_seq_remove(lc_context *ctx, int seq) {
    lc_status st = check_seq(ctx, seq, "seq_remove");
    if (st) return st;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++)
        if (ctx->attn[l].cache && (st = lc_kv_seq_remove(ctx->attn[l].cache, seq))) return st;
    lc_model_retrieval_reset(ctx); /* knn contexts hold one sequence */
    ctx->seq_alive[seq] = 0, ctx->seq_len[seq] = 0;
    return LC_OK;
}

int64_t lc_context_seq_len(const lc_context *ctx, int seq) {
    if (!ctx || seq < 0 || seq >= ctx->cfg.max_seqs || !ctx->seq_alive[seq]) return -1;
    return ctx->seq_len[seq];
}

static lc_status check_tokens(const lc_context *ctx, const int32_t *tokens, int64_t n, const char *what) {
    const int64_t V = ctx->model->cfg.vocab;
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return lc_error(LC_ERANGE, "%s: token %lld is %d, outside the vocabulary [0, %lld)", what, (long long)i, (int)tokens[i], (long long)V);
    return LC_OK;
}

lc_status lc_context_prefill(lc_context *ctx, int seq, const int32_t *tokens, int64_t n, float *logits, int all_logits) {
    lc_status st = check_seq(ctx, seq, "prefill");
    if (st) return st;
    if (!tokens || !logits) return lc_error(LC_EINVAL, "prefill: tokens and logits must not be NULL");
    if (n < 1) return lc_error(LC_EINVAL, "prefill: n=%lld tokens must be >= 1", (long long)n);
    if ((st = check_tokens(ctx, tokens, n, "prefill"))) return st;
    const int64_t len = ctx->seq_len[seq], T = ctx->cfg.max_tokens, V = ctx->model->cfg.vocab;
    if (n > T - len)
        return lc_error(LC_ERANGE, "prefill: %lld tokens after the %lld sequence %d holds pass the context's %lld tokens per sequence "
                        "(lc_context_config.max_tokens)", (long long)n, (long long)len, seq, (long long)T);
    int64_t out_rows[1];
    for (int64_t done = 0; done < n;) {
        int64_t m = n - done < ctx->R ? n - done : ctx->R;
        lc_run run = {seq, len + done, m, 0};
        int last = done + m == n;
        if (all_logits) {
            st = lc_llama_forward(ctx, tokens + done, &run, 1, m, NULL, m, logits + done * (ctx->want_hidden ? ctx->model->cfg.hidden : V));
        } else {
            out_rows[0] = m - 1;
            st = lc_llama_forward(ctx, tokens + done, &run, 1, m, out_rows, last ? 1 : 0, logits);
        }
        if (st) return st;
        ctx->seq_len[seq] += m;
        done += m;
    }
    return LC_OK;
}

lc_status lc_context_prefill_hidden(lc_context *ctx, int seq, const int32_t *tokens, int64_t n, float *hidden) {
    if (ctx && !hidden) return lc_error(LC_EINVAL, "prefill_hidden: hidden must not be NULL");
    if (ctx) ctx->want_hidden = 1;
    lc_status st = lc_context_prefill(ctx, seq, tokens, n, hidden, 1);
    if (ctx) ctx->want_hidden = 0;
    return st;
}

lc_status lc_context_decode(lc_context *ctx, int n, const int *seqs, const int32_t *tokens, float *logits) {
    if (!ctx || !seqs || !tokens || !logits) return lc_error(LC_EINVAL, "decode: context, seqs, tokens and logits must not be NULL");
    if (n < 1 || n > ctx->R) return lc_error(LC_EINVAL, "decode: n=%d sequences must lie in [1, max_batch=%lld]", n, (long long)ctx->R);
    lc_status st = check_tokens(ctx, tokens, n, "decode");
    if (st) return st;
    lc_run *runs = ctx->runs;
    for (int i = 0; i < n; i++) {
        if ((st = check_seq(ctx, seqs[i], "decode"))) return st;
        for (int j = 0; j < i; j++)
            if (seqs[j] == seqs[i]) return lc_error(LC_EINVAL, "decode: sequence %d appears twice (one token per sequence per call)", seqs[i]);
        if (ctx->seq_len[seqs[i]] >= ctx->cfg.max_tokens)
            return lc_error(LC_ERANGE, "decode: sequence %d holds %lld tokens, the context's most per sequence (lc_context_config.max_tokens)",
                            seqs[i], (long long)ctx->seq_len[seqs[i]]);
        runs[i] = (lc_run){seqs[i], ctx->seq_len[seqs[i]], 1, i};
    }
    if ((st = lc_llama_forward(ctx, tokens, runs, n, n, NULL, n, logits))) return st;
    for (int i = 0; i < n; i++) ctx->seq_len[seqs[i]]++;
    return LC_OK;
}

size_t lc_context_cache_bytes(const lc_context *ctx, int seq) {
    if (check_seq(ctx, seq, "cache_bytes")) return 0;
    size_t b = 0;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        const lc_kv_cache *c = ctx->attn[l].cache;
        if (c) b += (size_t)lc_kv_seq_kept(c, seq) * lc_kv_slot_bytes(lc_kv_config_of(c));
        if (ctx->attn[l].memory) b += lc_knn_memory_bytes(ctx->attn[l].memory);
    }
    return b + lc_arch_state_bytes(ctx, seq); /* Mamba states, MLA latents */
}

size_t lc_context_alloc_bytes(const lc_context *ctx) {
    if (!ctx) return 0;
    size_t b = ctx->scratch_bytes + ctx->decode_ws_bytes + lc_arch_alloc_bytes(ctx);
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++)
        if (ctx->attn[l].cache) b += lc_kv_bytes(ctx->attn[l].cache);
    return b;
}

lc_status lc_context_cost_problem(const lc_context *ctx, lc_cost_problem *p, lc_technique *t) {
    if (!ctx || !p || !t) return lc_error(LC_EINVAL, "lc_context_cost_problem: context, p and t must not be NULL");
    const lc_model_config *mc = &ctx->model->cfg;
    if (ctx->cfg.retrieval.kind)
        return lc_error(LC_EUNSUPPORTED, "the wall has no model of retrieval (%s): its bytes are the caches' and the memory's as kept",
                        ctx->cfg.retrieval.kind == LC_RETRIEVAL_KNN ? "a kNN memory" : "block retrieval over full caches");
    lc_model_shape shape = mc->shape;
    int64_t keep = 0, local = 0;
    for (int64_t l = 0; l < mc->layers; l++) {
        const lc_attn_plan *a = &ctx->attn[l];
        int64_t k = a->window + a->sinks;
        if (a->window == 0 || k >= ctx->cfg.max_tokens) continue; /* keeps every token a sequence can have */
        if (keep && k != keep)
            return lc_error(LC_EUNSUPPORTED, "the wall has one window per model; this context's layers keep %lld and %lld tokens", (long long)keep,
                            (long long)k);
        keep = k, local++;
    }
    shape.local_layers = local;
    shape.window = local ? keep : 0;
    lc_cost_defaults(p, &shape);
    p->batch = 1;
    p->cache_dtype = ctx->cfg.kv_dtype;
    p->weight_dtype = LC_F32;
    *t = LC_TECH_NATIVE;
    lc_status st = lc_arch_cost_check(ctx);
    return st ? st : lc_cost_check(p);
}

static const char *rope_name(lc_rope_type t) {
    static const char *n[] = {"default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"};
    return (unsigned)t <= LC_ROPE_LONGROPE ? n[t] : "?";
}

const char *lc_context_describe(const lc_context *ctx, char *buf, size_t cap) {
    if (!buf || !cap) return "";
    if (!ctx) return snprintf(buf, cap, "(no context)"), buf;
    const lc_context_config *c = &ctx->cfg;
    const lc_model_config *mc = &ctx->model->cfg;
    int64_t windowed = 0, lo = 0, hi = 0;
    for (int64_t l = 0; l < mc->layers; l++) {
        int64_t w = ctx->attn[l].window;
        if (w <= 0) continue;
        if (!windowed++) lo = hi = w;
        lo = w < lo ? w : lo, hi = w > hi ? w : hi;
    }
    size_t k = (size_t)snprintf(buf, cap, "kv %s %s", lc_dtype_name(c->kv_dtype), lc_kv_layout_name(c->kv_layout));
    if (k < cap && windowed && lo == hi)
        k += (size_t)snprintf(buf + k, cap - k, ", window %lld on %lld/%lld layers", (long long)lo, (long long)windowed, (long long)mc->layers);
    else if (k < cap && windowed)
        k += (size_t)snprintf(buf + k, cap - k, ", windows %lld..%lld on %lld/%lld layers", (long long)lo, (long long)hi, (long long)windowed,
                              (long long)mc->layers);
    if (k < cap && windowed && !c->sinks && c->retrieval.kind != LC_RETRIEVAL_BLOCKS) k += (size_t)snprintf(buf + k, cap - k, " (ring caches)");
    if (k < cap && c->sinks) k += (size_t)snprintf(buf + k, cap - k, " + %lld sinks", (long long)c->sinks);
    if (k < cap && c->retrieval.kind == LC_RETRIEVAL_KNN)
        k += (size_t)snprintf(buf + k, cap - k, " + kNN memory of evicted keys, top %lld", (long long)c->retrieval.top_k);
    if (k < cap && c->retrieval.kind == LC_RETRIEVAL_BLOCKS)
        k += (size_t)snprintf(buf + k, cap - k, " + top %lld blocks of %lld keys (full caches)", (long long)c->retrieval.top_k, (long long)c->retrieval.block);
    if (k < cap) k += (size_t)snprintf(buf + k, cap - k, ", rope %s", rope_name(ctx->rope.type));
    if (k < cap && ctx->rope.factor > 0) k += (size_t)snprintf(buf + k, cap - k, " x%g", ctx->rope.factor);
    if (k < cap) k += (size_t)snprintf(buf + k, cap - k, "; overrides:");
    int any = 0;
    if (k < cap && c->window > 0) k += (size_t)snprintf(buf + k, cap - k, " window=%lld", (long long)c->window), any = 1;
    if (k < cap && c->sinks > 0) k += (size_t)snprintf(buf + k, cap - k, " sinks=%lld", (long long)c->sinks), any = 1;
    if (k < cap && c->kv_dtype != LC_F32) k += (size_t)snprintf(buf + k, cap - k, " kv-dtype=%s", lc_dtype_name(c->kv_dtype)), any = 1;
    if (k < cap && c->kv_layout != LC_KV_CONTIGUOUS) k += (size_t)snprintf(buf + k, cap - k, " kv-layout=%s", lc_kv_layout_name(c->kv_layout)), any = 1;
    if (k < cap && c->rope_override) {
        k += (size_t)snprintf(buf + k, cap - k, " rope=%s", rope_name(ctx->rope.type));
        if (k < cap && ctx->rope.factor > 0) k += (size_t)snprintf(buf + k, cap - k, ":%g", ctx->rope.factor);
        any = 1;
    }
    if (k < cap && c->retrieval.kind == LC_RETRIEVAL_KNN)
        k += (size_t)snprintf(buf + k, cap - k, " retrieval=knn:%lld", (long long)c->retrieval.top_k), any = 1;
    if (k < cap && c->retrieval.kind == LC_RETRIEVAL_BLOCKS)
        k += (size_t)snprintf(buf + k, cap - k, " retrieval=blocks:%lld,%lld", (long long)c->retrieval.top_k, (long long)c->retrieval.block), any = 1;
    if (k < cap && !any) snprintf(buf + k, cap - k, " none");
    return buf;
}

const lc_model *lc_context_model(const lc_context *ctx) { return ctx ? ctx->model : NULL; }
