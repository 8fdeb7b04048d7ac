// Flash attention forward on the GPU (Dao 2023, FlashAttention-2, Algorithm 1), with
// tensor-core MMAs (mma.sync m16n8k16, bf16/f16 in, f32 accumulate).
//
// One thread block owns BLOCK_M = 16 * MT * NWARPS query rows of one (batch, head); each
// warp owns MT m-tiles of 16 rows, so each K and V fragment read from shared memory feeds
// MT tensor-core MMAs. For every key tile of BLOCK_N keys that the mask does not empty:
//
//   S = Q K^T (scaled to log2 units), soft-cap, mask      -- warp-local, in registers
//   m' = max(m, rowmax S);  P = 2^(S - m');  l = l 2^(m - m') + rowsum P
//   O  = O 2^(m - m') + P V                              -- P stays in registers
//
// K and V tiles stream through shared memory with cp.async: V(t) loads while S(t) is
// computed, K(t+1) loads while P(t)V(t) is computed. At the end out = O / l and
// lse = (m + log2 l) ln 2. Rows whose keys are all masked give out = 0, lse = -inf.
#include "longctx/cuda.h"

#include <cuda_runtime.h>
#include <math.h>

#include "check.h"
#include "flash_sm90.h"
#include "mma.cuh"

namespace lc_cuda {

typedef attn_params fwd_params;

constexpr int BLOCK_N = 64;
constexpr float LOG2E = 1.4426950408889634f;
constexpr float LN2 = 0.6931471805599453f;

// rows [row0, row0 + ROWS) of a [seq, D] slice (row stride `ld` elements) into a swizzled
// shared tile; rows at or past `valid` are zero-filled.
template <typename T, int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile(T *dst, const T *src, int64_t ld, int row0, int valid) {
    constexpr int CHUNKS = D / 8;
    for (int i = threadIdx.x; i < ROWS * CHUNKS; i += THREADS) {
        int r = i / CHUNKS, c = i % CHUNKS;
        bool ok = row0 + r < valid;
        const T *g = ok ? src + (int64_t)(row0 + r) * ld + c * 8 : src;
        cp_async_16(dst + swizzle<D>(r, c * 8), g, ok);
    }
}

template <typename T, typename TO, int DK, int DV, int NWARPS, int MT, bool SOFTCAP>
__global__ void __launch_bounds__(NWARPS * 32) flash_fwd_kernel(const fwd_params p) {
    constexpr int BLOCK_M = 16 * MT * NWARPS, THREADS = NWARPS * 32, WARP_M = 16 * MT;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T *sQ = reinterpret_cast<T *>(smem_raw);
    T *sK = sQ + BLOCK_M * DK;
    T *sV = sK + BLOCK_N * DK;

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const int n_qt = (p.n_q + BLOCK_M - 1) / BLOCK_M;
    const int q0 = (n_qt - 1 - (int)blockIdx.x) * BLOCK_M;  // heaviest (latest) tiles first
    const int h = blockIdx.y, b = blockIdx.z, hk = h / p.group;

    const T *Q = static_cast<const T *>(p.q) + b * p.q_b + h * p.q_h;
    const T *K = static_cast<const T *>(p.k) + b * p.k_b + hk * p.k_h;
    const T *V = static_cast<const T *>(p.v) + b * p.v_b + hk * p.v_h;

    const device_mask &mk = p.mask;
    const int pos0 = mk.q_offset + q0, pos1 = mk.q_offset + min(q0 + BLOCK_M, p.n_q) - 1;
    const int n_kt = (p.n_kv + BLOCK_N - 1) / BLOCK_N;
    const int kt_end = mk.causal ? min(n_kt, pos1 / BLOCK_N + 1) : n_kt;
    auto classify = [&](int kt) {
        return mask_classify(mk, pos0, pos1, kt * BLOCK_N, min((kt + 1) * BLOCK_N, p.n_kv) - 1);
    };
    auto next_tile = [&](int kt) {
        while (kt < kt_end && classify(kt) == TILE_EMPTY) kt++;
        return kt;
    };

    // per m-tile mt (16 rows): O accumulators, and m, l of rows g (r = 0) and g + 8 (r = 1)
    float o[MT][DV / 8][4], m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int j = 0; j < DV / 8; j++) o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.f;
        m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.f;
    }

    int kt = next_tile(0);
    load_tile<T, BLOCK_M, DK, THREADS>(sQ, Q, p.q_s, q0, p.n_q);
    if (kt < kt_end) load_tile<T, BLOCK_N, DK, THREADS>(sK, K, p.k_s, kt * BLOCK_N, p.n_kv);
    cp_async_commit();

    while (kt < kt_end) {
        const int cls = classify(kt);
        const bool need_mask = cls == TILE_PARTIAL || (kt + 1) * BLOCK_N > p.n_kv;
        cp_async_wait<0>();
        __syncthreads();  // K(kt) in place; every warp is done with V of the last tile
        load_tile<T, BLOCK_N, DV, THREADS>(sV, V, p.v_s, kt * BLOCK_N, p.n_kv);
        cp_async_commit();

        // S = Q K^T for this warp's WARP_M rows and the tile's BLOCK_N keys; each K
        // fragment loaded from shared memory serves all MT m-tiles
        float s[MT][BLOCK_N / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int j = 0; j < BLOCK_N / 8; j++) s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.f;
#pragma unroll
        for (int ks = 0; ks < DK / 16; ks++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
                ldmatrix_x4(a[mt], sQ + swizzle<DK>(warp * WARP_M + mt * 16 + (lane % 8) + ((lane / 8) % 2) * 8, ks * 16 + (lane / 16) * 8));
#pragma unroll
            for (int np = 0; np < BLOCK_N / 16; np++) {
                uint32_t bk[4];
                ldmatrix_x4(bk, sK + swizzle<DK>(np * 16 + (lane % 8) + (lane / 16) * 8, ks * 16 + ((lane / 8) % 2) * 8));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_op<T>::run(s[mt][2 * np], a[mt], bk[0], bk[1]);
                    mma_op<T>::run(s[mt][2 * np + 1], a[mt], bk[2], bk[3]);
                }
            }
        }

