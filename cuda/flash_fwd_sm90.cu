// Flash attention forward for Hopper (sm_90a) on warpgroup MMAs (wgmma), after
// FlashAttention-3 (Shah et al. 2024) in its simplest form: the same algorithm as
// flash_fwd.cu (FlashAttention-2, Algorithm 1), with the products issued per warpgroup.
//
// A block of NWG warpgroups (128 threads each) owns BLOCK_M = 64 NWG query rows of one
// (batch, head), 64 per warpgroup; keys come in tiles of BLOCK_N = 128. Q, K and V sit in shared memory
// in the 128-byte-swizzled layout that wgmma reads through descriptors (wgmma.cuh). Per key
// tile that the mask does not empty:
//
//   S = Q K^T          wgmma m64n128k16, A = Q and B = K from shared memory
//   scale (log2 units), soft-cap, mask, online softmax in registers (as flash_fwd.cu)
//   O = O 2^(m - m') + P V    wgmma m64nDk16, A = P from registers (the S accumulator
//                             converted to 16 bits is already the A fragment), B = V
//                             from shared memory, MN-major
//
// K and V tiles are double-buffered and loaded one tile ahead with cp.async by all the
// block's threads; the P V product of one tile overlaps the softmax of the next. Everything
// else (masks, tile classification, GQA, q_offset, lse, empty rows) is as in flash_fwd.cu.
// Scores stay unscaled until the exponent, 2^(s scale log2(e) - m) in one FMA, so the
// kernel takes scale > 0 only (the dispatcher sends others to flash_fwd.cu).
#include <cuda_runtime.h>
#include <math.h>

#include "check.h"
#include "flash_sm90.h"
#include "mma.cuh"
#include "wgmma.cuh"

namespace lc_cuda {
namespace {

constexpr int SM90_BLOCK_N = 128;

// element offset of chunk c (8 elements) of row r in a ROWS-row tile of 64-wide panels
template <int ROWS> __device__ __forceinline__ int sw128(int r, int c) { return (c >> 3) * ROWS * 64 + r * 64 + (((c & 7) ^ (r & 7)) << 3); }

// rows [row0, row0 + ROWS) of a [seq, D] slice (row stride ld) into a swizzled tile;
// rows at or past `valid` are zero-filled
template <typename T, int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile_sw128(T *dst, const T *src, int64_t ld, int row0, int valid) {
    constexpr int CHUNKS = D / 8;
    static_assert(ROWS * CHUNKS % THREADS == 0, "whole passes");
#pragma unroll
    for (int it = 0; it < ROWS * CHUNKS / THREADS; it++) {
        const int i = threadIdx.x + it * THREADS, r = i / CHUNKS, c = i % CHUNKS;
        const bool ok = row0 + r < valid;
        cp_async_16(dst + sw128<ROWS>(r, c), ok ? src + (int64_t)(row0 + r) * ld + c * 8 : src, ok);
    }
}

template <typename T, typename TO, int D, int NWG, bool SOFTCAP>
__global__ void __launch_bounds__(NWG * 128, 2 / NWG) flash_fwd_sm90_kernel(const attn_params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int BM = 64 * NWG, BN = SM90_BLOCK_N, THREADS = NWG * 128;
    constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;
    extern __shared__ unsigned char smem_raw[];
    // descriptors need 1024-byte aligned atoms: align the base (1 KB extra is allocated)
    T *sQ = reinterpret_cast<T *>(smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023));
    T *sK = sQ + BM * D;       // 2 stages of BN x D
    T *sV = sK + 2 * BN * D;   // 2 stages of BN x D

    const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int n_qt = (p.n_q + BM - 1) / BM;
    const int q0 = (n_qt - 1 - (int)blockIdx.x) * BM;  // heaviest (latest) tiles first
    const int h = blockIdx.y, b = blockIdx.z, hk = h / p.group;
    const T *Q = static_cast<const T *>(p.q) + b * p.q_b + h * p.q_h;
    const T *K = static_cast<const T *>(p.k) + b * p.k_b + hk * p.k_h;
    const T *V = static_cast<const T *>(p.v) + b * p.v_b + hk * p.v_h;

    const device_mask &mk = p.mask;
    const int pos0 = mk.q_offset + q0, pos1 = mk.q_offset + min(q0 + BM, p.n_q) - 1;
    const int n_kt = (p.n_kv + BN - 1) / BN;
    const int kt_end = mk.causal ? min(n_kt, pos1 / BN + 1) : n_kt;
    auto classify = [&](int kt) { return mask_classify(mk, pos0, pos1, kt * BN, min((kt + 1) * BN, p.n_kv) - 1); };
    auto next_tile = [&](int kt) {
        while (kt < kt_end && classify(kt) == TILE_EMPTY) kt++;
        return kt;
    };
    const int row_pos = mk.q_offset + q0 + wg * 64 + warp * 16 + g;  // position of row g; row g + 8 is + 8

