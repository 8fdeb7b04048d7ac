/* The Open MPI transport of ring attention: nonblocking point-to-point transfers between
 * ring neighbours and a nonblocking allgather, all completed by polling with a deadline,
 * on a private duplicate of the caller's communicator with MPI_ERRORS_RETURN. */
#include "longctx/ring_mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Sleeps a little between polls so an oversubscribed rank leaves the core to the others. */
static void pause_briefly(void) {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

static lc_status mpi_fail(lc_ring_mpi *m, int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    m->broken = 1;
    return lc_error(LC_EIO, "ring (MPI rank %d): %s failed: %s", m->transport.rank, what, text);
}

static lc_status refuse_if_broken(const lc_ring_mpi *m) {
    if (m->broken) return lc_error(LC_EIO, "ring (MPI rank %d): the transport failed earlier and cannot be used again", m->transport.rank);
    return LC_OK;
}

/* A count and datatype for `bytes`: bytes up to INT_MAX, else 64-byte units. */
static lc_status count_of(lc_ring_mpi *m, size_t bytes, int *count, MPI_Datatype *type) {
    if (bytes <= INT_MAX) {
        *count = (int)bytes, *type = MPI_BYTE;
        return LC_OK;
    }
    if (bytes % 64 || bytes / 64 > INT_MAX)
        return lc_error(LC_EUNSUPPORTED, "ring (MPI): a transfer of %zu bytes is past what one MPI message can carry here", bytes);
    *count = (int)(bytes / 64), *type = m->unit;
    return LC_OK;
}

static lc_status start(lc_ring_mpi *m, int slot, void *buf, size_t bytes, int peer, int tag) {
    lc_status st = refuse_if_broken(m);
    if (st) return st;
    if (m->req[slot] != MPI_REQUEST_NULL) return lc_error(LC_ESTATE, "ring (MPI): a %s is already in flight", slot == LC_RING_SEND ? "send" : "receive");
    int count = 0, rc;
    MPI_Datatype type = MPI_BYTE;
    if ((st = count_of(m, bytes, &count, &type))) return st;
    if (slot == LC_RING_SEND) rc = MPI_Isend(buf, count, type, peer, tag, m->comm, &m->req[slot]);
    else rc = MPI_Irecv(buf, count, type, peer, tag, m->comm, &m->req[slot]);
    if (rc != MPI_SUCCESS) return mpi_fail(m, rc, slot == LC_RING_SEND ? "MPI_Isend" : "MPI_Irecv");
    m->posted[slot] = bytes, m->peer[slot] = peer;
    return LC_OK;
}

static lc_status mpi_start_send(void *ctx, const void *buf, size_t bytes, int to, int tag) {
    return start(ctx, LC_RING_SEND, (void *)buf, bytes, to, tag);
}

static lc_status mpi_start_recv(void *ctx, void *buf, size_t bytes, int from, int tag) {
    return start(ctx, LC_RING_RECV, buf, bytes, from, tag);
}

/* Gives up on a request: a receive is cancelled (the buffer is then free again); a send is
 * asked to cancel, and left to MPI if it cannot. Either way the transport is broken. */
static void abandon(lc_ring_mpi *m, MPI_Request *req) {
    int done = 0;
    MPI_Cancel(req);
    for (int i = 0; i < 1000 && !done; i++) {
        if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        if (!done) pause_briefly();
    }
    m->broken = 1;
}

/* Polls req until it completes, fails or the deadline passes. */
static lc_status poll(lc_ring_mpi *m, MPI_Request *req, MPI_Status *status, double timeout_s, const char *what) {
    const double deadline = now_s() + timeout_s;
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, status);
        if (rc != MPI_SUCCESS) return mpi_fail(m, rc, what);
        if (done) return LC_OK;
        if (now_s() > deadline) {
            abandon(m, req);
            return lc_error(LC_EIO, "ring (MPI rank %d): %s did not complete within %g s (timeout_s): a peer has stopped or is far too slow",
                            m->transport.rank, what, timeout_s);
        }
        pause_briefly();
    }
}

