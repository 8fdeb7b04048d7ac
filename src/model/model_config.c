/* config.json for the runner: the shape and layer kinds come from the wall's reader
 * (src/cost/config.c), the rest (norms, activations, biases, soft-caps, RoPE in both
 * config styles, vocabulary, stop ids) is read here with transformers' defaults. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_internal.h"

typedef struct rd {
    const cJSON *root;
    const char *label;
    lc_status status; /* first error, sticky */
} rd;

static const cJSON *get(const cJSON *obj, const char *name) {
    const cJSON *f = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* A number field of obj (prefix names the object in sentences), or dflt when absent. */
static double num(rd *r, const cJSON *obj, const char *prefix, const char *name, double dflt) {
    const cJSON *f = get(obj, name);
    if (!f || r->status) return dflt;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s%s' must be a number", r->label, prefix, name);
        return dflt;
    }
    return f->valuedouble;
}

static int flag(rd *r, const char *name, int dflt) {
    const cJSON *f = get(r->root, name);
    if (!f || r->status) return dflt;
    if (!cJSON_IsBool(f)) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be true or false", r->label, name);
        return dflt;
    }
    return cJSON_IsTrue(f);
}

static int64_t count(rd *r, const char *name, int64_t dflt, int64_t lo) {
    double v = num(r, r->root, "", name, (double)dflt);
    if (!r->status && (v < (double)lo || v > 1e12 || v != floor(v))) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%s'=%g must be an integer >= %lld", r->label, name, v, (long long)lo);
        return dflt;
    }
    return (int64_t)v;
}

/* A token id or a list of them (eos_token_id). */
static void read_ids(rd *r, const cJSON *obj, const char *label, const char *name, int64_t *ids, int *n) {
    const cJSON *f = get(obj, name);
    if (!f || r->status) return;
    const cJSON *one = f;
    int k = 0, items = cJSON_IsArray(f) ? cJSON_GetArraySize(f) : 1;
    for (int i = 0; i < items && k < LC_MODEL_MAX_STOP; i++) {
        if (cJSON_IsArray(f)) one = cJSON_GetArrayItem(f, i);
        if (!cJSON_IsNumber(one) || one->valuedouble < 0 || one->valuedouble != floor(one->valuedouble)) {
            r->status = lc_error(LC_EFORMAT, "%s: field '%s' must be a token id or a list of them", label, name);
            return;
        }
        ids[k++] = (int64_t)one->valuedouble;
    }
    *n = k;
}

static const struct {
    const char *name;
    lc_rope_type type;
} rope_types[] = {{"default", LC_ROPE_DEFAULT}, {"linear", LC_ROPE_LINEAR}, {"dynamic", LC_ROPE_DYNAMIC}, {"yarn", LC_ROPE_YARN},
                  {"llama3", LC_ROPE_LLAMA3},   {"longrope", LC_ROPE_LONGROPE}, {"su", LC_ROPE_LONGROPE}};

static void read_factors(rd *r, const cJSON *p, const char *name, double *out, int half) {
    const cJSON *f = get(p, name);
    if (r->status) return;
    if (!f || !cJSON_IsArray(f) || cJSON_GetArraySize(f) != half) {
        r->status = lc_error(LC_EFORMAT, "%s: field 'rope %s' must be a list of head_dim*partial/2=%d numbers", r->label, name, half);
        return;
    }
    for (int i = 0; i < half; i++) {
        const cJSON *v = cJSON_GetArrayItem(f, i);
        if (!cJSON_IsNumber(v)) {
            r->status = lc_error(LC_EFORMAT, "%s: field 'rope %s[%d]' must be a number", r->label, name, i);
            return;
        }
        out[i] = v->valuedouble;
    }
}

/* RoPE in either style: rope_parameters {rope_type, rope_theta, factor, ...} (transformers 5),
 * or rope_scaling {type | rope_type, factor, ...} with a top-level rope_theta (before). */
