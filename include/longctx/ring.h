/* Ring attention (Liu, Zaharia and Abbeel 2023): one exact attention over a sequence split
 * across P ranks. Each rank holds a slice of the queries, keys and values; the key/value
 * slices travel around the ring (rank r sends to r+1 and receives from r-1) while every
 * rank computes flash attention of its queries against the slice it holds, and merges the
 * partial results by log-sum-exp:
 *
 *     lse = log(e^{lse_a} + e^{lse_b}),   out = e^{lse_a - lse} out_a + e^{lse_b - lse} out_b
 *
 * The result equals one flash attention over the whole sequence. See docs/ring-attention.md.
 *
 * Layouts. The sequence of N = P * n_local tokens is cut into chunks:
 *   contiguous  rank r holds tokens [r n_local, (r+1) n_local)
 *   zigzag      chunks of c = n_local / 2 tokens; rank r holds chunk r then chunk 2P-1-r,
 *               so under a causal mask every rank has the same amount of work.
 * Every rank holds the same number of tokens; the caller pads or refuses a length P (2P
 * for zigzag) does not divide (lc_ring_split_check says which).
 *
 * Masks. attn.mask is the mask of the whole sequence (q_offset 0). A block call sees key
 * positions from 0 and lc_mask has no key offset, so the ring expresses a block at query
 * position qs against keys at ks by q_offset = qs - ks: this works for the patterns that
 * depend only on p - j (causal, window with any left/right/dilation, stride with
 * summary 0) and only where qs >= ks or the block's mask is position-free. Global
 * tokens, sinks, fixed strides (summary > 0), BigBird and bitmaps name absolute key
 * positions and are refused (LC_EUNSUPPORTED), as is a visible block with qs < ks under
 * a position-dependent mask (a non-causal window). Key/value blocks the mask leaves
 * empty for every later rank of the ring are neither sent nor computed.
 *
 * Backends. The driver (lc_ring_attention) touches no data itself: it moves bytes through
 * a transport (function table: Open MPI in longctx/ring_mpi.h, which lives in the
 * separate liblongctx_dist; NCCL can be another) and computes through a compute table
 * (CPU flash by default; a CUDA one can be another). This header needs no MPI. */
#ifndef LONGCTX_RING_H
#define LONGCTX_RING_H

#include "longctx/attention.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lc_ring_layout { LC_RING_CONTIGUOUS = 0, LC_RING_ZIGZAG = 1 } lc_ring_layout;

/* Moves bytes between ring neighbours. One send and one receive may be in flight at a
 * time (slot LC_RING_SEND and LC_RING_RECV). Every call that can fail returns an
 * lc_status with a sentence; a wait gives up after timeout_s seconds. */
enum { LC_RING_SEND = 0, LC_RING_RECV = 1 };
typedef struct lc_ring_transport {
    void *ctx;
    int rank, size;
    lc_status (*start_send)(void *ctx, const void *buf, size_t bytes, int to, int tag);
    lc_status (*start_recv)(void *ctx, void *buf, size_t bytes, int from, int tag);
    /* Waits for the slot's transfer; a receive of another size than posted is an error. */
    lc_status (*wait)(void *ctx, int slot, double timeout_s);
    /* Lets transfers in flight advance without blocking (MPI progress); may be NULL. */
    void (*progress)(void *ctx);
    /* Every rank gives `bytes` bytes; out receives size * bytes in rank order. */
    lc_status (*allgather)(void *ctx, const void *in, void *out, size_t bytes, double timeout_s);
} lc_ring_transport;

/* The rows a merge touches: a chunk of `rows` query rows that starts at local row `row0`
 * of a rank's n_local rows. Accumulators are f32: out [batch, n_local, heads, dv]
 * contiguous, lse [batch, heads, n_local]; a block's partial result is laid out the same
 * way over its `rows` rows. */
typedef struct lc_ring_rows {
    int64_t batch, heads, dv, n_local, row0, rows;
} lc_ring_rows;

/* Computes on the data. The CPU table (lc_ring_compute_cpu) uses lc_attention_flash; a
 * GPU table would take device pointers in the same places (the ring buffers and
 * accumulators are carved from the workspace the caller passes). */
