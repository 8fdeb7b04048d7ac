/* Model shapes: the built-in presets with their published config.json values, and the
 * check every shape passes before the cost model uses it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "longctx/cost.h"

/* Published shapes (the models' config.json on the Hugging Face hub) and parameter counts
 * (model cards; MoE: total and active per token). */
static const lc_model_shape presets[] = {
    /* name, layers, attn, local, window, hidden, heads, kv, dk, dv, lora, rope, ssm inner/state/conv, params, active, ssm conv channels */
    {"llama-3.1-8b", 32, 32, 0, 0, 4096, 32, 8, 128, 128, 0, 0, 0, 0, 0, 8.030261248e9, 8.030261248e9, 0},
    {"llama-3.1-70b", 80, 80, 0, 0, 8192, 64, 8, 128, 128, 0, 0, 0, 0, 0, 70.553706496e9, 70.553706496e9, 0},
    {"mistral-7b-v0.1", 32, 32, 32, 4096, 4096, 32, 8, 128, 128, 0, 0, 0, 0, 0, 7.241732096e9, 7.241732096e9, 0},
    /* Gemma-2: layers alternate sliding (4096) and global, starting with sliding */
    {"gemma-2-9b", 42, 42, 21, 4096, 3584, 16, 8, 256, 256, 0, 0, 0, 0, 0, 9.241705984e9, 9.241705984e9, 0},
    /* DeepSeek-V2: MLA, qk_nope_head_dim 128 + qk_rope_head_dim 64, v_head_dim 128; 236B total, 21B active */
    {"deepseek-v2", 60, 60, 0, 0, 5120, 128, 128, 192, 128, 512, 64, 0, 0, 0, 236e9, 21e9, 0},
    {"mamba-2.8b", 64, 0, 0, 0, 2560, 0, 0, 0, 0, 0, 0, 5120, 16, 4, 2.768345600e9, 2.768345600e9, 0},
    /* Jamba: attention in layer 4 of every 8 (attn_layer_period 8, offset 4), Mamba elsewhere; 52B total, 12B active */
    {"jamba-v0.1", 32, 4, 0, 0, 4096, 32, 8, 128, 128, 0, 0, 8192, 16, 4, 51.6e9, 12e9, 0},
    /* the seeds' illustrative model: 32 layers x 32 heads of 128, multi-head (a Llama-2-7B shape) */
    {"illustrative-32x32", 32, 32, 0, 0, 4096, 32, 32, 128, 128, 0, 0, 0, 0, 0, 6.738415616e9, 6.738415616e9, 0},
};
enum { N_PRESETS = sizeof presets / sizeof presets[0] };

const char *const *lc_model_preset_names(void) {
    static const char *names[N_PRESETS + 1];
    for (int i = 0; i < N_PRESETS; i++) names[i] = presets[i].name;
    names[N_PRESETS] = NULL;
    return names;
}

lc_status lc_model_preset(const char *name, lc_model_shape *out) {
    if (!name || !out) return lc_error(LC_EINVAL, "lc_model_preset: name and out must not be NULL");
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcasecmp(name, presets[i].name)) {
            *out = presets[i];
            return LC_OK;
        }
    char known[512] = "";
    for (int i = 0; i < N_PRESETS; i++) {
        strncat(known, i ? ", " : "", sizeof known - strlen(known) - 1);
        strncat(known, presets[i].name, sizeof known - strlen(known) - 1);
    }
    return lc_error(LC_EINVAL, "unknown model preset '%s' (known: %s)", name, known);
}

#define FIELD_POS(f)                                                                                                 \
    if (m->f <= 0) return lc_error(LC_EINVAL, "model %s: " #f "=%lld must be positive", m->name, (long long)m->f)
#define FIELD_NONNEG(f)                                                                                              \
    if (m->f < 0) return lc_error(LC_EINVAL, "model %s: " #f "=%lld must not be negative", m->name, (long long)m->f)

lc_status lc_model_check(const lc_model_shape *m) {
    if (!m) return lc_error(LC_EINVAL, "model shape is NULL");
    FIELD_POS(layers);
    FIELD_POS(hidden);
    FIELD_NONNEG(attn_layers);
    FIELD_NONNEG(local_layers);
    FIELD_NONNEG(window);
    FIELD_NONNEG(kv_lora_rank);
    FIELD_NONNEG(qk_rope_dim);
    FIELD_NONNEG(ssm_inner);
    FIELD_NONNEG(ssm_state);
    FIELD_NONNEG(ssm_conv);
    FIELD_NONNEG(ssm_conv_dim);
    if (m->attn_layers > m->layers)
        return lc_error(LC_EINVAL, "model %s: attn_layers=%lld exceeds layers=%lld", m->name, (long long)m->attn_layers, (long long)m->layers);
    if (m->local_layers > m->attn_layers)
        return lc_error(LC_EINVAL, "model %s: local_layers=%lld exceeds attn_layers=%lld", m->name, (long long)m->local_layers, (long long)m->attn_layers);
    if (m->local_layers > 0 && m->window <= 0)
        return lc_error(LC_EINVAL, "model %s: %lld sliding-window layers need window > 0", m->name, (long long)m->local_layers);
    if (m->attn_layers > 0) {
        FIELD_POS(heads);
        FIELD_POS(kv_heads);
        FIELD_POS(head_dim_k);
        FIELD_POS(head_dim_v);
        if (m->heads % m->kv_heads)
            return lc_error(LC_EINVAL, "model %s: kv_heads=%lld must divide heads=%lld", m->name, (long long)m->kv_heads, (long long)m->heads);
    }
    if (m->attn_layers < m->layers) { /* the other layers are Mamba layers */
        if (m->ssm_inner <= 0 || m->ssm_state <= 0 || m->ssm_conv <= 0)
            return lc_error(LC_EINVAL, "model %s: %lld non-attention layers need ssm_inner, ssm_state and ssm_conv > 0", m->name,
                            (long long)(m->layers - m->attn_layers));
    }
    if (!(m->params > 0)) return lc_error(LC_EINVAL, "model %s: params=%g must be positive", m->name, m->params);
    if (!(m->active_params > 0) || m->active_params > m->params)
        return lc_error(LC_EINVAL, "model %s: active_params=%g must be in (0, params=%g]", m->name, m->active_params, m->params);
    return LC_OK;
}