static void read_rope(rd *r, lc_model_config *c) {
    const cJSON *rp = get(r->root, "rope_parameters"), *p = rp;
    const char *pre = "rope_parameters.";
    if (rp && !cJSON_IsObject(rp)) {
        r->status = lc_error(LC_EFORMAT, "%s: field 'rope_parameters' must be an object", r->label);
        return;
    }
    if (rp && !get(rp, "rope_type") && get(rp, "full_attention")) p = get(rp, "full_attention"), pre = "rope_parameters.full_attention.";
    if (!p) {
        p = get(r->root, "rope_scaling"), pre = "rope_scaling.";
        if (p && !cJSON_IsObject(p)) {
            r->status = lc_error(LC_EFORMAT, "%s: field 'rope_scaling' must be an object or null", r->label);
            return;
        }
    }
    lc_rope *o = &c->rope;
    memset(o, 0, sizeof *o);
    o->layout = LC_ROPE_NEOX;
    o->head_dim = c->mla.rope > 0 ? c->mla.rope : c->head_dim; /* DeepSeek-V2: RoPE on qk_rope_head_dim, interleaved */
    if (c->mla.rope > 0) o->layout = LC_ROPE_GPTJ;
    o->max_pos = c->max_pos;
    o->theta = num(r, p, pre, "rope_theta", num(r, r->root, "", "rope_theta", 10000.0));
    o->partial = num(r, p, pre, "partial_rotary_factor", num(r, r->root, "", "partial_rotary_factor", 1.0));
    const cJSON *t = get(p, "rope_type");
    if (!t) t = get(p, "type");
    const char *tn = t && cJSON_IsString(t) ? t->valuestring : "default";
    if (t && !cJSON_IsString(t)) {
        r->status = lc_error(LC_EFORMAT, "%s: field '%srope_type' must be a string", r->label, pre);
        return;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof rope_types / sizeof rope_types[0]; i++)
        if (!strcmp(tn, rope_types[i].name)) o->type = rope_types[i].type, known = 1;
    if (!known) {
        if (!r->status)
            r->status = lc_error(LC_EUNSUPPORTED, "%s: rope type '%s' is not one longctx has (default, linear, dynamic, yarn, llama3, longrope)",
                                 r->label, tn);
        return;
    }
    o->factor = num(r, p, pre, "factor", 0);
    o->original_max_pos = (int64_t)num(r, p, pre, "original_max_position_embeddings",
                                       num(r, r->root, "", "original_max_position_embeddings", o->type == LC_ROPE_YARN ? (double)c->max_pos : 0));
    o->attention_factor = num(r, p, pre, "attention_factor", 0);
    o->beta_fast = num(r, p, pre, "beta_fast", 0);
    o->beta_slow = num(r, p, pre, "beta_slow", 0);
    o->mscale = num(r, p, pre, "mscale", 0);
    o->mscale_all_dim = num(r, p, pre, "mscale_all_dim", 0);
    const cJSON *tr = get(p, "truncate");
    o->no_truncate = tr && cJSON_IsFalse(tr);
    o->low_freq_factor = num(r, p, pre, "low_freq_factor", 0);
    o->high_freq_factor = num(r, p, pre, "high_freq_factor", 0);
    if (r->status) return;
    int half = lc_rope_dim(o) / 2;
    if (o->type == LC_ROPE_LONGROPE) {
        if (half < 1 || half > LC_MODEL_MAX_ROPE_FACTORS) {
            r->status = lc_error(LC_EUNSUPPORTED, "%s: longrope over %d rotated dims (at most %d)", r->label, 2 * half, 2 * LC_MODEL_MAX_ROPE_FACTORS);
            return;
        }
        read_factors(r, p, "short_factor", c->rope_short, half);
        read_factors(r, p, "long_factor", c->rope_long, half);
    }
    if (r->status) return;
    lc_rope full = lc_model_config_rope(c);
    if (lc_rope_check(&full)) {
        char why[400];
        snprintf(why, sizeof why, "%s", lc_last_error());
        r->status = lc_error(LC_EFORMAT, "%s: %s (from '%s')", r->label, why, p ? pre : "rope_theta");
    }
}

lc_rope lc_model_config_rope(const lc_model_config *c) {
    if (!c) return (lc_rope){0}; /* no rope: lc_rope_check refuses it */
    lc_rope r = c->rope;
    if (r.type == LC_ROPE_LONGROPE) r.short_factor = c->rope_short, r.long_factor = c->rope_long;
    return r;
}

const char *lc_arch_name(lc_arch a) {
    static const char *n[] = {"llama", "mistral", "qwen2", "gemma2", "mamba", "mamba2", "jamba", "deepseek_v2"};
    return (unsigned)a <= LC_ARCH_DEEPSEEK_V2 ? n[a] : "?";
}

