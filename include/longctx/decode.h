/* Decode attention: a few new query tokens against a long KV cache of any layout and
 * storage type, split along the keys across threads and merged by log-sum-exp
 * (flash-decoding, Dao et al. 2023). See docs/kv-cache.md.
 *
 *   out[i, h] = sum_j softmax_j(scale * q[i, h] . k_j) v_j   over kept keys j of seq
 *               whose position <= the query's position (len - n_q + i)
 *
 * with the K/V head h / (heads_q / heads_kv) (GQA): each loaded key serves every query
 * head of its group.
 *
 * Many queries (n_q x heads_q / heads_kv >= 64 rows, e.g. a prompt chunk appended to the
 * cache, then attending to its cached prefix and itself) run instead as flash attention's
 * tiles (the tile products of lc_attention_flash) over the cache's spans, reading a paged
 * cache through its block table without gathering it: there each output row is one task's,
 * the result is the same for any thread count, `split` is not used and the query is never
 * rounded (lc_decode_rounds_query gives 0).
 *
 * Refused by lc_decode_check (LC_EINVAL with a sentence): a non-finite query (the fast
 * paths round or quantise it), out or lse overlapping q or each other, threads < 0. */
#ifndef LONGCTX_DECODE_H
#define LONGCTX_DECODE_H

#include "longctx/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_decode {
    const lc_kv_cache *cache;
    int seq;
    const float *q;  /* [n_q, heads_q, head_dim] f32: the last n_q positions of seq */
    int n_q, heads_q;
    float *out;      /* [n_q, heads_q, head_dim], written */
    float *lse;      /* optional [heads_q, n_q], natural log; -inf where no key is visible */
    float scale;     /* 0: 1/sqrt(head_dim) */
    int64_t split;   /* keys per task (few queries); 0: chosen from the length and the thread count.
                      * The result is the same for any thread count with a given split;
                      * with split = 0 the split follows the thread count, and results may
                      * differ in the last bits from one thread count to another. */
    int threads;     /* 0: lc_threads_default() */
    lc_isa isa;      /* LC_ISA_AUTO: the best path this CPU runs (AVX-512, AVX2, portable) */
    int query_f32;   /* int8 / fp8 / bf16 caches. 0: the AVX-512 path may round the query
                      * once per call, as llama.cpp does for its q8_0 and bf16 caches: to int8
                      * per row (one scale each) for int8 caches on CPUs with VNNI, to bf16
                      * for fp8 and bf16 caches on CPUs with AVX512-BF16 (docs/kv-cache.md:
                      * the extra error, measured);
                      * 1: keep it f32 (exact dot products with the stored values, slower) */
} lc_decode;

lc_status lc_decode_check(const lc_decode *d);
/* Caller memory for lc_decode_attention; depends on the cache's current length. */
size_t lc_decode_workspace_size(const lc_decode *d);
lc_status lc_decode_attention(const lc_decode *d, void *workspace, size_t workspace_bytes);
/* Convenience: lc_decode_attention with a workspace it allocates and frees. */
lc_status lc_decode_attention_alloc(const lc_decode *d);
/* 1 if lc_decode_attention rounds the query for this call (see query_f32), else 0. */
int lc_decode_rounds_query(const lc_decode *d);
/* Bytes of cache one call reads (keys, values and scales of every kept token). */
size_t lc_decode_bytes_read(const lc_decode *d);

#ifdef __cplusplus
}
#endif
#endif
