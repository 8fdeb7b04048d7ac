// Ring attention on GPUs (longctx/ring_cuda.h): the CUDA compute table and the NCCL
// transport that plug into the ring driver (src/ring/ring.c).
//
// The merge is the one of longctx/ring.h (Liu et al. 2023; Milakov and Gimelshein 2018):
//   lse = log(e^L + e^l),   O = e^{L - lse} O + e^{l - lse} o
// over f32 accumulators, one warp per (batch, head, query row): lse_merge.cuh, the GPU's
// one merge.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <nccl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "longctx/ring_cuda.h"
#include "lse_merge.cuh"

namespace {

struct priv {
    ncclComm_t comm;
    cudaStream_t compute;     // the caller's stream
    cudaStream_t comm_stream; // the transport's
    cudaEvent_t compute_mark; // compute queued so far (a transfer waits for it)
    cudaEvent_t transfer;     // the last group of send/recv
    cudaEvent_t gathered;     // the last allgather
    // A posted receive is issued with the next send, in one group (ungrouped, two ranks
    // that each send first would wait on each other forever).
    void *recv_buf;
    size_t recv_bytes;
    int recv_from, recv_posted, send_out, recv_out;
    uint8_t *gather_dev;
    size_t gather_cap;
};

double now_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

lc_status cuda_fail(cudaError_t e, const char *what) {
    return lc_error(LC_EIO, "ring (CUDA): %s: %s", what, cudaGetErrorString(e));
}
lc_status nccl_fail(ncclResult_t r, const char *what) {
    return lc_error(LC_EIO, "ring (NCCL): %s: %s", what, ncclGetErrorString(r));
}

// ---- compute -------------------------------------------------------------------------------

size_t cu_attend_workspace(void *, const lc_attention *a) { return lc_cuda_attention_workspace_size(a); }

lc_status cu_attend(void *ctx, const lc_attention *a, void *ws, size_t ws_bytes) {
    priv *p = static_cast<priv *>(ctx);
    lc_status st = lc_cuda_attention_flash(a, ws, ws_bytes, reinterpret_cast<lc_cuda_stream>(p->compute));
    if (st) return st;
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? LC_OK : cuda_fail(e, "block attention launch");
}

// Rows (b, s, h) of a strided tensor into a contiguous [b, s, h, d] array; element type T.
template <typename T>
__global__ void pack_rows(T *dst, const T *src, int64_t S, int64_t H, int64_t D, int64_t sb, int64_t ss, int64_t sh, int64_t sd, int64_t rows) {
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const int64_t h = row % H, s = (row / H) % S, b = row / (H * S);
        const T *in = src + b * sb + s * ss + h * sh;
        for (int64_t d = threadIdx.x; d < D; d += blockDim.x) dst[row * D + d] = in[d * sd];
    }
}

int grid_for(int64_t work) { return (int)(work < 65535 ? (work > 0 ? work : 1) : 65535); }

uint8_t *pack_one(const lc_tensor *t, uint8_t *dst, cudaStream_t s) {
    const int64_t rows = t->shape[0] * t->shape[1] * t->shape[2], D = t->shape[3];
    const size_t es = lc_dtype_size(t->dtype);
    if (es == 2)
        pack_rows<<<grid_for(rows), 128, 0, s>>>((uint16_t *)dst, (const uint16_t *)t->data, t->shape[1], t->shape[2], D, t->stride[0], t->stride[1], t->stride[2], t->stride[3], rows);
    else
        pack_rows<<<grid_for(rows), 128, 0, s>>>((uint32_t *)dst, (const uint32_t *)t->data, t->shape[1], t->shape[2], D, t->stride[0], t->stride[1], t->stride[2], t->stride[3], rows);
    return dst + (size_t)(rows * D) * es;
}

void cu_pack(void *ctx, const lc_tensor *k, const lc_tensor *v, void *buf) {
    priv *p = static_cast<priv *>(ctx);
    pack_one(v, pack_one(k, (uint8_t *)buf, p->compute), p->compute);
}

__global__ void fill_neg_inf(float *x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) x[i] = -INFINITY;
}

