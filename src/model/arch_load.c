/* The weights of Mamba, Mamba-2, Jamba and DeepSeek-V2 checkpoints, each bound with the
 * shape config.json implies (names as transformers' state_dict). Aligned f32 tensors are used
 * in the mapping, the rest converted to f32 once; MLA's kv_b_proj is split into the per-head
 * W_UK and W_UV that lc_mla takes. Mixture-of-experts weights come per expert
 * (experts.E.gate_proj ..., as transformers' save_pretrained writes them). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_internal.h"


static void *own(lc_binder *b, size_t bytes) { return lc_binder_own(b, bytes, "converted weights"); }

/* The f32 data of tensor `name` of shape d[0..nd) (`why`: the config fields that imply it). */
static const float *get(lc_binder *b, const char *name, int nd, const int64_t *d, const char *why, int optional) {
    return lc_binder_tensor(b, name, nd, d, why, optional, NULL);
}

static const float *vec(lc_binder *b, const char *prefix, const char *suffix, int64_t n, const char *why) {
    char name[512];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    return get(b, name, 1, &n, why, 0);
}

/* prefix.weight [out, in] (+ prefix.bias [out]). */
static lc_linear lin(lc_binder *b, const char *prefix, int64_t out, int64_t in, int bias, const char *why) {
    char name[512];
    lc_linear l = {NULL, NULL, out, in, LC_F32};
    int64_t d[2] = {out, in};
    snprintf(name, sizeof name, "%s.weight", prefix);
    l.w = get(b, name, 2, d, why, 0);
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        l.b = get(b, name, 1, &out, why, 0);
    }
    return l;
}

/* conv1d.weight [channels, 1, K] and its bias. */
static void conv(lc_binder *b, const char *p, int64_t ch, int64_t K, int bias, const float **w, const float **cb) {
    char name[512];
    int64_t d[3] = {ch, 1, K};
    snprintf(name, sizeof name, "%s.conv1d.weight", p);
    *w = get(b, name, 3, d, "conv channels x 1 x conv_kernel", 0);
    *cb = bias ? vec(b, p, "conv1d.bias", ch, "conv channels (use_conv_bias)") : NULL;
}

static void bind_mamba(lc_binder *b, const char *p, lc_mamba_weights *w) {
    const lc_model_config *c = &b->m->cfg;
    const lc_ssm_config *s = &c->ssm;
    const int64_t H = c->hidden, E = s->inner, N = s->state, R = s->dt_rank;
    char n[300];
    w->hidden = H, w->inner = E, w->state = N, w->conv_kernel = s->conv, w->dt_rank = R;
    snprintf(n, sizeof n, "%s.in_proj", p);
    lc_linear in = lin(b, n, 2 * E, H, s->proj_bias, "2 d_inner x hidden_size");
    w->in_proj_w = in.w, w->in_proj_b = in.b;
    conv(b, p, E, s->conv, s->conv_bias, &w->conv_w, &w->conv_b);
    snprintf(n, sizeof n, "%s.x_proj", p);
    w->x_proj_w = lin(b, n, R + 2 * N, E, 0, "dt_rank + 2 state_size x d_inner").w;
    snprintf(n, sizeof n, "%s.dt_proj", p);
    lc_linear dt = lin(b, n, E, R, 1, "d_inner x dt_rank");
    w->dt_proj_w = dt.w, w->dt_proj_b = dt.b;
    int64_t an[2] = {E, N};
    snprintf(n, sizeof n, "%s.A_log", p);
    w->A_log = get(b, n, 2, an, "d_inner x state_size", 0);
    w->D = vec(b, p, "D", E, "d_inner");
    snprintf(n, sizeof n, "%s.out_proj", p);
    lc_linear out = lin(b, n, H, E, s->proj_bias, "hidden_size x d_inner");
    w->out_proj_w = out.w, w->out_proj_b = out.b;
    if (s->inner_norms) {
        w->dt_norm_w = vec(b, p, "dt_layernorm.weight", R, "mamba_dt_rank");
        w->b_norm_w = vec(b, p, "b_layernorm.weight", N, "mamba_d_state");
        w->c_norm_w = vec(b, p, "c_layernorm.weight", N, "mamba_d_state");
        w->norm_eps = (float)c->norm_eps;
    }
}

