/* A model shape from a Hugging Face config.json (cJSON), read as transformers reads it:
 * the text model of a multimodal config sits under "text_config"; GPT-2-style names
 * (n_layer, n_head, n_embd, n_inner, n_positions) stand for the usual ones; a field
 * transformers defaults is defaulted the same way and said in the notes
 * (num_key_value_heads = num_attention_heads, head_dim = hidden_size / heads, ...). A
 * field the model type needs, that transformers has no default for, is an error naming
 * it; so is a value past a sane bound (num_hidden_layers 2^40): the cost model never
 * guesses a shape and never prices an absurd one. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/cost.h"

typedef struct reader {
    const cJSON *root; /* the text model's fields: the file's object, or its text_config */
    const char *label;
    const char *type;  /* model_type ("" when absent) */
    const char *where; /* "" or "text_config.", for sentences */
    lc_status status;  /* first error, sticky */
    char notes[512];   /* what was defaulted, "; "-separated */
} reader;

static void note(reader *r, const char *fmt, ...) {
    size_t n = strlen(r->notes);
    if (n + 3 >= sizeof r->notes) return;
    if (n) memcpy(r->notes + n, "; ", 3), n += 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes + n, sizeof r->notes - n, fmt, ap);
    va_end(ap);
}

/* Other names transformers maps onto the usual ones (GPT-2's attribute_map, MPT, Falcon). */
static const struct {
    const char *name, *alias[3];
} aliases[] = {
    {"num_hidden_layers", {"n_layer", "n_layers", NULL}},
    {"num_attention_heads", {"n_head", "n_heads", NULL}},
    {"hidden_size", {"n_embd", "d_model", NULL}},
    {"num_key_value_heads", {"num_kv_heads", NULL, NULL}},
    {"intermediate_size", {"n_inner", NULL, NULL}},
    {"max_position_embeddings", {"n_positions", NULL, NULL}},
};

static const cJSON *field(const reader *r, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r->root, name);
    if (f && !cJSON_IsNull(f)) return f;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].name, name))
            for (int k = 0; k < 3 && aliases[i].alias[k]; k++) {
                f = cJSON_GetObjectItemCaseSensitive(r->root, aliases[i].alias[k]);
                if (f && !cJSON_IsNull(f)) return f;
            }
    return NULL;
}

static const char *alias_text(const char *name) {
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].name, name)) return aliases[i].alias[0];
    return NULL;
}

