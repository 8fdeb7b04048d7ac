// A CPU stand-in for the part of the CUDA runtime and language that the recurrent kernels
// (src/cuda/linear_*.cu, ssd.cu, selective_scan.cu, conv1d.cu) and their tests use, so that
// those kernels and tests can run on a machine without a GPU (tests/cuda/emu/run.sh).
// Device memory is host memory; a launch runs its blocks one after another, each block's
// threads as coroutines that switch only at barriers (__syncthreads, the warp's shuffles),
// which is the harshest schedule for a missing barrier. Not a performance model.
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};

extern dim3 threadIdx, blockIdx, blockDim, gridDim;

void __syncthreads();
int __syncthreads_or(int pred);
float __shfl_xor_sync(unsigned mask, float v, int lane_mask);
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyHostToHost, cudaMemcpyDefault };
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor, cudaDevAttrComputeCapabilityMinor, cudaDevAttrMultiProcessorCount };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
struct CUstream_st;
typedef CUstream_st *cudaStream_t;
struct CUevent_st;
typedef CUevent_st *cudaEvent_t;
struct cudaDeviceProp {
    char name[256];
    int multiProcessorCount;
};

cudaError_t cudaMalloc(void **p, size_t bytes);
template <typename T> cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = 0);
cudaError_t cudaMemset(void *p, int v, size_t bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d);
template <typename F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return cudaSuccess; }

// The launch: kernel<<<grid, block, smem, stream>>>(args) becomes emu_launch(kernel, emu_cfg(grid, block, smem, stream), args)
struct emu_cfg {
    dim3 grid, block;
    size_t smem;
    emu_cfg(dim3 g, dim3 b, size_t s = 0, cudaStream_t = 0) : grid(g), block(b), smem(s) {}
};
void emu_run_grid(const emu_cfg &c, const std::function<void()> &body);
void *emu_dynamic_shared();
template <typename K, typename... A> void emu_launch(K kernel, const emu_cfg &c, A... args) {
    auto t = std::make_tuple(args...);
    emu_run_grid(c, [&] { std::apply(kernel, t); });
}