#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            // scale to log2 units (soft-capping first when on), then the mask; the mask
            // loop runs only on partial tiles, which keeps the common path's code small
#pragma unroll
            for (int j = 0; j < BLOCK_N / 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    s[mt][j][e] = SOFTCAP ? p.softcap * tanhf(s[mt][j][e] * p.scale / p.softcap) * LOG2E : s[mt][j][e] * p.scale_log2;
            if (need_mask) {
#pragma unroll
                for (int j = 0; j < BLOCK_N / 8; j++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int key = kt * BLOCK_N + j * 8 + 2 * t + (e & 1);
                        const int pos = mk.q_offset + q0 + warp * WARP_M + mt * 16 + g + (e >> 1) * 8;
                        if (key >= p.n_kv || !mask_allows(mk, pos, key)) s[mt][j][e] = -INFINITY;
                    }
            }

            // online softmax on rows g (r = 0) and g + 8 (r = 1); four lanes share a row
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float mx = -INFINITY;
#pragma unroll
                for (int j = 0; j < BLOCK_N / 8; j++) mx = fmaxf(mx, fmaxf(s[mt][j][2 * r], s[mt][j][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m[mt][r], mx);
                const float m_use = m_new == -INFINITY ? 0.f : m_new;  // all masked so far: p = 0
                const float alpha = fast_exp2(m[mt][r] - m_use);
                m[mt][r] = m_new;
                float sum = 0.f;
#pragma unroll
                for (int j = 0; j < BLOCK_N / 8; j++) {
                    s[mt][j][2 * r] = fast_exp2(s[mt][j][2 * r] - m_use);
                    s[mt][j][2 * r + 1] = fast_exp2(s[mt][j][2 * r + 1] - m_use);
                    sum += s[mt][j][2 * r] + s[mt][j][2 * r + 1];
                }
                l[mt][r] = l[mt][r] * alpha + sum;
#pragma unroll
                for (int j = 0; j < DV / 8; j++) o[mt][j][2 * r] *= alpha, o[mt][j][2 * r + 1] *= alpha;
            }
        }

        cp_async_wait<0>();
        __syncthreads();  // V(kt) in place; every warp is done with K(kt)
        const int kt_next = next_tile(kt + 1);
        if (kt_next < kt_end) load_tile<T, BLOCK_N, DK, THREADS>(sK, K, p.k_s, kt_next * BLOCK_N, p.n_kv);
        cp_async_commit();

        // O += P V: the S accumulators of key blocks 2kk, 2kk+1 are the A fragment of P
#pragma unroll
        for (int kk = 0; kk < BLOCK_N / 16; kk++) {
            uint32_t a[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                a[mt][0] = mma_op<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                a[mt][1] = mma_op<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                a[mt][2] = mma_op<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                a[mt][3] = mma_op<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
            }
#pragma unroll
            for (int dp = 0; dp < DV / 16; dp++) {
                uint32_t bv[4];
                ldmatrix_x4_trans(bv, sV + swizzle<DV>(kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8, dp * 16 + (lane / 16) * 8));
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_op<T>::run(o[mt][2 * dp], a[mt], bv[0], bv[1]);
                    mma_op<T>::run(o[mt][2 * dp + 1], a[mt], bv[2], bv[3]);
                }
            }
        }
        kt = kt_next;
    }

    TO *O = static_cast<TO *>(p.out) + b * p.o_b + h * p.o_h;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float sum = l[mt][r];
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
            const int row = q0 + warp * WARP_M + mt * 16 + g + r * 8;
            if (row >= p.n_q) continue;
            const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
            for (int j = 0; j < DV / 8; j++)
                store2<TO>(O + (int64_t)row * p.o_s + j * 8 + 2 * t, o[mt][j][2 * r] * inv, o[mt][j][2 * r + 1] * inv);
            if (p.lse && t == 0) p.lse[((int64_t)b * p.heads_q + h) * p.n_q + row] = sum > 0.f ? (m[mt][r] + log2f(sum)) * LN2 : -INFINITY;
        }
}

