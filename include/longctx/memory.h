/* Memory-augmented attention: a kNN memory of past (key, value) pairs searched through
 * FAISS (Memorizing Transformers, Wu et al. 2022), and block retrieval with landmark keys
 * (Landmark Attention, Mohtashami & Jaggi 2023). See docs/memory.md for the equations.
 *
 * kNN memory attention, per query row i and head h (Wu et al. 2022, section 3):
 *   R      = the top_k positions p of the memory by q_i . key_p (FAISS: exact or approximate)
 *   mem_i  = sum_{p in R} softmax_p(scale q_i . key_p) value_p
 *   loc_i  = ordinary attention over the local keys (any lc_mask, e.g. a sliding window)
 *   out_i  = g_h mem_i + (1 - g_h) loc_i            g_h in [0, 1], one gate per head
 *
 * Block retrieval, per query at position p (causal; Mohtashami & Jaggi 2023):
 *   local  = keys [b floor(w0 / b), p] with w0 = max(0, p - window + 1)
 *   blocks = the complete blocks j (keys [j b, j b + b)) before local; landmark L_j is the
 *            caller's landmark key, else the mean of the block's keys
 *   chosen = the top_blocks blocks by q . L_j
 *   out    = softmax attention over sinks U local U (tokens of chosen blocks)
 * With every block chosen this is exactly causal attention. */
#ifndef LONGCTX_MEMORY_H
#define LONGCTX_MEMORY_H

#include "longctx/attention.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the kNN memory ------------------------------------------------------------------ */

typedef enum lc_memory_index {
    LC_MEMORY_EXACT = 0, /* FAISS IndexFlatIP: exact maximum inner product */
    LC_MEMORY_HNSW = 1,  /* FAISS IndexHNSWFlat (inner product), approximate */
    LC_MEMORY_IVF = 2    /* FAISS IndexIVFFlat (inner product), approximate */
} lc_memory_index;

typedef struct lc_knn_memory_config {
    int64_t heads;    /* key/value heads, each with its own memory */
    int64_t d_k, d_v; /* key and value widths */
    int64_t capacity; /* tokens kept per head; appending more evicts the oldest (FIFO) */
    int64_t segment;  /* tokens per FAISS index segment; 0: min(capacity, 16384) */
    lc_memory_index index;
    int hnsw_m;         /* HNSW links per node; 0: 32 */
    int hnsw_ef_search; /* HNSW search breadth, at most 65536; 0: 64 */
    int ivf_lists;      /* IVF lists per segment; 0: about sqrt(segment); at most segment / 39 */
    int ivf_probe;      /* IVF lists probed per query, at most 2^24; 0: 16 */
    int threads;        /* 0: lc_threads_default() */
} lc_knn_memory_config;

/* The memory is opaque: keys and values live in a ring of `capacity` f32 rows per head;
 * each complete segment of `segment` consecutive positions whose tokens are all still held
 * has one FAISS index per head, built when the segment fills; the newest (filling) segment
 * and the oldest (partly evicted) one are searched exactly by longctx itself. Positions
 * count every token ever appended, from 0. */
typedef struct lc_knn_memory lc_knn_memory;

lc_status lc_knn_memory_config_check(const lc_knn_memory_config *c);
lc_status lc_knn_memory_create(const lc_knn_memory_config *c, lc_knn_memory **out);
void lc_knn_memory_destroy(lc_knn_memory *m);

const lc_knn_memory_config *lc_knn_memory_config_of(const lc_knn_memory *m); /* defaults resolved */
int64_t lc_knn_memory_size(const lc_knn_memory *m);  /* tokens held (per head) */
int64_t lc_knn_memory_first(const lc_knn_memory *m); /* position of the oldest token held */
/* Bytes held: the key/value ring plus the FAISS indexes (estimated from their layout:
 * flat d_k floats per key, HNSW adds 2 hnsw_m int32 links per key on level 0, IVF adds
 * an 8-byte id per key and the centroids). */
size_t lc_knn_memory_bytes(const lc_knn_memory *m);

/* Appends n tokens: k [1, n, heads, d_k], v [1, n, heads, d_v], any dtype and strides.
 * Evicts the oldest tokens beyond capacity and builds the index of each segment that
 * fills. Either all n tokens are appended or, on any error (bad shape, a non-finite key,
 * FAISS failing), the memory is left exactly as it was. */
