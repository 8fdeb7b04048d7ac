// The tensor cores' ceiling for the GPU benchmarks: a cuBLAS bf16 GEMM (8192^3, f32
// accumulation, random inputs), timed as gpu_timing.h times, in TFLOP/s.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <vector>

#include "longctx.h"
#include "gpu_timing.h"

static double gemm_tflops(void) {
    const int n = 8192;
    void *A, *B, *C;
    CUDA_OK(cudaMalloc(&A, (size_t)n * n * 2));
    CUDA_OK(cudaMalloc(&B, (size_t)n * n * 2));
    CUDA_OK(cudaMalloc(&C, (size_t)n * n * 2));
    std::vector<float> f((size_t)n * n);
    lc_rng_fill_normal(f.data(), f.size(), 1, 0, 0.f, 1.f, 0);
    std::vector<uint16_t> h(f.size());
    lc_convert(h.data(), LC_BF16, f.data(), LC_F32, f.size());
    CUDA_OK(cudaMemcpy(A, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(B, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
    cublasHandle_t handle;
    cublasCreate(&handle);
    const float one = 1.f, zero = 0.f;
    double ms = time_ms([&] {
        cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, CUDA_R_16BF, n, B, CUDA_R_16BF, n, &zero, C, CUDA_R_16BF, n,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    });
    cublasDestroy(handle);
    cudaFree(A), cudaFree(B), cudaFree(C);
    return 2.0 * n * n * (double)n / (ms * 1e-3) * 1e-12;
}