    // this thread's O accumulator (d[4j + e]: row g + 8 (e / 2), column 8j + 2t + e % 2)
    // and m, l of rows g (r = 0) and g + 8 (r = 1)
    float o[D / 2], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int i = 0; i < D / 2; i++) o[i] = 0.f;

    const uint32_t q_addr = smem_addr(sQ + wg * 64 * 64), k_addr = smem_addr(sK), v_addr = smem_addr(sV);
    constexpr uint32_t STAGE_BYTES = BN * D * sizeof(T);
    // O += P V for the P held in pa and the V tile in stage `vs` (issued, not waited for)
    uint32_t pa[BN / 16][4];
    auto issue_pv = [&](int vs) {
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) wgmma<T, D>::rs_t(o, pa[kk], wgmma_desc(v_addr + vs * STAGE_BYTES + kk * 16 * 128, BN * 128, 1024), 1);
        wgmma_commit();
    };

    // Tile i (the i-th tile the mask does not empty) computes S_i = Q K_i^T while the
    // previous tile's O += P_{i-1} V_{i-1} runs on the tensor cores, so the softmax of S_i
    // overlaps that product (FlashAttention-3's intra-warpgroup pipelining). Copies run one
    // tile ahead: K_{i+1} and V_i land during tile i.
    // a window alone empties every key before pos0 - left: start there
    const int kt_first = mk.window && mk.left >= 0 && mk.sinks == 0 && !mk.bits ? max(0, pos0 - mk.left) / BN : 0;
    int kt = next_tile(kt_first), i = 0;
    load_tile_sw128<T, BM, D, THREADS>(sQ, Q, p.q_s, q0, p.n_q);
    if (kt < kt_end) load_tile_sw128<T, BN, D, THREADS>(sK, K, p.k_s, kt * BN, p.n_kv);
    cp_async_commit();

    for (; kt < kt_end; i++) {
        const int cls = classify(kt);
        const bool need_mask = cls == TILE_PARTIAL || (kt + 1) * BN > p.n_kv;
        cp_async_wait<0>();
        fence_proxy_async();  // the copies' results are read by wgmma (the async proxy)
        __syncthreads();      // K_i, V_{i-1} in place; every warpgroup is done with K_{i-1}, V_{i-2}
        const int kt_next = next_tile(kt + 1);
        if (kt_next < kt_end) load_tile_sw128<T, BN, D, THREADS>(sK + ((i + 1) & 1) * BN * D, K, p.k_s, kt_next * BN, p.n_kv);
        load_tile_sw128<T, BN, D, THREADS>(sV + (i & 1) * BN * D, V, p.v_s, kt * BN, p.n_kv);
        cp_async_commit();

        // S = Q K^T: k16 steps walk 32 bytes inside a 64-wide panel, then to the next panel
        float s[BN / 2];
        const uint32_t ks_addr = k_addr + (i & 1) * STAGE_BYTES;
        wgmma_hold(o);
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < D / 16; ks++)
            wgmma<T, BN>::ss(s, wgmma_desc(q_addr + (ks / 4) * BM * 128 + (ks % 4) * 32, 16, 1024),
                             wgmma_desc(ks_addr + (ks / 4) * BN * 128 + (ks % 4) * 32, 16, 1024), ks > 0);
        wgmma_commit();
        if (i > 0) {
            issue_pv((i - 1) & 1);
            wgmma_wait<1>();  // S done; P_{i-1} V_{i-1} may still run
        } else {
            wgmma_wait<0>();
        }
        wgmma_hold(s);

        // soft-capping (to log2 units) when on, then the mask on partial tiles
        if (SOFTCAP) {
#pragma unroll
            for (int e = 0; e < BN / 2; e++) s[e] = p.softcap * tanhf(s[e] * p.scale / p.softcap) * LOG2E;
        }
        if (need_mask) {
#pragma unroll
            for (int e = 0; e < BN / 2; e++) {
                const int key = kt * BN + (e / 4) * 8 + 2 * t + (e & 1), pos = row_pos + ((e >> 1) & 1) * 8;
                if (key >= p.n_kv || !mask_allows(mk, pos, key)) s[e] = -INFINITY;
            }
        }

        // online softmax on rows g (r = 0) and g + 8 (r = 1); four lanes share a row; m is
        // in log2 units, s times `sc` is
        const float sc = SOFTCAP ? 1.f : p.scale_log2;
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < BN / 8; j++) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m[r], mx * sc);
            const float m_use = m_new == -INFINITY ? 0.f : m_new;  // all masked so far: p = 0
            alpha[r] = fast_exp2(m[r] - m_use);
            m[r] = m_new;
            float sum = 0.f;
