/* Attention on NVIDIA GPUs (CUDA C, Hopper first), behind the CPU descriptors.
 *
 * The lc_attention descriptor is the same as on the CPU (include/longctx/attention.h):
 * its tensors' data and lse are device pointers, the kernels run on `stream`, and the call
 * returns once the work is queued. The mask's block bitmap (mask.blocks.bits) stays a host
 * pointer; it is copied into the caller's device workspace. See docs/cuda.md. */
#ifndef LONGCTX_CUDA_H
#define LONGCTX_CUDA_H

#include "longctx/attention.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *lc_cuda_stream; /* the same type as cudaStream_t */

/* Flash attention forward (Dao 2023, FlashAttention-2): bf16 or f16 q, k, v (one dtype),
 * out in that dtype or f32, f32 accumulation, lse in f32. Head dims (d_k, d_v) in
 * {(64, 64), (128, 128), (256, 256), (192, 128)}; unit dim stride; row strides and
 * pointers 16-byte aligned. Masks: causal, window (no dilation), sinks, block bitmap, and
 * their union; tiles the mask empties are skipped. Other mask patterns: LC_EUNSUPPORTED. */
lc_status lc_cuda_attention_check(const lc_attention *a);
size_t lc_cuda_attention_workspace_size(const lc_attention *a);
lc_status lc_cuda_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

/* Decode over a contiguous KV cache (flash-decoding, Dao et al. 2023): a few new query
 * tokens q [batch, n_q, heads_q, d] against the cache k, v [batch, n_kv, heads_kv, d] in
 * the same lc_attention descriptor (bf16 or f16; out bf16/f16/f32; usually mask.causal with
 * mask.q_offset = n_kv - n_q). The keys are split into chunks across thread blocks; each
 * block reads every key and value row of its chunk once for all the heads_q / heads_kv
 * query heads that share it (GQA) and all n_q tokens, and the partial results merge by
 * their log-sum-exp. d in {64, 128, 256}; (heads_q / heads_kv) * n_q <= 16. `splits` = 0
 * picks the chunk count from the multiprocessor count. */
lc_status lc_cuda_decode_check(const lc_attention *a);
size_t lc_cuda_decode_workspace_size(const lc_attention *a, int splits);
lc_status lc_cuda_decode_attention(const lc_attention *a, int splits, void *workspace, size_t workspace_bytes, lc_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif
