/* Ring attention across NVIDIA GPUs: a CUDA compute table and an NCCL transport for the
 * ring driver of longctx/ring.h (lc_ring_attention), which is unchanged.
 *
 *   compute    every block call is lc_cuda_attention_flash into an f32 partial output and
 *              its lse; partial results fold into f32 accumulators by a log-sum-exp merge
 *              kernel. Everything runs on the caller's `stream`.
 *   transport  ncclSend / ncclRecv of the key/value ring buffers, grouped
 *              (ncclGroupStart/End) on a stream of the transport's own, so that the next
 *              slice travels while the current one is attended to. Stream events order the
 *              two streams: a transfer into a buffer starts after the compute that read it,
 *              and the compute on a received slice starts after its receive.
 *
 * With this pair, the lc_ring descriptor's tensors (q, k, v, out), its lse and the
 * workspace (lc_ring_workspace_size bytes) are device memory of the comm's GPU. As in
 * longctx/cuda.h, lc_ring_attention returns once the last kernels are queued on `stream`;
 * synchronize it before reading out. The mask patterns are those both the ring
 * (longctx/ring.h) and lc_cuda_attention_flash support: full, causal, window without
 * dilation. Head dims, dtypes: as lc_cuda_attention_flash. See docs/ring-attention.md.
 *
 * Ranks may be processes (one GPU each, comm from ncclCommInitRank) or threads of one
 * process (one GPU each, comms from ncclCommInitAll); every NCCL call of a rank is made
 * from the thread that calls lc_ring_attention, with that rank's GPU current. */
#ifndef LONGCTX_RING_CUDA_H
#define LONGCTX_RING_CUDA_H

#include "longctx/cuda.h"
#include "longctx/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ncclComm *lc_nccl_comm; /* the same type as ncclComm_t */

typedef struct lc_ring_nccl {
    lc_ring_compute compute;     /* pass &g.compute as lc_ring.compute */
    lc_ring_transport transport; /* pass &g.transport as lc_ring.transport */
    void *priv;                  /* streams, events, the allgather buffer */
} lc_ring_nccl;

/* Sets up both tables for the current GPU: rank and size come from comm; compute runs on
 * `stream` (NULL: the legacy default stream). Creates the transport's stream and events. */
lc_status lc_ring_nccl_init(lc_ring_nccl *g, lc_nccl_comm comm, lc_cuda_stream stream);
/* Frees what lc_ring_nccl_init made (not the comm); g may be zeroed or NULL. */
void lc_ring_nccl_destroy(lc_ring_nccl *g);

#ifdef __cplusplus
}
#endif
#endif
