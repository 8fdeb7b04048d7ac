/* Attention on NVIDIA GPUs (CUDA C, Hopper first), behind the CPU descriptors.
 *
 * The lc_attention descriptor is the same as on the CPU (include/longctx/attention.h):
 * its tensors' data and lse are device pointers, the kernels run on `stream`, and the call
 * returns once the work is queued. The mask's block bitmap (mask.blocks.bits) stays a host
 * pointer; it is copied into the caller's device workspace. See docs/cuda.md. */
#ifndef LONGCTX_CUDA_H
#define LONGCTX_CUDA_H

#include "longctx/attention.h"
#include "longctx/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *lc_cuda_stream; /* the same type as cudaStream_t */

/* Flash attention forward (Dao 2023, FlashAttention-2): bf16 or f16 q, k, v (one dtype),
 * out in that dtype or f32, f32 accumulation, lse in f32. Head dims (d_k, d_v) in
 * {(64, 64), (128, 128), (256, 256), (192, 128)}; unit dim stride; row strides and
 * pointers 16-byte aligned. Masks: causal, window (no dilation), sinks, block bitmap, and
 * their union; tiles the mask empties are skipped. Other mask patterns: LC_EUNSUPPORTED.
 * On compute capability 9.0 with d_k = d_v in {64, 128} and scale > 0 a Hopper kernel
 * (wgmma + TMA, FlashAttention-3) runs instead; LONGCTX_CUDA_FLASH=mma in the environment
 * forces the other.
 * Workspace (device memory, lc_cuda_attention_workspace_size bytes): the bitmap's copy, and
 * for the Hopper kernel without a causal mask, room to split the last, partly filled round
 * of query tiles along the keys (docs/cuda.md); with less, a bitmap mask is refused and
 * otherwise the kernel runs unsplit. */
lc_status lc_cuda_attention_check(const lc_attention *a);
size_t lc_cuda_attention_workspace_size(const lc_attention *a);
lc_status lc_cuda_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* Decode over a contiguous KV cache (flash-decoding, Dao et al. 2023): a few new query
 * tokens q [batch, n_q, heads_q, d] against the cache k, v [batch, n_kv, heads_kv, d] in
 * the same lc_attention descriptor (bf16 or f16; out bf16/f16/f32; usually mask.causal with
 * mask.q_offset = n_kv - n_q; causal, window and sink masks). The keys are split into
 * chunks across thread blocks; each block reads every key and value row of its chunk once
 * for all the heads_q / heads_kv query heads that share it (GQA) and all n_q tokens, and
 * the partial results merge by their log-sum-exp. d in {64, 128, 256};
 * (heads_q / heads_kv) * n_q <= 16. `splits` = 0 picks the chunk count so that the blocks
 * fill the GPU once. */
lc_status lc_cuda_decode_check(const lc_attention *a);
size_t lc_cuda_decode_workspace_size(const lc_attention *a, int splits);
lc_status lc_cuda_decode_attention(const lc_attention *a, int splits, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* A KV cache in device memory, laid out as include/longctx/cache.h stores a slot: per
 * token a K row and a V row of heads_kv x head_dim values, and for int8 one f32 scale per
 * token and kv head for each (value = int8 * scale).
 *   LC_KV_CONTIGUOUS: token j of sequence b is slot b * capacity + j;
 *   LC_KV_PAGED: token j of sequence b is slot
 *       block_table[b * max_blocks + j / block_size] * block_size + j % block_size
 *   (vLLM's PagedAttention; any block_size >= 1).
 * k, v: [slots, heads_kv, head_dim]; k_scale, v_scale: [slots, heads_kv] (int8 only). */
typedef struct lc_cuda_kv {
    lc_kv_layout layout; /* LC_KV_CONTIGUOUS or LC_KV_PAGED */
    lc_dtype dtype;   /* LC_BF16, LC_F16 or LC_INT8 */
    int heads_kv, head_dim;
    const void *k, *v;   /* device, 16-byte aligned */
    const float *k_scale, *v_scale;
    int64_t capacity;           /* contiguous: slots per sequence */
    const int32_t *block_table; /* paged: device [batch, max_blocks] */
    int block_size, max_blocks;
} lc_cuda_kv;

/* Decode over such a cache: sequence b holds lens[b] tokens and its n_q queries are its
 * last n_q positions (causal among themselves, like lc_decode on the CPU). */
typedef struct lc_cuda_decode {
    lc_cuda_kv cache;
    int batch;
    const int32_t *lens; /* device [batch]: n_q <= lens[b] <= max_len (larger values are clamped) */
    int64_t max_len;     /* host: the longest sequence; it sizes the split */
    const void *q;       /* device [batch, n_q, heads_q, head_dim], contiguous */
    lc_dtype dtype;      /* q's: bf16 or f16 (the cache's type, or either for int8) */
    int n_q, heads_q;    /* (heads_q / heads_kv) * n_q <= 16 */
    void *out;           /* device [batch, n_q, heads_q, head_dim] in out_dtype: dtype or f32 */
    lc_dtype out_dtype;
    float *lse;          /* optional device [batch, heads_q, n_q], natural log */
    float scale;         /* 0: 1/sqrt(head_dim) */
    float softcap;       /* 0: none; else scores are softcap * tanh(s / softcap) */
    int64_t window;      /* 0: every earlier key; w > 0: a query at position p sees p-w+1 .. p */
    int64_t sinks;       /* with a window: the first `sinks` keys too (StreamingLLM) */
    int splits;          /* 0: chosen; at most 65535 */
} lc_cuda_decode;

lc_status lc_cuda_decode_cache_check(const lc_cuda_decode *d);
size_t lc_cuda_decode_cache_workspace_size(const lc_cuda_decode *d);
lc_status lc_cuda_decode_cache(const lc_cuda_decode *d, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
