// Decode attention over a contiguous KV cache (flash-decoding; Dao, Haziza, Massa and
// Sizov 2023): split the keys into chunks, one thread block per (chunk, kv head, batch),
// then merge the chunks' partial results by their log-sum-exp:
//
//   o_c, lse_c over chunk c;   lse = log sum_c e^{lse_c};   o = sum_c e^{lse_c - lse} o_c
//
// Decode is memory-bound: the floor is reading K and V once. A block reads each key and
// value row of its chunk once (one warp per key, 16-byte-or-less pieces per lane) and uses
// it for all R = (heads_q / heads_kv) * n_q query rows that share the kv head (GQA).
#include "longctx/cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include <type_traits>

#include "check.h"

namespace lc_cuda {

constexpr float DEC_LOG2E = 1.4426950408889634f;
constexpr float DEC_LN2 = 0.6931471805599453f;
constexpr int DEC_WARPS = 4;

struct decode_params : attn_params {
    int rows;  // query rows per kv head: group * n_q
    int chunk, splits;
    float *part_o, *part_lse;  // [batch, heads_kv, splits, rows, D], [batch, heads_kv, splits, rows]
};

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_f(__half x) { return __half2float(x); }

// E consecutive 16-bit elements as one aligned load (E = 2, 4 or 8).
template <int E> struct piece {
    typedef typename std::conditional<E == 2, uint32_t, typename std::conditional<E == 4, uint2, uint4>::type>::type type;
};
template <typename T, int E> __device__ __forceinline__ void unpack(const typename piece<E>::type &raw, float out[E]) {
    const T *x = reinterpret_cast<const T *>(&raw);
#pragma unroll
    for (int e = 0; e < E; e++) out[e] = to_f<T>(x[e]);
}

template <typename T, int D, int RMAX>
__global__ void __launch_bounds__(DEC_WARPS * 32) decode_split_kernel(const decode_params p) {
    constexpr int E = D / 32;
    constexpr int DEC_UNROLL = RMAX * E >= 32 ? 4 : 8;  // keys per warp step, as registers allow
    typedef typename piece<E>::type raw_t;
    const int split = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

    // this lane's E dims of every query row, pre-scaled to log2 units (no soft-cap)
    float q[RMAX][E];
#pragma unroll
    for (int r = 0; r < RMAX; r++) {
        const int h = hk * p.group + (r < p.rows ? r / p.n_q : 0), i = r < p.rows ? r % p.n_q : 0;
        const T *src = static_cast<const T *>(p.q) + b * p.q_b + i * p.q_s + h * p.q_h + lane * E;
        raw_t raw = *reinterpret_cast<const raw_t *>(src);
        unpack<T, E>(raw, q[r]);
        const float mul = p.softcap > 0.f ? p.scale : p.scale_log2;
#pragma unroll
        for (int e = 0; e < E; e++) q[r][e] *= mul;
    }
    float m[RMAX], l[RMAX], acc[RMAX][E];
#pragma unroll
    for (int r = 0; r < RMAX; r++) {
        m[r] = -INFINITY, l[r] = 0.f;
#pragma unroll
        for (int e = 0; e < E; e++) acc[r][e] = 0.f;
    }

    const T *K = static_cast<const T *>(p.k) + b * p.k_b + hk * p.k_h + lane * E;
    const T *V = static_cast<const T *>(p.v) + b * p.v_b + hk * p.v_h + lane * E;
    const int j_begin = split * p.chunk, j_end = min(j_begin + p.chunk, p.n_kv);
    for (int j0 = j_begin + warp * DEC_UNROLL; j0 < j_end; j0 += DEC_WARPS * DEC_UNROLL) {
        raw_t kr[DEC_UNROLL], vr[DEC_UNROLL];
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; u++) {  // all loads in flight before the first use
            const int j = min(j0 + u, j_end - 1);
            kr[u] = *reinterpret_cast<const raw_t *>(K + (int64_t)j * p.k_s);
            vr[u] = *reinterpret_cast<const raw_t *>(V + (int64_t)j * p.v_s);
        }
        // scores of the U keys for every row: independent reductions, so they overlap
        float sc[DEC_UNROLL][RMAX];
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; u++) {
            float kf[E];
            unpack<T, E>(kr[u], kf);
#pragma unroll
            for (int r = 0; r < RMAX; r++) {
                float x = 0.f;
#pragma unroll
                for (int e = 0; e < E; e++) x += q[r][e] * kf[e];
                sc[u][r] = x;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1)
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; u++)
#pragma unroll
                for (int r = 0; r < RMAX; r++) sc[u][r] += __shfl_xor_sync(0xffffffffu, sc[u][r], off);
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; u++)
#pragma unroll
            for (int r = 0; r < RMAX; r++) {
                float x = sc[u][r];
                if (p.softcap > 0.f) x = p.softcap * tanhf(x / p.softcap) * DEC_LOG2E;
                if (j0 + u >= j_end || r >= p.rows || !mask_allows(p.mask, p.mask.q_offset + r % p.n_q, j0 + u)) x = -INFINITY;
                sc[u][r] = x;
            }
        // one online-softmax step per row for the U keys
        float vf[DEC_UNROLL][E];
