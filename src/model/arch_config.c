/* config.json of Mamba, Mamba-2, Jamba and DeepSeek-V2: the fields beyond the llama family's,
 * with transformers' defaults (MambaConfig, Mamba2Config, JambaConfig, DeepseekV2Config). The
 * shape and which layers are Mamba come from the wall's reader as for every type. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arch_internal.h"

int lc_arch_extended(lc_arch a) { return a >= LC_ARCH_MAMBA && a <= LC_ARCH_DEEPSEEK_V2; }

typedef struct rd {
    const cJSON *root;
    const char *label;
    lc_status status;
} rd;

static const cJSON *get(const rd *r, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r->root, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static double num(rd *r, const char *name, double dflt) {
    const cJSON *f = get(r, name);
    if (!f || r->status) return dflt;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be a number", r->label, name);
        return dflt;
    }
    return f->valuedouble;
}

/* An integer >= lo; absent: dflt. */
static int64_t count(rd *r, const char *name, int64_t dflt, int64_t lo) {
    double v = num(r, name, (double)dflt);
    if (!r->status && (v < (double)lo || v > 1e12 || v != floor(v))) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s'=%g must be an integer >= %lld", r->label, name, v, (long long)lo);
        return dflt;
    }
    return (int64_t)v;
}

static int flag(rd *r, const char *name, int dflt) {
    const cJSON *f = get(r, name);
    if (!f || r->status) return dflt;
    if (!cJSON_IsBool(f)) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be true or false", r->label, name);
        return dflt;
    }
    return cJSON_IsTrue(f);
}

/* time_step_rank / mamba_dt_rank: a number or "auto" (ceil(hidden / 16)). */
static int64_t dt_rank(rd *r, const char *name, int64_t hidden) {
    const cJSON *f = get(r, name);
    if (f && cJSON_IsString(f) && !strcmp(f->valuestring, "auto")) return (hidden + 15) / 16;
    return count(r, name, (hidden + 15) / 16, 1);
}

/* A number of time_step_limit: a JSON number, or transformers' {"__float__": "Infinity"}. */
static double limit_value(rd *r, const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    const cJSON *f = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "__float__") : cJSON_IsString(v) ? v : NULL;
    const char *t = f && cJSON_IsString(f) ? f->valuestring : "";
    if (!strcmp(t, "Infinity") || !strcmp(t, "inf")) return INFINITY;
    if (!strcmp(t, "-Infinity") || !strcmp(t, "-inf")) return -INFINITY;
    if (!r->status) r->status = lc_error(LC_EFORMAT, "%s: field 'time_step_limit' must hold two numbers", r->label);
    return 0;
}

/* Field defaults of the type where config.json lacks them (the llama family's reading ran first). */
static void defaults(rd *r, lc_model_config *c, int64_t vocab, int64_t inter, double eps, const char *eps_name, int tie) {
    if (!get(r, "vocab_size")) c->vocab = vocab;
    if (!get(r, "intermediate_size")) c->intermediate = inter;
    c->norm_eps = num(r, eps_name, eps);
    if (!r->status && !(c->norm_eps >= 0)) r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be >= 0", r->label, eps_name);
    c->tie_embeddings = flag(r, "tie_word_embeddings", tie);
}

static void read_mamba(rd *r, lc_model_config *c) {
    lc_ssm_config *s = &c->ssm;
    s->inner = c->shape.ssm_inner, s->state = c->shape.ssm_state, s->conv = c->shape.ssm_conv;
    if (c->arch == LC_ARCH_MAMBA2) {
        s->heads = count(r, "num_heads", 128, 1);
        s->head_dim = count(r, "head_dim", 64, 1);
        s->groups = count(r, "n_groups", 8, 1);
        s->chunk = count(r, "chunk_size", 256, 1);
        if (!r->status && s->heads * s->head_dim != s->inner)
            r->status = lc_error(LC_EFORMAT, "%s: num_heads=%lld x head_dim=%lld must equal expand x hidden_size=%lld", r->label, (long long)s->heads,
                                 (long long)s->head_dim, (long long)s->inner);
        if (!r->status && s->heads % s->groups)
            r->status = lc_error(LC_EFORMAT, "%s: n_groups=%lld must divide num_heads=%lld", r->label, (long long)s->groups, (long long)s->heads);
        const cJSON *lim = get(r, "time_step_limit");
        if (lim) {
            if (!cJSON_IsArray(lim) || cJSON_GetArraySize(lim) != 2) {
                if (!r->status) r->status = lc_error(LC_EFORMAT, "%s: field 'time_step_limit' must hold two numbers", r->label);
            } else {
                double lo = limit_value(r, cJSON_GetArrayItem(lim, 0)), hi = limit_value(r, cJSON_GetArrayItem(lim, 1));
                if (!r->status && !(lo >= 0 && hi > lo)) r->status = lc_error(LC_EFORMAT, "%s: time_step_limit (%g, %g) is not a range", r->label, lo, hi);
                if (!(lo == 0 && isinf(hi))) s->dt_min = lo, s->dt_max = hi; /* (0, inf): no clamp */
            }
        }
    } else {
        s->dt_rank = dt_rank(r, c->arch == LC_ARCH_JAMBA ? "mamba_dt_rank" : "time_step_rank", c->hidden);
    }
    int jamba = c->arch == LC_ARCH_JAMBA;
    s->conv_bias = flag(r, jamba ? "mamba_conv_bias" : "use_conv_bias", 1);
    s->proj_bias = flag(r, jamba ? "mamba_proj_bias" : "use_bias", 0);
    s->inner_norms = jamba;
}