template <typename T, typename TO, int DK, int DV, int NWARPS, int MT>
static cudaError_t launch(const fwd_params &p, int batch, cudaStream_t stream) {
    constexpr int BLOCK_M = 16 * MT * NWARPS;
    const size_t smem = sizeof(T) * (size_t)(BLOCK_M * DK + BLOCK_N * DK + BLOCK_N * DV);
    auto kernel = p.softcap > 0.f ? flash_fwd_kernel<T, TO, DK, DV, NWARPS, MT, true> : flash_fwd_kernel<T, TO, DK, DV, NWARPS, MT, false>;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    dim3 grid((p.n_q + BLOCK_M - 1) / BLOCK_M, p.heads_q, batch);
    kernel<<<grid, NWARPS * 32, smem, stream>>>(p);
    return cudaGetLastError();
}

// The plan: the block shape per head dim. NWARPS warps, each owning MT m-tiles of 16 rows,
// so each K / V fragment feeds MT MMAs: 4 warps x 2 m-tiles (128 rows) measured fastest on
// an H100 at d = 64 and 128 (docs/cuda.md); at d = 256 and (192, 128) the
// accumulators of 2 m-tiles do not fit the registers, so 4 x 1 (64 rows).
template <typename T, typename TO>
static cudaError_t dispatch_dims(const fwd_params &p, int batch, int dk, int dv, cudaStream_t s) {
    if (dk == 64 && dv == 64) return launch<T, TO, 64, 64, 4, 2>(p, batch, s);
    if (dk == 128 && dv == 128) return launch<T, TO, 128, 128, 4, 2>(p, batch, s);
    if (dk == 256 && dv == 256) return launch<T, TO, 256, 256, 4, 1>(p, batch, s);
    return launch<T, TO, 192, 128, 4, 1>(p, batch, s);  // checked before: MLA's (192, 128)
}

}  // namespace lc_cuda

using namespace lc_cuda;

static int supported_dims(int64_t dk, int64_t dv) {
    return (dk == dv && (dk == 64 || dk == 128 || dk == 256)) || (dk == 192 && dv == 128);
}

extern "C" lc_status lc_cuda_attention_check(const lc_attention *a) {
    lc_status s = check_common(a);
    if (s) return s;
    if (!supported_dims(a->q.shape[3], a->v.shape[3]))
        return lc_error(LC_EUNSUPPORTED, "head dims d_k=%lld, d_v=%lld: the CUDA kernel has (64,64), (128,128), (256,256) and (192,128)", (long long)a->q.shape[3], (long long)a->v.shape[3]);
    return LC_OK;
}

static size_t bitmap_bytes(const lc_attention *a) {
    return a->mask.blocks.bits ? (size_t)(a->mask.blocks.n_qb * a->mask.blocks.n_kb) : 0;
}

// The Hopper kernel covers the call: compute capability 9.0, d_k = d_v in {64, 128}, scale > 0.
static bool sm90_covers(const lc_attention *a, const fwd_params &p) {
    return p.scale > 0.f && flash_sm90_covers((int)a->q.shape[3], (int)a->v.shape[3]);
}

// The workspace: the bitmap's device copy, then (from a 256-byte boundary) the wgmma
// kernel's tail split, which runs only where the caller's workspace holds it.
static size_t tail_offset(const lc_attention *a) { return (bitmap_bytes(a) + 255) / 256 * 256; }

