// Timing for the GPU benchmarks: device events around each run, warm-ups first,
// the median of the runs; and the device's copy ceiling measured with it.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "cuda_ok.h"

// Median time of `fn` in ms: 3 warm-ups, then 30 runs or as many as fit in about 300 ms.
template <typename F> static double time_ms(F fn) {
    cudaEvent_t a, b;
    CUDA_OK(cudaEventCreate(&a));
    CUDA_OK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++) fn();
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> t;
    float total = 0;
    while (t.size() < 30 && (t.size() < 3 || total < 300.f)) {
        cudaEventRecord(a);
        fn();
        cudaEventRecord(b);
        CUDA_OK(cudaEventSynchronize(b));
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        t.push_back(ms), total += ms;
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// Device-to-device copy of `bytes` (2 GiB by default): bytes read + written per second, TB/s.
static double copy_tbps(size_t bytes = (size_t)2 << 30) {
    void *a, *b;
    CUDA_OK(cudaMalloc(&a, bytes));
    CUDA_OK(cudaMalloc(&b, bytes));
    CUDA_OK(cudaMemset(a, 1, bytes));
    double ms = time_ms([&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); });
    cudaFree(a), cudaFree(b);
    return 2.0 * bytes / (ms * 1e-3) * 1e-12;
}