/* The largest value each integer field may hold: past it a config is refused, not priced. */
static int64_t field_max(const char *name) {
    static const struct {
        const char *name;
        int64_t max;
    } limits[] = {
        {"num_hidden_layers", 1 << 14},   {"hidden_size", 1 << 20},          {"num_attention_heads", 1 << 16},
        {"num_key_value_heads", 1 << 16}, {"head_dim", 1 << 16},             {"vocab_size", INT32_MAX},
        {"intermediate_size", 1 << 24},   {"moe_intermediate_size", 1 << 24}, {"shared_expert_intermediate_size", 1 << 24},
        {"kv_lora_rank", 1 << 20},        {"q_lora_rank", 1 << 20},          {"qk_rope_head_dim", 1 << 16},
        {"qk_nope_head_dim", 1 << 16},    {"v_head_dim", 1 << 16},           {"state_size", 1 << 16},
        {"mamba_d_state", 1 << 16},       {"conv_kernel", 1 << 10},          {"mamba_d_conv", 1 << 10},
        {"expand", 1 << 8},               {"mamba_expand", 1 << 8},          {"n_groups", 1 << 16},
        {"num_heads", 1 << 16},           {"time_step_rank", 1 << 20},       {"mamba_dt_rank", 1 << 20},
        {"attn_layer_period", 1 << 14},   {"attn_layer_offset", 1 << 14},    {"expert_layer_period", 1 << 14},
        {"expert_layer_offset", 1 << 14}, {"sliding_window_pattern", 1 << 14}, {"n_routed_experts", 1 << 16},
        {"num_local_experts", 1 << 16},   {"num_experts", 1 << 16},          {"num_experts_per_tok", 1 << 16},
        {"n_shared_experts", 1 << 10},    {"first_k_dense_replace", 1 << 14}, {"moe_layer_freq", 1 << 14},
        {"decoder_sparse_step", 1 << 14},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        if (!strcmp(limits[i].name, name)) return limits[i].max;
    return LC_COST_MAX_TOKENS; /* windows, positions, layer indices */
}

/* An integer field (present: check it first with has()); on error records it and returns 0. */
static int64_t read_int(reader *r, const char *name, const cJSON *f) {
    double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
    if (v < 0 || v > 1e15 || v != (double)(int64_t)v)
        return r->status = lc_error(LC_EFORMAT, "%s: field '%s%s' must be a non-negative integer", r->label, r->where, name), 0;
    int64_t max = field_max(name);
    if ((int64_t)v > max)
        return r->status = lc_error(LC_EFORMAT, "%s: field '%s%s'=%.0f is out of range: at most %lld", r->label, r->where, name, v, (long long)max), 0;
    return (int64_t)v;
}

/* A required integer field; on error records it and returns 0. */
static int64_t need_int(reader *r, const char *name) {
    if (r->status) return 0;
    const cJSON *f = field(r, name);
    if (!f) {
        const char *alias = alias_text(name);
        if (alias) return r->status = lc_error(LC_EFORMAT, "%s: missing field '%s%s' (or '%s')", r->label, r->where, name, alias), 0;
        return r->status = lc_error(LC_EFORMAT, "%s: missing field '%s%s'", r->label, r->where, name), 0;
    }
    return read_int(r, name, f);
}

/* An optional integer field, or dflt (not noted: the caller says what it defaults). */
static int64_t opt_int(reader *r, const char *name, int64_t dflt) {
    if (r->status) return dflt;
    const cJSON *f = field(r, name);
    return f ? read_int(r, name, f) : dflt;
}

static int has(const reader *r, const char *name) { return field(r, name) != NULL; }

static int is_type(const reader *r, const char *t) { return !strcmp(r->type, t); }

static void read_attention(reader *r, lc_model_shape *m, int mla) {
    m->heads = need_int(r, "num_attention_heads");
    if (has(r, "num_key_value_heads")) {
        m->kv_heads = need_int(r, "num_key_value_heads");
    } else if (!r->status) { /* transformers: num_key_value_heads = num_attention_heads (multi-head) */
        m->kv_heads = m->heads;
        note(r, "num_key_value_heads = num_attention_heads = %lld", (long long)m->heads);
    }
    if (!r->status && m->kv_heads > m->heads && m->heads > 0)
        r->status = lc_error(LC_EFORMAT, "%s: num_key_value_heads=%lld exceeds num_attention_heads=%lld", r->label, (long long)m->kv_heads,
                             (long long)m->heads);
    if (mla) { /* DeepSeek-V2 MLA */
        m->kv_lora_rank = need_int(r, "kv_lora_rank");
        m->qk_rope_dim = need_int(r, "qk_rope_head_dim");
        m->head_dim_k = need_int(r, "qk_nope_head_dim") + m->qk_rope_dim;
        m->head_dim_v = need_int(r, "v_head_dim");
        return;
    }
    if (has(r, "head_dim")) {
        m->head_dim_k = m->head_dim_v = need_int(r, "head_dim");
    } else if (!r->status && m->heads > 0) {
        if (m->hidden % m->heads)
            r->status = lc_error(LC_EFORMAT, "%s: no 'head_dim' and hidden_size=%lld is not a multiple of num_attention_heads=%lld",
                                 r->label, (long long)m->hidden, (long long)m->heads);
        m->head_dim_k = m->head_dim_v = m->hidden / m->heads;
        note(r, "head_dim = hidden_size / num_attention_heads = %lld", (long long)m->head_dim_k);
    }
}

/* Which attention layers have a sliding window: layer_types, Gemma's alternation, or all. */
static void read_window(reader *r, lc_model_shape *m) {
    const cJSON *use = field(r, "use_sliding_window");
    if (!has(r, "sliding_window") || (use && cJSON_IsFalse(use))) return;
    m->window = need_int(r, "sliding_window");
    const cJSON *types = field(r, "layer_types");
    if (types) {
        if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) != m->layers) {
            r->status = lc_error(LC_EFORMAT, "%s: field 'layer_types' must be an array of num_hidden_layers=%lld strings", r->label,
                                 (long long)m->layers);
            return;
        }
        const cJSON *t;
        cJSON_ArrayForEach(t, types) m->local_layers += cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention");
    } else if (is_type(r, "gemma2")) {
        m->local_layers = (m->layers + 1) / 2; /* layers 0, 2, 4, ... slide (transformers' Gemma2) */
    } else if (is_type(r, "qwen2")) { /* transformers' Qwen2: layers from max_window_layers on slide */
        int64_t from = has(r, "max_window_layers") ? need_int(r, "max_window_layers") : 28;
        if (!has(r, "max_window_layers")) note(r, "max_window_layers = 28");
        m->local_layers = from < m->layers ? m->layers - from : 0;
    } else if (has(r, "sliding_window_pattern")) {
        int64_t k = need_int(r, "sliding_window_pattern"); /* Gemma-3: every k-th layer global */
        m->local_layers = k > 0 ? m->layers - m->layers / k : m->layers;
    } else {
        m->local_layers = m->attn_layers; /* Mistral: every layer */
    }
    if (m->window == 0) m->local_layers = 0;
}