#pragma unroll
        for (int u = 0; u < DEC_UNROLL; u++) unpack<T, E>(vr[u], vf[u]);
#pragma unroll
        for (int r = 0; r < RMAX; r++) {
            float mx = sc[0][r];
#pragma unroll
            for (int u = 1; u < DEC_UNROLL; u++) mx = fmaxf(mx, sc[u][r]);
            const float m_new = fmaxf(m[r], mx);
            const float m_use = m_new == -INFINITY ? 0.f : m_new;  // nothing visible yet: p = 0
            const float alpha = exp2f(m[r] - m_use);
            m[r] = m_new;
            l[r] *= alpha;
#pragma unroll
            for (int e = 0; e < E; e++) acc[r][e] *= alpha;
#pragma unroll
            for (int u = 0; u < DEC_UNROLL; u++) {
                const float pj = exp2f(sc[u][r] - m_use);
                l[r] += pj;
#pragma unroll
                for (int e = 0; e < E; e++) acc[r][e] += pj * vf[u][e];
            }
        }
    }

    // merge the warps of this block through shared memory, then write the chunk's result
    __shared__ float sm_m[DEC_WARPS][RMAX], sm_l[DEC_WARPS][RMAX];
    __shared__ float sm_acc[DEC_WARPS][RMAX][D];
#pragma unroll
    for (int r = 0; r < RMAX; r++) {
        if (lane == 0) sm_m[warp][r] = m[r], sm_l[warp][r] = l[r];
#pragma unroll
        for (int e = 0; e < E; e++) sm_acc[warp][r][lane * E + e] = acc[r][e];
    }
    __syncthreads();
    const int64_t base = (((int64_t)b * gridDim.y + hk) * p.splits + split) * p.rows;
    for (int idx = threadIdx.x; idx < p.rows * D; idx += blockDim.x) {
        const int r = idx / D, d = idx % D;
        float M = -INFINITY;
        for (int w = 0; w < DEC_WARPS; w++) M = fmaxf(M, sm_m[w][r]);
        float L = 0.f, O = 0.f;
        if (M != -INFINITY)
            for (int w = 0; w < DEC_WARPS; w++) {
                const float f = exp2f(sm_m[w][r] - M);
                L += sm_l[w][r] * f, O += sm_acc[w][r][d] * f;
            }
        p.part_o[(base + r) * D + d] = L > 0.f ? O / L : 0.f;
        if (d == 0) p.part_lse[base + r] = L > 0.f ? (M + log2f(L)) * DEC_LN2 : -INFINITY;
    }
}

