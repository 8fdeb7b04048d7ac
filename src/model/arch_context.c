/* A context's recurrent states and latent caches: per Mamba / Mamba-2 layer the conv and SSM
 * states of every sequence (f32, fixed size, zeroed by seq_new, copied by fork), per MLA layer
 * one lc_mla_cache per sequence (max_tokens latents, in the context's kv_dtype), and the
 * scratch of the MLA and MoE layers for max_batch rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_internal.h"

static int has_mixer(const lc_model_config *c, lc_mixer k) {
    for (int64_t l = 0; l < c->layers; l++)
        if (c->layer[l].mixer == k) return 1;
    return 0;
}

lc_status lc_arch_context_check(const lc_model *m, const lc_context_config *c) {
    const lc_model_config *mc = &m->cfg;
    if (!lc_arch_extended(mc->arch)) return LC_OK;
    const char *name = lc_arch_name(mc->arch);
    int mla = has_mixer(mc, LC_MIXER_MLA), ssm = has_mixer(mc, LC_MIXER_MAMBA) || has_mixer(mc, LC_MIXER_MAMBA2);
    int attention = has_mixer(mc, LC_MIXER_ATTENTION);
    if (mla && c->retrieval.kind)
        return lc_error(LC_EUNSUPPORTED, "context.retrieval: %s's MLA layers have no retrieval beside their window", name);
    if (!attention && !mla && (c->window > 0 || c->sinks > 0))
        return lc_error(LC_EINVAL, "context.window / sinks: %s has no attention layer to window (its Mamba states are fixed in size)", name);
    if (ssm && !attention && !mla && c->kv_dtype != LC_F32)
        return lc_error(LC_EINVAL, "context.kv_dtype=%s: %s has no KV cache; its Mamba states are f32", lc_dtype_name(c->kv_dtype), name);
    if (ssm && !attention && !mla && c->kv_layout != LC_KV_CONTIGUOUS)
        return lc_error(LC_EINVAL, "context.kv_layout=%s: %s has no KV cache", lc_kv_layout_name(c->kv_layout), name);
    if (c->rope_override && mc->no_rope) return lc_error(LC_EINVAL, "context.rope: %s uses no RoPE", name);
    return LC_OK;
}

static float *alloc_f(int64_t floats, size_t *count, int *bad) {
    size_t b = (size_t)(floats > 0 ? floats : 1) * sizeof(float);
    float *p = lc_aligned_alloc(b, 64);
    if (!p) *bad = 1;
    else *count += b;
    return p;
}

void lc_arch_context_free(lc_context *ctx) {
    lc_ctx_ext *e = ctx ? ctx->ext : NULL;
    if (!e) return;
    const lc_model_config *mc = &ctx->model->cfg;
    if (e->layer)
        for (int64_t l = 0; l < mc->layers; l++) {
            lc_layer_state *s = &e->layer[l];
            lc_aligned_free(s->conv), lc_aligned_free(s->ssm);
            if (s->cache)
                for (int i = 0; i < ctx->cfg.max_seqs; i++) lc_mla_cache_destroy(s->cache[i]);
            free(s->cache);
        }
    free(e->layer);
    float *bufs[] = {e->q, e->qa, e->kv, e->qn, e->qr, e->ck, e->kr, e->att, e->probs, e->wts, e->xs, e->gs, e->us, e->ys};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) lc_aligned_free(bufs[i]);
    lc_aligned_free(e->mla_ws);
    free(e->idx), free(e->rows);
    free(e);
    ctx->ext = NULL;
}

lc_status lc_arch_context_init(lc_context *ctx) {
    const lc_model *m = ctx->model;
    const lc_model_config *mc = &m->cfg;
    if (!lc_arch_extended(mc->arch)) return LC_OK;
    lc_ctx_ext *e = calloc(1, sizeof *e);
    if (!e) return lc_error(LC_ENOMEM, "context states");
    ctx->ext = e;
    const int S = ctx->cfg.max_seqs;
    const int64_t R = ctx->R, H = mc->hidden;
    e->layer = calloc((size_t)mc->layers, sizeof *e->layer);
    if (!e->layer) return lc_error(LC_ENOMEM, "context states");
    int bad = 0;
    lc_status st = LC_OK;
    for (int64_t l = 0; l < mc->layers && !bad && !st; l++) {
        lc_layer_state *s = &e->layer[l];
        const lc_layer_ext *x = &m->ext[l];
        switch (mc->layer[l].mixer) {
        case LC_MIXER_MAMBA:
        case LC_MIXER_MAMBA2: {
            int m2 = mc->layer[l].mixer == LC_MIXER_MAMBA2;
            s->conv_floats = m2 ? lc_mamba2_conv_state_floats(&x->mamba2, 1) : lc_mamba_conv_state_floats(&x->mamba, 1);
            s->ssm_floats = m2 ? lc_mamba2_ssm_state_floats(&x->mamba2, 1) : lc_mamba_ssm_state_floats(&x->mamba, 1);
            s->conv = alloc_f(S * s->conv_floats, &e->state_bytes, &bad);
            s->ssm = alloc_f(S * s->ssm_floats, &e->state_bytes, &bad);
            break;
        }
        case LC_MIXER_MLA: {
            const lc_mla_config *a = &mc->mla;
            /* f32 paths, as the llama family's flash and decode: fast_decode is 14-23x the float64
             * rows at 4K-128K tokens, fast_prefill 1.5x (docs/mla.md); both within 2e-6 of
             * transformers on the fixture */
            const int64_t W = ctx->attn[l].window, T = ctx->cfg.max_tokens;
            s->mla = (lc_mla){mc->heads, a->rank, a->nope, a->rope, a->v_dim, x->mla.w_uk, x->mla.w_uv, (float)mc->attn_scale,
                              ctx->threads, ctx->cfg.kv_dtype, 1, 1, W, ctx->attn[l].sinks,
                              ctx->cfg.kv_layout == LC_KV_PAGED ? ctx->cfg.block_size : 0};
            /* under a window, lc_arch_mla attends in chunks of at most W tokens: the sinks, the
             * W - 1 positions before a chunk and the chunk */
            const int64_t rows = W > 0 && ctx->attn[l].sinks + 2 * W < T ? ctx->attn[l].sinks + 2 * W : T;
            s->cache = calloc((size_t)S, sizeof *s->cache);
            if (!s->cache) bad = 1;
            for (int i = 0; i < S && !bad && !st; i++) {
                st = lc_mla_cache_create(&s->mla, rows, &s->cache[i]);
            }
            break;
        }
        default: break;
        }
    }
    if (st) return st;
    if (has_mixer(mc, LC_MIXER_MLA)) {
        const lc_mla_config *a = &mc->mla;
        const int64_t NH = mc->heads;
        e->q = alloc_f(R * NH * (a->nope + a->rope), &e->scratch_bytes, &bad);
        e->qa = alloc_f(R * a->q_rank, &e->scratch_bytes, &bad);
        e->kv = alloc_f(R * (a->rank + a->rope), &e->scratch_bytes, &bad);
        e->qn = alloc_f(R * NH * a->nope, &e->scratch_bytes, &bad);
        e->qr = alloc_f(R * NH * a->rope, &e->scratch_bytes, &bad);
        e->ck = alloc_f(R * a->rank, &e->scratch_bytes, &bad);
        e->kr = alloc_f(R * a->rope, &e->scratch_bytes, &bad);
        e->att = alloc_f(R * NH * a->v_dim, &e->scratch_bytes, &bad);
    }
    if (mc->moe.experts > 0) {
        const lc_moe_config *o = &mc->moe;
        int64_t inter = o->inter * (o->shared > 1 ? o->shared : 1);
        e->probs = alloc_f(R * o->experts, &e->scratch_bytes, &bad);
        e->wts = alloc_f(R * o->top_k, &e->scratch_bytes, &bad);
        e->xs = alloc_f(R * H, &e->scratch_bytes, &bad);
        e->gs = alloc_f(R * inter, &e->scratch_bytes, &bad);
        e->us = alloc_f(R * inter, &e->scratch_bytes, &bad);
        e->ys = alloc_f(R * H, &e->scratch_bytes, &bad);
        e->idx = malloc(sizeof(int) * (size_t)(R * o->top_k));
        e->rows = malloc(sizeof(int64_t) * (size_t)R);
        if (!e->idx || !e->rows) bad = 1;
        else e->scratch_bytes += sizeof(int) * (size_t)(R * o->top_k) + sizeof(int64_t) * (size_t)R;
    }
    if (bad) return lc_error(LC_ENOMEM, "context states and scratch (%zu + %zu bytes allocated before failing)", e->state_bytes, e->scratch_bytes);
    return LC_OK;
}

