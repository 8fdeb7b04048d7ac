/* Loading a checkpoint: config.json, then every tensor the architecture needs bound to its
 * place with the shape config.json implies. Weight matrices (f32, f16, bf16) are used in the
 * mapping as stored, lc_matmul multiplies them so; norms and biases are converted to f32
 * once when stored otherwise; a tensor at an offset misaligned for its dtype is copied. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_internal.h"

/* The data of tensor `name` of shape [d0] or [d0, d1] (n = 1 or 2), as lc_binder_tensor. */
static const void *bind_as(lc_binder *b, const char *name, int n, int64_t d0, int64_t d1, const char *why, int optional, lc_dtype *as_stored) {
    const int64_t d[2] = {d0, d1};
    return lc_binder_tensor(b, name, n, d, why, optional, as_stored);
}

static const float *bind(lc_binder *b, const char *name, int n, int64_t d0, int64_t d1, const char *why, int optional) {
    return bind_as(b, name, n, d0, d1, why, optional, NULL);
}

static lc_linear linear(lc_binder *b, const char *prefix, int64_t out, int64_t in, int bias, const char *why) {
    char name[300];
    lc_linear l = {NULL, NULL, out, in, LC_F32};
    snprintf(name, sizeof name, "%s.weight", prefix);
    l.w = bind_as(b, name, 2, out, in, why, 0, &l.dtype);
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        l.b = bind(b, name, 1, out, 0, why, 0);
    }
    return l;
}

static void bind_layer(lc_binder *b, int64_t l) {
    const lc_model_config *c = &b->m->cfg;
    lc_layer_weights *w = &b->m->layer[l];
    const int64_t H = c->hidden, qd = (int64_t)c->heads * c->head_dim, kd = (int64_t)c->kv_heads * c->head_dim, I = c->intermediate;
    char p[64], n[200];
    snprintf(p, sizeof p, "model.layers.%lld", (long long)l);
#define NORM(field, suffix)                                                                          \
    snprintf(n, sizeof n, "%s.%s.weight", p, suffix);                                                \
    w->field = bind(b, n, 1, H, 0, "hidden_size", 0)
    NORM(norm_in, "input_layernorm");
    if (c->sandwich_norms) {
        NORM(norm_attn_out, "post_attention_layernorm");
        NORM(norm_mlp_in, "pre_feedforward_layernorm");
        NORM(norm_mlp_out, "post_feedforward_layernorm");
    } else {
        NORM(norm_mlp_in, "post_attention_layernorm");
    }
#undef NORM
    snprintf(n, sizeof n, "%s.self_attn.q_proj", p);
    w->q = linear(b, n, qd, H, c->qkv_bias, "num_attention_heads*head_dim x hidden_size");
    snprintf(n, sizeof n, "%s.self_attn.k_proj", p);
    w->k = linear(b, n, kd, H, c->qkv_bias, "num_key_value_heads*head_dim x hidden_size");
    snprintf(n, sizeof n, "%s.self_attn.v_proj", p);
    w->v = linear(b, n, kd, H, c->qkv_bias, "num_key_value_heads*head_dim x hidden_size");
    snprintf(n, sizeof n, "%s.self_attn.o_proj", p);
    w->o = linear(b, n, H, qd, c->o_bias, "hidden_size x num_attention_heads*head_dim");
    snprintf(n, sizeof n, "%s.mlp.gate_proj", p);
    w->gate = linear(b, n, I, H, c->mlp_bias, "intermediate_size x hidden_size");
    snprintf(n, sizeof n, "%s.mlp.up_proj", p);
    w->up = linear(b, n, I, H, c->mlp_bias, "intermediate_size x hidden_size");
    snprintf(n, sizeof n, "%s.mlp.down_proj", p);
    w->down = linear(b, n, H, I, c->mlp_bias, "hidden_size x intermediate_size");
}

void lc_model_destroy(lc_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) lc_aligned_free(m->owned[i]);
    free(m->owned);
    free(m->layer);
    free(m->ext);
    lc_safetensors_destroy(m->st);
    free(m);
}

lc_status lc_model_load(const char *dir, lc_model **out) {
    if (!dir || !out) return lc_error(LC_EINVAL, "lc_model_load: dir and out must not be NULL");
    *out = NULL;
    lc_model *m = calloc(1, sizeof *m);
    if (!m) return lc_error(LC_ENOMEM, "model");
    lc_status s = lc_model_config_read(dir, &m->cfg);
    if (!s) s = lc_safetensors_open(dir, &m->st);
    const lc_model_config *c = &m->cfg;
    if (!s) {
        for (int l = 0; l < c->layers && !s && !lc_arch_extended(c->arch); l++)
            if (c->layer[l].mixer != LC_MIXER_ATTENTION || c->layer[l].mlp != LC_MLP_DENSE)
                s = lc_error(LC_EUNSUPPORTED, "%s: layer %d is not attention + dense MLP, which is all %s has", dir, l, lc_arch_name(c->arch));
        for (int i = 0; i < c->n_stop && !s; i++)
            if (c->stop[i] >= c->vocab)
                s = lc_error(LC_EFORMAT, "%s: eos_token_id %lld is not below vocab_size=%lld", dir, (long long)c->stop[i], (long long)c->vocab);
    }
    if (!s) {
        m->layer = calloc((size_t)c->layers, sizeof *m->layer);
        if (!m->layer) s = lc_error(LC_ENOMEM, "model layers");
    }
    if (!s && lc_arch_extended(c->arch)) {
        s = lc_arch_bind(m, dir); /* Mamba, Mamba-2, Jamba, DeepSeek-V2 (arch_load.c) */
    } else if (!s) {
        lc_binder b = {m, dir, LC_OK};
        m->embed = bind_as(&b, "model.embed_tokens.weight", 2, c->vocab, c->hidden, "vocab_size x hidden_size", 0, &m->embed_dtype);
        for (int64_t l = 0; l < c->layers; l++) bind_layer(&b, l);
        m->norm_out = bind(&b, "model.norm.weight", 1, c->hidden, 0, "hidden_size", 0);
        m->lm_head = (lc_linear){m->embed, NULL, c->vocab, c->hidden, m->embed_dtype};
        if (!c->tie_embeddings)
            m->lm_head.w = bind_as(&b, "lm_head.weight", 2, c->vocab, c->hidden, "vocab_size x hidden_size (tie_word_embeddings false)", 0,
                                   &m->lm_head.dtype);
        s = b.status;
    }
    if (s) {
        lc_model_destroy(m);
        return s;
    }
    m->cfg.shape.params = m->cfg.shape.active_params = m->info.params;
    lc_arch_model_finish(m);
    m->info.mapped_bytes = lc_safetensors_mapped_bytes(m->st);
    m->info.files = lc_safetensors_file_count(m->st);
    *out = m;
    return LC_OK;
}

const lc_model_config *lc_model_config_of(const lc_model *m) { return m ? &m->cfg : NULL; }

void lc_model_get_info(const lc_model *m, lc_model_info *out) {
    if (!out) return;
    if (!m) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = m->info;
}