#pragma unroll
            for (int j = 0; j < BN / 8; j++) {
                s[4 * j + 2 * r] = fast_exp2(fmaf(s[4 * j + 2 * r], sc, -m_use));
                s[4 * j + 2 * r + 1] = fast_exp2(fmaf(s[4 * j + 2 * r + 1], sc, -m_use));
                sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
            }
            l[r] = l[r] * alpha[r] + sum;
        }

        // once P_{i-1} V_{i-1} is done: rescale O, and P_i (the accumulators of key blocks
        // 2kk, 2kk + 1 in 16 bits) becomes the A operand of the next product
        wgmma_wait<0>();
        wgmma_hold(o);
#pragma unroll
        for (int j = 0; j < D / 8; j++) o[4 * j] *= alpha[0], o[4 * j + 1] *= alpha[0], o[4 * j + 2] *= alpha[1], o[4 * j + 3] *= alpha[1];
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
            for (int x = 0; x < 4; x++) pa[kk][x] = mma_op<T>::pack(s[8 * kk + 2 * x], s[8 * kk + 2 * x + 1]);
        kt = kt_next;
    }
    if (i > 0) {  // the last tile's P V
        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
        wgmma_hold(o);
        issue_pv((i - 1) & 1);
        wgmma_wait<0>();
        wgmma_hold(o);
    }

    TO *O = static_cast<TO *>(p.out) + b * p.o_b + h * p.o_h;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = l[r];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        const int row = q0 + wg * 64 + warp * 16 + g + r * 8;
        if (row >= p.n_q) continue;
        const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
        for (int j = 0; j < D / 8; j++) store2<TO>(O + (int64_t)row * p.o_s + j * 8 + 2 * t, o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
        if (p.lse && t == 0) p.lse[((int64_t)b * p.heads_q + h) * p.n_q + row] = sum > 0.f ? (m[r] + log2f(sum)) * LN2 : -INFINITY;
    }
#endif
}

template <typename T, typename TO, int D, int NWG>
cudaError_t launch_sm90(const attn_params &p, int batch, cudaStream_t stream) {
    constexpr int BM = 64 * NWG;
    const size_t smem = 1024 + sizeof(T) * (size_t)(BM * D + 4 * SM90_BLOCK_N * D);
    auto kernel = p.softcap > 0.f ? flash_fwd_sm90_kernel<T, TO, D, NWG, true> : flash_fwd_sm90_kernel<T, TO, D, NWG, false>;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    dim3 grid((p.n_q + BM - 1) / BM, p.heads_q, batch);
    kernel<<<grid, NWG * 128, smem, stream>>>(p);
    return cudaGetLastError();
}

// warpgroups per block: 2 (128 query rows, 1 block per SM) or 1 (64 rows; 2 blocks per SM
// at d = 64); 0 picks the faster on an H100 (bench/results/gpu_NOTES.md): 1 at d = 64, 2 at 128
template <typename T, typename TO> cudaError_t dispatch_sm90(const attn_params &p, int batch, int d, int nwg, cudaStream_t s) {
    if (nwg == 0) nwg = d == 64 ? 1 : 2;
    if (nwg == 1) return d == 64 ? launch_sm90<T, TO, 64, 1>(p, batch, s) : launch_sm90<T, TO, 128, 1>(p, batch, s);
    return d == 64 ? launch_sm90<T, TO, 64, 2>(p, batch, s) : launch_sm90<T, TO, 128, 2>(p, batch, s);
}

}  // namespace

bool flash_sm90_covers(int dk, int dv) {
    if (dk != dv || (dk != 64 && dk != 128)) return false;
    int dev, major, minor;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
        return false;
    return major == 9 && minor == 0;  // the sm_90a machine code runs on compute capability 9.0 only
}

cudaError_t flash_fwd_sm90(const attn_params &p, int batch, int d, int nwg, bool f16, bool f32_out, cudaStream_t s) {
    if (f16) return f32_out ? dispatch_sm90<__half, float>(p, batch, d, nwg, s) : dispatch_sm90<__half, __half>(p, batch, d, nwg, s);
    return f32_out ? dispatch_sm90<__nv_bfloat16, float>(p, batch, d, nwg, s) : dispatch_sm90<__nv_bfloat16, __nv_bfloat16>(p, batch, d, nwg, s);
}

}  // namespace lc_cuda
