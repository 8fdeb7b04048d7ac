// Timing for the GPU benchmarks (METHOD.md): device events around each run, warm-ups first,
// the median of the runs.
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
