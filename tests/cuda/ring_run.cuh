// The GPU ring's harness for the test and the bench. Two ways to make the ranks:
//   ring_open      one process, one host thread per GPU (comms from ncclCommInitAll);
//   ring_open_mpi  (LC_RING_MPI) one process per GPU under mpirun (ncclCommInitRank, the
//                  unique id broadcast by MPI), one local rank here.
// ring_run calls lc_ring_attention on every local rank, each in a thread of its own with its
// GPU current. It also lays a whole sequence out into per-rank slices and back.
#pragma once
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <thread>
#include <vector>

#ifdef LC_RING_MPI
#include <mpi.h>
#endif
#include "longctx.h"
#include "cuda_ok.h"
#include "longctx/ring_cuda.h"

#define NCCL_OK(x)                                                                            \
    do {                                                                                      \
        ncclResult_t r_ = (x);                                                                \
        if (r_ != ncclSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, ncclGetErrorString(r_)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

// One GPU of the ring: its comm, stream and tables.
struct gpu_rank {
    int dev, rank, size; // this rank's GPU, its place in the ring and the ring's size
    ncclComm_t comm;
    cudaStream_t stream;
    lc_ring_nccl g;
};

static void ring_start(gpu_rank &r) {
    CUDA_OK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
    if (lc_ring_nccl_init(&r.g, r.comm, reinterpret_cast<lc_cuda_stream>(r.stream))) {
        fprintf(stderr, "lc_ring_nccl_init: %s\n", lc_last_error());
        exit(1);
    }
}

static std::vector<gpu_rank> ring_open(int P) {
    std::vector<gpu_rank> rk(P);
    std::vector<ncclComm_t> comms(P);
    std::vector<int> devs(P);
    for (int i = 0; i < P; i++) devs[i] = i;
    NCCL_OK(ncclCommInitAll(comms.data(), P, devs.data()));
    for (int i = 0; i < P; i++) {
        CUDA_OK(cudaSetDevice(i));
        rk[i].dev = i, rk[i].rank = i, rk[i].size = P, rk[i].comm = comms[i];
        ring_start(rk[i]);
    }
    return rk;
}

#ifdef LC_RING_MPI
// This process's rank of MPI_COMM_WORLD on GPU (local rank mod the GPUs it sees).
static std::vector<gpu_rank> ring_open_mpi(void) {
    std::vector<gpu_rank> rk(1);
    int devices = 0;
    CUDA_OK(cudaGetDeviceCount(&devices));
    MPI_Comm_rank(MPI_COMM_WORLD, &rk[0].rank);
    MPI_Comm_size(MPI_COMM_WORLD, &rk[0].size);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    rk[0].dev = (local ? atoi(local) : rk[0].rank) % devices;
    CUDA_OK(cudaSetDevice(rk[0].dev));
    ncclUniqueId id;
    if (rk[0].rank == 0) NCCL_OK(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    NCCL_OK(ncclCommInitRank(&rk[0].comm, rk[0].size, id, rk[0].rank));
    ring_start(rk[0]);
    return rk;
}
#endif

static void ring_close(std::vector<gpu_rank> &rk) {
    for (auto &r : rk) {
        CUDA_OK(cudaSetDevice(r.dev));
        lc_ring_nccl_destroy(&r.g);
        cudaStreamDestroy(r.stream);
        ncclCommDestroy(r.comm);
    }
}

// What one rank runs: its attention slice (device tensors) and what came out.
struct rank_job {
    lc_attention attn;
    lc_status st;
    char err[512];
    lc_ring_stats stats;
    double seconds; // queue to stream done
};

// Runs lc_ring_attention on every rank at once; jobs[i] runs on rk[i]. reps > 1 repeats it
// (between repeats every thread synchronizes its stream; the bench takes the fastest).
static void ring_run(std::vector<gpu_rank> &rk, std::vector<rank_job> &jobs, lc_ring_layout layout, int reps = 1) {
    std::vector<std::thread> th;
    for (size_t i = 0; i < rk.size(); i++)
        th.emplace_back([&, i]() {
            gpu_rank &r = rk[i];
            rank_job &j = jobs[i];
            CUDA_OK(cudaSetDevice(r.dev));
            lc_ring ring = {};
            ring.attn = j.attn, ring.layout = layout, ring.timeout_s = 60, ring.transport = &r.g.transport, ring.compute = &r.g.compute;
            size_t bytes = lc_ring_workspace_size(&ring);
            void *ws = NULL;
            if (bytes) CUDA_OK(cudaMalloc(&ws, bytes));
            j.seconds = 1e30;
            for (int t = 0; t < reps; t++) {
                CUDA_OK(cudaStreamSynchronize(r.stream));
                struct timespec a, b;
                clock_gettime(CLOCK_MONOTONIC, &a);
                j.st = lc_ring_attention(&ring, ws, bytes, &j.stats);
                snprintf(j.err, sizeof j.err, "%s", j.st ? lc_last_error() : "");
                CUDA_OK(cudaStreamSynchronize(r.stream));
                clock_gettime(CLOCK_MONOTONIC, &b);
                double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
                if (s < j.seconds) j.seconds = s;
                if (j.st) break;
            }
            if (ws) CUDA_OK(cudaFree(ws));
        });
    for (auto &t : th) t.join();
}

// Copies rank `rank`'s tokens of the whole host sequence `all` [B, N, H, D] (element size es)
// into the slice `mine` [B, n_local, H, D], or back (to_slice = 0).
static void ring_scatter(uint8_t *all, uint8_t *mine, size_t es, int64_t B, int64_t N, int64_t H, int64_t D, lc_ring_layout layout, int P, int rank,
                         int to_slice) {
    const int64_t n_local = N / P, nc = lc_ring_chunks(layout), c = n_local / nc, row = H * D * (int64_t)es;
    for (int64_t b = 0; b < B; b++)
        for (int x = 0; x < nc; x++) {
            int64_t s0 = lc_ring_chunk_start(layout, P, rank, x, n_local);
            uint8_t *g = all + (size_t)((b * N + s0) * row), *l = mine + (size_t)((b * n_local + x * c) * row);
            if (to_slice) memcpy(l, g, (size_t)(c * row));
            else memcpy(g, l, (size_t)(c * row));
        }
}

// The same for lse [B, H, N] -> [B, H, n_local] (f32).
static void ring_slice_lse(const float *all, float *mine, int64_t B, int64_t N, int64_t H, lc_ring_layout layout, int P, int rank) {
    const int64_t n_local = N / P, nc = lc_ring_chunks(layout), c = n_local / nc;
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int x = 0; x < nc; x++) {
            int64_t s0 = lc_ring_chunk_start(layout, P, rank, x, n_local);
            memcpy(mine + bh * n_local + x * c, all + bh * N + s0, sizeof(float) * (size_t)c);
        }
}