template <typename TO> __device__ __forceinline__ TO from_f(float x);
template <> __device__ __forceinline__ float from_f(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f(float x) { return __float2bfloat16(x); }
template <> __device__ __forceinline__ __half from_f(float x) { return __float2half(x); }

// One block per (batch, kv head, row): out = sum_c e^{lse_c - lse} o_c.
template <typename TO, int D>
__global__ void decode_merge_kernel(const decode_params p) {
    const int row = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, d = threadIdx.x;
    const int64_t base = ((int64_t)b * gridDim.y + hk) * p.splits;
    float M = -INFINITY;
    for (int c = 0; c < p.splits; c++) M = fmaxf(M, p.part_lse[(base + c) * p.rows + row]);
    float L = 0.f, O = 0.f;
    if (M != -INFINITY)
        for (int c = 0; c < p.splits; c++) {
            const float w = expf(p.part_lse[(base + c) * p.rows + row] - M);
            L += w, O += w * p.part_o[((base + c) * p.rows + row) * D + d];
        }
    const int h = hk * p.group + row / p.n_q, i = row % p.n_q;
    TO *out = static_cast<TO *>(p.out) + b * p.o_b + i * p.o_s + h * p.o_h;
    out[d] = from_f<TO>(L > 0.f ? O / L : 0.f);
    if (p.lse && d == 0) p.lse[((int64_t)b * p.heads_q + h) * p.n_q + i] = L > 0.f ? M + logf(L) : -INFINITY;
}

template <typename T, typename TO, int D>
static cudaError_t decode_launch(const decode_params &p, int batch, int heads_kv, cudaStream_t s) {
    dim3 grid(p.splits, heads_kv, batch);
    if constexpr (D == 256) {
        decode_split_kernel<T, D, 8><<<grid, DEC_WARPS * 32, 0, s>>>(p);  // registers: at most 8 rows
    } else {
        if (p.rows <= 4) decode_split_kernel<T, D, 4><<<grid, DEC_WARPS * 32, 0, s>>>(p);
        else if (p.rows <= 8) decode_split_kernel<T, D, 8><<<grid, DEC_WARPS * 32, 0, s>>>(p);
        else decode_split_kernel<T, D, 16><<<grid, DEC_WARPS * 32, 0, s>>>(p);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    decode_merge_kernel<TO, D><<<dim3(p.rows, heads_kv, batch), D, 0, s>>>(p);
    return cudaGetLastError();
}

template <typename T, typename TO>
static cudaError_t decode_dims(const decode_params &p, int batch, int heads_kv, int d, cudaStream_t s) {
    if (d == 64) return decode_launch<T, TO, 64>(p, batch, heads_kv, s);
    if (d == 128) return decode_launch<T, TO, 128>(p, batch, heads_kv, s);
    return decode_launch<T, TO, 256>(p, batch, heads_kv, s);
}

}  // namespace lc_cuda

using namespace lc_cuda;

static int rows_of(const lc_attention *a) { return (int)(a->q.shape[2] / a->k.shape[2] * a->q.shape[1]); }

extern "C" lc_status lc_cuda_decode_check(const lc_attention *a) {
    lc_status s = check_common(a);
    if (s) return s;
    const int64_t d = a->q.shape[3];
    if (a->v.shape[3] != d || (d != 64 && d != 128 && d != 256))
        return lc_error(LC_EUNSUPPORTED, "head dims d_k=%lld, d_v=%lld: GPU decode takes equal dims of 64, 128 or 256", (long long)d, (long long)a->v.shape[3]);
    const int rmax = d == 256 ? 8 : 16;
    if (rows_of(a) > rmax)
        return lc_error(LC_EUNSUPPORTED, "(heads_q / heads_kv) * n_q = %d: GPU decode takes at most %d query rows per kv head at d=%lld", rows_of(a), rmax, (long long)d);
    if (a->mask.blocks.bits) return lc_error(LC_EUNSUPPORTED, "mask.blocks: GPU decode takes causal, window and sink masks");
    return LC_OK;
}

static int resolve_splits(const lc_attention *a, int splits) {
    if (splits > 0) return splits;
    int dev = 0, sms = 132;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    // about four blocks per multiprocessor, chunks of at least 256 keys
    const int64_t blocks = a->q.shape[0] * a->k.shape[2];
    int64_t want = (4 * (int64_t)sms + blocks - 1) / blocks;
    int64_t most = (a->k.shape[1] + 255) / 256;
    return (int)(want < 1 ? 1 : want > most ? most : want);
}

extern "C" size_t lc_cuda_decode_workspace_size(const lc_attention *a, int splits) {
    if (lc_cuda_decode_check(a)) return 0;
    const size_t parts = (size_t)a->q.shape[0] * a->k.shape[2] * resolve_splits(a, splits) * rows_of(a);
    return parts * (size_t)(a->v.shape[3] + 1) * sizeof(float);
}

extern "C" lc_status lc_cuda_decode_attention(const lc_attention *a, int splits, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    lc_status st = lc_cuda_decode_check(a);
    if (st) return st;
    if (splits < 0) return lc_error(LC_EINVAL, "splits=%d must be >= 0 (0 chooses)", splits);
    const size_t need = lc_cuda_decode_workspace_size(a, splits);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace: GPU decode needs %zu bytes of device memory (lc_cuda_decode_workspace_size), got %zu", need, workspace ? workspace_bytes : 0);
    decode_params p;
    static_cast<attn_params &>(p) = make_attn_params(a);
    p.rows = rows_of(a);
    p.splits = resolve_splits(a, splits);
    p.chunk = (p.n_kv + p.splits - 1) / p.splits;
    const size_t parts = (size_t)a->q.shape[0] * a->k.shape[2] * p.splits * p.rows;
    p.part_o = static_cast<float *>(workspace);
    p.part_lse = p.part_o + parts * a->v.shape[3];
    cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const int batch = (int)a->q.shape[0], hkv = (int)a->k.shape[2], d = (int)a->q.shape[3];
    cudaError_t e;
    if (a->q.dtype == LC_BF16)
        e = a->out.dtype == LC_F32 ? decode_dims<__nv_bfloat16, float>(p, batch, hkv, d, s) : decode_dims<__nv_bfloat16, __nv_bfloat16>(p, batch, hkv, d, s);
    else
        e = a->out.dtype == LC_F32 ? decode_dims<__half, float>(p, batch, hkv, d, s) : decode_dims<__half, __half>(p, batch, hkv, d, s);
    if (e != cudaSuccess) return lc_error(LC_EINTERNAL, "decode kernel launch failed: %s", cudaGetErrorString(e));
    return LC_OK;
}
