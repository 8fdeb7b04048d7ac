/* A model shape from a Hugging Face config.json (cJSON). A field the model type needs and
 * the file lacks is an error naming it: the cost model never guesses a shape. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/cost.h"

typedef struct reader {
    const cJSON *root;
    const char *label;
    lc_status status; /* first error, sticky */
} reader;

static const cJSON *field(const reader *r, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(r->root, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* A required integer field; on error records it and returns 0. */
static int64_t need_int(reader *r, const char *name) {
    if (r->status) return 0;
    const cJSON *f = field(r, name);
    if (!f) return r->status = lc_error(LC_EFORMAT, "%s: missing field '%s'", r->label, name), 0;
    double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
    if (v < 0 || v > 1e15 || v != (double)(int64_t)v)
        return r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be a non-negative integer", r->label, name), 0;
    return (int64_t)v;
}

static int has(const reader *r, const char *name) { return field(r, name) != NULL; }

static lc_status fail(reader *r, lc_status s) { return r->status ? r->status : s; }

static void read_attention(reader *r, lc_model_shape *m, int mla) {
    m->heads = need_int(r, "num_attention_heads");
    m->kv_heads = need_int(r, "num_key_value_heads");
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
    }
}

/* Which attention layers have a sliding window: layer_types, Gemma's alternation, or all. */
static void read_window(reader *r, lc_model_shape *m, const char *type) {
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
    } else if (!strcmp(type, "gemma2")) {
        m->local_layers = (m->layers + 1) / 2; /* layers 0, 2, 4, ... slide (transformers' Gemma2) */
    } else if (!strcmp(type, "qwen2")) { /* transformers' Qwen2: layers from max_window_layers on slide */
        int64_t from = has(r, "max_window_layers") ? need_int(r, "max_window_layers") : 28;
        m->local_layers = from < m->layers ? m->layers - from : 0;
    } else if (has(r, "sliding_window_pattern")) {
        int64_t k = need_int(r, "sliding_window_pattern"); /* Gemma-3: every k-th layer global */
        m->local_layers = k > 0 ? m->layers - m->layers / k : m->layers;
    } else {
        m->local_layers = m->attn_layers; /* Mistral: every layer */
    }
    if (m->window == 0) m->local_layers = 0;
}

/* Parameters of a dense gated-MLP transformer or a Mamba model, from the shape. */
static double estimate_params(reader *r, const lc_model_shape *m, const char *type) {
    if (has(r, "num_local_experts") || has(r, "n_routed_experts") || has(r, "num_experts") || m->kv_lora_rank > 0) {
        if (!r->status) r->status = lc_error(LC_EFORMAT, "%s: a mixture-of-experts or MLA config: give the parameter count (--params)", r->label);
        return 0;
    }
    double h = (double)m->hidden, vocab = (double)need_int(r, "vocab_size");
    const cJSON *tie = field(r, "tie_word_embeddings"); /* transformers' default: tied */
    double p = vocab * h * (tie && cJSON_IsFalse(tie) ? 2 : 1) + h; /* embeddings (and head), final norm */
    if (m->attn_layers > 0) {
        double inter = (double)need_int(r, "intermediate_size");
        double attn = h * (double)(m->heads * m->head_dim_k + m->kv_heads * (m->head_dim_k + m->head_dim_v)) +
                      (double)(m->heads * m->head_dim_v) * h;
        p += (double)m->attn_layers * (attn + 3 * h * inter + 2 * h);
    }
    if (m->ssm_conv_dim > 0) { /* Mamba-2: in_proj [z | x B C | dt], conv, dt_bias, A_log, D, gated norm, out_proj, norm */
        double in = (double)m->ssm_inner, cd = (double)m->ssm_conv_dim, nh = (double)need_int(r, "num_heads");
        p += (double)m->layers * (h * (in + cd + nh) + cd * (double)(m->ssm_conv + 1) + 3 * nh + in + in * h + h);
    } else if (m->layers > m->attn_layers) { /* Mamba: in_proj, conv, x_proj, dt_proj, A, D, out_proj, norm */
        double in = (double)m->ssm_inner, st = (double)m->ssm_state, dt = (double)((m->hidden + 15) / 16);
        if (!strcmp(type, "mamba") && has(r, "time_step_rank") && cJSON_IsNumber(field(r, "time_step_rank")))
            dt = (double)need_int(r, "time_step_rank");
        double layer = h * 2 * in + in * (double)(m->ssm_conv + 1) + in * (dt + 2 * st) + dt * in + in + in * st + in + in * h + h;
        p += (double)(m->layers - m->attn_layers) * layer;
    }
    return p;
}

