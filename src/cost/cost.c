/* The cost model: memory, FLOPs and bytes of each technique at context n. The formulas,
 * with their sources, are in docs/cost-model.md; the names below follow it. */
#include <string.h>

#include "longctx/cost.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Bytes of one token's K and V in one layer with kvh KV heads, stored as t: int8 and fp8
 * as longctx's caches hold them (include/longctx/cache.h: one f32 scale per token and head
 * for K and one for V, = lc_kv_slot_bytes); int4, which no longctx cache stores, in groups
 * of `group` values with one fp16 scale (llama.cpp Q4_0); the rest plain. */
static double kv_token_bytes(lc_dtype t, double kvh, double dk, double dv, int64_t group) {
    if (t == LC_INT8 || t == LC_FP8) return kvh * ((dk + dv) * 1.0 + 2.0 * 4.0);
    if (t == LC_INT4) return kvh * (dk + dv) * (0.5 + 2.0 / (double)group);
    return kvh * (dk + dv) * lc_dtype_bytes(t);
}

void lc_cost_defaults(lc_cost_problem *p, const lc_model_shape *m) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    if (!m) return; /* an all-zero problem: lc_cost_check refuses it */
    p->model = *m;
    p->batch = 1;
    p->score_dtype = LC_F32;
    p->cache_dtype = LC_BF16;
    p->weight_dtype = LC_BF16;
    p->quant_dtype = LC_INT4;
    p->quant_group = 32;
    p->window = m->window > 0 ? m->window : 4096;
    p->gqa_kv_heads = m->kv_heads;
    if (m->heads > 0 && m->kv_heads >= m->heads) { /* a multi-head model: the largest divisor of heads <= 8 */
        p->gqa_kv_heads = 1;
        for (int64_t k = 8; k >= 1; k--)
            if (m->heads % k == 0) { p->gqa_kv_heads = k; break; }
    }
    p->lf_window = 256;
    p->lf_global = 16;
    p->bb_block = 64;
    p->bb_window = 1;
    p->bb_global = 2;
    p->bb_random = 3;
    p->mla_rank = m->kv_lora_rank > 0 ? m->kv_lora_rank : 4 * m->head_dim_k;
    p->mla_rope = m->kv_lora_rank > 0 ? m->qk_rope_dim : m->head_dim_k / 2;
    p->mamba_state = m->ssm_state > 0 ? m->ssm_state : 16;
}