lc_status lc_knn_memory_append(lc_knn_memory *m, const lc_tensor *k, const lc_tensor *v);

/* Copies the key and value rows of one held position into key[d_k], value[d_v]. */
lc_status lc_knn_memory_get(const lc_knn_memory *m, int64_t head, int64_t position, float *key, float *value);

/* Top-k search: q [1, n_q, heads_q, d_k] with heads_q a multiple of the memory's heads
 * (query head h reads memory head h / (heads_q / heads)). Writes, for each query head h
 * and row i, at [(h * n_q + i) * top_k + r], the positions and inner products q . key of
 * the r-th best key, best first (ties: lower position first). Allocates its scratch, as
 * FAISS's search does. */
lc_status lc_knn_memory_search(const lc_knn_memory *m, const lc_tensor *q, int64_t top_k, int64_t *positions, float *scores);

/* Save and load. The file: "LCKNNMEM", format version, a byte-order mark, the config,
 * the held positions, every held key and value (f32), and an FNV-1a 64-bit checksum of
 * all that precedes it. Load refuses (LC_EFORMAT, with a sentence) a file that is not a
 * longctx memory, of another version or byte order, truncated, or whose checksum fails;
 * it rebuilds the FAISS indexes from the keys (HNSW graphs built on several threads may
 * differ from the saved memory's; flat and IVF indexes come back the same). */
lc_status lc_knn_memory_save(const lc_knn_memory *m, const char *path);
lc_status lc_knn_memory_load(const char *path, int threads, lc_knn_memory **out);

/* ---- kNN memory attention --------------------------------------------------------------- */

typedef struct lc_knn_attention {
    /* The local branch and the call's shape: q, k and v of the local context, out (which
     * receives the gated result), mask (e.g. lc_mask_sliding_window), scale, threads, isa;
     * lse, if set, receives the local branch's log-sum-exp. Batch must be 1 and softcap 0. */
    lc_attention local;
    const lc_knn_memory *memory; /* d_k, d_v and heads must match local.q / local.v */
    int64_t top_k;               /* retrieved pairs per query row and head, <= memory size */
    const float *gate;           /* [heads_q] g_h in [0, 1] (the paper's sigmoid(b_g)) */
} lc_knn_attention;

lc_status lc_knn_attention_check(const lc_knn_attention *a);
/* Retrieves the top_k pairs of each query row and head from the memory (the search), attends
 * over them, runs the local branch with lc_attention_flash and gates the two. Allocates its
 * scratch, as the search does: there is no caller-workspace form. */
lc_status lc_knn_attention_retrieve(const lc_knn_attention *a);

/* ---- block retrieval (landmark attention) ------------------------------------------------ */

typedef struct lc_block_attention {
    lc_tensor q;         /* [batch, n_q, heads_q, d_k] */
    lc_tensor k;         /* [batch, n_kv, heads_kv, d_k]: the past and the current tokens */
    lc_tensor v;         /* [batch, n_kv, heads_kv, d_v] */
    lc_tensor out;       /* [batch, n_q, heads_q, d_v], written */
    lc_tensor landmarks; /* optional (data NULL: block means): [batch, n_kv / block, heads_kv, d_k] */
    int64_t q_offset;    /* query row i sits at position q_offset + i; q_offset + n_q <= n_kv */
    int64_t block;       /* b: tokens per block, >= 1 */
    int64_t top_blocks;  /* blocks chosen per query and head, >= 0 */
    int64_t window;      /* local window in keys including the query's own, >= 1 */
    int64_t sinks;       /* the first `sinks` keys are always attended; 0: none */
    float scale;         /* 0: 1/sqrt(d_k); applies to landmark scores and attention */
    int threads;         /* 0: lc_threads_default() */
} lc_block_attention;

lc_status lc_block_attention_check(const lc_block_attention *a);
/* Caller memory for lc_block_attention_retrieve: the block means and per-thread rows. */
size_t lc_block_attention_workspace_size(const lc_block_attention *a);
/* Retrieves, per query and head, the top_blocks blocks by landmark score and attends over
 * them with the sinks and the local window. */
lc_status lc_block_attention_retrieve(const lc_block_attention *a, void *workspace, size_t workspace_bytes);
/* Convenience: lc_block_attention_retrieve with a workspace it allocates and frees. */
lc_status lc_block_attention_retrieve_alloc(const lc_block_attention *a);

#ifdef __cplusplus
}
#endif
#endif