namespace lc_cuda {

size_t attention_workspace(const lc_attention *a, const sm90_request &req) {
    if (lc_cuda_attention_check(a)) return 0;
    const fwd_params p = make_attn_params(a);
    const size_t tail = sm90_covers(a, p) ? flash_fwd_sm90_workspace(p, (int)a->q.shape[0], (int)a->q.shape[3], req, a->q.dtype == LC_F16, a->out.dtype == LC_F32) : 0;
    return tail ? tail_offset(a) + tail : bitmap_bytes(a);
}

lc_status attention_flash(const lc_attention *a, lc_cuda_path path, const sm90_request &req, void *workspace, size_t workspace_bytes, cudaStream_t s) {
    lc_status st = lc_cuda_attention_check(a);
    if (st) return st;
    if (path != LC_CUDA_PATH_AUTO && path != LC_CUDA_PATH_MMA && path != LC_CUDA_PATH_SM90) return lc_error(LC_EINVAL, "path=%d is not an lc_cuda_path", (int)path);
    fwd_params p = make_attn_params(a);
    const bool sm90 = path != LC_CUDA_PATH_MMA && sm90_covers(a, p);
    if (path == LC_CUDA_PATH_SM90 && !sm90)
        return lc_error(LC_EUNSUPPORTED, "path=LC_CUDA_PATH_SM90: the Hopper kernel needs compute capability 9.0, d_k = d_v in {64, 128} and scale > 0 (d_k=%lld, d_v=%lld)",
                        (long long)a->q.shape[3], (long long)a->v.shape[3]);
    const size_t need = bitmap_bytes(a);
    if (need && (!workspace || workspace_bytes < need))
        return lc_error(LC_EINVAL, "workspace: the block bitmap needs %zu bytes of device memory (lc_cuda_attention_workspace_size), got %zu", need, workspace ? workspace_bytes : 0);
    if (need) {
        if (cudaMemcpyAsync(workspace, a->mask.blocks.bits, need, cudaMemcpyHostToDevice, s) != cudaSuccess)
            return lc_error(LC_EINTERNAL, "copying the block bitmap to the GPU failed: %s", cudaGetErrorString(cudaGetLastError()));
        p.mask.bits = static_cast<const uint8_t *>(workspace);
    }
    const int batch = (int)a->q.shape[0], dk = (int)a->q.shape[3], dv = (int)a->v.shape[3];
    const bool f32_out = a->out.dtype == LC_F32;
    // the Hopper kernel where it covers the call; LC_CUDA_PATH_SM90 refuses to fall back
    // where it cannot run (the tensor maps), so a test of it cannot pass on the other
    cudaError_t e = cudaErrorNotSupported;
    if (sm90) {
        const size_t off = tail_offset(a);
        char *tail = workspace && workspace_bytes > off ? static_cast<char *>(workspace) + off : nullptr;
        e = flash_fwd_sm90(p, batch, (int)a->k.shape[2], dk, req, a->q.dtype == LC_F16, f32_out, s, tail, tail ? workspace_bytes - off : 0);
        if (e == cudaErrorNotSupported && path == LC_CUDA_PATH_SM90)
            return lc_error(LC_EUNSUPPORTED, "path=LC_CUDA_PATH_SM90: the driver could not describe k or v as tensor maps");
    }
    if (e == cudaErrorNotSupported) {
        if (a->q.dtype == LC_BF16)
            e = f32_out ? dispatch_dims<__nv_bfloat16, float>(p, batch, dk, dv, s) : dispatch_dims<__nv_bfloat16, __nv_bfloat16>(p, batch, dk, dv, s);
        else
            e = f32_out ? dispatch_dims<__half, float>(p, batch, dk, dv, s) : dispatch_dims<__half, __half>(p, batch, dk, dv, s);
    }
    if (e != cudaSuccess) return lc_error(LC_EINTERNAL, "flash attention kernel launch failed: %s", cudaGetErrorString(e));
    return LC_OK;
}

}  // namespace lc_cuda

extern "C" size_t lc_cuda_attention_workspace_size(const lc_attention *a) { return attention_workspace(a, sm90_request{}); }

extern "C" lc_status lc_cuda_attention_flash_path(const lc_attention *a, lc_cuda_path path, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    return attention_flash(a, path, sm90_request{}, workspace, workspace_bytes, reinterpret_cast<cudaStream_t>(stream));
}

extern "C" lc_status lc_cuda_attention_flash(const lc_attention *a, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    return lc_cuda_attention_flash_path(a, LC_CUDA_PATH_AUTO, workspace, workspace_bytes, stream);
}
