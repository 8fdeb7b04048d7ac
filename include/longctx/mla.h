/* Multi-head latent attention (DeepSeek-V2, DeepSeek-AI 2024): the cache holds per token
 * only the compressed latent c_kv (kv_lora_rank values) and one rotary key shared by all
 * heads (qk_rope_head_dim values). Per head h, with W_UK[h]: [nope, rank] and
 * W_UV[h]: [v_dim, rank]:
 *   k_j^h = [W_UK[h] c_j ; k_rope_j],  v_j^h = W_UV[h] c_j,  q^h = [q_nope^h ; q_rope^h]
 *   out^h = sum_j softmax_j(scale * q^h . k_j^h) v_j^h
 * Prefill up-projects k and v tile by tile and runs attention with a float64 online
 * softmax (or, with fast_prefill, f32 k and v through lc_attention_flash); decode absorbs
 * W_UK into the query (q_lat = W_UK[h]^T q_nope) and W_UV into the output
 * (out = W_UV[h] sum_j p_j c_j), so it reads only the latent cache: in float64 one head
 * at a time, or with fast_decode in f32 with every head against each tile of latents and
 * the tokens split across threads. See docs/mla.md. */
#ifndef LONGCTX_MLA_H
#define LONGCTX_MLA_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_mla {
    int heads, rank, nope, rope, v_dim; /* heads, kv_lora_rank, qk_nope/rope_head_dim, v_head_dim */
    const float *w_uk; /* [heads, nope, rank] */
    const float *w_uv; /* [heads, v_dim, rank] */
    float scale;       /* 0: 1/sqrt(nope + rope) */
    int threads;       /* 0: default */
    lc_dtype dtype;    /* latent cache storage: LC_F32 (0, default), LC_F16, LC_BF16, or LC_INT8 /
                        * LC_FP8 with one symmetric scale per token for its c_kv and one for its
                        * k_rope (lc_kv_store_row's rounding); the GPU reads f16 and bf16 */
    int fast_prefill;  /* 0: float64 tiles (1e-6 relative); 1: f32 k, v and lc_attention_flash
                        * (1.5-2x faster, ~1e-6 relative, tested to 1e-5; docs/mla.md) */
    int fast_decode;   /* 0: float64 rows (1e-6 relative); 1: f32 sgemm tiles over all heads,
                        * split-key across threads (tested to 1e-5; docs/mla.md): one chunk
                        * of keys per thread, so results may differ in the last bits from
                        * one thread count to another */
    int64_t window;    /* > 0: each query sees the last `window` positions, itself included (a
                        * sliding window), and its cache drops the latents no later query sees;
                        * 0: every earlier position */
    int64_t sinks;     /* with a window: the first `sinks` positions stay visible and cached
                        * (StreamingLLM, Xiao et al. 2023) */
    int64_t block_size; /* > 0: the cache holds its rows in blocks of block_size, each allocated
                         * when the first row reaches it (paged); 0: one array of capacity rows,
                         * allocated at creation */
} lc_mla;

lc_status lc_mla_check(const lc_mla *m);

typedef struct lc_mla_cache lc_mla_cache;
/* Exact bytes of a cache for `capacity` tokens once full: header + a block pointer per block +
 * the rows of every block ((rank + rope) * lc_dtype_size(m->dtype) a row, + 8 for int8 / fp8's
 * two scales); a paged cache's blocks round capacity up to a multiple of block_size. */
size_t lc_mla_cache_footprint(const lc_mla *m, int64_t capacity);
/* Bytes one token takes in such a cache: (rank + rope) * lc_dtype_size(m->dtype), + 8 for int8 / fp8. */
size_t lc_mla_token_bytes(const lc_mla *m);
lc_status lc_mla_cache_create(const lc_mla *m, int64_t capacity, lc_mla_cache **out);
void lc_mla_cache_destroy(lc_mla_cache *c);
/* Positions appended so far (the sequence's length). */
int64_t lc_mla_cache_len(const lc_mla_cache *c);
/* Latents the cache holds: the length, or, under a window, the sinks and the positions later
 * queries may still see (each append first drops the rest). */
int64_t lc_mla_cache_rows(const lc_mla_cache *c);
/* Empties the cache (a new sequence; the memory stays). */
void lc_mla_cache_reset(lc_mla_cache *c);
/* dst holds src's tokens (a forked sequence): same rank, rope and dtype, dst's capacity
 * at least src's length. */
lc_status lc_mla_cache_copy(lc_mla_cache *dst, const lc_mla_cache *src);
/* Bytes held now: header, block pointers and the blocks allocated so far. */
size_t lc_mla_cache_bytes(const lc_mla_cache *c);
/* Appends n tokens at position pos (== the length): c_kv [n, rank], k_rope [n, rope]
 * (already rotated), rounded to the cache's dtype. Under a window it first drops the
 * latents of positions below pos - window + 1 (but the sinks): LC_ERANGE when the rows
 * left and the n new ones pass the capacity. */
lc_status lc_mla_cache_append(lc_mla_cache *c, int64_t pos, const float *c_kv, const float *k_rope, int64_t n);

/* One attention call over a latent cache, the same for prefill and decode: the queries of
 * the last n_q cached positions, causal among themselves (and windowed, with sinks, as the
 * layer says). */
typedef struct lc_mla_attention {
    const lc_mla *mla;         /* the layer: shapes, weights, scale, threads, options */
    const lc_mla_cache *cache; /* made for mla's rank and rope */
    const float *q_nope;       /* [n_q, heads, nope] (may be NULL when nope = 0) */
    const float *q_rope;       /* [n_q, heads, rope], already rotated (NULL when rope = 0) */
    int n_q;                   /* 1 <= n_q <= the cache's length */
    float *out;                /* [n_q, heads, v_dim], written */
} lc_mla_attention;

lc_status lc_mla_attention_check(const lc_mla_attention *a);
/* Prefill: k and v up-projected tile by tile (mla->fast_prefill: once, then
 * lc_attention_flash). Allocates its scratch. */
lc_status lc_mla_prefill(const lc_mla_attention *a);
/* Decode through the absorbed weights. The workspace depends on the cache's current length
 * (float64 path) and on the thread count. */
size_t lc_mla_decode_workspace_size(const lc_mla_attention *a);
lc_status lc_mla_decode(const lc_mla_attention *a, void *workspace, size_t workspace_bytes);
/* Convenience: lc_mla_decode with a workspace it allocates and frees. */
lc_status lc_mla_decode_alloc(const lc_mla_attention *a);

#ifdef __cplusplus
}
#endif
#endif