/* ---- the parameter count, from the config's own fields ------------------------------------------ */

/* Whether layer l is an attention layer (else a Mamba layer), by the rules attn_layers counts. */
static int attention_layer(const lc_model_shape *m, int64_t l, int64_t period, int64_t offset) {
    if (m->attn_layers == m->layers) return 1;
    if (m->attn_layers == 0) return 0;
    return period > 0 && l % period == offset;
}

/* Experts of a mixture-of-experts config: 0 when dense. */
typedef struct moe {
    int64_t experts, top_k, expert_inter, shared_inter, dense_inter;
    int shared_gate; /* Qwen2-MoE's sigmoid gate of the shared expert (h weights) */
} moe;

static moe read_moe(reader *r) {
    moe e = {0, 0, 0, 0, 0, 0};
    const char *n = has(r, "n_routed_experts") ? "n_routed_experts" : has(r, "num_local_experts") ? "num_local_experts" : "num_experts";
    e.experts = opt_int(r, n, 0);
    if (e.experts <= 0 || r->status) return e;
    e.top_k = need_int(r, "num_experts_per_tok");
    if (!r->status && (e.top_k < 1 || e.top_k > e.experts))
        r->status = lc_error(LC_EFORMAT, "%s: num_experts_per_tok=%lld must be in [1, %s=%lld]", r->label, (long long)e.top_k, n, (long long)e.experts);
    e.dense_inter = has(r, "intermediate_size") ? need_int(r, "intermediate_size") : 0;
    e.expert_inter = has(r, "moe_intermediate_size") ? need_int(r, "moe_intermediate_size") : need_int(r, "intermediate_size");
    e.shared_inter = opt_int(r, "n_shared_experts", 0) * e.expert_inter;     /* DeepSeek */
    if (has(r, "shared_expert_intermediate_size")) {                            /* Qwen2-MoE */
        e.shared_inter = need_int(r, "shared_expert_intermediate_size");
        e.shared_gate = 1;
    }
    return e;
}