static lc_status mpi_wait(void *ctx, int slot, double timeout_s) {
    lc_ring_mpi *m = ctx;
    if (m->req[slot] == MPI_REQUEST_NULL) return LC_OK;
    char what[64];
    snprintf(what, sizeof what, slot == LC_RING_SEND ? "the send to rank %d" : "the receive from rank %d", m->peer[slot]);
    MPI_Status status;
    lc_status st = poll(m, &m->req[slot], &status, timeout_s, what);
    if (st || slot == LC_RING_SEND) return st;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    if (m->posted[slot] <= INT_MAX && (size_t)count != m->posted[slot]) {
        m->broken = 1;
        return lc_error(LC_EIO, "ring (MPI rank %d): received %d bytes from rank %d, expected %zu", m->transport.rank, count, m->peer[slot], m->posted[slot]);
    }
    return LC_OK;
}

static void mpi_progress(void *ctx) {
    lc_ring_mpi *m = ctx;
    int flag;
    if (!m->broken) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, m->comm, &flag, MPI_STATUS_IGNORE);
}

/* The gather lands in the transport's own buffer, never the caller's: after a timeout the
 * collective cannot be cancelled and may still complete into it. */
static lc_status mpi_allgather(void *ctx, const void *in, void *out, size_t bytes, double timeout_s) {
    lc_ring_mpi *m = ctx;
    lc_status st = refuse_if_broken(m);
    if (st) return st;
    const size_t total = bytes * (size_t)m->transport.size + bytes;
    if (bytes > INT_MAX / 2) return lc_error(LC_EUNSUPPORTED, "ring (MPI): allgather of %zu bytes per rank", bytes);
    if (m->gather_bytes < total) {
        void *p = realloc(m->gather, total);
        if (!p) return lc_error(LC_ENOMEM, "ring (MPI): %zu bytes for the allgather", total);
        m->gather = p, m->gather_bytes = total;
    }
    uint8_t *mine = (uint8_t *)m->gather + bytes * (size_t)m->transport.size;
    memcpy(mine, in, bytes);
    MPI_Request req;
    int rc = MPI_Iallgather(mine, (int)bytes, MPI_BYTE, m->gather, (int)bytes, MPI_BYTE, m->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(m, rc, "MPI_Iallgather");
    const double deadline = now_s() + timeout_s;
    for (;;) {
        int done = 0;
        if ((rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE)) != MPI_SUCCESS) return mpi_fail(m, rc, "the allgather");
        if (done) break;
        if (now_s() > deadline) {
            m->broken = 1; /* a collective cannot be cancelled: its buffer stays ours */
            m->gather = NULL, m->gather_bytes = 0;
            return lc_error(LC_EIO, "ring (MPI rank %d): the agreement between ranks did not complete within %g s (timeout_s): a rank has stopped or is far too slow",
                            m->transport.rank, timeout_s);
        }
        pause_briefly();
    }
    memcpy(out, m->gather, bytes * (size_t)m->transport.size);
    return LC_OK;
}

lc_status lc_ring_mpi_init(lc_ring_mpi *m, MPI_Comm comm, double timeout_s) {
    if (!m) return lc_error(LC_EINVAL, "lc_ring_mpi_init: m is NULL");
    memset(m, 0, sizeof *m);
    m->req[0] = m->req[1] = MPI_REQUEST_NULL;
    m->comm = MPI_COMM_NULL;
    m->unit = MPI_DATATYPE_NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init) return lc_error(LC_ESTATE, "lc_ring_mpi_init: MPI is not initialised (call MPI_Init first)");
    MPI_Comm_rank(comm, &m->transport.rank);
    MPI_Request req;
    int rc = MPI_Comm_idup(comm, &m->comm, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(m, rc, "MPI_Comm_idup");
    lc_status st = poll(m, &req, MPI_STATUS_IGNORE, timeout_s > 0 ? timeout_s : 60.0, "duplicating the communicator");
    if (st) return st;
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->transport.rank);
    MPI_Comm_size(m->comm, &m->transport.size);
    MPI_Type_contiguous(64, MPI_BYTE, &m->unit);
    MPI_Type_commit(&m->unit);
    m->transport.ctx = m;
    m->transport.start_send = mpi_start_send;
    m->transport.start_recv = mpi_start_recv;
    m->transport.wait = mpi_wait;
    m->transport.progress = mpi_progress;
    m->transport.allgather = mpi_allgather;
    return LC_OK;
}

void lc_ring_mpi_destroy(lc_ring_mpi *m) {
    if (!m) return;
    if (!m->broken) {
        free(m->gather);
        if (m->unit != MPI_DATATYPE_NULL) MPI_Type_free(&m->unit);
        if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
    }
    memset(m, 0, sizeof *m);
}