lc_status lc_arch_seq_new(lc_context *ctx, int seq) {
    lc_ctx_ext *e = ctx->ext;
    if (!e) return LC_OK;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        lc_layer_state *s = &e->layer[l];
        if (s->conv) memset(s->conv + seq * s->conv_floats, 0, sizeof(float) * (size_t)s->conv_floats);
        if (s->ssm) memset(s->ssm + seq * s->ssm_floats, 0, sizeof(float) * (size_t)s->ssm_floats);
        if (s->cache) lc_mla_cache_reset(s->cache[seq]);
    }
    return LC_OK;
}

lc_status lc_arch_seq_fork(lc_context *ctx, int src, int dst) {
    lc_ctx_ext *e = ctx->ext;
    if (!e) return LC_OK;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        lc_layer_state *s = &e->layer[l];
        if (s->conv) memcpy(s->conv + dst * s->conv_floats, s->conv + src * s->conv_floats, sizeof(float) * (size_t)s->conv_floats);
        if (s->ssm) memcpy(s->ssm + dst * s->ssm_floats, s->ssm + src * s->ssm_floats, sizeof(float) * (size_t)s->ssm_floats);
        if (s->cache) {
            lc_status st = lc_mla_cache_copy(s->cache[dst], s->cache[src]);
            if (st) return st;
        }
    }
    return LC_OK;
}

