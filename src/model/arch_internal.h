/* Mamba, Mamba-2, Jamba and DeepSeek-V2 in the runner: the layer kinds beyond attention + a
 * dense MLP, and the hooks the llama-family files call for them (private to src/model/).
 *
 *   arch_config.c   config.json: SSM sizes, experts, MLA ranks, each layer's mixer and MLP
 *   arch_load.c     the weights of each layer kind, bound with the shapes config.json implies
 *   arch_context.c  a context's recurrent states and latent caches, sequences, scratch, bytes
 *   arch_forward.c  the forward over a layer plan (norms, residuals, logits)
 *   mamba_mixer.c   Mamba / Mamba-2 layers: lc_mamba_* / lc_mamba2_* on each sequence's states
 *   mla_attention.c MLA: projections, RoPE (lc_rope_apply), lc_mla_prefill / lc_mla_decode
 *   moe.c           dense and mixture-of-experts MLPs */
#ifndef LONGCTX_ARCH_INTERNAL_H
#define LONGCTX_ARCH_INTERNAL_H

#include "longctx/mla.h"
#include "longctx/ssm.h"
#include "model_internal.h"

struct cJSON;

/* 1 for the architectures these files run (mamba, mamba2, jamba, deepseek_v2). */
int lc_arch_extended(lc_arch a);

/* ---- config (arch_config.c) ---------------------------------------------------------------- */

/* Fills c->ssm, c->moe, c->mla, c->no_rope, the layer plan's mixers and MLPs and the type's
 * defaults (norm eps, tied head, vocabulary) for the extended types; LC_OK for the others.
 * Runs inside lc_model_config_parse, before RoPE is read. */
lc_status lc_model_config_arch(const struct cJSON *root, const char *label, lc_model_config *c);

/* ---- weights (arch_load.c) ------------------------------------------------------------------ */

typedef struct lc_moe_weights {
    lc_linear router;            /* [experts, hidden] */
    lc_linear *gate, *up, *down; /* [experts] each */
    lc_linear sgate, sup, sdown; /* the shared experts' MLP; sgate.w NULL: none */
} lc_moe_weights;

typedef struct lc_mla_weights {
    lc_linear q, q_a, q_b;       /* q_proj (no q_lora_rank), or q_a_proj then q_b_proj */
    const float *q_norm;         /* q_a_layernorm [q_rank] */
    lc_linear kv_a;              /* kv_a_proj_with_mqa [rank + rope, hidden] */
    const float *kv_norm;        /* kv_a_layernorm [rank] */
    const float *w_uk, *w_uv;    /* kv_b_proj split per head: [heads, nope, rank], [heads, v_dim, rank] */
    lc_linear o;                 /* [hidden, heads v_dim] */
} lc_mla_weights;

/* A layer's weights beyond lc_layer_weights (which keeps the norms, q/k/v/o of attention and
 * the dense MLP's gate/up/down). */
typedef struct lc_layer_ext {
    lc_mamba_weights mamba;
    lc_mamba2_weights mamba2;
    lc_mla_weights mla;
    lc_moe_weights moe;
} lc_layer_ext;

/* Binds every tensor of an extended architecture (m->layer allocated, m->st open). */
lc_status lc_arch_bind(lc_model *m, const char *dir);
/* After loading: active parameters of a mixture of experts (top_k of the routed experts). */
void lc_arch_model_finish(lc_model *m);

/* ---- contexts (arch_context.c) -------------------------------------------------------------- */

typedef struct lc_layer_state {
    float *conv, *ssm;                /* Mamba / Mamba-2: [max_seqs, conv_floats], [max_seqs, ssm_floats] */
    int64_t conv_floats, ssm_floats;  /* per sequence */
    lc_mla mla;                       /* MLA: the kernel's descriptor */
    lc_mla_cache **cache;             /* MLA: [max_seqs] latent caches */
} lc_layer_state;

typedef struct lc_ctx_ext {
    lc_layer_state *layer;            /* [layers] */
    /* MLA scratch, [R] rows each */
    float *q, *qa, *kv, *qn, *qr, *ck, *kr, *att;
    void *mla_ws;                     /* lc_mla_decode's workspace, grown on demand */
    size_t mla_ws_bytes;
    /* MoE scratch */
    float *probs, *wts, *xs, *gs, *us, *ys; /* [R, experts], [R, top_k], [R, hidden], [R, inter] x2, [R, hidden] */
    int *idx;                          /* [R, top_k] */
    int64_t *rows;                     /* [R] the rows routed to one expert */
    size_t scratch_bytes, state_bytes;
} lc_ctx_ext;

lc_status lc_arch_context_check(const lc_model *m, const lc_context_config *c);
lc_status lc_arch_context_init(lc_context *ctx);
void lc_arch_context_free(lc_context *ctx);
lc_status lc_arch_seq_new(lc_context *ctx, int seq);
lc_status lc_arch_seq_fork(lc_context *ctx, int src, int dst);
/* Bytes of seq's recurrent states and latent caches (the wall's cache_bytes beside the KV). */
size_t lc_arch_state_bytes(const lc_context *ctx, int seq);
size_t lc_arch_alloc_bytes(const lc_context *ctx);
/* LC_EUNSUPPORTED when the wall cannot state this context (f32 Mamba states beside a KV cache
 * of another dtype: the wall has one dtype for both). */
lc_status lc_arch_cost_check(const lc_context *ctx);

/* ---- the forward (arch_forward.c and the layer files) --------------------------------------- */

lc_status lc_arch_forward(lc_context *ctx, const int32_t *tokens, const lc_run *runs, int n_runs, int64_t rows, const int64_t *out_rows,
                          int64_t n_out, float *logits);
/* llama.c's attention of one run in layer l (q, k, v rows in ctx->qkv, out into ctx->att). */
lc_status lc_llama_attend(lc_context *ctx, int64_t l, const lc_run *r);

/* y[rows, out] (row stride ldy) = x[rows, in] (row stride ldx) W^T + b */
void lc_arch_linear(const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy);
/* RMSNorm of n values per row (row strides ldx, ldo) in f32 as transformers: w * x / sqrt(mean(x^2) + eps). */
void lc_arch_rms_norm(const float *x, int64_t rows, int64_t ldx, int64_t n, const float *w, double eps, float *out, int64_t ldo, int threads);

/* Layer l's mixer over the runs: h rows in, out rows written ([rows, hidden] each). */
lc_status lc_arch_mamba(lc_context *ctx, int64_t l, const lc_run *runs, int n_runs, const float *h, float *out);
lc_status lc_arch_mla(lc_context *ctx, int64_t l, const lc_run *runs, int n_runs, int64_t rows, const float *h, float *out);
/* Layer l's MLP (dense or MoE) of rows h into out. */
lc_status lc_arch_mlp(lc_context *ctx, int64_t l, int64_t rows, const float *h, float *out);

#endif
