/* The wall: a cost model of memory, FLOPs and bytes moved for every long-context
 * technique, for a model shape (built-in preset or Hugging Face config.json), at context
 * lengths from 1K to millions of tokens. Formulas and their sources: docs/cost-model.md.
 *
 * Every quantity is a double (bytes, FLOPs, pairs): exact integers up to 2^53, then
 * relative error 1e-16, which is what a cost model at 2^40 tokens needs. */
#ifndef LONGCTX_COST_H
#define LONGCTX_COST_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- model shapes -------------------------------------------------------------------------- */

typedef struct lc_model_shape {
    char name[64];
    int64_t layers;       /* num_hidden_layers */
    int64_t attn_layers;  /* layers with attention; the other layers - attn_layers are Mamba */
    int64_t local_layers; /* of attn_layers, those with a sliding window (Mistral: all, Gemma-2: half) */
    int64_t window;       /* sliding_window of the local layers (tokens incl. self); 0 if none */
    int64_t hidden;       /* hidden_size */
    int64_t heads;        /* num_attention_heads; 0 for a model without attention */
    int64_t kv_heads;     /* num_key_value_heads */
    int64_t head_dim_k;   /* per-head dim of q and k (DeepSeek-V2: qk_nope + qk_rope = 192) */
    int64_t head_dim_v;   /* per-head dim of v */
    int64_t kv_lora_rank; /* MLA latent per token and layer (DeepSeek-V2: 512); 0 = not MLA */
    int64_t qk_rope_dim;  /* MLA decoupled RoPE key per token and layer (DeepSeek-V2: 64) */
    int64_t ssm_inner;    /* Mamba d_inner = expand * hidden; 0 if no Mamba layers */
    int64_t ssm_state;    /* Mamba d_state (state_size) */
    int64_t ssm_conv;     /* Mamba d_conv (conv_kernel) */
    double params;        /* parameters held in memory */
    double active_params; /* parameters used per token (MoE: fewer than params) */
    int64_t ssm_conv_dim; /* channels of the Mamba layers' causal conv, whose state keeps ssm_conv - 1
                           * inputs of each: 0 = ssm_inner (Mamba); Mamba-2: d_inner + 2 n_groups d_state */
} lc_model_shape;

/* Names of the built-in presets, NULL-terminated: "llama-3.1-8b", "llama-3.1-70b",
 * "mistral-7b-v0.1", "gemma-2-9b", "deepseek-v2", "mamba-2.8b", "jamba-v0.1",
 * "illustrative-32x32". */
const char *const *lc_model_preset_names(void);
/* The published shape of a preset (case-insensitive); LC_EINVAL naming the known ones. */
lc_status lc_model_preset(const char *name, lc_model_shape *out);
/* Validates a shape; the sentence names the first wrong field. */
lc_status lc_model_check(const lc_model_shape *m);

/* A Hugging Face config.json (text or file), read as transformers reads it. The text model
 * of a multimodal config is read from its "text_config"; GPT-2-style names stand for the
 * usual ones (n_layer, n_head, n_embd, n_inner, n_positions; MPT's n_layers, n_heads,
 * d_model; Falcon's num_kv_heads). Reads model_type, num_hidden_layers,
 * num_attention_heads, num_key_value_heads (default: num_attention_heads), head_dim
 * (default: hidden_size / num_attention_heads), sliding_window, use_sliding_window,
 * layer_types, kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim, v_head_dim, state_size /
 * mamba_d_state, expand / mamba_expand, conv_kernel / mamba_d_conv, n_groups (Mamba-2),
 * attn_layer_period / attn_layer_offset (Jamba). A field the model type needs and the file
 * lacks (with no transformers default) is LC_EFORMAT naming it; so is a value past a sane
 * bound (num_hidden_layers above 16384, hidden_size above 2^20, heads above 65536, ...),
 * malformed JSON, or a file over 64 MiB; an unreadable file is LC_EIO.
 *
 * params <= 0: the parameters are counted from the config's own fields: vocab_size,
 * hidden_size, intermediate_size, tie_word_embeddings (transformers' default per family),
 * and for mixtures of experts (n_routed_experts / num_local_experts / num_experts,
 * num_experts_per_tok, moe_intermediate_size, n_shared_experts or
 * shared_expert_intermediate_size, first_k_dense_replace / moe_layer_freq,
 * decoder_sparse_step / mlp_only_layers, expert_layer_period / offset) the total and the
 * active per token; MLA's q_lora_rank; GPT-2's biases and learned positions. params > 0
 * (at most 1e15) is taken as given, with active_params = params.
 *
 * The _noted forms also write to notes (NUL-terminated, cap bytes; may be NULL) what was
 * not in the file and what was used instead, "; "-separated, e.g. "num_key_value_heads =
 * num_attention_heads = 32; head_dim = hidden_size / num_attention_heads = 128"; "" when
 * nothing was defaulted. */
