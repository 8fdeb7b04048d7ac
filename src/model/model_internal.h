/* The model area's private structures: bound weights, the context and the layer forward. */
#ifndef LONGCTX_MODEL_INTERNAL_H
#define LONGCTX_MODEL_INTERNAL_H

#include "longctx/attention.h"
#include "longctx/decode.h"
#include "longctx/matmul.h"
#include "longctx/memory.h"
#include "longctx/model.h"
#include "longctx/safetensors.h"

/* A linear layer's weight as HF stores it: [out, in] row-major, y = x W^T (+ b). The llama
 * family keeps f16 / bf16 weights as stored (lc_matmul reads them); the extended architectures
 * (arch_load.c) convert theirs to f32. */
typedef struct lc_linear {
    const void *w;
    const float *b; /* NULL: no bias */
    int64_t out, in;
    lc_dtype dtype; /* of w: f32 (0), f16 or bf16 */
} lc_linear;

typedef struct lc_layer_weights {
    const float *norm_in;       /* input_layernorm */
    const float *norm_attn_out; /* Gemma 2: post_attention_layernorm (on the attention's output) */
    const float *norm_mlp_in;   /* post_attention_layernorm (Llama family) / pre_feedforward_layernorm (Gemma 2) */
    const float *norm_mlp_out;  /* Gemma 2: post_feedforward_layernorm */
    lc_linear q, k, v, o;
    lc_linear gate, up, down;
} lc_layer_weights;

struct lc_model {
    lc_model_config cfg;
    lc_safetensors *st;
    const void *embed;    /* [vocab, hidden], embed_dtype */
    lc_dtype embed_dtype; /* f32; f16 / bf16 as stored (llama family) */
    const float *norm_out;/* model.norm */
    lc_linear lm_head;    /* [vocab, hidden] */
    lc_layer_weights *layer;
    void **owned;         /* converted or realigned tensors */
    int n_owned, cap_owned;
    lc_model_info info;
    struct lc_layer_ext *ext; /* [layers]: Mamba, Mamba-2, MLA and MoE weights (arch_internal.h); NULL for the llama family */
};

/* Binding a checkpoint's tensors (weight_bind.c): the first failure's status stays, and every
 * later call returns NULL at once. */
typedef struct lc_binder {
    lc_model *m;
    const char *dir;
    lc_status status;
} lc_binder;
/* bytes of memory the model owns and frees; `what` names it in the out-of-memory sentence. */
void *lc_binder_own(lc_binder *b, size_t bytes, const char *what);
/* The data of tensor `name`, whose shape must be d[0..nd) (`why`: the config.json fields that
 * imply it). With `as_stored`, the matrix as stored (f32, f16 or bf16; *as_stored set to its
 * dtype), copied only when misaligned; else f32, converted once when stored otherwise. NULL
 * with the status set when absent (NULL without a status when optional), misshapen or out of
 * memory. */
const void *lc_binder_tensor(lc_binder *b, const char *name, int nd, const int64_t *d, const char *why, int optional, lc_dtype *as_stored);

/* One run of a forward: m consecutive tokens of one sequence from position pos. */
typedef struct lc_run {
    int seq;
    int64_t pos, m, row; /* first row in the batch */
} lc_run;

/* Per-layer attention plan: its cache and how it is read. */
typedef struct lc_attn_plan {
    lc_kv_cache *cache;
    int64_t window;     /* keys seen, itself included; 0 = all */
    int64_t sinks;      /* with window: the first sinks tokens stay visible */
    int direct;         /* prefill reads the cache in place (contiguous, f32/f16/bf16, no window) */
    int chunk_decode;   /* prefill appends, then lc_decode over the cache (paged f16 / bf16: its
                         * tile products read the pages where they lie; no gather) */
    lc_retrieval_kind retrieval; /* windowed layers: what attends beyond the window (retrieval.c) */
    lc_knn_memory *memory;       /* KNN: the evicted keys, positions [sinks, memory_end); created at the first eviction */
    int64_t memory_end;
} lc_attn_plan;

struct lc_context {
    const lc_model *model;
    lc_context_config cfg;
    lc_rope rope;            /* the model's or the override, factors pointing into the model or cfg */
    double rope_factors[2][LC_MODEL_MAX_ROPE_FACTORS];
    lc_attn_plan *attn;      /* [layers] */
    int threads;
    lc_pool *pool;           /* threads threads: the weight products, norms and activations of a forward */
    int *seq_alive;          /* [max_seqs] */
    int64_t *seq_len;        /* [max_seqs] */
    /* scratch, sized at creation for max_batch rows (R) */
    int64_t R, gather_rows;
    float *x, *h, *qkv, *att, *tmp, *gate, *up; /* [R, hidden] x2, [R, (Hq + 2 Hkv) D], [R, Hq D], [R, hidden], [R, inter] x2 */
    float *gk, *gv;          /* [gather_rows, Hkv D]: cached keys / values read back plus the chunk's */
    void *flash_ws;
    size_t flash_ws_bytes;
    void *matmul_ws;         /* lc_matmul_tiled's, the most any weight product of up to R rows needs */
    size_t matmul_ws_bytes;
    void *decode_ws;         /* grows when lc_decode_workspace_size asks for more */
    size_t decode_ws_bytes;
    lc_run *runs;            /* [R] */
    lc_kv_span *spans;       /* [max_spans]: the most any layer's cache needs */
    int64_t max_spans;
    size_t scratch_bytes;
    struct lc_ctx_ext *ext;  /* recurrent states, latent caches and their scratch (arch_internal.h); NULL for the llama family */
    int want_hidden;         /* lc_context_prefill_hidden: the forward writes final hidden states, not logits */
    float *lse;              /* [Hq, R]: the window's log-sum-exp, for retrieval's merge */
};

/* y[rows, l->out] (row stride ldy) = x[rows, l->in] (row stride ldx) W^T + b through lc_matmul
 * on the context's threads and workspace (llama.c). */
lc_status lc_model_linear(const lc_context *ctx, const float *x, int64_t rows, int64_t ldx, const lc_linear *l, float *y, int64_t ldy);
/* The workspace lc_model_linear needs for any product of up to rows rows with the model's weights. */
size_t lc_model_linear_workspace(const lc_model *m, int64_t rows, int threads, int activations_f32);

/* The cache's kept tokens of seq, read back as f32 into ctx->gk / ctx->gv rows [0, G) (llama.c). */
lc_status lc_model_gather(lc_context *ctx, const lc_kv_cache *cache, int seq, int64_t *G);
/* Attention of one run in a layer with retrieval (retrieval.c): q rows [m, QW] (RoPE applied) in,
 * out rows [m, Hq D]; appends the run's keys and values to the layer's cache. */
lc_status lc_model_attend_retrieval(lc_context *ctx, int64_t l, const lc_run *r, const float *q, float *out);
/* Forgets the kNN memories (a sequence removed). */
void lc_model_retrieval_reset(lc_context *ctx);

/* The forward of a batch of runs through every layer (llama.c): rows of x in, the logits of
 * the rows listed in out_rows (n_out of them) into logits[n_out, vocab]; with ctx->want_hidden,
 * their final hidden states (after the last norm) into logits[n_out, hidden] instead. */
lc_status lc_llama_forward(lc_context *ctx, const int32_t *tokens, const lc_run *runs, int n_runs, int64_t rows, const int64_t *out_rows,
                           int64_t n_out, float *logits);

#endif