static void read_moe(rd *r, lc_model_config *c) {
    lc_moe_config *e = &c->moe;
    int ds = c->arch == LC_ARCH_DEEPSEEK_V2;
    e->experts = (int)count(r, ds ? "n_routed_experts" : "num_experts", ds ? 0 : 16, 0);
    e->top_k = (int)count(r, "num_experts_per_tok", ds ? 0 : 2, 0);
    e->scale = 1;
    if (ds) {
        e->shared = (int)count(r, "n_shared_experts", 0, 0);
        e->inter = count(r, "moe_intermediate_size", 1407, 1);
        e->scale = num(r, "routed_scaling_factor", 1.0);
        const cJSON *tm = get(r, "topk_method");
        const char *method = tm && cJSON_IsString(tm) ? tm->valuestring : "greedy";
        if (!strcmp(method, "group_limited_greedy")) {
            e->groups = (int)count(r, "n_group", 1, 1);
            e->topk_groups = (int)count(r, "topk_group", 1, 1);
            if (!r->status && (e->experts % e->groups || e->topk_groups > e->groups))
                r->status = lc_error(LC_EFORMAT, "%s: n_group=%d must divide n_routed_experts=%d and be >= topk_group=%d", r->label, e->groups,
                                     e->experts, e->topk_groups);
        } else if (strcmp(method, "greedy") && !r->status) {
            r->status = lc_error(LC_EUNSUPPORTED, "%s: topk_method '%s' is not one longctx has (greedy, group_limited_greedy)", r->label, method);
        }
    } else {
        e->inter = c->intermediate;
    }
    if (!r->status && e->experts > 0 && (e->top_k < 1 || e->top_k > e->experts))
        r->status = lc_error(LC_EFORMAT, "%s: num_experts_per_tok=%d must lie in [1, %d experts]", r->label, e->top_k, e->experts);
    if (!r->status && e->experts > 4096) r->status = lc_error(LC_EUNSUPPORTED, "%s: %d experts, longctx runs at most 4096", r->label, e->experts);
}

lc_status lc_model_config_arch(const struct cJSON *root, const char *label, lc_model_config *c) {
    if (!lc_arch_extended(c->arch)) return LC_OK;
    rd r = {root, label, LC_OK};
    switch (c->arch) {
    case LC_ARCH_MAMBA:
    case LC_ARCH_MAMBA2: {
        int m2 = c->arch == LC_ARCH_MAMBA2;
        defaults(&r, c, m2 ? 32768 : 50280, c->shape.ssm_inner, 1e-5, "layer_norm_epsilon", !m2);
        read_mamba(&r, c);
        c->no_rope = 1;
        for (int64_t l = 0; l < c->layers; l++) c->layer[l] = (lc_layer_plan){m2 ? LC_MIXER_MAMBA2 : LC_MIXER_MAMBA, LC_MLP_NONE, 0};
        break;
    }
    case LC_ARCH_JAMBA: {
        defaults(&r, c, 65536, 14336, 1e-6, "rms_norm_eps", 0);
        read_mamba(&r, c);
        read_moe(&r, c);
        int64_t period = count(&r, "expert_layer_period", 2, 1), offset = count(&r, "expert_layer_offset", 1, 0);
        c->no_rope = 1; /* Jamba's attention has no positional encoding */
        for (int64_t l = 0; l < c->layers; l++) /* the mixer (attention or Mamba) is the wall's reading */
            c->layer[l].mlp = c->moe.experts > 1 && l % period == offset ? LC_MLP_MOE : LC_MLP_DENSE;
        break;
    }
    case LC_ARCH_DEEPSEEK_V2: {
        defaults(&r, c, 102400, 11008, 1e-6, "rms_norm_eps", 0);
        lc_mla_config *a = &c->mla;
        a->q_rank = (int)count(&r, "q_lora_rank", 0, 0); /* null: q_proj */
        a->rank = (int)c->shape.kv_lora_rank, a->rope = (int)c->shape.qk_rope_dim;
        a->nope = (int)(c->shape.head_dim_k - c->shape.qk_rope_dim), a->v_dim = (int)c->shape.head_dim_v;
        if (!r.status && (a->rank < 1 || a->rope < 2 || a->rope % 2 || a->v_dim < 1 || a->rank > 65536 || a->q_rank > 65536))
            r.status = lc_error(LC_EFORMAT, "%s: kv_lora_rank=%d, qk_rope_head_dim=%d (even, >= 2) and v_head_dim=%d are not an MLA shape longctx runs",
                                label, a->rank, a->rope, a->v_dim);
        read_moe(&r, c);
        int64_t dense = count(&r, "first_k_dense_replace", 0, 0);
        for (int64_t l = 0; l < c->layers; l++)
            c->layer[l] = (lc_layer_plan){LC_MIXER_MLA, c->moe.experts > 0 && l >= dense ? LC_MLP_MOE : LC_MLP_DENSE, 0};
        break;
    }
    default: break;
    }
    return r.status;
}