#define POS(f) \
    if (p->f <= 0) return lc_error(LC_EINVAL, "cost: " #f "=%lld must be positive", (long long)p->f)

lc_status lc_cost_check(const lc_cost_problem *p) {
    if (!p) return lc_error(LC_EINVAL, "cost problem is NULL");
    lc_status s = lc_model_check(&p->model);
    if (s) return s;
    POS(batch);
    if (p->batch > ((int64_t)1 << 24)) return lc_error(LC_EINVAL, "cost: batch=%lld is absurd (more than 2^24)", (long long)p->batch);
    const lc_dtype *dt[] = {&p->score_dtype, &p->cache_dtype, &p->weight_dtype, &p->quant_dtype};
    const char *dn[] = {"score_dtype", "cache_dtype", "weight_dtype", "quant_dtype"};
    for (int i = 0; i < 4; i++)
        if (lc_dtype_bytes(*dt[i]) == 0) return lc_error(LC_EINVAL, "cost: %s=%d is not a known dtype", dn[i], (int)*dt[i]);
    POS(quant_group);
    POS(window);
    POS(lf_window);
    if (p->lf_global < 0) return lc_error(LC_EINVAL, "cost: lf_global=%lld must not be negative", (long long)p->lf_global);
    POS(bb_block);
    if (p->bb_window < 0 || p->bb_global < 0 || p->bb_random < 0)
        return lc_error(LC_EINVAL, "cost: bb_window=%lld, bb_global=%lld and bb_random=%lld must not be negative", (long long)p->bb_window,
                        (long long)p->bb_global, (long long)p->bb_random);
    POS(mamba_state);
    if (p->model.attn_layers > 0) {
        POS(mla_rank);
        if (p->mla_rope < 0) return lc_error(LC_EINVAL, "cost: mla_rope=%lld must not be negative", (long long)p->mla_rope);
        if (p->gqa_kv_heads <= 0 || p->model.heads % p->gqa_kv_heads)
            return lc_error(LC_EINVAL, "cost: gqa_kv_heads=%lld must divide heads=%lld", (long long)p->gqa_kv_heads, (long long)p->model.heads);
    }
    return LC_OK;
}

int lc_cost_applies(const lc_cost_problem *p, lc_technique t) {
    if (!p || (unsigned)t >= LC_TECH_COUNT) return 0;
    if (t == LC_TECH_NATIVE || t == LC_TECH_MAMBA) return 1;
    return p->model.attn_layers > 0;
}

/* One group of attention layers that share a pattern. */
typedef struct attn_group {
    double layers;
    double pairs;      /* prefill pairs per head */
    double cache_tok;  /* tokens held per layer */
    double keys;       /* keys the decode query reads per head */
} attn_group;

lc_status lc_cost_eval(const lc_cost_problem *p, lc_technique t, int64_t n, lc_cost_row *out) {
    lc_status s = lc_cost_check(p);
    if (s) return s;
    if (!out) return lc_error(LC_EINVAL, "cost: out must not be NULL");
    if ((unsigned)t >= LC_TECH_COUNT) return lc_error(LC_EINVAL, "cost: technique=%d is unknown", (int)t);
    if (n <= 0 || n > LC_COST_MAX_TOKENS)
        return lc_error(LC_EINVAL, "cost: context n=%lld must be in [1, %lld]", (long long)n, (long long)LC_COST_MAX_TOKENS);
    if (!lc_cost_applies(p, t))
        return lc_error(LC_EUNSUPPORTED, "cost: technique %s needs attention heads, model %s has none", lc_technique_name(t), p->model.name);
    const lc_model_shape *m = &p->model;
    memset(out, 0, sizeof *out);
    double B = (double)p->batch, N = (double)n, H = (double)m->heads;
    double dk = (double)m->head_dim_k, dv = (double)m->head_dim_v;
    double cb = lc_dtype_bytes(p->cache_dtype), sb = lc_dtype_bytes(p->score_dtype);
    double kvh = (double)m->kv_heads;
    /* bytes of one token's cache in one layer; FLOPs per (query, key) pair per head */
    int mla = (t == LC_TECH_MLA) || (t == LC_TECH_NATIVE && m->kv_lora_rank > 0);
    double rank = (double)p->mla_rank, rope = (double)p->mla_rope;
    if (t == LC_TECH_MHA) kvh = H;
    if (t == LC_TECH_GQA) kvh = (double)p->gqa_kv_heads;
    if (t == LC_TECH_MQA) kvh = 1;
    double tok_bytes = kv_token_bytes(t == LC_TECH_KV_QUANT ? p->quant_dtype : p->cache_dtype, kvh, dk, dv, p->quant_group);
    if (mla) /* the latent cache as lc_mla_cache holds it: int8 and fp8 with one f32 scale for c_kv and one for k_rope */
        tok_bytes = (rank + rope) * cb + (p->cache_dtype == LC_INT8 || p->cache_dtype == LC_FP8 ? 2.0 * 4.0 : 0.0);
    double pair_flops = 2 * (dk + dv);                  /* q.k over dk, p*v over dv */
    double decode_pair_flops = mla ? 2 * (rank + rope) + 2 * rank : pair_flops; /* MLA absorbed (DeepSeek-V2 Sec. 2.1.2) */

    /* attention layers, in at most two groups (global and windowed) */
    double La = (double)m->attn_layers, Ls = (double)(m->layers - m->attn_layers);
    attn_group g[2];
    memset(g, 0, sizeof g);
    int recurrent_attn = 0; /* linear attention: a state instead of a cache */
    switch (t) {
    case LC_TECH_NATIVE:
        g[0] = (attn_group){La - (double)m->local_layers, lc_pairs_causal(n), N, N};
        if (m->local_layers > 0) {
            double w = (double)min64(n, m->window);
            g[1] = (attn_group){(double)m->local_layers, lc_pairs_sliding(n, m->window), w, w};
        }
        break;
    case LC_TECH_STANDARD: g[0] = (attn_group){La, N * N, N, N}; break; /* eager: the whole QK^T, masked after */
    case LC_TECH_SLIDING: {
        double w = (double)min64(n, p->window);
        g[0] = (attn_group){La, lc_pairs_sliding(n, p->window), w, w};
        break;
    }
    case LC_TECH_LONGFORMER: {
        double w = (double)min64(n, p->lf_window + 1 + p->lf_global);
        g[0] = (attn_group){La, lc_pairs_longformer(n, p->lf_window, p->lf_global), w, w};
        break;
    }
    case LC_TECH_BIGBIRD: {
        double k = (double)min64(n, (p->bb_global + p->bb_window + 1 + p->bb_random) * p->bb_block);
        g[0] = (attn_group){La, lc_pairs_bigbird(n, p->bb_block, p->bb_window, p->bb_global, p->bb_random), N, k};
        break;
    }
    case LC_TECH_LINEAR: recurrent_attn = 1; break;
    case LC_TECH_MAMBA: Ls += La, La = 0; break;
    default: g[0] = (attn_group){La, lc_pairs_causal(n), N, N}; break; /* flash, mha, gqa, mqa, mla, kv-quant */
    }

    for (int i = 0; i < 2; i++) {
        out->pairs += La > 0 ? g[i].layers * g[i].pairs / La : 0; /* averaged over the attention layers */
        out->cache_bytes += B * g[i].layers * g[i].cache_tok * tok_bytes;
        out->prefill_flops += B * g[i].layers * H * g[i].pairs * pair_flops;
        out->decode_flops += B * g[i].layers * H * g[i].keys * decode_pair_flops;
        out->decode_bytes += B * g[i].layers * g[i].keys * tok_bytes;
    }
    if (recurrent_attn) { /* Katharopoulos et al. 2020, Eq. 4-6: S += phi(k) v^T, z += phi(k); y = phi(q)S / phi(q)z */
        double state = B * La * H * (dk * dv + dk) * cb, per_token = B * La * H * (4 * dk * dv + 4 * dk);
        out->cache_bytes += state;
        out->prefill_flops += per_token * N;
        out->decode_flops += per_token;
        out->decode_bytes += state;
    }
    if (Ls > 0) { /* Mamba (Gu & Dao 2023, Alg. 2): h = exp(dA) h + dB x, y = C h; causal conv1d of width d_conv */
        double inner = (double)(m->ssm_inner > 0 ? m->ssm_inner : 2 * m->hidden);
        double dstate = (double)(m->ssm_inner > 0 ? m->ssm_state : p->mamba_state);
        double conv = (double)(m->ssm_inner > 0 ? m->ssm_conv : 4);
        double conv_dim = m->ssm_inner > 0 && m->ssm_conv_dim > 0 ? (double)m->ssm_conv_dim : inner; /* Mamba-2: x, B and C */
        double state = B * Ls * (inner * dstate + conv_dim * (conv - 1)) * cb, per_token = B * Ls * (8 * inner * dstate + 2 * conv * conv_dim);
        out->cache_bytes += state;
        out->prefill_flops += per_token * N;
        out->decode_flops += per_token;
        out->decode_bytes += state;
    }
    double heads_total = La > 0 && !recurrent_attn ? B * H * N : 0;
    if (t == LC_TECH_STANDARD) {
        out->score_matrix_bytes = N * N * sb;
        out->score_layer_bytes = B * H * N * N * sb;
        out->score_model_bytes = La * out->score_layer_bytes;
        out->workspace_bytes = out->score_layer_bytes;
    } else {
        out->workspace_bytes = heads_total * 4; /* fp32 row max and sum (or lse) per query row and head */
    }
    double wb = lc_dtype_bytes(p->weight_dtype);
    double used = B * m->active_params < m->params ? B * m->active_params : m->params; /* MoE: experts touched */
    out->weight_bytes = m->params * wb;
    out->total_bytes = out->weight_bytes + out->cache_bytes + out->workspace_bytes;
    out->prefill_flops += 2 * m->active_params * N * B;
    out->decode_flops += 2 * m->active_params * B;
    out->decode_bytes += used * wb;
    return LC_OK;
}

lc_status lc_cost_max_context(const lc_cost_problem *p, lc_technique t, double device_bytes, int64_t *n_out) {
    if (!n_out) return lc_error(LC_EINVAL, "cost: n_out must not be NULL");
    if (!(device_bytes > 0) || !(device_bytes < 1e30)) return lc_error(LC_EINVAL, "cost: device memory %g bytes must be positive", device_bytes);
    lc_cost_row r;
    lc_status s = lc_cost_eval(p, t, 1, &r);
    if (s) return s;
    if (r.total_bytes > device_bytes) return *n_out = 0, LC_OK;
    lc_cost_eval(p, t, LC_COST_MAX_TOKENS, &r);
    if (r.total_bytes <= device_bytes) return *n_out = -1, LC_OK;
    int64_t lo = 1, hi = LC_COST_MAX_TOKENS; /* total(lo) fits, total(hi) does not; memory grows with n */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        lc_cost_eval(p, t, mid, &r);
        if (r.total_bytes <= device_bytes) lo = mid; else hi = mid;
    }
    return *n_out = lo, LC_OK;
}
