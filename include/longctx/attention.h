/* Exact attention on the CPU: the float64 reference and the tiled flash kernel.
 *
 *   out[b, i, h, :] = sum_j softmax_j(s_ij) v[b, j, h_kv, :]   over keys j the mask allows
 *   s_ij = cap * tanh(scale * q_i.k_j / cap)   (soft-capping, Gemma 2), or scale * q_i.k_j
 *   lse[b, h, i] = log sum_j exp(s_ij)
 *
 * with h_kv = h / (heads_q / heads_kv) (GQA; MQA when heads_kv = 1). A row whose keys are
 * all masked gives out = 0 and lse = -inf (never NaN). Non-finite inputs are not refused
 * (scanning them would cost a pass over q, k and v); they propagate: a NaN or Inf in q, or in
 * a key or value a row sees, makes that row's out (and lse, for NaN) non-finite, never a
 * finite lie. The flash kernel's tile products may also carry a non-finite key or value
 * into the other rows of its 128-row tile (0 x Inf); the float64 reference does not.
 * See docs/attention.md. */
#ifndef LONGCTX_ATTENTION_H
#define LONGCTX_ATTENTION_H

#include "longctx/core.h"
#include "longctx/mask.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packed variable-length batches (FlashAttention's varlen form): `count` sequences laid end
 * to end along the token axis of q (and out) and of k / v, which then have batch = 1.
 * Sequence s owns query rows q_starts[s] .. q_starts[s+1]-1 and key rows kv_starts[s] ..
 * kv_starts[s+1]-1; q_starts[0] = kv_starts[0] = 0, both nondecreasing, and the last entries
 * are n_q and n_kv. A query attends only to its own sequence's keys, and the mask applies to
 * each sequence on its own: its queries are its last positions (query i of a sequence with
 * m queries and n keys sits at position n - m + i, as a prefill into a cache of n - m; the
 * mask's q_offset must be 0), so m > n needs a mask that ignores positions (full).
 * Positional patterns only: causal, window, sinks, stride; global tokens, BigBird and block
 * bitmaps are refused. The offsets live where q does (host memory for the CPU kernels, device
 * memory for CUDA); max_q and max_kv, the longest sequence's counts, are host values the
 * GPU sizes its grid with (the CPU checks them). lse keeps its layout: [heads_q, n_q]. The
 * CUDA kernels do not take packed batches: lc_cuda_attention_check refuses them. */
typedef struct lc_varlen {
    int count;                /* sequences; 0: off (q's batch axis holds the batch) */
    const int32_t *q_starts;  /* [count + 1] */
    const int32_t *kv_starts; /* [count + 1] */
    int64_t max_q, max_kv;
} lc_varlen;

typedef struct lc_attention {
    lc_tensor q;   /* [batch, n_q,  heads_q,  d_k] */
    lc_tensor k;   /* [batch, n_kv, heads_kv, d_k] */
    lc_tensor v;   /* [batch, n_kv, heads_kv, d_v] */
    lc_tensor out; /* [batch, n_q,  heads_q,  d_v], written */
    float *lse;    /* optional, written: contiguous [batch, heads_q, n_q], natural log */
    float scale;   /* 0: 1/sqrt(d_k) */
    float softcap; /* 0: off; > 0: scores become softcap * tanh(score / softcap) */
    lc_mask mask;
    lc_varlen varlen; /* zeroed: off */
    int threads;   /* 0: lc_threads_default() */
    lc_isa isa;    /* LC_ISA_AUTO: the best vector path the CPU has */
} lc_attention;

/* Checks every field; the sentence names the first wrong one. */
lc_status lc_attention_check(const lc_attention *a);

/* Reference: materialises each head's n_q x n_kv score matrix in float64 and accumulates
 * in float64. Refuses with LC_ENOMEM, naming the bytes, when that matrix would exceed
 * max_score_bytes (0: no limit). */
lc_status lc_attention_naive(const lc_attention *a, size_t max_score_bytes);

/* Flash attention (Dao et al. 2022, online softmax of Milakov & Gimelshein 2018): tiles of
 * queries and keys, never an n x n matrix; empty tiles are skipped, so the cost follows
 * the mask. Needs lc_attention_flash_workspace_size(a) bytes of caller memory, which is
 * bounded by the tile sizes and the thread count, not by the sequence length. */
size_t lc_attention_flash_workspace_size(const lc_attention *a);
lc_status lc_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes);

/* Convenience: lc_attention_flash with a workspace it allocates and frees itself. */
lc_status lc_attention_flash_alloc(const lc_attention *a);

/* Score pairs the mask allows, summed over batch and heads (for FLOP counts). */
int64_t lc_attention_active_pairs(const lc_attention *a);

#ifdef __cplusplus
}
#endif
#endif
