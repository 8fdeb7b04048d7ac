/* Models: Hugging Face checkpoints run on the CPU from the library's own kernels
 * (docs/models.md).
 *
 *   lc_model_load(dir)       config.json + safetensors (mmap'd; f32, f16 and bf16 weights used in place)
 *   lc_context_create(model) the caches of one or more sequences, and every scratch buffer
 *   lc_context_prefill / lc_context_decode   tokens in, float32 logits out
 *   lc_sample                greedy, or seeded temperature / top-k / top-p (Philox)
 *
 * A model is a sequence of layers; each layer's mixer is attention (MLA, Mamba and Mamba-2
 * slot into the same plan) and its MLP dense (or MoE). Attention runs lc_attention_flash
 * for prompts and lc_decode_attention over lc_kv caches for single tokens, RoPE is
 * lc_rope_apply: src/model/ holds no attention or RoPE of its own. Techniques (sliding
 * window and sinks, KV dtype and layout, RoPE scaling) are context options: they change the
 * context's plan, never the checkpoint. */
#ifndef LONGCTX_MODEL_H
#define LONGCTX_MODEL_H

#include "longctx/cache.h"
#include "longctx/core.h"
#include "longctx/cost.h"
#include "longctx/rope.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_MODEL_MAX_LAYERS 1024
#define LC_MODEL_MAX_ROPE_FACTORS 256 /* longrope: rotated dims / 2 */
#define LC_MODEL_MAX_STOP 16

/* ---- config ---------------------------------------------------------------------------- */

typedef enum lc_arch {
    LC_ARCH_LLAMA = 0, LC_ARCH_MISTRAL = 1, LC_ARCH_QWEN2 = 2, LC_ARCH_GEMMA2 = 3,
    LC_ARCH_MAMBA = 4, LC_ARCH_MAMBA2 = 5, LC_ARCH_JAMBA = 6, LC_ARCH_DEEPSEEK_V2 = 7
} lc_arch;
typedef enum lc_mixer { LC_MIXER_ATTENTION = 0, LC_MIXER_MLA = 1, LC_MIXER_MAMBA = 2, LC_MIXER_MAMBA2 = 3 } lc_mixer;
typedef enum lc_mlp_kind { LC_MLP_DENSE = 0, LC_MLP_MOE = 1, LC_MLP_NONE = 2 } lc_mlp_kind;
typedef enum lc_activation { LC_ACT_SILU = 0, LC_ACT_GELU_TANH = 1, LC_ACT_GELU = 2 } lc_activation;

/* One layer of the plan. */
typedef struct lc_layer_plan {
    lc_mixer mixer;
    lc_mlp_kind mlp;
    int64_t window; /* attention: the keys a query sees, itself included; 0 = all (global) */
} lc_layer_plan;

/* Mamba / Mamba-2 mixers (mamba, mamba2, Jamba's Mamba layers). */
typedef struct lc_ssm_config {
    int64_t inner, state, conv, dt_rank; /* d_inner, d_state, d_conv; Mamba: time_step_rank */
    int64_t heads, head_dim, groups, chunk; /* Mamba-2: num_heads x head_dim = inner, n_groups of B and C, chunk_size */
    int conv_bias, proj_bias;            /* use_conv_bias, use_bias (in_proj and out_proj) */
    int inner_norms;                     /* Jamba: RMSNorms on dt, B and C */
    double dt_min, dt_max;               /* Mamba-2: time_step_limit (0, inf: none) */
} lc_ssm_config;

/* Mixture-of-experts MLPs (Jamba, DeepSeek-V2): softmax over the router's logits, the top_k
 * experts weighted by their probabilities (times scale, renormalised when norm_topk), plus
 * the shared experts' MLP on every token. */
typedef struct lc_moe_config {
    int experts, top_k, shared;          /* routed experts, experts per token, shared experts (0: none) */
    int64_t inter;                       /* each expert's intermediate size (the shared MLP: inter * shared) */
    int norm_topk;                       /* renormalise the top-k weights to sum 1 */
    double scale;                        /* routed_scaling_factor */
    int groups, topk_groups;             /* DeepSeek's group_limited_greedy: n_group, topk_group (0: greedy) */
} lc_moe_config;

/* Multi-head latent attention (DeepSeek-V2; include/longctx/mla.h). */
typedef struct lc_mla_config {
    int q_rank, rank, nope, rope, v_dim; /* q_lora_rank (0: q_proj), kv_lora_rank, qk_nope/rope_head_dim, v_head_dim */
} lc_mla_config;

/* Everything the runner reads from config.json (and generation_config.json), with
 * transformers' defaults for the model type where a field is absent. The layer kinds, head
 * counts, head_dim and window come from the wall's reader (lc_model_from_config_text and
 * lc_model_layer_kinds_from_config_text): one reading of config.json for both. */
typedef struct lc_model_config {
    char model_type[32];
    lc_arch arch;
    lc_model_shape shape;     /* as the wall reads it (params: from the checkpoint once loaded) */
    int64_t layers, hidden, intermediate, vocab, max_pos;
    int heads, kv_heads, head_dim;
    double norm_eps;          /* rms_norm_eps */
    int norm_unit_offset;     /* Gemma: RMSNorm scales by (1 + w) */
    int sandwich_norms;       /* Gemma 2: norms after attention and around the MLP */
    double embed_scale;       /* 1, or sqrt(hidden_size) (Gemma) */
    lc_activation act;
    int qkv_bias, o_bias, mlp_bias;
    int tie_embeddings;       /* lm_head is embed_tokens */
    double attn_scale;        /* head_dim^-1/2, or query_pre_attn_scalar^-1/2 (Gemma 2) */
    double attn_softcap;      /* 0: none; Gemma 2: 50 */
    double final_softcap;     /* 0: none; Gemma 2: 30 */
    lc_rope rope;             /* short/long factors: use lc_model_config_rope, which points them here */
    double rope_short[LC_MODEL_MAX_ROPE_FACTORS], rope_long[LC_MODEL_MAX_ROPE_FACTORS];
    int64_t bos;              /* -1: none */
    int64_t stop[LC_MODEL_MAX_STOP]; /* eos ids: generation_config.json's, else config.json's */
    int n_stop;
    lc_layer_plan layer[LC_MODEL_MAX_LAYERS];
    /* Mamba, Mamba-2, Jamba and DeepSeek-V2 (src/model/arch_config.c) */
    int no_rope;              /* Jamba: attention without positions */
    lc_ssm_config ssm;
    lc_moe_config moe;
    lc_mla_config mla;
} lc_model_config;

/* Reads a config.json text; label names it in sentences. An unknown model_type is
 * LC_EUNSUPPORTED naming the types longctx runs; a missing or ill-typed field LC_EFORMAT. */
lc_status lc_model_config_parse(const char *json, const char *label, lc_model_config *out);
/* dir/config.json, then dir/generation_config.json for stop ids when it exists. */
lc_status lc_model_config_read(const char *dir, lc_model_config *out);
/* The model's RoPE with its longrope factors pointing into *c. */
lc_rope lc_model_config_rope(const lc_model_config *c);
const char *lc_arch_name(lc_arch a);

/* ---- model ------------------------------------------------------------------------------ */

typedef struct lc_model lc_model;

typedef struct lc_model_info {
    double params;        /* elements of the tensors the architecture uses */
    size_t weight_bytes;  /* bytes of those tensors as the kernels read them (matrices as stored, f32, f16 or
                             bf16, for the llama family; f32 otherwise) */
    size_t mapped_bytes;  /* safetensors files mapped */
    size_t copied_bytes;  /* weights converted or realigned into owned memory: the f16 / bf16 norms and
                             biases (to f32), tensors at misaligned offsets; every f16 / bf16 tensor for
                             the architectures beyond the llama family */
    int files;            /* safetensors files */
} lc_model_info;

/* Loads a checkpoint directory (config.json, model.safetensors or shards with
 * model.safetensors.index.json, generation_config.json when present). Every tensor the
 * architecture needs must be present with the shape config.json implies (LC_EFORMAT naming
 * the tensor, its shape and the config fields otherwise). Weight matrices are used in place
 * in the mapping, f32, f16 or bf16 (lc_matmul multiplies them as stored; llama, mistral, qwen2,
 * gemma2); norms and biases, and every tensor of the other architectures, are converted to
 * f32 once when not f32. */