lc_status lc_model_config_parse(const char *json, const char *label, lc_model_config *out) {
    if (!json || !out) return lc_error(LC_EINVAL, "lc_model_config_parse: json and out must not be NULL");
    if (!label) label = "config.json";
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lc_error(LC_EFORMAT, "%s: not a JSON object (malformed or truncated)", label);
    }
    rd r = {root, label, LC_OK};
    lc_model_config *c = out;
    const cJSON *mt = get(root, "model_type");
    const char *type = mt && cJSON_IsString(mt) ? mt->valuestring : NULL;
    static const char *names[] = {"llama", "mistral", "qwen2", "gemma2", "mamba", "mamba2", "jamba", "deepseek_v2"};
    int arch = -1;
    for (int i = 0; type && i < 8; i++)
        if (!strcmp(type, names[i])) arch = i;
    if (arch < 0) {
        lc_status st = type ? lc_error(LC_EUNSUPPORTED, "%s: model_type '%s' is not one longctx runs (llama, mistral, qwen2, gemma2, mamba, mamba2, jamba, deepseek_v2)", label, type)
                            : lc_error(LC_EFORMAT, "%s: missing field 'model_type'", label);
        cJSON_Delete(root);
        return st;
    }
    c->arch = (lc_arch)arch;
    snprintf(c->model_type, sizeof c->model_type, "%s", type);
    int gemma = c->arch == LC_ARCH_GEMMA2;

    /* the shape and the layer kinds: the wall's reading */
    lc_status s = lc_model_from_config_text(json, label, 1, &c->shape);
    if (s) return cJSON_Delete(root), s;
    if (c->shape.layers > LC_MODEL_MAX_LAYERS) {
        cJSON_Delete(root);
        return lc_error(LC_EUNSUPPORTED, "%s: %lld layers, longctx runs at most %d", label, (long long)c->shape.layers, LC_MODEL_MAX_LAYERS);
    }
    lc_layer_kind kinds[LC_MODEL_MAX_LAYERS];
    if ((s = lc_model_layer_kinds_from_config_text(json, label, kinds, c->shape.layers))) return cJSON_Delete(root), s;
    c->layers = c->shape.layers;
    c->hidden = c->shape.hidden;
    c->heads = (int)c->shape.heads;
    c->kv_heads = (int)c->shape.kv_heads;
    c->head_dim = (int)c->shape.head_dim_k;
    if (c->shape.heads > 4096 || c->shape.kv_heads > 4096 || c->shape.head_dim_k > 4096 || (c->shape.head_dim_k != c->shape.head_dim_v && c->shape.kv_lora_rank == 0))
        r.status = lc_error(LC_EUNSUPPORTED, "%s: %lld heads of %lld (k) / %lld (v) dims is not a shape longctx runs", label,
                            (long long)c->shape.heads, (long long)c->shape.head_dim_k, (long long)c->shape.head_dim_v);
    for (int64_t l = 0; l < c->layers; l++) {
        c->layer[l].mixer = kinds[l] == LC_LAYER_MAMBA ? LC_MIXER_MAMBA : LC_MIXER_ATTENTION;
        c->layer[l].mlp = LC_MLP_DENSE;
        c->layer[l].window = kinds[l] == LC_LAYER_SLIDING ? c->shape.window : 0;
    }

    /* transformers' defaults per model type */
    static const int64_t max_pos_default[] = {2048, 131072, 32768, 8192, (int64_t)1 << 30, (int64_t)1 << 30, 262144, 2048}; /* Mamba: none (2^30) */
    c->vocab = count(&r, "vocab_size", gemma ? 256000 : c->arch == LC_ARCH_QWEN2 ? 151936 : 32000, 1);
    c->intermediate = count(&r, "intermediate_size", gemma ? 24576 : c->arch == LC_ARCH_QWEN2 ? 22016 : c->arch == LC_ARCH_MISTRAL ? 14336 : 11008, 1);
    c->max_pos = count(&r, "max_position_embeddings", max_pos_default[arch], 1);
    c->norm_eps = num(&r, root, "", "rms_norm_eps", 1e-6);
    if (!r.status && !(c->norm_eps >= 0)) r.status = lc_error(LC_EFORMAT, "%s: field 'rms_norm_eps' must be >= 0", label);
    c->norm_unit_offset = gemma;
    c->sandwich_norms = gemma;
    c->embed_scale = gemma ? (double)(float)sqrt((double)c->hidden) : 1.0;
    const cJSON *act = get(root, gemma ? "hidden_activation" : "hidden_act");
    if (gemma && !act) act = get(root, "hidden_act");
    const char *an = act && cJSON_IsString(act) ? act->valuestring : gemma ? "gelu_pytorch_tanh" : "silu";
    if (act && !cJSON_IsString(act) && !r.status) r.status = lc_error(LC_EFORMAT, "%s: field 'hidden_act' must be a string", label);
    if (!strcmp(an, "silu") || !strcmp(an, "swish")) c->act = LC_ACT_SILU;
    else if (!strcmp(an, "gelu_pytorch_tanh") || !strcmp(an, "gelu_new") || !strcmp(an, "gelu_fast")) c->act = LC_ACT_GELU_TANH;
    else if (!strcmp(an, "gelu")) c->act = LC_ACT_GELU;
    else if (!r.status) r.status = lc_error(LC_EUNSUPPORTED, "%s: activation '%s' is not one longctx has (silu, gelu_pytorch_tanh, gelu)", label, an);
    int bias = flag(&r, "attention_bias", 0);
    c->qkv_bias = c->arch == LC_ARCH_QWEN2 ? 1 : c->arch == LC_ARCH_MISTRAL ? 0 : bias;
    c->o_bias = c->arch == LC_ARCH_QWEN2 || c->arch == LC_ARCH_MISTRAL ? 0 : bias;
    c->mlp_bias = c->arch == LC_ARCH_LLAMA ? flag(&r, "mlp_bias", 0) : 0;
    c->tie_embeddings = flag(&r, "tie_word_embeddings", gemma);
    c->attn_scale = 1.0 / sqrt((double)c->head_dim);
    if (gemma) {
        double qs = num(&r, root, "", "query_pre_attn_scalar", 256);
        if (!r.status && !(qs > 0)) r.status = lc_error(LC_EFORMAT, "%s: field 'query_pre_attn_scalar' must be positive", label);
        c->attn_scale = 1.0 / sqrt(qs);
        const cJSON *a = get(root, "attn_logit_softcapping"), *f = get(root, "final_logit_softcapping");
        int a_absent = !cJSON_GetObjectItemCaseSensitive(root, "attn_logit_softcapping");
        int f_absent = !cJSON_GetObjectItemCaseSensitive(root, "final_logit_softcapping");
        c->attn_softcap = a ? num(&r, root, "", "attn_logit_softcapping", 0) : a_absent ? 50.0 : 0; /* null: off */
        c->final_softcap = f ? num(&r, root, "", "final_logit_softcapping", 0) : f_absent ? 30.0 : 0;
        if (!r.status && (c->attn_softcap < 0 || c->final_softcap < 0)) r.status = lc_error(LC_EFORMAT, "%s: soft-capping values must be >= 0", label);
    }
    if (!r.status) r.status = lc_model_config_arch(root, label, c); /* Mamba, Mamba-2, Jamba, DeepSeek-V2 */
    if (!c->no_rope) read_rope(&r, c);
    c->bos = -1;
    const cJSON *bos = get(root, "bos_token_id");
    if (bos && cJSON_IsNumber(bos) && bos->valuedouble >= 0) c->bos = (int64_t)bos->valuedouble;
    read_ids(&r, root, label, "eos_token_id", c->stop, &c->n_stop);
    s = r.status;
    cJSON_Delete(root);
    return s;
}