lc_status lc_model_from_config_text(const char *json, const char *label, double params, lc_model_shape *out) {
    if (!json || !out) return lc_error(LC_EINVAL, "lc_model_from_config_text: json and out must not be NULL");
    if (!label) label = "config.json";
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + strlen(json) ? (long)(at - json) : -1;
        cJSON_Delete(root);
        if (off >= 0) return lc_error(LC_EFORMAT, "%s: not a JSON object (malformed or truncated near byte %ld)", label, off);
        return lc_error(LC_EFORMAT, "%s: not a JSON object", label);
    }
    reader r = {root, label, LC_OK};
    lc_model_shape m;
    memset(&m, 0, sizeof m);
    const cJSON *mt = field(&r, "model_type");
    const char *type = mt && cJSON_IsString(mt) ? mt->valuestring : "";
    const cJSON *name = field(&r, "_name_or_path");
    const char *base = strrchr(label, '/') ? strrchr(label, '/') + 1 : label;
    snprintf(m.name, sizeof m.name, "%s", name && cJSON_IsString(name) && *name->valuestring ? name->valuestring : (*type ? type : base));
    m.layers = need_int(&r, "num_hidden_layers");
    m.hidden = need_int(&r, "hidden_size");
    int mamba = !strcmp(type, "mamba") || !strcmp(type, "mamba2"), jamba = !strcmp(type, "jamba");
    if (mamba) {
        m.ssm_state = need_int(&r, "state_size");
        m.ssm_conv = need_int(&r, "conv_kernel");
        m.ssm_inner = has(&r, "intermediate_size") ? need_int(&r, "intermediate_size") : need_int(&r, "expand") * m.hidden;
        if (!strcmp(type, "mamba2")) m.ssm_conv_dim = m.ssm_inner + 2 * need_int(&r, "n_groups") * m.ssm_state; /* x, B and C */
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
        read_attention(&r, &m, has(&r, "kv_lora_rank") || !strncmp(type, "deepseek_v", 10));
        read_window(&r, &m, type);
    }
    if (params > 0) {
        m.params = m.active_params = params;
    } else {
        m.params = m.active_params = estimate_params(&r, &m, type);
    }
    lc_status s = fail(&r, LC_OK);
    cJSON_Delete(root);
    if (s) return s;
    if (lc_model_check(&m)) {
        char why[512];
        snprintf(why, sizeof why, "%s", lc_last_error());
        return lc_error(LC_EFORMAT, "%s: %s", label, why);
    }
    *out = m;
    return LC_OK;
}

lc_status lc_model_from_config_file(const char *path, double params, lc_model_shape *out) {
    if (!path) return lc_error(LC_EINVAL, "config path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return lc_error(LC_EIO, "cannot open config '%s'", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > ((size_t)64 << 20)) {
                free(text), fclose(f);
                return lc_error(LC_EFORMAT, "config '%s' is larger than 64 MiB: not a config.json", path);
            }
            char *t = realloc(text, cap);
            if (!t) return free(text), fclose(f), lc_error(LC_ENOMEM, "cannot read config '%s': out of memory", path);
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
    lc_status s = lc_model_from_config_text(text, path, params, out);
    free(text);
    return s;
}

/* The kind of layer l, by the rules lc_model_from_config_text counts with (read_window and
 * the Jamba period): tested to agree with its attn_layers and local_layers. */
static lc_layer_kind layer_kind(reader *r, const lc_model_shape *m, const char *type, int64_t l) {
    if (!strcmp(type, "mamba") || !strcmp(type, "mamba2")) return LC_LAYER_MAMBA;
    if (!strcmp(type, "jamba")) {
        int64_t period = need_int(r, "attn_layer_period"), offset = need_int(r, "attn_layer_offset");
        if (period > 0 && l % period != offset) return LC_LAYER_MAMBA;
    }
    if (m->local_layers == 0) return LC_LAYER_ATTENTION;
    const cJSON *types = field(r, "layer_types");
    if (types) {
        const cJSON *t = cJSON_GetArrayItem(types, (int)l);
        return cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention") ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    }
    if (!strcmp(type, "gemma2")) return l % 2 == 0 ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    if (!strcmp(type, "qwen2")) return l >= m->layers - m->local_layers ? LC_LAYER_SLIDING : LC_LAYER_ATTENTION;
    if (has(r, "sliding_window_pattern")) {
        int64_t k = need_int(r, "sliding_window_pattern");
        return k > 0 && (l + 1) % k == 0 ? LC_LAYER_ATTENTION : LC_LAYER_SLIDING;
    }
    return LC_LAYER_SLIDING;
}

lc_status lc_model_layer_kinds_from_config_text(const char *json, const char *label, lc_layer_kind *kinds, int64_t n_layers) {
    if (!kinds) return lc_error(LC_EINVAL, "lc_model_layer_kinds_from_config_text: kinds must not be NULL");
    lc_model_shape m;
    lc_status s = lc_model_from_config_text(json, label, 1, &m); /* validates; params given: no estimate */
    if (s) return s;
    if (!label) label = "config.json";
    if (m.layers != n_layers)
        return lc_error(LC_EINVAL, "%s: num_hidden_layers=%lld, but room for %lld layer kinds was given", label, (long long)m.layers, (long long)n_layers);
    cJSON *root = cJSON_Parse(json);
    reader r = {root, label, LC_OK};
    const cJSON *mt = field(&r, "model_type");
    const char *type = mt && cJSON_IsString(mt) ? mt->valuestring : "";
    for (int64_t l = 0; l < n_layers; l++) kinds[l] = layer_kind(&r, &m, type, l);
    cJSON_Delete(root);
    return r.status;
}