static void bind_mamba2(lc_binder *b, const char *p, lc_mamba2_weights *w) {
    const lc_model_config *c = &b->m->cfg;
    const lc_ssm_config *s = &c->ssm;
    const int64_t H = c->hidden, E = s->inner, GN = s->groups * s->state, CD = E + 2 * GN, NH = s->heads;
    char n[300];
    w->hidden = H, w->heads = NH, w->head_dim = s->head_dim, w->groups = s->groups, w->state = s->state, w->conv_kernel = s->conv;
    w->norm_group = 0; /* MambaRMSNormGated: over the whole d_inner */
    w->norm_eps = (float)c->norm_eps, w->dt_min = (float)s->dt_min, w->dt_max = (float)s->dt_max, w->chunk = s->chunk;
    snprintf(n, sizeof n, "%s.in_proj", p);
    lc_linear in = lin(b, n, E + CD + NH, H, s->proj_bias, "2 d_inner + 2 n_groups state_size + num_heads x hidden_size");
    w->in_proj_w = in.w, w->in_proj_b = in.b;
    conv(b, p, CD, s->conv, s->conv_bias, &w->conv_w, &w->conv_b);
    w->dt_bias = vec(b, p, "dt_bias", NH, "num_heads");
    w->A_log = vec(b, p, "A_log", NH, "num_heads");
    w->D = vec(b, p, "D", NH, "num_heads");
    w->norm_w = vec(b, p, "norm.weight", E, "d_inner");
    snprintf(n, sizeof n, "%s.out_proj", p);
    lc_linear out = lin(b, n, H, E, s->proj_bias, "hidden_size x d_inner");
    w->out_proj_w = out.w, w->out_proj_b = out.b;
}

static void bind_mla(lc_binder *b, const char *p, lc_mla_weights *w) {
    const lc_model_config *c = &b->m->cfg;
    const lc_mla_config *a = &c->mla;
    const int64_t H = c->hidden, NH = c->heads, QD = (int64_t)a->nope + a->rope, R = a->rank;
    char n[300];
    if (a->q_rank > 0) {
        snprintf(n, sizeof n, "%s.q_a_proj", p);
        w->q_a = lin(b, n, a->q_rank, H, c->qkv_bias, "q_lora_rank x hidden_size");
        w->q_norm = vec(b, p, "q_a_layernorm.weight", a->q_rank, "q_lora_rank");
        snprintf(n, sizeof n, "%s.q_b_proj", p);
        w->q_b = lin(b, n, NH * QD, a->q_rank, 0, "num_attention_heads x (qk_nope_head_dim + qk_rope_head_dim) x q_lora_rank");
    } else {
        snprintf(n, sizeof n, "%s.q_proj", p);
        w->q = lin(b, n, NH * QD, H, 0, "num_attention_heads x (qk_nope_head_dim + qk_rope_head_dim) x hidden_size");
    }
    snprintf(n, sizeof n, "%s.kv_a_proj_with_mqa", p);
    w->kv_a = lin(b, n, R + a->rope, H, c->qkv_bias, "kv_lora_rank + qk_rope_head_dim x hidden_size");
    w->kv_norm = vec(b, p, "kv_a_layernorm.weight", R, "kv_lora_rank");
    snprintf(n, sizeof n, "%s.kv_b_proj", p);
    lc_linear kvb = lin(b, n, NH * (a->nope + a->v_dim), R, 0, "num_attention_heads x (qk_nope_head_dim + v_head_dim) x kv_lora_rank");
    snprintf(n, sizeof n, "%s.o_proj", p);
    w->o = lin(b, n, H, NH * a->v_dim, c->o_bias, "hidden_size x num_attention_heads v_head_dim");
    if (b->status) return;
    /* kv_b_proj's rows per head: nope rows of W_UK, then v_dim rows of W_UV */
    float *uk = own(b, sizeof(float) * (size_t)(NH * a->nope * R + 1)), *uv = own(b, sizeof(float) * (size_t)(NH * a->v_dim * R));
    if (!uk || !uv) return;
    for (int64_t h = 0; h < NH; h++) {
        const float *src = (const float *)kvb.w + h * (a->nope + a->v_dim) * R;
        memcpy(uk + h * a->nope * R, src, sizeof(float) * (size_t)(a->nope * R));
        memcpy(uv + h * a->v_dim * R, src + a->nope * R, sizeof(float) * (size_t)(a->v_dim * R));
    }
    b->m->info.copied_bytes += sizeof(float) * (size_t)(NH * (a->nope + a->v_dim) * R);
    w->w_uk = uk, w->w_uv = uv;
}

