/* Attention, linear attention and state-space scans on NVIDIA GPUs (CUDA C, Hopper first),
 * behind the CPU descriptors.
 *
 * Flash attention takes the lc_attention descriptor of the CPU (include/longctx/attention.h):
 * its tensors' data and lse are device pointers, the kernels run on `stream`, and the call
 * returns once the work is queued. The mask's block bitmap (mask.blocks.bits) stays a host
 * pointer; it is copied into the caller's device workspace. Decode takes lc_cuda_decode,
 * whose cache is described by the CPU cache's lc_kv_config (include/longctx/cache.h) and
 * whose visible keys by an lc_mask. MLA decode takes lc_cuda_mla, whose layer is the CPU's lc_mla
 * (include/longctx/mla.h). Linear attention, Mamba-2's SSD, Mamba's selective scan and the
 * causal conv1d in front of the scans take their CPU descriptors (linear.h, ssm.h) with device
 * pointers (docs/linear-attention.md, docs/ssm.md). See docs/cuda.md and docs/mla.md. */
#ifndef LONGCTX_CUDA_H
#define LONGCTX_CUDA_H

#include "longctx/attention.h"
#include "longctx/cache.h"
#include "longctx/linear.h"
#include "longctx/mla.h"
#include "longctx/ssm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *lc_cuda_stream; /* the same type as cudaStream_t */

/* ---- flash attention forward --------------------------------------------------------------
 * FlashAttention-2 (Dao 2023) on mma.sync, and on a Hopper GPU FlashAttention-3's (Shah et al.
 * 2024) form on wgmma + TMA: bf16 or f16 q, k, v (one dtype), out in that dtype or f32, f32
 * accumulation, lse in f32. Head dims (d_k, d_v) in {(64, 64), (128, 128), (256, 256),
 * (192, 128)}; unit dim stride; row strides and pointers 16-byte aligned. Masks: causal,
 * window (no dilation), sinks, block bitmap, and their union; tiles the mask empties are
 * skipped. Other mask patterns: LC_EUNSUPPORTED.
 * Workspace (device memory, lc_cuda_attention_workspace_size bytes, enough for any path): the
 * bitmap's copy, and for the Hopper kernel without a causal mask, room to split the last,
 * partly filled round of query tiles along the keys (docs/cuda.md); with less, a bitmap mask
 * is refused and otherwise the kernel runs unsplit. */

/* Which kernel runs: the caller's choice, as lc_attention.isa is on the CPU. */
typedef enum lc_cuda_path {
    LC_CUDA_PATH_AUTO = 0, /* the Hopper kernel where it covers the call, else the portable one */
    LC_CUDA_PATH_MMA = 1,  /* the portable kernel (mma.sync; compute capability 8.0 and later) */
    LC_CUDA_PATH_SM90 = 2  /* the Hopper kernel: compute capability 9.0, d_k = d_v in {64, 128},
                            * scale > 0 (0 chooses 1/sqrt(d_k)); elsewhere LC_EUNSUPPORTED */
} lc_cuda_path;