lc_status lc_model_from_config_text(const char *json, const char *label, double params, lc_model_shape *out);
lc_status lc_model_from_config_file(const char *path, double params, lc_model_shape *out);
lc_status lc_model_from_config_text_noted(const char *json, const char *label, double params, lc_model_shape *out, char *notes, size_t cap);
lc_status lc_model_from_config_file_noted(const char *path, double params, lc_model_shape *out, char *notes, size_t cap);

/* What each layer of a config.json is, by the same rules that give attn_layers and
 * local_layers above (so the two never disagree): layer_types when present, else Gemma-2's
 * alternation (even layers slide), Qwen2's max_window_layers (layers from it on slide, when
 * use_sliding_window), Gemma-3's sliding_window_pattern, Jamba's attn_layer_period / offset,
 * Mamba (every layer), or every attention layer sliding when sliding_window is set.
 * n_layers must equal num_hidden_layers. The runner (include/longctx/model.h) builds its
 * layer plan from this, so the wall and the runner read a config.json one way. */
typedef enum lc_layer_kind { LC_LAYER_ATTENTION = 0, LC_LAYER_SLIDING = 1, LC_LAYER_MAMBA = 2 } lc_layer_kind;
lc_status lc_model_layer_kinds_from_config_text(const char *json, const char *label, lc_layer_kind *kinds, int64_t n_layers);

/* ---- techniques ------------------------------------------------------------------------------ */

typedef enum lc_technique {
    LC_TECH_NATIVE = 0, /* the model as published, flash kernels (windowed layers, MLA, Mamba as they are) */
    LC_TECH_STANDARD,   /* eager attention: the B x H x n x n scores of a layer materialised */
    LC_TECH_FLASH,      /* exact, no score matrix, O(n) row statistics; model's KV heads */
    LC_TECH_MHA,        /* flash with one KV head per query head */
    LC_TECH_GQA,        /* flash with gqa_kv_heads KV heads */
    LC_TECH_MQA,        /* flash with one KV head */
    LC_TECH_SLIDING,    /* causal window of `window` keys on every attention layer; ring cache */
    LC_TECH_LONGFORMER, /* window +-lf_window and lf_global global tokens */
    LC_TECH_BIGBIRD,    /* blocks: window, global and random blocks */
    LC_TECH_LINEAR,     /* linear attention: a dk x dv state (+ dk normaliser) per head */
    LC_TECH_MAMBA,      /* every attention layer a Mamba layer: d_inner x (d_state + d_conv - 1) */
    LC_TECH_MLA,        /* a latent of kv_lora_rank + qk_rope_dim per token and layer */
    LC_TECH_KV_QUANT,   /* flash with a quant_dtype cache: int8/fp8 with one f32 scale per token and
                         * head (as lc_kv_cache), int4 in groups of quant_group with an fp16 scale */
    LC_TECH_COUNT
} lc_technique;

const char *lc_technique_name(lc_technique t); /* "native", "standard", ..., "kv-quant" */
lc_status lc_technique_parse(const char *text, lc_technique *out);

