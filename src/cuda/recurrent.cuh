// What the recurrent kernels share (linear attention, SSD, the selective scan, conv1d): the
// scalar functions exactly as the CPU computes them, and the launch's error sentence.
#pragma once

#include <cuda_runtime.h>

#include "longctx/core.h"

namespace lc_cuda {

// softplus as PyTorch (and lc_softplus): x above 20 passes through, else log(1 + exp(x)).
__device__ __forceinline__ float softplus_dev(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float silu_dev(float x) { return x / (1.0f + expf(-x)); }
// max that keeps NaN: once a NaN is seen the result is NaN (as the CPU's lin_max_nan).
__device__ __forceinline__ float max_nan(float m, float x) { return (x > m || x != x) ? x : m; }

// The status of the launches just queued: LC_OK, or LC_EINTERNAL with `what` and CUDA's reason.
static inline lc_status launched(const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return lc_error(LC_EINTERNAL, "%s: kernel launch failed: %s", what, cudaGetErrorString(e));
    return LC_OK;
}

__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace lc_cuda