lc_status lc_cuda_attention_check(const lc_attention *a);
size_t lc_cuda_attention_workspace_size(const lc_attention *a);
/* lc_cuda_attention_flash_path with LC_CUDA_PATH_AUTO. */
lc_status lc_cuda_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);
lc_status lc_cuda_attention_flash_path(const lc_attention *a, lc_cuda_path path, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* ---- decode --------------------------------------------------------------------------------
 * Flash-decoding (Dao, Haziza, Massa, Sizov 2023): a few new query tokens of each of `batch`
 * sequences against their KV cache. The keys are split into chunks across thread blocks; each
 * block reads every key and value row of its chunk once for all the heads_q / heads_kv query
 * heads that share it (GQA) and all n_q tokens, and the partial results merge by their
 * log-sum-exp.
 *
 * The cache is laid out in device memory as the CPU cache stores slots: per token a K row
 * and a V row of heads_kv x head_dim values in cache.dtype, and for int8 one f32 scale per
 * token and kv head for each (value = int8 * scale).
 *   LC_KV_CONTIGUOUS: token j of sequence b is slot b * capacity + j (b < max_seqs), so a
 *     [batch, capacity, heads_kv, head_dim] tensor is a contiguous cache;
 *   LC_KV_PAGED: token j of sequence b is slot
 *       block_table[b * max_blocks + j / block_size] * block_size + j % block_size,
 *     max_blocks = ceil(capacity / block_size), block ids below num_blocks (vLLM's
 *     PagedAttention; any block_size >= 1): the CPU cache's block table.
 * Sequence b holds lens[b] tokens (max_len each when lens is NULL) and its n_q queries are
 * its last n_q positions: the mask's q_offset is lens[b] - n_q for each, so mask.q_offset
 * must be 0. The mask says which keys a query sees, as lc_mask_allows does: causal
 * (lc_mask_causal), a window (lc_mask_sliding_window; no dilation), sinks, and their union
 * (causal + window + sinks: StreamingLLM); other patterns are LC_EUNSUPPORTED.
 * Workspace: lc_cuda_decode_workspace_size bytes of device memory (the chunks' partial
 * results), 16-byte aligned. */
typedef struct lc_cuda_decode {
    lc_kv_config cache; /* layout LC_KV_CONTIGUOUS or LC_KV_PAGED; dtype LC_BF16, LC_F16 or
                         * LC_INT8; heads_kv; head_dim 64, 128 or 256; max_seqs, capacity;
                         * paged: block_size, num_blocks (lc_kv_config_check's rules) */
    const void *k, *v;              /* device [slots, heads_kv, head_dim], 16-byte aligned */
    const float *k_scale, *v_scale; /* int8: device [slots, heads_kv] */
    const int32_t *block_table;     /* paged: device [batch, max_blocks] */
    int batch;                      /* contiguous: <= cache.max_seqs */
    const int32_t *lens;            /* device [batch]: n_q <= lens[b] <= max_len (larger values are
                                     * clamped); NULL: max_len tokens each */
    int64_t max_len;                /* host: the longest sequence (it sizes the split) */
    const void *q;                  /* device [batch, n_q, heads_q, head_dim], contiguous */
    lc_dtype q_dtype;               /* bf16 or f16: the cache's dtype, or either for int8 */
    int n_q, heads_q;               /* (heads_q / heads_kv) * n_q <= 16 */
    void *out;                      /* device [batch, n_q, heads_q, head_dim] in out_dtype */
    lc_dtype out_dtype;             /* q_dtype or f32 */
    float *lse;                     /* optional device [batch, heads_q, n_q], natural log; -inf
                                     * where no key is visible */
    float scale;                    /* 0: 1/sqrt(head_dim) */
    float softcap;                  /* 0: off; > 0: scores become softcap * tanh(score / softcap) */
    lc_mask mask;                   /* causal, window, sinks; q_offset 0 */
    int splits;                     /* key chunks per sequence, at most 65535; 0: as many as fill
                                     * the GPU once */
} lc_cuda_decode;

lc_status lc_cuda_decode_check(const lc_cuda_decode *d);
size_t lc_cuda_decode_workspace_size(const lc_cuda_decode *d);
lc_status lc_cuda_decode_attention(const lc_cuda_decode *d, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* ---- MLA decode ------------------------------------------------------------------------------
 * Multi-head latent attention (DeepSeek-V2) in the absorbed form lc_mla_decode computes on the
 * CPU (docs/mla.md, "Decode"): q_lat = W_UK^T q_nope per head, then every query head of a
 * sequence scores and gathers the same latent rows [c_j ; k^R_j] (multi-query attention with
 * d_k = rank + rope, d_v = rank), then out = W_UV o_lat. Each thread block reads a chunk of a
 * sequence's latents once for up to 64 of its query rows (heads x new tokens) on the tensor
 * cores (mma.sync); the keys are split into chunks across blocks (flash-decoding) and the
 * chunks' partial results merge by their log-sum-exp.
 *
 * The layer is the CPU's lc_mla: heads, nope, v_dim, scale and the cache's storage dtype (bf16
 * or f16), rank 512 and rope 64 (DeepSeek-V2/V3's kv_lora_rank and qk_rope_head_dim); its
 * w_uk [heads, nope, rank] and w_uv [heads, v_dim, rank] are device pointers (f32, the CPU's
 * layout); threads, fast_prefill and fast_decode are not read.
 *
 * The cache is device memory laid out as lc_mla_cache stores a token: one row of rank + rope
 * values in mla->dtype, c_kv then the rotated k_rope (lc_mla_cache_append), in slots:
 *   LC_KV_CONTIGUOUS: token j of sequence b is slot b * capacity + j (the CPU cache's layout,
 *     one such cache per sequence side by side);
 *   LC_KV_PAGED: token j of sequence b is slot
 *       block_table[b * max_blocks + j / block_size] * block_size + j % block_size,
 *     max_blocks = ceil(capacity / block_size), block ids below num_blocks (vLLM's
 *     PagedAttention; any block_size >= 1), as lc_cuda_decode's paged cache.
 * Sequence b holds lens[b] tokens (max_len each when lens is NULL; values are clamped to
 * [n_q, max_len]) and its n_q queries are its last n_q positions, causal among themselves
 * (query i sees keys 0 .. lens[b] - n_q + i), as lc_mla_attention's.
 * Workspace: lc_cuda_mla_decode_workspace_size bytes of device memory, 16-byte aligned (the
 * absorbed queries, the chunks' partials, the merged o_lat). */
typedef struct lc_cuda_mla {
    const lc_mla *mla;          /* host struct; its w_uk and w_uv are device pointers */
    lc_kv_layout layout;        /* LC_KV_CONTIGUOUS or LC_KV_PAGED */
    const void *latent;         /* device [slots, rank + rope] in mla->dtype, 16-byte aligned */
    int64_t capacity;           /* tokens per sequence (>= max_len): contiguous, the slots between
                                 * sequences; paged, the reach of a block table row */
    const int32_t *block_table; /* paged: device [batch, max_blocks] */
    int block_size;             /* paged: tokens per block */
    int64_t num_blocks;         /* paged: blocks in the pool */
    int batch;                  /* sequences, at most 65535 */
    const int32_t *lens;        /* device [batch] or NULL */
    int64_t max_len;            /* host: the longest sequence (it sizes the split), < 2^30 */
    const float *q_nope;        /* device [batch, n_q, heads, nope] f32 (NULL when nope = 0);
                                 * absorbed: [batch, n_q, heads, rank], q_lat = W_UK^T q_nope */
    const float *q_rope;        /* device [batch, n_q, heads, rope] f32, already rotated */
    int n_q;                    /* new tokens per sequence, >= 1 */
    float *out;                 /* device [batch, n_q, heads, v_dim] f32; absorbed: [.., rank],
                                 * o_lat = sum_j p_j c_j (the caller applies W_UV) */
    int absorbed;               /* 0: W_UK and W_UV applied here (f32 products, one per head);
                                 * 1: q_nope and out are in the latent space, as FlashMLA's
                                 * interface has them (w_uk and w_uv are not read) */
    int splits;                 /* key chunks per sequence, at most 65535; 0: chosen (docs/mla.md) */
} lc_cuda_mla;

/* The call's check is named for its kernel (decode; a GPU prefill would have its own). */
lc_status lc_cuda_mla_decode_check(const lc_cuda_mla *d);
size_t lc_cuda_mla_decode_workspace_size(const lc_cuda_mla *d);
lc_status lc_cuda_mla_decode(const lc_cuda_mla *d, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* ---- linear attention ----------------------------------------------------------------------
 * The lc_linear_attention descriptor (linear.h) with q, k, v, out, omega (FAVOR+) and `state`
 * in device memory; `decay` (per head, optional) stays a host array, read when the call is
 * made (at most LC_CUDA_LINEAR_MAX_HEADS heads with a decay). Tensors f32, any strides; at most
 * 4096 features (F) and d_v <= 4096; `threads` is ignored. The state has the CPU's layout and
 * meaning (lc_linear_state_floats per (batch, head): S, z and the log-scale c), so a state moves
 * between the CPU and GPU forms. The prefill runs chunkwise (lc_linear_attention.chunk tokens a
 * chunk, 0 = 64): the features once, each chunk's own state in parallel, a pass over the chunks
 * for the states between them, then every chunk's outputs in parallel; it needs
 * lc_cuda_linear_attention_workspace_size bytes of device workspace. The step is the
 * recurrence, one block per (batch, head), token after token. */
enum { LC_CUDA_LINEAR_MAX_HEADS = 512 };
lc_status lc_cuda_linear_attention_check(const lc_linear_attention *a);
size_t lc_cuda_linear_attention_workspace_size(const lc_linear_attention *a);
lc_status lc_cuda_linear_attention_forward(const lc_linear_attention *a, float *state, int64_t state_floats, void *workspace, size_t workspace_bytes,
                                           lc_cuda_stream stream);
lc_status lc_cuda_linear_attention_step(const lc_linear_attention *a, float *state, int64_t state_floats, lc_cuda_stream stream);

/* ---- Mamba-2's SSD -------------------------------------------------------------------------
 * The lc_ssd descriptor (ssm.h) with every array in device memory; head_dim and state at most
 * 256; `threads` is ignored. lc_cuda_ssd_chunked is the chunked algorithm of ssm.h (chunk
 * tokens a chunk, 0 = 64; any chunk up to 1024): each chunk's state in parallel, a pass over the
 * chunks, then every chunk's outputs in parallel, with lc_cuda_ssd_workspace_size bytes of
 * device workspace. lc_cuda_ssd_step is the recurrence (decoding: any n, typically 1). */
lc_status lc_cuda_ssd_check(const lc_ssd *s);
size_t lc_cuda_ssd_workspace_size(const lc_ssd *s);
lc_status lc_cuda_ssd_chunked(const lc_ssd *s, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);
lc_status lc_cuda_ssd_step(const lc_ssd *s, lc_cuda_stream stream);

/* ---- Mamba's selective scan and the causal conv1d -----------------------------------------
 * lc_selective_scan (ssm.h) with every array in device memory, state at most 64; `threads` and
 * `isa` are ignored. One call is the prefill and the step: a thread runs one channel's state
 * over a span of tokens; when batch x channels threads do not fill the GPU the tokens are cut
 * into spans run in parallel from zero states, then joined by a pass over the spans, which
 * needs lc_cuda_selective_scan_workspace_size bytes of device workspace (0 when one span
 * suffices, a decode step). lc_cuda_causal_conv1d is lc_causal_conv1d_f32 on the GPU. */
lc_status lc_cuda_selective_scan_check(const lc_selective_scan *s);
size_t lc_cuda_selective_scan_workspace_size(const lc_selective_scan *s);
lc_status lc_cuda_selective_scan(const lc_selective_scan *s, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);
lc_status lc_cuda_causal_conv1d_check(const lc_causal_conv1d *c);
lc_status lc_cuda_causal_conv1d(const lc_causal_conv1d *c, lc_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
