// Per-head f32 matrix products (head_product.h): a classic shared-memory tiled product,
// 32 rows x 64 columns per block of 256 threads, 2 x 4 outputs per thread, K in steps of 32.
// MLA decode's two products are small next to its attention (a few rows per head: the
// new tokens of each sequence) and read each weight once per 32 rows.
#include "head_product.h"

namespace lc_cuda {

constexpr int HP_M = 32, HP_N = 64, HP_K = 32;

template <bool B_NK>
__global__ void __launch_bounds__(256) head_product_kernel(const head_product p) {
    __shared__ float As[HP_K][HP_M + 1];  // [k][m], padded: the stores of a warp (k varying) hit distinct banks
    __shared__ float Bs[HP_K][HP_N + 1];  // [k][n]
    const int h = blockIdx.z, m0 = blockIdx.y * HP_M, n0 = blockIdx.x * HP_N, t = threadIdx.x;
    const int tx = t % 16, ty = t / 16;  // columns 4 tx .. 4 tx + 3, rows 2 ty, 2 ty + 1
    const float *A = p.a + (int64_t)h * p.a_head;
    const float *B = p.b + (int64_t)h * p.K * p.N;
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    for (int k0 = 0; k0 < p.K; k0 += HP_K) {
        for (int i = t; i < HP_M * HP_K; i += 256) {  // consecutive threads: consecutive k
            const int mm = i / HP_K, kk = i % HP_K, m = m0 + mm, k = k0 + kk;
            As[kk][mm] = m < p.M && k < p.K ? A[(int64_t)m * p.lda + k] : 0.f;
        }
        for (int i = t; i < HP_K * HP_N; i += 256) {  // consecutive threads: consecutive addresses
            const int kk = B_NK ? i % HP_K : i / HP_N, nn = B_NK ? i / HP_K : i % HP_N, k = k0 + kk, n = n0 + nn;
            Bs[kk][nn] = n < p.N && k < p.K ? (B_NK ? B[(int64_t)n * p.K + k] : B[(int64_t)k * p.N + n]) : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int kk = 0; kk < HP_K; kk++) {
            const float a0 = As[kk][2 * ty], a1 = As[kk][2 * ty + 1];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float b = Bs[kk][4 * tx + j];
                acc[0][j] += a0 * b, acc[1][j] += a1 * b;
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int m = m0 + 2 * ty + i;
        if (m >= p.M) continue;
        float *C = p.c + (int64_t)m * p.ldc + (int64_t)h * p.c_head;
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (n0 + 4 * tx + j < p.N) C[n0 + 4 * tx + j] = acc[i][j];
    }
}

cudaError_t head_product_launch(const head_product &p, cudaStream_t s) {
    const dim3 grid((p.N + HP_N - 1) / HP_N, (p.M + HP_M - 1) / HP_M, p.heads);
    if (p.b_nk) head_product_kernel<true><<<grid, 256, 0, s>>>(p);
    else head_product_kernel<false><<<grid, 256, 0, s>>>(p);
    return cudaGetLastError();
}

}  // namespace lc_cuda