size_t lc_arch_state_bytes(const lc_context *ctx, int seq) {
    const lc_ctx_ext *e = ctx->ext;
    if (!e) return 0;
    size_t b = 0;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) {
        const lc_layer_state *s = &e->layer[l];
        b += sizeof(float) * (size_t)(s->conv ? s->conv_floats : 0) + sizeof(float) * (size_t)(s->ssm ? s->ssm_floats : 0);
        if (s->cache) b += (size_t)lc_mla_cache_rows(s->cache[seq]) * lc_mla_token_bytes(&s->mla);
    }
    return b;
}

size_t lc_arch_alloc_bytes(const lc_context *ctx) {
    const lc_ctx_ext *e = ctx->ext;
    if (!e) return 0;
    size_t b = e->state_bytes + e->scratch_bytes + e->mla_ws_bytes;
    for (int64_t l = 0; l < ctx->model->cfg.layers; l++) /* latent caches as they hold now (paged ones grow) */
        for (int i = 0; e->layer[l].cache && i < ctx->cfg.max_seqs; i++) b += lc_mla_cache_bytes(e->layer[l].cache[i]);
    return b;
}

lc_status lc_arch_cost_check(const lc_context *ctx) {
    const lc_model_config *mc = &ctx->model->cfg;
    int ssm = has_mixer(mc, LC_MIXER_MAMBA) || has_mixer(mc, LC_MIXER_MAMBA2);
    if (ssm && ctx->cfg.kv_dtype != LC_F32)
        return lc_error(LC_EUNSUPPORTED, "the wall has one dtype for caches and states; this context keeps Mamba states in f32 and its KV cache in %s",
                        lc_dtype_name(ctx->cfg.kv_dtype));
    return LC_OK;
}