/* Whether layer l's MLP is the mixture of experts (else dense), as transformers builds it. */
static int moe_layer(reader *r, const moe *e, int64_t l) {
    if (e->experts <= 0) return 0;
    if (is_type(r, "jamba")) {
        int64_t period = opt_int(r, "expert_layer_period", 2), offset = opt_int(r, "expert_layer_offset", 1);
        return period > 0 && l % period == offset;
    }
    if (has(r, "first_k_dense_replace") || has(r, "moe_layer_freq")) { /* DeepSeek */
        int64_t first = opt_int(r, "first_k_dense_replace", 0), freq = opt_int(r, "moe_layer_freq", 1);
        return l >= first && freq > 0 && l % freq == 0;
    }
    if (has(r, "decoder_sparse_step") || has(r, "mlp_only_layers")) { /* Qwen2-MoE */
        const cJSON *only = field(r, "mlp_only_layers"), *x;
        if (cJSON_IsArray(only))
            cJSON_ArrayForEach(x, only) if (cJSON_IsNumber(x) && x->valuedouble == (double)l) return 0;
        int64_t step = opt_int(r, "decoder_sparse_step", 1);
        return step > 0 && (l + 1) % step == 0;
    }
    return 1; /* Mixtral: every layer */
}

/* Parameters held and used per token, from the config's own fields: embeddings (and head
 * when untied), each layer's mixer (attention: standard, MLA or GPT-2's with biases; Mamba,
 * Mamba-2, Jamba's Mamba) and MLP (dense, gated or GPT-2's; or experts: router, routed,
 * shared), norms. */