void cu_begin(void *ctx, float *acc_out, float *acc_lse, const lc_ring_rows *g) {
    priv *p = static_cast<priv *>(ctx);
    cudaMemsetAsync(acc_out, 0, sizeof(float) * (size_t)(g->batch * g->n_local * g->heads * g->dv), p->compute);
    const int64_t n = g->batch * g->heads * g->n_local;
    fill_neg_inf<<<grid_for((n + 255) / 256), 256, 0, p->compute>>>(acc_lse, n);
}

// One warp per (b, h, r): acc row b, row0 + r, head h (layouts of lc_ring_rows), merged
// with the block's partial row by their log-sum-exp (lse_merge.cuh).
__global__ void merge_rows(float *acc_out, float *acc_lse, const float *part_out, const float *part_lse, lc_ring_rows g) {
    const int64_t warps = g.batch * g.heads * g.rows, lane = threadIdx.x & 31;
    for (int64_t w = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; w < warps; w += ((int64_t)gridDim.x * blockDim.x) >> 5) {
        const int64_t r = w % g.rows, h = (w / g.rows) % g.heads, b = w / (g.rows * g.heads);
        float *L = acc_lse + (b * g.heads + h) * g.n_local + g.row0 + r;
        const float lse[2] = {*L, part_lse[(b * g.heads + h) * g.rows + r]};
        if (lse[1] == -INFINITY) continue; // the block saw no key of this row
        float *O = acc_out + ((b * g.n_local + g.row0 + r) * g.heads + h) * g.dv;
        const float *o = part_out + ((b * g.rows + r) * g.heads + h) * g.dv;
        float merged = lse[0];
        for (int64_t d = lane; d < g.dv; d += 32) {
            const float od[2] = {O[d], o[d]};
            O[d] = lc_cuda::lse_merge<false>(2, [&](int s) { return lse[s]; }, [&](int s) { return od[s]; }, &merged);
        }
        __syncwarp();
        if (lane == 0) *L = merged; // (lane 0 merged column 0)
    }
}

void cu_merge(void *ctx, float *acc_out, float *acc_lse, const float *part_out, const float *part_lse, const lc_ring_rows *g) {
    priv *p = static_cast<priv *>(ctx);
    const int64_t warps = g->batch * g->heads * g->rows;
    merge_rows<<<grid_for((warps + 7) / 8), 256, 0, p->compute>>>(acc_out, acc_lse, part_out, part_lse, *g);
}

template <typename T> __device__ T from_f32(float x);
template <> __device__ float from_f32<float>(float x) { return x; }
template <> __device__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <> __device__ __half from_f32<__half>(float x) { return __float2half_rn(x); }

template <typename T>
__global__ void store_out(T *out, const float *acc, int64_t S, int64_t H, int64_t D, int64_t sb, int64_t ss, int64_t sh, int64_t sd, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t d = i % D, h = (i / D) % H, s = (i / (D * H)) % S, b = i / (D * H * S);
        out[b * sb + s * ss + h * sh + d * sd] = from_f32<T>(acc[i]);
    }
}

void cu_finish(void *ctx, const float *acc_out, const float *acc_lse, const lc_tensor *out, float *lse, const lc_ring_rows *g) {
    priv *p = static_cast<priv *>(ctx);
    const int64_t n = g->batch * g->n_local * g->heads * g->dv;
    const int grid = grid_for((n + 255) / 256);
#define STORE(T) store_out<T><<<grid, 256, 0, p->compute>>>((T *)out->data, acc_out, g->n_local, g->heads, g->dv, out->stride[0], out->stride[1], out->stride[2], out->stride[3], n)
    if (out->dtype == LC_BF16) STORE(__nv_bfloat16);
    else if (out->dtype == LC_F16) STORE(__half);
    else STORE(float);
#undef STORE
    if (lse) cudaMemcpyAsync(lse, acc_lse, sizeof(float) * (size_t)(g->batch * g->heads * g->n_local), cudaMemcpyDeviceToDevice, p->compute);
}

// ---- transport -----------------------------------------------------------------------------