/* One cost question: a model and the technique parameters. lc_cost_defaults fills them. */
typedef struct lc_cost_problem {
    lc_model_shape model;
    int64_t batch;
    lc_dtype score_dtype;  /* of materialised scores (standard); default fp32 */
    lc_dtype cache_dtype;  /* of KV caches and recurrent states; default bf16 (int8/fp8/int4 KV
                                 * caches carry scales as kv-quant's do) */
    lc_dtype weight_dtype; /* default bf16 */
    lc_dtype quant_dtype;  /* kv-quant's cache; default int4 */
    int64_t quant_group;        /* int4: values per fp16 scale; default 32 (llama.cpp Q4_0) */
    int64_t window;             /* sliding; default the model's window, else 4096 */
    int64_t gqa_kv_heads;       /* gqa; default the model's kv_heads if < heads, else 8 */
    int64_t lf_window;          /* longformer: keys on each side; default 256 (window 512) */
    int64_t lf_global;          /* longformer: global tokens 0..g-1; default 16 */
    int64_t bb_block;           /* bigbird block; default 64 */
    int64_t bb_window;          /* bigbird window blocks on each side; default 1 (3 blocks) */
    int64_t bb_global;          /* bigbird global blocks; default 2 */
    int64_t bb_random;          /* bigbird random blocks per query block; default 3 */
    int64_t mla_rank;           /* mla on a non-MLA model: latent; default 4 * head_dim_k */
    int64_t mla_rope;           /* and its RoPE key; default head_dim_k / 2 */
    int64_t mamba_state;        /* mamba on a non-Mamba model: d_state 16, d_conv 4, d_inner 2 * hidden */
} lc_cost_problem;

void lc_cost_defaults(lc_cost_problem *p, const lc_model_shape *m);
lc_status lc_cost_check(const lc_cost_problem *p);
/* 1 if technique t can be applied to the model (attention techniques need attention heads). */
int lc_cost_applies(const lc_cost_problem *p, lc_technique t);

/* The cost of technique t at context n (tokens per sequence) and the problem's batch. */
typedef struct lc_cost_row {
    double pairs;              /* (query, key) pairs computed per head in prefill, mean over attention layers */
    double score_matrix_bytes; /* standard: one head's n x n scores; 0 otherwise */
    double score_layer_bytes;  /* standard: all heads and sequences of one layer */
    double score_model_bytes;  /* standard: every attention layer at once (what training keeps) */
    double workspace_bytes;    /* attention's transient peak at inference: one layer's scores
                                  (standard), fp32 row statistics B*H*n*4 (flash family), 0 (recurrent) */
    double cache_bytes;        /* KV cache or recurrent state after n tokens, whole model */
    double weight_bytes;       /* params * weight dtype */
    double total_bytes;        /* weights + cache + workspace */
    double prefill_flops;      /* the n-token prompt, all sequences: weights + attention/mixer */
    double decode_flops;       /* one new token per sequence at context n */
    double decode_bytes;       /* bytes read by that step: weights used + cache/state read */
} lc_cost_row;

lc_status lc_cost_eval(const lc_cost_problem *p, lc_technique t, int64_t n, lc_cost_row *out);

#define LC_COST_MAX_TOKENS ((int64_t)1 << 40)
/* The longest context n <= LC_COST_MAX_TOKENS whose total_bytes fit in device_bytes:
 * *n_out = 0 when not even n = 1 fits (the weights alone may not), -1 when every length up
 * to LC_COST_MAX_TOKENS fits (the memory stops growing: sliding window, recurrent state). */
lc_status lc_cost_max_context(const lc_cost_problem *p, lc_technique t, double device_bytes, int64_t *n_out);

/* Parses "80GB" (10^9), "80GiB" (2^30), "512MB", "1.5TB", a plain number of bytes. */
lc_status lc_cost_parse_bytes(const char *text, double *out);
/* Memory of a GPU by name ("h100-80gb", "h200-141gb", "a100-40gb", "a100-80gb",
 * "l40s-48gb", "rtx4090-24gb", "mi300x-192gb"); NULL-terminated name list below. */
lc_status lc_cost_gpu_memory(const char *name, double *bytes);
const char *const *lc_cost_gpu_names(void);

/* ---- exact pair counts of the patterns (what lc_mask_count gives for their masks) -------- */

/* Sum over p in [a, b) of min(hi, max(lo, p + off)), lo <= hi. */
double lc_sum_clamped(int64_t a, int64_t b, int64_t off, int64_t lo, int64_t hi);
double lc_pairs_causal(int64_t n);
double lc_pairs_sliding(int64_t n, int64_t window); /* causal, `window` keys incl. self */
/* Longformer (bidirectional): keys within +-w, plus global tokens 0..g-1 both ways. */
double lc_pairs_longformer(int64_t n, int64_t w, int64_t g);
/* BigBird (bidirectional, lc_mask's bigbird with n_keys = n); exact when block divides n. */
double lc_pairs_bigbird(int64_t n, int64_t block, int64_t window_blocks, int64_t global_blocks, int64_t random_blocks);

#ifdef __cplusplus
}
#endif
#endif
