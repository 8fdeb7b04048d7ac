/* KV caches: one API over several layouts and storage types (docs/kv-cache.md).
 *
 * Every layout stores tokens in slots of one pool; a slot holds the token's K and V rows
 * ([heads_kv, head_dim] each) and, for int8 and fp8, one float scale per head for K and
 * one for V (symmetric: x ~= q * scale, scale = max|x| / 127 or / 448). Layouts differ
 * in which slot a sequence's token goes to and which tokens are kept:
 *   contiguous: seq s owns slots [s*capacity, (s+1)*capacity); all tokens kept
 *   paged:      blocks of block_size slots from a shared pool, a block table per
 *               sequence, fork shares blocks and copies the last one on write (vLLM)
 *   ring:       the last `window` tokens, in a ring of window slots per sequence
 *   sinks:      the first `sinks` tokens and the last `window` (StreamingLLM)
 * Readers get the kept tokens as spans of consecutive slots (lc_kv_spans). */
#ifndef LONGCTX_CACHE_H
#define LONGCTX_CACHE_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lc_kv_layout { LC_KV_CONTIGUOUS = 0, LC_KV_PAGED = 1, LC_KV_RING = 2, LC_KV_SINKS = 3 } lc_kv_layout;

typedef struct lc_kv_config {
    lc_kv_layout layout;
    lc_dtype dtype;
    int heads_kv, head_dim;
    int max_seqs;          /* sequences alive at once */
    int64_t capacity;      /* contiguous: tokens per sequence; paged: max tokens per sequence */
    int64_t num_blocks;    /* paged: blocks in the pool */
    int block_size;        /* paged: tokens per block */
    int64_t window;        /* ring, sinks: the last `window` tokens are kept */
    int64_t sinks;         /* sinks: the first `sinks` tokens are kept */
} lc_kv_config;

typedef struct lc_kv_cache lc_kv_cache;

/* A run of consecutive slots of one sequence: token t of the span (t < n) has its K row
 * at k + t * row_bytes, its V row at v + t * row_bytes, its scales (int8/fp8, else NULL)
 * at k_scale + t * heads_kv, and position pos0 + t. */
typedef struct lc_kv_span {
    const void *k, *v;
    const float *k_scale, *v_scale;
    int64_t n, pos0;
} lc_kv_span;

const char *lc_kv_layout_name(lc_kv_layout l);

lc_status lc_kv_config_check(const lc_kv_config *c);
/* Slots in the pool, bytes per slot (K + V + scales) and the exact bytes the cache
 * allocates: pool + per-sequence tables, known before creating it. */
int64_t lc_kv_slots(const lc_kv_config *c);
size_t lc_kv_slot_bytes(const lc_kv_config *c);
size_t lc_kv_footprint(const lc_kv_config *c);

lc_status lc_kv_create(const lc_kv_config *c, lc_kv_cache **out);
void lc_kv_destroy(lc_kv_cache *c);
const lc_kv_config *lc_kv_config_of(const lc_kv_cache *c);
size_t lc_kv_bytes(const lc_kv_cache *c); /* what it allocated; == lc_kv_footprint */

/* Sequences: ids are small integers < max_seqs. fork makes dst a copy of src (paged:
 * sharing src's blocks until one of them writes). */
lc_status lc_kv_seq_new(lc_kv_cache *c, int *seq);
lc_status lc_kv_seq_fork(lc_kv_cache *c, int src, int *dst);
lc_status lc_kv_seq_remove(lc_kv_cache *c, int seq);
/* Tokens written to seq so far (its next position), and tokens kept. */
int64_t lc_kv_seq_len(const lc_kv_cache *c, int seq);
int64_t lc_kv_seq_kept(const lc_kv_cache *c, int seq);

/* Appends n tokens (1 <= n <= 2^40) at positions pos .. pos+n-1; pos must equal
 * lc_kv_seq_len. k, v: f32 [n, heads_kv, head_dim] contiguous, converted (or quantised)
 * into the cache. A NaN or Inf in k or v is refused (LC_EINVAL naming the token and head)
 * before anything is written: the cache holds finite rows only, so that quantised storage
 * and decode never turn them into garbage. */
lc_status lc_kv_append(lc_kv_cache *c, int seq, int64_t pos, const float *k, const float *v, int64_t n);

/* The kept tokens of seq as spans, at most max_spans of them; *count gets how many
 * (spans in increasing position order). The number needed is at most
 * lc_kv_max_spans(c, seq). */
int64_t lc_kv_max_spans(const lc_kv_cache *c, int seq);
lc_status lc_kv_spans(const lc_kv_cache *c, int seq, lc_kv_span *spans, int64_t max_spans, int64_t *count);

/* Paged: blocks free in the pool (for leak checks); other layouts: 0. */
int64_t lc_kv_free_blocks(const lc_kv_cache *c);

/* Storage conversions, one row of n values with one scale (int8 and fp8) or none. */
void lc_kv_store_row(void *dst, float *scale, lc_dtype t, const float *src, int n);
void lc_kv_load_row(float *dst, const void *src, float scale, lc_dtype t, int n);
uint8_t lc_f32_to_fp8e4m3(float x); /* round to nearest even, saturating at +-448 */
float lc_fp8e4m3_to_f32(uint8_t x);

#ifdef __cplusplus
}
#endif
#endif
