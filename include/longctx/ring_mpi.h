/* Ring attention over Open MPI: the transport table of longctx/ring.h on an MPI
 * communicator. Lives in the separate library liblongctx_dist (built when CMake finds MPI),
 * so programs that only use liblongctx never link MPI.
 *
 *     lc_ring_mpi m;
 *     if (lc_ring_mpi_init(&m, MPI_COMM_WORLD, 60.0)) ...   // collective
 *     lc_ring r = {.attn = ..., .layout = LC_RING_ZIGZAG, .transport = &m.transport};
 *     lc_status st = lc_ring_attention_alloc(&r, &stats);
 *     if (st == LC_EIO) MPI_Abort(MPI_COMM_WORLD, 1);         // a peer failed
 *     lc_ring_mpi_destroy(&m);
 *
 * The transport works on its own duplicate of the communicator, with MPI_ERRORS_RETURN, and
 * never blocks inside MPI: every wait is a loop of MPI_Test with a deadline, so a peer
 * that dies or stops answering becomes LC_EIO within timeout_s instead of a hang. What
 * Open MPI 4.1 itself does when a process dies is in docs/ring-attention.md. */
#ifndef LONGCTX_RING_MPI_H
#define LONGCTX_RING_MPI_H

#include <mpi.h>

#include "longctx/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_ring_mpi {
    lc_ring_transport transport; /* pass &m.transport as lc_ring.transport */
    MPI_Comm comm;               /* the duplicate */
    MPI_Request req[2];          /* LC_RING_SEND, LC_RING_RECV */
    size_t posted[2];            /* bytes of the transfer in each slot */
    int peer[2];
    MPI_Datatype unit;           /* 64 contiguous bytes, for transfers past INT_MAX bytes */
    void *gather;                /* the transport's own allgather buffer (see ring_mpi.c) */
    size_t gather_bytes;
    int broken;                  /* set by a failure: later calls refuse */
} lc_ring_mpi;

/* Duplicates comm (collectively, bounded by timeout_s; 0: 60 s) and fills the table. */
lc_status lc_ring_mpi_init(lc_ring_mpi *m, MPI_Comm comm, double timeout_s);
/* Frees the duplicate; after a failure it is left alone (MPI_Abort is the way out). */
void lc_ring_mpi_destroy(lc_ring_mpi *m);

#ifdef __cplusplus
}
#endif
#endif