lc_status lc_model_load(const char *dir, lc_model **out);
void lc_model_destroy(lc_model *m);
const lc_model_config *lc_model_config_of(const lc_model *m);
void lc_model_get_info(const lc_model *m, lc_model_info *out);

/* ---- context ------------------------------------------------------------------------------ */

/* A context is used by one thread at a time (its calls run OpenMP threads inside); a loaded
 * model is read-only and may serve any number of contexts at once. */
typedef struct lc_context lc_context;

/* Retrieval over the keys the window of a windowed attention layer leaves out (needs a window:
 * the model's, or context.window). Both leave global layers as they are. See docs/models.md.
 *   LC_RETRIEVAL_KNN: the keys and values the window evicts move into a kNN memory
 *     (include/longctx/memory.h, exact inner-product search); each query attends, in one
 *     softmax, over its window, the sinks and the top_k keys of everything older (the memory
 *     of Memorizing Transformers, Wu et al. 2022, without the trained gate). With top_k at
 *     least the sequence's length this is exactly causal attention. One sequence per context.
 *   LC_RETRIEVAL_BLOCKS: the cache keeps every key; each query attends over the sinks, its
 *     window and the top_k blocks of `block` keys whose mean key scores highest against it
 *     (lc_block_attention: landmark-style block retrieval, Mohtashami & Jaggi 2023, with block
 *     means as landmarks). Not for soft-capped attention (Gemma 2). */
typedef enum lc_retrieval_kind { LC_RETRIEVAL_NONE = 0, LC_RETRIEVAL_KNN = 1, LC_RETRIEVAL_BLOCKS = 2 } lc_retrieval_kind;
typedef struct lc_retrieval {
    lc_retrieval_kind kind;
    int64_t top_k;            /* keys (KNN) or blocks (BLOCKS) retrieved per query and head, >= 1 */
    int64_t block;            /* BLOCKS: tokens per block; 0: 64 */
} lc_retrieval;

/* "knn:K" or "blocks:K[,B]" (B default 64), as `longctx run --retrieval` and the recall harness's
 * techniques write them; "none" is the zeroed struct. */
lc_status lc_retrieval_parse(const char *text, lc_retrieval *out);

/* A context's plan. A zeroed struct is the model as published: f32 contiguous caches for
 * one sequence of up to max_position_embeddings tokens (at most 4096: set max_tokens for
 * more, since contiguous caches are allocated whole). */
typedef struct lc_context_config {
    int max_seqs;             /* sequences alive at once; 0: 1 */
    int64_t max_tokens;       /* tokens per sequence (prompt + generation); 0: min(max_position_embeddings, 4096) */
    int64_t max_batch;        /* tokens in one forward: longer prompts run in chunks of it; >= max_seqs; 0: 512 */
    lc_dtype kv_dtype;        /* LC_F32 (0), LC_F16, LC_BF16, LC_INT8, LC_FP8 */
    lc_kv_layout kv_layout;   /* global layers: LC_KV_CONTIGUOUS (0) or LC_KV_PAGED; windowed layers always
                                 use LC_KV_RING (LC_KV_SINKS with sinks) */
    int block_size;           /* paged: tokens per block; 0: 16 */
    int64_t window;           /* 0: the model's; > 0: every attention layer sees at most the last `window`
                                 keys, itself included (a layer's own shorter window stays) */
    int64_t sinks;            /* > 0: the first `sinks` tokens stay visible to every windowed layer
                                 (StreamingLLM; Xiao et al. 2023) */
    int rope_override;        /* 1: `rope` (type, factor and its parameters) replaces the model's scaling;
                                 theta, head_dim and partial stay the model's */
    lc_rope rope;
    int threads;              /* 0: lc_threads_default() (attention kernels and element-wise steps) */
    int query_f32;            /* lc_decode's query_f32 */
    int activations_f32;      /* bf16 weights: lc_matmul's x_f32. 0: on CPUs with AVX512-BF16 the activations
                                 are rounded to bf16 for the weight products (vdpbf16ps, as llama.cpp and
                                 PyTorch multiply bf16 weights); 1: they stay f32 (exact products, slower
                                 prompts) */
    lc_retrieval retrieval;   /* retrieval over the keys a window leaves out; zeroed: none */
} lc_context_config;