static void count_params(reader *r, const lc_model_shape *m, double *total, double *active) {
    const double h = (double)m->hidden;
    const int gpt2 = is_type(r, "gpt2"), mamba_only = m->attn_layers == 0;
    const double vocab = (double)need_int(r, "vocab_size");
    const cJSON *tie = field(r, "tie_word_embeddings");
    /* transformers' default: tied, except in the families whose config says otherwise */
    int tied = !(is_type(r, "llama") || is_type(r, "mistral") || is_type(r, "mixtral") || is_type(r, "qwen2") || is_type(r, "qwen2_moe") ||
                 is_type(r, "jamba") || is_type(r, "deepseek_v2") || is_type(r, "deepseek_v3"));
    if (tie) tied = !cJSON_IsFalse(tie);
    else note(r, "tie_word_embeddings = %s", tied ? "true" : "false");
    double p = vocab * h * (tied ? 1 : 2) + (gpt2 ? 2 * h : h); /* embeddings (and head), final norm */
    if (gpt2) {
        int64_t pos = need_int(r, "max_position_embeddings");
        p += (double)pos * h; /* learned positions */
    }
    double act = p;
    moe e = read_moe(r);
    int64_t period = 0, offset = 0;
    if (is_type(r, "jamba")) period = need_int(r, "attn_layer_period"), offset = need_int(r, "attn_layer_offset");
    double inter = 0;
    if (!mamba_only && e.experts == 0) {
        if (has(r, "intermediate_size")) inter = (double)need_int(r, "intermediate_size");
        else if (gpt2) inter = 4 * h, note(r, "n_inner = 4 * n_embd = %.0f", 4 * h);
        else inter = (double)need_int(r, "intermediate_size");
    }
    /* the attention mixer of one layer */
    double attn = 0;
    if (m->attn_layers > 0) {
        const double H = (double)m->heads, K = (double)m->kv_heads, dk = (double)m->head_dim_k, dv = (double)m->head_dim_v;
        if (m->kv_lora_rank > 0) { /* MLA: q (through q_lora_rank when set), kv_a with the RoPE key, kv_b, o */
            const double R = (double)m->kv_lora_rank, rope = (double)m->qk_rope_dim, qr = (double)opt_int(r, "q_lora_rank", 0);
            attn = (qr > 0 ? h * qr + qr + qr * H * dk : h * H * dk) + h * (R + rope) + R + R * H * (dk - rope + dv) + H * dv * h;
        } else {
            attn = h * (H * dk + K * (dk + dv)) + H * dv * h;
            const cJSON *bias = field(r, "attention_bias");
            int qkv_bias = gpt2 || is_type(r, "qwen2") || is_type(r, "qwen2_moe") || (bias && cJSON_IsTrue(bias));
            int o_bias = gpt2 || (bias && cJSON_IsTrue(bias) && !is_type(r, "qwen2") && !is_type(r, "qwen2_moe"));
            attn += (qkv_bias ? H * dk + K * (dk + dv) : 0) + (o_bias ? h : 0);
        }
    }
    /* the Mamba mixer of one layer (with its norm for a Mamba-only model) */
    double mamba = 0;
    if (m->layers > m->attn_layers) {
        const double in = (double)m->ssm_inner, st = (double)m->ssm_state, conv = (double)m->ssm_conv;
        if (m->ssm_conv_dim > 0) { /* Mamba-2: in_proj [z | x B C | dt], conv, dt_bias, A_log, D, gated norm, out_proj */
            double cd = (double)m->ssm_conv_dim, nh = (double)need_int(r, "num_heads");
            mamba = h * (in + cd + nh) + cd * (conv + 1) + 3 * nh + in + in * h;
        } else { /* Mamba: in_proj, conv, x_proj, dt_proj, A, D, out_proj; Jamba adds the dt, B and C norms */
            int jamba = is_type(r, "jamba");
            double dt = (double)((m->hidden + 15) / 16);
            const char *dt_name = jamba ? "mamba_dt_rank" : "time_step_rank";
            if (has(r, dt_name) && cJSON_IsNumber(field(r, dt_name))) dt = (double)need_int(r, dt_name);
            const cJSON *cb = field(r, jamba ? "mamba_conv_bias" : "use_conv_bias"), *pb = field(r, jamba ? "mamba_proj_bias" : "use_bias");
            int conv_bias = !(cb && cJSON_IsFalse(cb)), proj_bias = pb && cJSON_IsTrue(pb);
            mamba = h * 2 * in + in * conv + (conv_bias ? in : 0) + in * (dt + 2 * st) + dt * in + in + in * st + in + in * h +
                    (proj_bias ? 2 * in + h : 0) + (jamba ? dt + 2 * st : 0);
        }
    }
    const double norms = mamba_only ? h : gpt2 ? 4 * h : is_type(r, "gemma2") ? 4 * h : 2 * h;
    const double gated = gpt2 ? 2 : 3; /* gate, up, down; GPT-2: fc, proj (with biases) */
    for (int64_t l = 0; l < m->layers && !r->status; l++) {
        double mix = attention_layer(m, l, period, offset) ? attn : mamba, mlp = 0, mlp_act = 0;
        if (!mamba_only) {
            if (moe_layer(r, &e, l)) {
                const double one = 3 * h * (double)e.expert_inter, shared = 3 * h * (double)e.shared_inter + (e.shared_gate ? h : 0);
                const double router = h * (double)e.experts;
                mlp = router + (double)e.experts * one + shared;
                mlp_act = router + (double)e.top_k * one + shared;
            } else {
                const double di = e.experts > 0 ? (double)e.dense_inter : inter;
                if (e.experts > 0 && di <= 0) need_int(r, "intermediate_size");
                mlp = mlp_act = gated * h * di + (gpt2 ? di + h : 0);
            }
        }
        p += mix + mlp + norms;
        act += mix + mlp_act + norms;
    }
    *total = p, *active = act;
}

/* The text model's object: text_config when the config has one (multimodal models). */
static void reader_init(reader *r, const cJSON *root, const char *label) {
    memset(r, 0, sizeof *r);
    r->root = root, r->label = label, r->where = "";
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (cJSON_IsObject(text)) r->root = text, r->where = "text_config.";
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(r->root, "model_type");
    if (!cJSON_IsString(mt) && r->root != root) mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    r->type = cJSON_IsString(mt) ? mt->valuestring : "";
}

