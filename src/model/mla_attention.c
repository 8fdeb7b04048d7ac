/* DeepSeek-V2's attention: multi-head latent attention (include/longctx/mla.h) as
 * transformers' DeepseekV2Attention computes it:
 *
 *   q = q_b(RMSNorm(q_a(h)))  (or q_proj(h));   [c | k_pe] = kv_a_proj_with_mqa(h);  c = RMSNorm(c)
 *   q_pe, k_pe rotated on interleaved pairs (lc_rope_apply, GPT-J layout, qk_rope_head_dim)
 *   the latent cache of the sequence gets (c, k_pe); a run of several tokens attends with
 *   lc_mla_prefill, a single token with the absorbed decode (lc_mla_decode)
 *   out = o_proj(attention),  scale (qk_nope + qk_rope)^-1/2
 *
 * The q_a and kv_a norms are DeepseekV2RMSNorm with its default eps 1e-6 (transformers passes
 * no config value to them). */
#include <string.h>

#include "arch_internal.h"

#define MLA_NORM_EPS 1e-6

static lc_status decode(lc_context *ctx, const lc_mla_attention *a) {
    lc_ctx_ext *e = ctx->ext;
    size_t need = lc_mla_decode_workspace_size(a);
    if (need > e->mla_ws_bytes) { /* grows with the cache's length, a few times per context at most */
        void *ws = lc_aligned_alloc(need, 64);
        if (!ws) return lc_error(LC_ENOMEM, "MLA decode workspace of %zu bytes", need);
        lc_aligned_free(e->mla_ws);
        e->mla_ws = ws, e->mla_ws_bytes = need;
    }
    return lc_mla_decode(a, e->mla_ws, e->mla_ws_bytes);
}

lc_status lc_arch_mla(lc_context *ctx, int64_t l, const lc_run *runs, int n_runs, int64_t rows, const float *h, float *out) {
    const lc_model *m = ctx->model;
    const lc_model_config *c = &m->cfg;
    const lc_mla_config *a = &c->mla;
    const lc_mla_weights *w = &m->ext[l].mla;
    lc_ctx_ext *e = ctx->ext;
    lc_layer_state *s = &e->layer[l];
    const int64_t H = c->hidden, NH = c->heads, N = a->nope, P = a->rope, QD = N + P, QW = NH * QD, R = a->rank, KW = R + P, V = a->v_dim;
    if (a->q_rank > 0) {
        lc_arch_linear(h, rows, H, &w->q_a, e->qa, a->q_rank);
        lc_arch_rms_norm(e->qa, rows, a->q_rank, a->q_rank, w->q_norm, MLA_NORM_EPS, e->qa, a->q_rank, ctx->threads);
        lc_arch_linear(e->qa, rows, a->q_rank, &w->q_b, e->q, QW);
    } else {
        lc_arch_linear(h, rows, H, &w->q, e->q, QW);
    }
    lc_arch_linear(h, rows, H, &w->kv_a, e->kv, KW);
    lc_arch_rms_norm(e->kv, rows, KW, R, w->kv_norm, MLA_NORM_EPS, e->kv, KW, ctx->threads);
    lc_status st;
    for (int i = 0; i < n_runs; i++) {
        const lc_run *r = &runs[i];
        /* q_pe: [1, m, heads, rope] inside q's rows; k_pe: [1, m, 1, rope] inside kv's rows */
        lc_tensor qp = lc_tensor_bshd(e->q + r->row * QW + N, LC_F32, 1, r->m, NH, P);
        qp.stride[2] = QD, qp.stride[1] = QW, qp.stride[0] = r->m * QW, qp.capacity = (r->m - 1) * QW + (NH - 1) * QD + P;
        lc_tensor kp = lc_tensor_bshd(e->kv + r->row * KW + R, LC_F32, 1, r->m, 1, P);
        kp.stride[1] = KW, kp.stride[0] = r->m * KW, kp.capacity = (r->m - 1) * KW + P;
        if ((st = lc_rope_apply(&ctx->rope, &qp, NULL, r->pos, r->pos + r->m))) return st;
        if ((st = lc_rope_apply(&ctx->rope, &kp, NULL, r->pos, r->pos + r->m))) return st;
        float *qn = e->qn + r->row * NH * N, *qr = e->qr + r->row * NH * P;
        for (int64_t t = 0; t < r->m; t++) {
            const float *kt = e->kv + (r->row + t) * KW;
            memcpy(e->ck + t * R, kt, sizeof(float) * (size_t)R);
            memcpy(e->kr + t * P, kt + R, sizeof(float) * (size_t)P);
            for (int64_t hd = 0; hd < NH; hd++) {
                const float *qt = e->q + (r->row + t) * QW + hd * QD;
                memcpy(qn + (t * NH + hd) * N, qt, sizeof(float) * (size_t)N);
                memcpy(qr + (t * NH + hd) * P, qt + N, sizeof(float) * (size_t)P);
            }
        }
        /* under a window, chunks of at most W tokens: the cache holds the sinks, the W - 1
         * positions before a chunk and the chunk (arch_context.c sizes it so) */
        lc_mla_cache *cache = s->cache[r->seq];
        const int64_t step = s->mla.window > 0 && s->mla.window < r->m ? s->mla.window : r->m;
        for (int64_t t0 = 0; t0 < r->m; t0 += step) {
            const int64_t k = r->m - t0 < step ? r->m - t0 : step;
            if ((st = lc_mla_cache_append(cache, r->pos + t0, e->ck + t0 * R, e->kr + t0 * P, k))) return st;
            const lc_mla_attention call = {.mla = &s->mla, .cache = cache, .q_nope = qn + t0 * NH * N, .q_rope = qr + t0 * NH * P, .n_q = (int)k,
                                           .out = e->att + (r->row + t0) * NH * V};
            if ((st = k > 1 ? lc_mla_prefill(&call) : decode(ctx, &call))) return st;
        }
    }
    lc_arch_linear(e->att, rows, NH * V, &w->o, out, H);
    return LC_OK;
}