// Issues the posted receive and, if send_buf, a send, as one group on the comm stream, after
// everything queued on the compute stream so far (which may still read the receive buffer).
lc_status issue(priv *p, const void *send_buf, size_t send_bytes, int to) {
    cudaError_t e;
    if ((e = cudaEventRecord(p->compute_mark, p->compute)) || (e = cudaStreamWaitEvent(p->comm_stream, p->compute_mark, 0)))
        return cuda_fail(e, "ordering the transfer after the compute");
    ncclResult_t r = ncclGroupStart();
    if (!r && p->recv_posted) r = ncclRecv(p->recv_buf, p->recv_bytes, ncclUint8, p->recv_from, p->comm, p->comm_stream);
    if (!r && send_buf) r = ncclSend(send_buf, send_bytes, ncclUint8, to, p->comm, p->comm_stream);
    ncclResult_t r_end = ncclGroupEnd();
    if (r || r_end) return nccl_fail(r ? r : r_end, "ncclSend/ncclRecv of a key/value slice");
    if ((e = cudaEventRecord(p->transfer, p->comm_stream))) return cuda_fail(e, "recording the transfer");
    if (p->recv_posted) p->recv_out = 1;
    if (send_buf) p->send_out = 1;
    p->recv_posted = 0;
    return LC_OK;
}

lc_status nc_start_send(void *ctx, const void *buf, size_t bytes, int to, int tag) {
    (void)tag; // NCCL orders transfers between two peers: the driver's tags are implied
    priv *p = static_cast<priv *>(ctx);
    if (p->send_out) return lc_error(LC_EINVAL, "ring (NCCL): a send is already in flight");
    return issue(p, buf, bytes, to);
}

lc_status nc_start_recv(void *ctx, void *buf, size_t bytes, int from, int tag) {
    (void)tag;
    priv *p = static_cast<priv *>(ctx);
    if (p->recv_posted || p->recv_out) return lc_error(LC_EINVAL, "ring (NCCL): a receive is already in flight");
    p->recv_buf = buf, p->recv_bytes = bytes, p->recv_from = from, p->recv_posted = 1;
    return LC_OK;
}

void nc_progress(void *ctx) {
    priv *p = static_cast<priv *>(ctx);
    if (p->recv_posted) issue(p, NULL, 0, 0); // a receive with no send to go with it
}

// Polls ev until done, a peer's failure, or the deadline.
lc_status poll(priv *p, cudaEvent_t ev, double timeout_s, const char *what) {
    const double deadline = now_s() + timeout_s;
    for (;;) {
        cudaError_t e = cudaEventQuery(ev);
        if (e == cudaSuccess) return LC_OK;
        if (e != cudaErrorNotReady) return cuda_fail(e, what);
        ncclResult_t async = ncclSuccess;
        ncclCommGetAsyncError(p->comm, &async);
        if (async != ncclSuccess && async != ncclInProgress) return nccl_fail(async, what);
        if (now_s() > deadline)
            return lc_error(LC_EIO, "ring (NCCL): %s took longer than timeout_s=%g s; a peer may be gone (ncclCommAbort the comm)", what, timeout_s);
        timespec nap = {0, 20000};
        nanosleep(&nap, NULL);
    }
}

// The driver waits for a send before reusing its buffer (a receive into it is queued behind
// the send on the same stream anyway) and for a receive before attending to it: the host
// waits (so that a dead peer times out), and the compute stream is made to wait too.
lc_status nc_wait(void *ctx, int slot, double timeout_s) {
    priv *p = static_cast<priv *>(ctx);
    if (slot == LC_RING_RECV && p->recv_posted) {
        lc_status st = issue(p, NULL, 0, 0);
        if (st) return st;
    }
    int *out = slot == LC_RING_RECV ? &p->recv_out : &p->send_out;
    if (!*out) return lc_error(LC_EINVAL, "ring (NCCL): wait on slot %d with nothing in flight", slot);
    lc_status st = poll(p, p->transfer, timeout_s, slot == LC_RING_RECV ? "receiving a key/value slice" : "sending a key/value slice");
    if (st) return st;
    *out = 0;
    if (slot == LC_RING_RECV) {
        cudaError_t e = cudaStreamWaitEvent(p->compute, p->transfer, 0);
        if (e) return cuda_fail(e, "ordering the compute after the receive");
    }
    return LC_OK;
}

