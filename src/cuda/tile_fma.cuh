// The block-level product the chunked kernels (SSD, linear attention) are made of: 256
// threads own a 64 x 64 f32 tile, each a 4 x 4 block of it (rows 4 ty.., columns 4 tx..),
// and accumulate sum_k A[k][row] B[k][col] over operands staged in shared memory as
// [k][64] rows of TILE_LD floats (16-byte aligned, so a thread reads its 4 rows and 4 columns
// as two float4 per k). CUDA cores, f32 throughout.
#pragma once

namespace lc_cuda {

constexpr int TILE = 64;
constexpr int TILE_LD = TILE + 4;
constexpr int TILE_THREADS = 256;

struct tile_acc {
    float v[4][4];
    __device__ __forceinline__ void zero() {
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int b = 0; b < 4; b++) v[a][b] = 0.0f;
    }
};

__device__ __forceinline__ int tile_ty() { return threadIdx.x >> 4; }
__device__ __forceinline__ int tile_tx() { return threadIdx.x & 15; }

// acc[r][c] += sum_{k < kn} As[k][r] Bs[k][c].
__device__ __forceinline__ void tile_fma(tile_acc &acc, const float *As, const float *Bs, int kn) {
    const int r = 4 * tile_ty(), c = 4 * tile_tx();
#pragma unroll 4
    for (int k = 0; k < kn; k++) {
        const float4 a = *reinterpret_cast<const float4 *>(As + k * TILE_LD + r);
        const float4 b = *reinterpret_cast<const float4 *>(Bs + k * TILE_LD + c);
        const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc.v[i][j] = fmaf(av[i], bv[j], acc.v[i][j]);
    }
}

// The same over a causal diagonal tile: only terms with k <= row (k and rows counted from the
// same origin), so a non-finite value of a later token (k > row) never reaches a row through
// a zero weight (0 x Inf = NaN).
__device__ __forceinline__ void tile_fma_causal(tile_acc &acc, const float *As, const float *Bs, int kn) {
    const int r = 4 * tile_ty(), c = 4 * tile_tx();
    const int kend = kn < r + 4 ? kn : r + 4;
    for (int k = 0; k < kend; k++) {
        const float4 a = *reinterpret_cast<const float4 *>(As + k * TILE_LD + r);
        const float4 b = *reinterpret_cast<const float4 *>(Bs + k * TILE_LD + c);
        const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; i++)
            if (k <= r + i)
#pragma unroll
                for (int j = 0; j < 4; j++) acc.v[i][j] = fmaf(av[i], bv[j], acc.v[i][j]);
    }
}

}  // namespace lc_cuda