static char *slurp(const char *path, lc_status *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return *s = lc_error(LC_EIO, "cannot open '%s'", path), NULL;
    char *t = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4097 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *n = cap <= ((size_t)64 << 20) ? realloc(t, cap) : NULL;
            if (!n) return free(t), fclose(f), *s = lc_error(LC_EFORMAT, "'%s' is larger than 64 MiB or memory ran out", path), NULL;
            t = n;
        }
        size_t got = fread(t + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    fclose(f);
    t[len] = 0;
    *s = LC_OK;
    return t;
}

lc_status lc_model_config_read(const char *dir, lc_model_config *out) {
    if (!dir || !out) return lc_error(LC_EINVAL, "lc_model_config_read: dir and out must not be NULL");
    size_t n = strlen(dir) + 64;
    char *path = malloc(n);
    if (!path) return lc_error(LC_ENOMEM, "path");
    snprintf(path, n, "%s/config.json", dir);
    lc_status s;
    char *text = slurp(path, &s);
    if (text) {
        s = lc_model_config_parse(text, path, out);
        free(text);
    }
    if (!s) { /* generation_config.json's eos ids win, as in transformers' generate */
        snprintf(path, n, "%s/generation_config.json", dir);
        lc_status gs = LC_OK;
        FILE *probe = fopen(path, "rb"); /* optional: its absence is no error */
        text = probe ? (fclose(probe), slurp(path, &gs)) : NULL;
        if (gs) s = gs;
        if (text) {
            cJSON *g = cJSON_Parse(text);
            free(text);
            if (!g || !cJSON_IsObject(g)) {
                s = lc_error(LC_EFORMAT, "%s: not a JSON object (malformed or truncated)", path);
            } else {
                rd r = {g, path, LC_OK};
                int64_t ids[LC_MODEL_MAX_STOP];
                int k = 0;
                read_ids(&r, g, path, "eos_token_id", ids, &k);
                s = r.status;
                if (!s && k > 0) memcpy(out->stop, ids, sizeof(int64_t) * (size_t)k), out->n_stop = k;
            }
            cJSON_Delete(g);
        }
    }
    free(path);
    return s;
}