lc_status nc_allgather(void *ctx, const void *in, void *out, size_t bytes, double timeout_s) {
    priv *p = static_cast<priv *>(ctx);
    int size = 0;
    ncclCommCount(p->comm, &size);
    const size_t need = bytes * (size_t)(size + 1);
    cudaError_t e;
    // A receive still posted here belongs to a ring that stopped early (a failed block):
    // issued, it matches the send the peer made, so that the gather behind it can run.
    if (p->recv_posted) {
        lc_status st = issue(p, NULL, 0, 0);
        if (st) return st;
    }
    if (need > p->gather_cap) {
        cudaFree(p->gather_dev);
        p->gather_dev = NULL, p->gather_cap = 0;
        if ((e = cudaMalloc(&p->gather_dev, need))) return cuda_fail(e, "the allgather buffer");
        p->gather_cap = need;
    }
    if ((e = cudaMemcpyAsync(p->gather_dev, in, bytes, cudaMemcpyHostToDevice, p->comm_stream))) return cuda_fail(e, "allgather upload");
    ncclResult_t r = ncclAllGather(p->gather_dev, p->gather_dev + bytes, bytes, ncclUint8, p->comm, p->comm_stream);
    if (r) return nccl_fail(r, "ncclAllGather of the agreement");
    if ((e = cudaMemcpyAsync(out, p->gather_dev + bytes, bytes * (size_t)size, cudaMemcpyDeviceToHost, p->comm_stream)) ||
        (e = cudaEventRecord(p->gathered, p->comm_stream)))
        return cuda_fail(e, "allgather download");
    lc_status st = poll(p, p->gathered, timeout_s, "the agreement between ranks (allgather)");
    // The comm stream is in order: every transfer queued before the gather is done (or was
    // never matched, after a failed ring, and then the gather failed too).
    if (!st) p->recv_posted = p->recv_out = p->send_out = 0;
    return st;
}

} // namespace

extern "C" lc_status lc_ring_nccl_init(lc_ring_nccl *g, lc_nccl_comm comm, lc_cuda_stream stream) {
    if (!g) return lc_error(LC_EINVAL, "lc_ring_nccl_init: g is NULL");
    memset(g, 0, sizeof *g);
    if (!comm) return lc_error(LC_EINVAL, "lc_ring_nccl_init: comm is NULL");
    int rank = -1, size = 0;
    ncclResult_t r = ncclCommUserRank(comm, &rank);
    if (!r) r = ncclCommCount(comm, &size);
    if (r) return nccl_fail(r, "reading the comm's rank and size");
    priv *p = static_cast<priv *>(calloc(1, sizeof(priv)));
    if (!p) return lc_error(LC_ENOMEM, "lc_ring_nccl_init: %zu bytes", sizeof(priv));
    p->comm = comm;
    p->compute = reinterpret_cast<cudaStream_t>(stream);
    // The comm stream gets the highest priority: its send/recv kernel then takes SMs as soon
    // as it may run, instead of queueing behind the flash kernel's thread blocks.
    int least = 0, greatest = 0;
    cudaDeviceGetStreamPriorityRange(&least, &greatest);
    cudaError_t e = cudaStreamCreateWithPriority(&p->comm_stream, cudaStreamNonBlocking, greatest);
    if (!e) e = cudaEventCreateWithFlags(&p->compute_mark, cudaEventDisableTiming);
    if (!e) e = cudaEventCreateWithFlags(&p->transfer, cudaEventDisableTiming);
    if (!e) e = cudaEventCreateWithFlags(&p->gathered, cudaEventDisableTiming);
    g->priv = p;
    if (e) {
        lc_ring_nccl_destroy(g);
        return cuda_fail(e, "creating the transport's stream and events");
    }
    g->compute = lc_ring_compute{p, cu_attend_workspace, cu_attend, cu_pack, cu_begin, cu_merge, cu_finish};
    g->transport = lc_ring_transport{p, rank, size, nc_start_send, nc_start_recv, nc_wait, nc_progress, nc_allgather};
    return LC_OK;
}

extern "C" void lc_ring_nccl_destroy(lc_ring_nccl *g) {
    if (!g || !g->priv) return;
    priv *p = static_cast<priv *>(g->priv);
    if (p->comm_stream) cudaStreamSynchronize(p->comm_stream);
    if (p->comm_stream) cudaStreamDestroy(p->comm_stream);
    if (p->compute_mark) cudaEventDestroy(p->compute_mark);
    if (p->transfer) cudaEventDestroy(p->transfer);
    if (p->gathered) cudaEventDestroy(p->gathered);
    cudaFree(p->gather_dev);
    free(p);
    memset(g, 0, sizeof *g);
}