/* p.gate_proj / up_proj / down_proj. */
static void bind_mlp(lc_binder *b, const char *p, int64_t inter, lc_linear *g, lc_linear *u, lc_linear *d, const char *why_in, const char *why_out) {
    const int64_t H = b->m->cfg.hidden;
    char n[300];
    snprintf(n, sizeof n, "%s.gate_proj", p);
    *g = lin(b, n, inter, H, 0, why_in);
    snprintf(n, sizeof n, "%s.up_proj", p);
    *u = lin(b, n, inter, H, 0, why_in);
    snprintf(n, sizeof n, "%s.down_proj", p);
    *d = lin(b, n, H, inter, 0, why_out);
}

static void bind_moe(lc_binder *b, const char *p, lc_moe_weights *w) {
    const lc_model_config *c = &b->m->cfg;
    const lc_moe_config *e = &c->moe;
    const int64_t H = c->hidden, E = e->experts, I = e->inter;
    int ds = c->arch == LC_ARCH_DEEPSEEK_V2;
    char n[300];
    snprintf(n, sizeof n, "%s.%s", p, ds ? "gate" : "router");
    w->router = lin(b, n, E, H, 0, "experts x hidden_size");
    lc_linear *t = own(b, sizeof(lc_linear) * (size_t)(3 * E));
    if (!t) return;
    w->gate = t, w->up = t + E, w->down = t + 2 * E;
    for (int64_t x = 0; x < E && !b->status; x++) {
        snprintf(n, sizeof n, "%s.experts.%lld", p, (long long)x);
        bind_mlp(b, n, I, &w->gate[x], &w->up[x], &w->down[x], "expert intermediate size x hidden_size", "hidden_size x expert intermediate size");
    }
    if (e->shared > 0) {
        snprintf(n, sizeof n, "%s.shared_experts", p);
        bind_mlp(b, n, I * e->shared, &w->sgate, &w->sup, &w->sdown, "moe_intermediate_size n_shared_experts x hidden_size",
                 "hidden_size x moe_intermediate_size n_shared_experts");
    }
}