static lc_status parse_error(const char *json, const char *label) {
    const char *at = cJSON_GetErrorPtr();
    long off = at && at >= json && at <= json + strlen(json) ? (long)(at - json) : -1;
    if (off >= 0) return lc_error(LC_EFORMAT, "%s: not a JSON object (malformed or truncated near byte %ld)", label, off);
    return lc_error(LC_EFORMAT, "%s: not a JSON object", label);
}

lc_status lc_model_from_config_text_noted(const char *json, const char *label, double params, lc_model_shape *out, char *notes, size_t cap) {
    if (notes && cap) notes[0] = 0;
    if (!json || !out) return lc_error(LC_EINVAL, "lc_model_from_config_text: json and out must not be NULL");
    if (!label) label = "config.json";
    if (!(params <= 1e15)) return lc_error(LC_EINVAL, "%s: params=%g must be at most 1e15 (0: count them from the config)", label, params);
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return parse_error(json, label);
    }
    reader r;
    reader_init(&r, root, label);
    if (r.root != root) note(&r, "the text model's fields are read from 'text_config'");
    lc_model_shape m;
    memset(&m, 0, sizeof m);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "_name_or_path");
    const char *base = strrchr(label, '/') ? strrchr(label, '/') + 1 : label;
    snprintf(m.name, sizeof m.name, "%s", name && cJSON_IsString(name) && *name->valuestring ? name->valuestring : (*r.type ? r.type : base));
    m.layers = need_int(&r, "num_hidden_layers");
    m.hidden = need_int(&r, "hidden_size");
    int mamba = is_type(&r, "mamba") || is_type(&r, "mamba2"), jamba = is_type(&r, "jamba");
    if (mamba) {
        m.ssm_state = need_int(&r, "state_size");
        m.ssm_conv = need_int(&r, "conv_kernel");
        m.ssm_inner = has(&r, "intermediate_size") ? need_int(&r, "intermediate_size") : need_int(&r, "expand") * m.hidden;
        if (is_type(&r, "mamba2")) m.ssm_conv_dim = m.ssm_inner + 2 * need_int(&r, "n_groups") * m.ssm_state; /* x, B and C */
    } else {
        m.attn_layers = m.layers;
        if (jamba) {
            int64_t period = need_int(&r, "attn_layer_period"), offset = need_int(&r, "attn_layer_offset");
            if (!r.status && (period == 0 || offset >= period))
                r.status = lc_error(LC_EFORMAT, "%s: attn_layer_offset=%lld must be below attn_layer_period=%lld", label, (long long)offset, (long long)period);
            if (!r.status) m.attn_layers = m.layers / period + (m.layers % period > offset);
            m.ssm_state = need_int(&r, "mamba_d_state");
            m.ssm_conv = need_int(&r, "mamba_d_conv");
            m.ssm_inner = need_int(&r, "mamba_expand") * m.hidden;
        }
        read_attention(&r, &m, has(&r, "kv_lora_rank") || !strncmp(r.type, "deepseek_v", 10));
        read_window(&r, &m);
    }
    if (params > 0) {
        m.params = m.active_params = params;
    } else if (!r.status) {
        count_params(&r, &m, &m.params, &m.active_params);
        if (!r.status && !(m.params <= 1e15))
            r.status = lc_error(LC_EFORMAT, "%s: its shape holds %.3g parameters, past 1e15: not a model the wall prices", label, m.params);
        if (!r.status) note(&r, "parameters counted from the config: %.4g%s", m.params, m.active_params < m.params ? " total" : "");
        if (!r.status && m.active_params < m.params) note(&r, "%.4g active per token", m.active_params);
    }
    lc_status s = r.status;
    cJSON_Delete(root);
    if (s) return s;
    if (lc_model_check(&m)) {
        char why[512];
        snprintf(why, sizeof why, "%s", lc_last_error());
        return lc_error(LC_EFORMAT, "%s: %s", label, why);
    }
    if (notes && cap) snprintf(notes, cap, "%s", r.notes);
    *out = m;
    return LC_OK;
}

