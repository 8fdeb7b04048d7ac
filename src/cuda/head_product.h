// Per-head f32 matrix products on the GPU: MLA decode's absorption of W_UK into the query and
// of W_UV into the output (mla_decode.cu), one small product per head.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

namespace lc_cuda {

// For every head h < heads, C_h = A_h B_h (f32, f32 accumulation), m < M rows, n < N columns,
// k < K terms:
//   A_h[m][k] = a[m * lda + h * a_head + k]
//   B_h[k][n] = b[h * K * N + k * N + n]   (b_nk = false: [heads, K, N], W_UK's layout)
//             = b[h * N * K + n * K + k]   (b_nk = true:  [heads, N, K], W_UV's layout)
//   C_h[m][n] -> c[m * ldc + h * c_head + n]
// K = 0 writes zeros. Pointers need no alignment.
struct head_product {
    const float *a, *b;
    float *c;
    int64_t lda, a_head, ldc, c_head;
    int M, N, K, heads;
    bool b_nk;
};
cudaError_t head_product_launch(const head_product &p, cudaStream_t s);

}  // namespace lc_cuda
