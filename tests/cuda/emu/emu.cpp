// The CPU stand-in's runtime (cuda_runtime.h): memory, and a launch's blocks with their
// threads as coroutines (started by makecontext / swapcontext, then switched by _setjmp /
// _longjmp, which save no signal mask and so make no system call). A thread runs until it
// reaches a barrier (or returns); a block barrier opens when every thread of the block that
// has not returned waits at it, a warp's when its 32 lanes do (the shuffles).
#include "cuda_runtime.h"

#include <setjmp.h>
#include <stdio.h>
#include <ucontext.h>

#include <vector>

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

enum state { RUNNABLE, AT_BLOCK, AT_WARP, DONE };
struct coro {
    ucontext_t ctx;  // the first start
    jmp_buf jb;      // where it waits
    int started;
    state st;
    dim3 tid;
    float shfl;
    int flag;
};
std::vector<coro> threads;
struct stack_pool {  // the threads' stacks, kept from block to block, freed at exit
    std::vector<char *> v;
    ~stack_pool() {
        for (char *p : v) free(p);
    }
} stacks;
ucontext_t scheduler;
jmp_buf scheduler_jb;
int current;
const std::function<void()> *body;
std::vector<char> dynamic_shared;
constexpr size_t STACK = 512 * 1024;

void entry() {
    (*body)();
    threads[current].st = DONE;
    _longjmp(scheduler_jb, 1);
}

void wait(state s) {
    threads[current].st = s;
    if (!_setjmp(threads[current].jb)) _longjmp(scheduler_jb, 1);
}

void resume(int i) {
    current = i;
    threadIdx = threads[i].tid;
    if (_setjmp(scheduler_jb)) return;  // back from the thread
    if (threads[i].started) _longjmp(threads[i].jb, 1);
    threads[i].started = 1;
    swapcontext(&scheduler, &threads[i].ctx);
}

void run_block(const emu_cfg &c) {
    const int n = (int)(c.block.x * c.block.y * c.block.z);
    threads.resize(n);
    while ((int)stacks.v.size() < n) stacks.v.push_back((char *)malloc(STACK));
    for (int i = 0; i < n; i++) {
        coro &t = threads[i];
        t.st = RUNNABLE;
        t.started = 0;
        t.tid = dim3(i % c.block.x, (i / c.block.x) % c.block.y, i / (c.block.x * c.block.y));
        getcontext(&t.ctx);
        t.ctx.uc_stack.ss_sp = stacks.v[i];
        t.ctx.uc_stack.ss_size = STACK;
        t.ctx.uc_link = NULL;
        makecontext(&t.ctx, entry, 0);
    }
    for (;;) {
        for (int i = 0; i < n; i++)
            if (threads[i].st == RUNNABLE) resume(i);
        int released = 0, live = 0, at_block = 0;
        for (int w = 0; w * 32 < n; w++) {  // a warp whose live lanes all wait at a shuffle goes on
            int lanes = 0, waiting = 0;
            for (int i = w * 32; i < n && i < w * 32 + 32; i++) lanes += threads[i].st != DONE, waiting += threads[i].st == AT_WARP;
            if (lanes && waiting == lanes) {
                for (int i = w * 32; i < n && i < w * 32 + 32; i++)
                    if (threads[i].st == AT_WARP) threads[i].st = RUNNABLE;
                released = 1;
            }
        }
        if (released) continue;
        for (int i = 0; i < n; i++) live += threads[i].st != DONE, at_block += threads[i].st == AT_BLOCK;
        if (!live) return;
        if (at_block == live) {
            for (int i = 0; i < n; i++)
                if (threads[i].st == AT_BLOCK) threads[i].st = RUNNABLE;
            continue;
        }
        fprintf(stderr, "emu: deadlock in block (%u, %u, %u): %d live threads, %d at a block barrier, the rest at warp shuffles\n", blockIdx.x, blockIdx.y,
                blockIdx.z, live, at_block);
        abort();
    }
}

}  // namespace

void __syncthreads() { wait(AT_BLOCK); }

int __syncthreads_or(int pred) {
    threads[current].flag = pred != 0;
    wait(AT_BLOCK);
    int any = 0;
    for (const coro &t : threads) any |= t.st != DONE && t.flag;
    wait(AT_BLOCK);  // every thread has read the flags before any writes its next one
    return any;
}

float __shfl_xor_sync(unsigned, float v, int lane_mask) {
    threads[current].shfl = v;
    wait(AT_WARP);
    const int lane = current % 32, partner = current - lane + (lane ^ lane_mask);
    const float got = threads[partner].shfl;
    wait(AT_WARP);
    return got;
}

void emu_run_grid(const emu_cfg &c, const std::function<void()> &b) {
    body = &b;
    gridDim = c.grid, blockDim = c.block;
    dynamic_shared.assign(c.smem + 16, 0);
    for (unsigned z = 0; z < c.grid.z; z++)
        for (unsigned y = 0; y < c.grid.y; y++)
            for (unsigned x = 0; x < c.grid.x; x++) {
                blockIdx = dim3(x, y, z);
                run_block(c);
            }
}

void *emu_dynamic_shared() { return dynamic_shared.data(); }

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind) {
    memcpy(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k, cudaStream_t) { return cudaMemcpy(dst, src, bytes, k); }
cudaError_t cudaMemset(void *p, int v, size_t bytes) {
    memset(p, v, bytes);
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaGetLastError() { return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
cudaError_t cudaGetDeviceCount(int *n) {
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *d) {
    *d = 0;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    snprintf(p->name, sizeof p->name, "CPU emulation (tests/cuda/emu)");
    p->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrComputeCapabilityMajor ? 9 : a == cudaDevAttrComputeCapabilityMinor ? 0 : 1;
    return cudaSuccess;
}