lc_status lc_arch_bind(lc_model *m, const char *dir) {
    const lc_model_config *c = &m->cfg;
    const int64_t H = c->hidden, I = c->intermediate;
    m->ext = calloc((size_t)c->layers, sizeof *m->ext);
    if (!m->ext) return lc_error(LC_ENOMEM, "model layers");
    lc_binder b = {m, dir, LC_OK};
    int ssm = c->arch == LC_ARCH_MAMBA || c->arch == LC_ARCH_MAMBA2, jamba = c->arch == LC_ARCH_JAMBA;
    const char *root = ssm ? "backbone" : "model";
    char p[96], n[200];
    int64_t ev[2] = {c->vocab, H};
    snprintf(n, sizeof n, "%s.%s.weight", root, ssm ? "embeddings" : "embed_tokens");
    m->embed = get(&b, n, 2, ev, "vocab_size x hidden_size", 0);
    for (int64_t l = 0; l < c->layers && !b.status; l++) {
        lc_layer_weights *w = &m->layer[l];
        lc_layer_ext *x = &m->ext[l];
        const lc_layer_plan *lp = &c->layer[l];
        snprintf(p, sizeof p, "%s.layers.%lld", root, (long long)l);
        w->norm_in = vec(&b, p, ssm ? "norm.weight" : "input_layernorm.weight", H, "hidden_size");
        if (lp->mlp != LC_MLP_NONE) w->norm_mlp_in = vec(&b, p, jamba ? "pre_ff_layernorm.weight" : "post_attention_layernorm.weight", H, "hidden_size");
        switch (lp->mixer) {
        case LC_MIXER_MAMBA:
            snprintf(n, sizeof n, "%s.%s", p, jamba ? "mamba" : "mixer");
            bind_mamba(&b, n, &x->mamba);
            break;
        case LC_MIXER_MAMBA2:
            snprintf(n, sizeof n, "%s.mixer", p);
            bind_mamba2(&b, n, &x->mamba2);
            break;
        case LC_MIXER_MLA:
            snprintf(n, sizeof n, "%s.self_attn", p);
            bind_mla(&b, n, &x->mla);
            break;
        default: { /* Jamba's attention: q, k, v, o as the llama family's */
            const int64_t qd = (int64_t)c->heads * c->head_dim, kd = (int64_t)c->kv_heads * c->head_dim;
            snprintf(n, sizeof n, "%s.self_attn.q_proj", p);
            w->q = lin(&b, n, qd, H, c->qkv_bias, "num_attention_heads*head_dim x hidden_size");
            snprintf(n, sizeof n, "%s.self_attn.k_proj", p);
            w->k = lin(&b, n, kd, H, c->qkv_bias, "num_key_value_heads*head_dim x hidden_size");
            snprintf(n, sizeof n, "%s.self_attn.v_proj", p);
            w->v = lin(&b, n, kd, H, c->qkv_bias, "num_key_value_heads*head_dim x hidden_size");
            snprintf(n, sizeof n, "%s.self_attn.o_proj", p);
            w->o = lin(&b, n, H, qd, c->o_bias, "hidden_size x num_attention_heads*head_dim");
        }
        }
        snprintf(n, sizeof n, "%s.%s", p, jamba ? "feed_forward" : "mlp");
        if (lp->mlp == LC_MLP_DENSE) bind_mlp(&b, n, I, &w->gate, &w->up, &w->down, "intermediate_size x hidden_size", "hidden_size x intermediate_size");
        else if (lp->mlp == LC_MLP_MOE) bind_moe(&b, n, &x->moe);
    }
    snprintf(n, sizeof n, "%s.%s.weight", root, ssm ? "norm_f" : jamba ? "final_layernorm" : "norm");
    m->norm_out = get(&b, n, 1, &ev[1], "hidden_size", 0);
    m->lm_head = (lc_linear){m->embed, NULL, c->vocab, H, LC_F32};
    if (!c->tie_embeddings) m->lm_head.w = get(&b, "lm_head.weight", 2, ev, "vocab_size x hidden_size (tie_word_embeddings false)", 0);
    if (!b.status) { /* the layer kernels' own checks, now that every pointer is set */
        for (int64_t l = 0; l < c->layers && !b.status; l++) {
            lc_status s = c->layer[l].mixer == LC_MIXER_MAMBA ? lc_mamba_weights_check(&m->ext[l].mamba)
                          : c->layer[l].mixer == LC_MIXER_MAMBA2 ? lc_mamba2_weights_check(&m->ext[l].mamba2)
                                                                : LC_OK;
            if (s) {
                char why[400];
                snprintf(why, sizeof why, "%s", lc_last_error());
                b.status = lc_error(LC_EFORMAT, "%s: layer %lld: %s", dir, (long long)l, why);
            }
        }
    }
    return b.status;
}

void lc_arch_model_finish(lc_model *m) {
    const lc_model_config *c = &m->cfg;
    if (!lc_arch_extended(c->arch) || c->moe.experts == 0) return;
    double idle = 0; /* routed experts a token does not use, in MoE layers */
    for (int64_t l = 0; l < c->layers; l++)
        if (c->layer[l].mlp == LC_MLP_MOE) idle += (double)(c->moe.experts - c->moe.top_k) * 3.0 * (double)c->hidden * (double)c->moe.inter;
    m->cfg.shape.active_params = m->cfg.shape.params - idle;
}
