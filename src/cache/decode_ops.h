/* The inner loop of decode attention (internal): the block kernel, one table per
 * instruction set, each filled by decode_ops_<isa>.c and chosen at run time. decode.c walks
 * the cache in blocks of keys and calls the kernel once per block and KV head. */
#ifndef LONGCTX_DECODE_OPS_H
#define LONGCTX_DECODE_OPS_H

#include "longctx/cache.h"

/* Keys per block (a multiple of 16): lc_decode_block.keys and score_stride never exceed it.
 * Blocks of 16 keys read int8 (rounded query) about a quarter slower from memory; blocks of
 * 64 cost f16 11% more cycles per key and head in cache and read no faster from memory. */
#define LC_DECODE_BT 32

/* Bytes of one rounded query row: a whole number of 64-byte vectors. */
#define LC_DECODE_QR_BYTES(head_dim) (((size_t)(head_dim) * 2 + 63) / 64 * 64)

/* One block of `keys` keys of one KV head, as stored, at consecutive positions (they may lie
 * in several spans of the cache, e.g. pages), against the `rows` query rows that read this
 * head: row r is query token r / group and query head (KV head) * group + r % group. The
 * kernel folds the block into each row's running softmax state (row_max, row_sum, acc): the
 * online softmax of Milakov & Gimelshein 2018. */
typedef struct lc_decode_block {
    const float *const *query; /* [rows] pointers to head_dim f32 values */
    int rows;                  /* n_q * group */
    int group;                 /* query heads per KV head (GQA) */
    int head_dim;
    int keys;                  /* keys in the block, 1 .. LC_DECODE_BT */
    int score_stride;          /* floats between two rows of scores (LC_DECODE_BT) */
    float scale;               /* the softmax scale */
    lc_dtype dtype;            /* the cache's storage */
    /* Key u's stored K row starts at key_tokens[u] + head_offset, its V row at
     * value_tokens[u] + head_offset (key_tokens[u]: its token's K rows of every head). */
    const uint8_t *const *key_tokens, *const *value_tokens;
    size_t head_offset;
    const float *key_scales, *value_scales; /* [keys]: this head's scale per key (int8, fp8), else NULL */
    int64_t visible;           /* row r sees keys u < visible + r / group (causal) */
    /* The running state, read and written: per row its largest score, the sum of
     * e^(score - row_max) and the unnormalised output [rows, head_dim]. */
    float *row_max, *row_sum, *acc;
    /* Scratch. */
    float *scores;                /* [rows, score_stride]: scores, then probabilities */
    float *rescale;               /* [rows]: e^(old max - new max) of each row (AVX-512) */
    float *p_unit;                /* [rows]: what one unit of a row's int8 probabilities is worth (AVX-512) */
    float *key_mult, *value_mult; /* [LC_DECODE_BT] each: the key scales times the softmax scale, the value scales (AVX-512) */
    float *key_f32, *value_f32;   /* [LC_DECODE_BT, head_dim] each: rows widened to f32 (portable, AVX2) */
    /* To prefetch while this block computes: this head's share (1 / heads_kv, in address
     * order: whole tokens) of the next block's K and V bytes, prefetch_bytes at prefetch_k
     * and at prefetch_v (0: none; where the share crosses from one span into another, its
     * first part). Spread over the block's work in address order (K's over the scores, V's
     * over the P.V), the prefetches keep the memory reads sequential (prefetching head h's
     * own rows, 1-2 KB apart, measured 18-31% slower). */
    const uint8_t *prefetch_k, *prefetch_v;
    size_t prefetch_bytes;
    /* NULL, or the query rows rounded once per call (lc_decode.query_f32 = 0, where
     * ops->rounds_query(dtype) says so), each zero-padded to LC_DECODE_QR_BYTES(head_dim):
     * int8 caches: int8 rows, query[r] ~ rounded_scale[r] * rounded[r], rounded_sum[r] = the
     * sum of row r's values; fp8 caches: bf16 rows of 2^64 query[r] (exact power-of-two
     * scaling); bf16 caches: bf16 rows. */
    const void *const *rounded;
    const float *rounded_scale;
    const int32_t *rounded_sum;
} lc_decode_block;

/* The n query rows q ([n][head_dim]) rounded for a cache of dtype t (int8, fp8 or bf16) as
 * lc_decode_block.rounded reads them: rows LC_DECODE_QR_BYTES(head_dim) apart, zero-padded;
 * for int8 also scales[r] and sums[r]. */
void lc_decode_round_rows(lc_dtype t, int head_dim, const float *q, int n, uint8_t *rows, float *scales, int32_t *sums);

/* One table per instruction set, every field filled. */
typedef struct lc_decode_ops {
    /* Folds one block into the running state of its rows (lc_decode_block). */
    void (*block)(const lc_decode_block *b);
    /* 1 if block() on this CPU scores a cache of dtype t with the rounded query (int8 with
     * AVX-512 VNNI, fp8 and bf16 with AVX-512 BF16), else 0. */
    int (*rounds_query)(lc_dtype t);
} lc_decode_ops;

/* The table for a resolved ISA (not LC_ISA_AUTO). */
const lc_decode_ops *lc_decode_ops_for(lc_isa isa);

/* The block kernel as four passes over f32 rows (the portable and AVX2 paths): K rows widened
 * into key_f32 (f32 caches are read in place), scores, the causal mask, V rows widened, the
 * online softmax, P.V. Each path supplies its loops: */
typedef struct lc_decode_loops {
    /* dst[i] = value i of a stored row (times scale for int8 / fp8), i < n */
    void (*load)(float *dst, const void *src, float scale, lc_dtype t, int n);
    /* scores[r * stride + u] = scale * q[r] . k[u] for r < rows, u < keys: each key row
     * loaded once for all rows (the GQA group) */
    void (*scores)(const float *const *q, int rows, const float *const *k, int keys, int head_dim, float scale, float *scores, int stride);
    /* Online softmax over the block: row r's scores (-inf where masked) become
     * e^(s - row_max[r]) with row_max[r] the new running max; row_sum[r] and
     * acc[r * head_dim ..] are rescaled when the max grows, row_sum[r] gains the row's sum. */
    void (*softmax)(float *scores, int rows, int keys, int stride, float *row_max, float *row_sum, float *acc, int head_dim);
    /* acc[r * head_dim + e] += sum_u p[r * stride + u] v[u][e] */
    void (*pv)(float *acc, int rows, const float *p, const float *const *v, int keys, int head_dim, int stride);
} lc_decode_loops;

void lc_decode_block_loops(const lc_decode_block *b, const lc_decode_loops *loops);

/* Prefetches the cache lines of n bytes at p (each line once). */
static inline void lc_prefetch_bytes(const void *p, size_t n) {
    for (uintptr_t x = (uintptr_t)p & ~(uintptr_t)63; x < (uintptr_t)p + n; x += 64) __builtin_prefetch((const void *)x);
}

extern const lc_decode_ops lc_decode_ops_portable;
extern const lc_decode_ops lc_decode_ops_avx2;
extern const lc_decode_ops lc_decode_ops_avx512;

#endif