typedef struct lc_ring_compute {
    void *ctx;
    /* Scratch one block call needs (a->q: a query chunk, a->k / a->v: a key chunk). */
    size_t (*attend_workspace)(void *ctx, const lc_attention *a);
    /* One block: writes a->out (f32 partial) and a->lse. */
    lc_status (*attend)(void *ctx, const lc_attention *a, void *ws, size_t ws_bytes);
    /* Copies this rank's k and v into the contiguous ring buffer: k [batch, n, hkv, dk]
     * in k's dtype, then v [batch, n, hkv, dv] in v's dtype. */
    void (*pack)(void *ctx, const lc_tensor *k, const lc_tensor *v, void *buf);
    /* acc_out = 0, acc_lse = -inf over all n_local rows. */
    void (*begin)(void *ctx, float *acc_out, float *acc_lse, const lc_ring_rows *g);
    /* Folds a partial result into the accumulators (log-sum-exp merge). */
    void (*merge)(void *ctx, float *acc_out, float *acc_lse, const float *part_out, const float *part_lse, const lc_ring_rows *g);
    /* Writes the accumulators to the caller's out (any dtype) and lse (may be NULL). */
    void (*finish)(void *ctx, const float *acc_out, const float *acc_lse, const lc_tensor *out, float *lse, const lc_ring_rows *g);
} lc_ring_compute;

/* The CPU compute table (flash attention, OpenMP); static, never NULL. */
const lc_ring_compute *lc_ring_compute_cpu(void);

typedef struct lc_ring {
    /* This rank's slice: q, k, v and out hold n_local tokens each (the same n_local on
     * every rank); lse, if set, is [batch, heads_q, n_local]. mask is the mask of the whole
     * sequence; scale, softcap, threads, isa as in lc_attention. */
    lc_attention attn;
    lc_ring_layout layout;
    double timeout_s;                     /* longest wait for a peer; 0: 60 s */
    const lc_ring_transport *transport;   /* required */
    const lc_ring_compute *compute;       /* NULL: lc_ring_compute_cpu() */
} lc_ring;

/* What one rank did (filled by lc_ring_attention when stats is not NULL). */
typedef struct lc_ring_stats {
    double compute_s;       /* block attention and merges */
    double wait_s;          /* blocked on the transport, agreements included */
    double total_s;         /* the whole call */
    int steps;              /* ring steps run (the local block is step 0) */
    int blocks_computed;    /* key/value slices attended to (the local one included) */
    int blocks_received;    /* slices received (some only to pass on) */
    int64_t block_calls;    /* attention calls (a zigzag block is up to 4 chunk pairs) */
    int64_t bytes_sent, bytes_received;
    int64_t pairs;          /* query-key pairs the mask allows in this rank's calls */
} lc_ring_stats;

/* Chunks per rank: 1 (contiguous) or 2 (zigzag). */
int lc_ring_chunks(lc_ring_layout layout);
/* Global position of the first token of `chunk` on `rank` (chunk < lc_ring_chunks). */
int64_t lc_ring_chunk_start(lc_ring_layout layout, int size, int rank, int chunk, int64_t n_local);
/* Whether a sequence of n_total tokens splits evenly over `size` ranks in this layout;
 * the sentence names the nearest length that would (pad to it, or refuse). */
lc_status lc_ring_split_check(lc_ring_layout layout, int size, int64_t n_total);

/* Local checks: the attention fields, the layout, the mask (see above), the transport. */
lc_status lc_ring_check(const lc_ring *r);
/* Whether some query of q_rank may see some key of kv_rank under r's mask and layout. */
int lc_ring_needs(const lc_ring *r, int q_rank, int kv_rank);
/* The last ring hop the slice of kv_rank travels: the largest t in [0, size) such that
 * rank kv_rank + t (mod size) needs it, or some later rank does; -1 if no rank does. The
 * slice is sent over hops 1..t and never further. */
int lc_ring_last_hop(const lc_ring *r, int kv_rank);

/* Caller memory for lc_ring_attention: two ring buffers, the f32 accumulators, one
 * partial result and the block call's scratch. 0 if lc_ring_check fails. */
size_t lc_ring_workspace_size(const lc_ring *r);

/* Runs ring attention on this rank; every rank of the transport calls it together.
 * First the ranks agree on the problem (all shapes, dtypes, layout and mask must match,
 * and every rank's lc_ring_check must pass), then the ring runs, then the ranks agree
 * on the outcome: every rank returns the same success, or an error. A peer that stops
 * answering makes each waiting rank return LC_EIO after timeout_s; after an LC_EIO the
 * transport may hold unfinished requests, so the caller should end the job (MPI_Abort). */
lc_status lc_ring_attention(const lc_ring *r, void *workspace, size_t workspace_bytes, lc_ring_stats *stats);
/* Convenience: allocates and frees the workspace itself. */
lc_status lc_ring_attention_alloc(const lc_ring *r, lc_ring_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