lc_status lc_model_from_config_text(const char *json, const char *label, double params, lc_model_shape *out) {
    return lc_model_from_config_text_noted(json, label, params, out, NULL, 0);
}

lc_status lc_model_from_config_file_noted(const char *path, double params, lc_model_shape *out, char *notes, size_t cap) {
    if (notes && cap) notes[0] = 0;
    if (!path) return lc_error(LC_EINVAL, "config path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return lc_error(LC_EIO, "cannot open config '%s'", path);
    char *text = NULL;
    size_t len = 0, cap_text = 0;
    for (;;) {
        if (len + 4096 + 1 > cap_text) {
            cap_text = cap_text ? cap_text * 2 : 65536;
            if (cap_text > ((size_t)64 << 20)) {
                free(text), fclose(f);
                return lc_error(LC_EFORMAT, "config '%s' is larger than 64 MiB: not a config.json", path);
            }
            char *t = realloc(text, cap_text);
            if (!t) return free(text), fclose(f), lc_error(LC_ENOMEM, "cannot read config '%s': out of memory for %zu bytes", path, cap_text);
            text = t;
        }
        size_t got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return free(text), lc_error(LC_EIO, "cannot read config '%s'", path);
    text[len] = 0;
    if (strlen(text) != len) return free(text), lc_error(LC_EFORMAT, "config '%s' holds a NUL byte: not a JSON text", path);
    lc_status s = lc_model_from_config_text_noted(text, path, params, out, notes, cap);
    free(text);
    return s;
}

lc_status lc_model_from_config_file(const char *path, double params, lc_model_shape *out) {
    return lc_model_from_config_file_noted(path, params, out, NULL, 0);
}

/* The kind of layer l, by the rules lc_model_from_config_text counts with (read_window and
 * the Jamba period): tested to agree with its attn_layers and local_layers. */
static lc_layer_kind layer_kind(reader *r, const lc_model_shape *m, int64_t l) {
    if (is_type(r, "mamba") || is_type(r, "mamba2")) return LC_LAYER_MAMBA;
    if (is_type(r, "jamba")) {
        int64_t period = need_int(r, "attn_layer_period"), offset = need_int(r, "attn_layer_offset");
        if (period > 0 && l % period != offset) return LC_LAYER_MAMBA;
    }
    if (m->local_layers == 0) return LC_LAYER_ATTENTION;
    const cJSON *types = field(r, "layer_types");
    if (types) {
        const cJSON *t = cJSON_GetArrayItem(types, (int)l);
        return cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention") ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    }
    if (is_type(r, "gemma2")) return l % 2 == 0 ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    if (is_type(r, "qwen2")) return l >= m->layers - m->local_layers ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    if (has(r, "sliding_window_pattern")) {
        int64_t k = need_int(r, "sliding_window_pattern");
        return k > 0 && (l + 1) % k == 0 ? LC_LAYER_ATTENTION : LC_LAYER_SLIDING;
    }
    return LC_LAYER_SLIDING;
}

lc_status lc_model_layer_kinds_from_config_text(const char *json, const char *label, lc_layer_kind *kinds, int64_t n_layers) {
    if (!kinds) return lc_error(LC_EINVAL, "lc_model_layer_kinds_from_config_text: kinds must not be NULL");
    lc_model_shape m;
    lc_status s = lc_model_from_config_text(json, label, 1, &m); /* validates; params given: no count */
    if (s) return s;
    if (!label) label = "config.json";
    if (m.layers != n_layers)
        return lc_error(LC_EINVAL, "%s: num_hidden_layers=%lld, but room for %lld layer kinds was given", label, (long long)m.layers, (long long)n_layers);
    cJSON *root = cJSON_Parse(json);
    if (!root) return lc_error(LC_ENOMEM, "%s: out of memory parsing it again", label);
    reader r;
    reader_init(&r, root, label);
    for (int64_t l = 0; l < n_layers; l++) kinds[l] = layer_kind(&r, &m, l);
    cJSON_Delete(root);
    return r.status;
}
