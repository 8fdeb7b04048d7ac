/* Attention masks as data: one struct composes every pattern the kernels support.
 *
 * Positions: query row i of a call sits at absolute position p_i = q_offset + i; key j sits
 * at position j. So queries [p, p+m) over keys [0, p+m) is a prefill into a cache of p.
 *
 * Meaning: key j is visible to query row i when
 *     (not causal or j <= p_i)  and  (no pattern enabled or some enabled pattern allows it)
 * i.e. the enabled patterns are united, then intersected with causality. A zeroed struct
 * is full (bidirectional) attention.
 *
 *   full            nothing set
 *   causal          causal = 1
 *   Mistral, W      causal = 1, window = {1, W-1, 0}
 *   Longformer      window {1, w, w} + global tokens (a global query sees every key, a
 *                   global key is seen by every query)
 *   StreamingLLM    causal, window {1, W-1, 0}, sinks = S (first S keys always visible)
 *   dilated window  window with dilation d: also needs (p_i - j) % d == 0
 *   strided         Sparse Transformer: window {1, l-1, 0} + stride {l, 0}: (p_i - j) % l == 0
 *   fixed           Sparse Transformer: stride {l, c}: key j with j % l >= l - c ("summary"
 *                   columns), usually with a block-local window or bitmap
 *   BigBird         bigbird: per query block, the window_blocks neighbouring key blocks on
 *                   each side, the first global_blocks blocks (both ways) and random_blocks
 *                   random key blocks drawn from the rest, fixed by seed
 *   block-sparse    blocks: an arbitrary bitmap over (query block, key block)
 */
#ifndef LONGCTX_MASK_H
#define LONGCTX_MASK_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_MASK_MAX_RANDOM_BLOCKS 64

typedef struct lc_mask_window {
    int enabled;
    int64_t left;     /* keys p-left .. p visible; -1 = unbounded */
    int64_t right;    /* keys p .. p+right visible; -1 = unbounded */
    int64_t dilation; /* 0 or 1: contiguous; d > 1: every d-th key */
} lc_mask_window;

typedef struct lc_mask_global {
    const int64_t *index; /* strictly increasing positions; owned by the caller */
    int64_t count;
} lc_mask_global;

typedef struct lc_mask_stride {
    int64_t every;   /* 0 = off */
    int64_t summary; /* 0: strided ((p - j) % every == 0); c > 0: fixed (j % every >= every - c) */
} lc_mask_stride;

typedef struct lc_mask_bigbird {
    int64_t block;         /* 0 = off; block size in tokens for queries and keys */
    int64_t window_blocks; /* neighbouring key blocks visible on each side */
    int64_t global_blocks; /* the first g blocks: their queries see all, their keys are seen by all */
    int64_t random_blocks; /* random key blocks per query block, <= LC_MASK_MAX_RANDOM_BLOCKS */
    uint64_t seed;
    int64_t n_keys; /* key length the random draw is made over (>= n_kv of the call) */
} lc_mask_bigbird;

typedef struct lc_mask_blocks {
    const uint8_t *bits; /* row-major [n_qb][n_kb], nonzero = visible; NULL = off; caller-owned */
    int64_t block_q, block_k;
    int64_t n_qb, n_kb;
} lc_mask_blocks;

typedef struct lc_mask {
    int64_t q_offset;
    int causal;
    lc_mask_window window;
    lc_mask_global global;
    int64_t sinks; /* first `sinks` keys always visible (subject to causality); 0 = off */
    lc_mask_stride stride;
    lc_mask_bigbird bigbird;
    lc_mask_blocks blocks;
} lc_mask;

typedef enum lc_tile_class { LC_TILE_EMPTY = 0, LC_TILE_PARTIAL = 1, LC_TILE_FULL = 2 } lc_tile_class;

/* Validates the mask for n_q query rows over n_kv keys; names the wrong field. */
lc_status lc_mask_check(const lc_mask *m, int64_t n_q, int64_t n_kv);

/* The single truth: may query row i see key j? (No range checks: call lc_mask_check.) */
int lc_mask_allows(const lc_mask *m, int64_t i, int64_t j);

/* Classifies rows [i0, i1) x keys [j0, j1): EMPTY only if no pair is allowed, FULL only if
 * every pair is; PARTIAL otherwise (and, conservatively, where proving more would cost
 * more than the kernel saves). */
lc_tile_class lc_mask_classify_tile(const lc_mask *m, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

/* out[r*ld + c] = lc_mask_allows(m, i0 + r, j0 + c) for r < rows, c < cols, with fast
 * paths for interval masks (causal, contiguous window, sinks). */
void lc_mask_fill_tile(const lc_mask *m, int64_t i0, int64_t rows, int64_t j0, int64_t cols, uint8_t *out, int64_t ld);
/* The same tile key-major: out[c*ld + r] = lc_mask_allows(m, i0 + r, j0 + c) (what a kernel
 * holding its scores transposed needs), with the same fast paths. */
void lc_mask_fill_tile_keys(const lc_mask *m, int64_t i0, int64_t rows, int64_t j0, int64_t cols, uint8_t *out, int64_t ld);

/* Number of allowed (query, key) pairs for n_q rows over n_kv keys, counted tile by tile
 * (exact). The useful work of an attention call is proportional to it. */
int64_t lc_mask_count(const lc_mask *m, int64_t n_q, int64_t n_kv);

/* Convenience constructors (they only fill the struct). */
lc_mask lc_mask_full(void);
lc_mask lc_mask_causal(void);
lc_mask lc_mask_sliding_window(int64_t w); /* Mistral: causal, the last w keys incl. self */

#ifdef __cplusplus
}
#endif
#endif