lc_status lc_context_config_check(const lc_model *m, const lc_context_config *c);
lc_status lc_context_create(const lc_model *m, const lc_context_config *c, lc_context **out);
void lc_context_destroy(lc_context *ctx);

lc_status lc_context_seq_new(lc_context *ctx, int *seq);
/* dst continues from src's tokens (paged caches share the blocks until one writes). */
lc_status lc_context_seq_fork(lc_context *ctx, int src, int *dst);
lc_status lc_context_seq_remove(lc_context *ctx, int seq);
/* Tokens fed to seq so far (its next position); -1 for a sequence not alive. */
int64_t lc_context_seq_len(const lc_context *ctx, int seq);

/* Feeds n tokens to seq at positions len .. len+n-1 (in chunks of max_batch). Writes the
 * logits of the last token to logits[vocab], or with all_logits those of every token to
 * logits[n, vocab]. A prompt that the caches cannot hold is LC_ERANGE before anything is
 * written. */
lc_status lc_context_prefill(lc_context *ctx, int seq, const int32_t *tokens, int64_t n, float *logits, int all_logits);
/* Feeds n tokens as lc_context_prefill does, and writes each token's final hidden state (after
 * the model's last norm: what the LM head reads) to hidden[n, hidden_size] instead of logits.
 * For embeddings (e.g. mean-pooled over a chunk of text, as the recall harness's RAG does). */
lc_status lc_context_prefill_hidden(lc_context *ctx, int seq, const int32_t *tokens, int64_t n, float *hidden);
/* One token for each of n distinct sequences, in one forward; logits[n, vocab]. */
lc_status lc_context_decode(lc_context *ctx, int n, const int *seqs, const int32_t *tokens, float *logits);

/* Bytes the kept tokens of seq occupy in the caches (K, V and scales, every layer; MLA
 * latents; the fixed-size Mamba conv and SSM states): what the wall (lc_cost_eval's
 * cache_bytes) predicts for this length, plan and cache dtype. */
size_t lc_context_cache_bytes(const lc_context *ctx, int seq);
/* Bytes the context allocated: caches, then scratch. */
size_t lc_context_alloc_bytes(const lc_context *ctx);
/* The wall's question for this context: the model's shape with each layer's kept window,
 * its cache dtype, batch 1, technique native. LC_EUNSUPPORTED when layers keep windows of
 * more than one length (the wall has one window per model). */
lc_status lc_context_cost_problem(const lc_context *ctx, lc_cost_problem *p, lc_technique *t);
/* One line naming the plan and every override: "kv f32 contiguous, window 64 + 4 sinks, rope yarn x4". */
const char *lc_context_describe(const lc_context *ctx, char *buf, size_t cap);
const lc_model *lc_context_model(const lc_context *ctx);

/* ---- sampling ------------------------------------------------------------------------------- */

typedef struct lc_sampler {
    double temperature; /* 0: greedy (argmax; the lowest id among equal maxima) */
    int top_k;          /* 0: off */
    double top_p;       /* 0 or 1: off; else keep the fewest most likely tokens whose mass reaches top_p */
    uint64_t seed;      /* draw i of a generation is lc_rng_uniform(seed, i) */
} lc_sampler;

lc_status lc_sampler_check(const lc_sampler *s);
size_t lc_sample_workspace_size(int64_t vocab);
/* Draws a token from logits[vocab] with draw index `draw` (temperature, then top-k, then
 * top-p, as transformers' warpers). */
lc_status lc_sample(const lc_sampler *s, const float *logits, int64_t vocab, uint64_t draw, void *workspace, size_t workspace_bytes,
                    int32_t *token);
int32_t lc_argmax(const float *x, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
