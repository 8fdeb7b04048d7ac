// The causal depthwise conv1d in front of the scans (lc_causal_conv1d, ssm.h) on the GPU:
//   y[b,t,c] = silu(bias[c] + sum_j w[c,j] x[b, t-(K-1)+j, c]),
// inputs before t = 0 from the carried state. A thread runs one channel over a tile of
// CONV_TOKENS tokens (rows are read across the threads, coalesced). The tile is at least
// K-1 = 63 tokens, so only the first tile's threads read the state, and each of them then
// writes its own channel's new state (the last K-1 inputs) after its outputs: no other
// thread touches it.
#include "longctx/cuda.h"

#include <cuda_runtime.h>

#include "check.h"
#include "recurrent.cuh"

namespace lc_cuda {

constexpr int CONV_THREADS = 128;
constexpr int64_t CONV_TOKENS = 64;  // >= the largest K - 1 (63)

struct conv_args {
    const float *x, *w, *bias;
    float *y, *state;
    int64_t n, ch, xs, ys;
    int K;
};

__global__ void __launch_bounds__(CONV_THREADS) conv_kernel(const conv_args p) {
    const int64_t cblocks = ceil_div(p.ch, CONV_THREADS), tile = blockIdx.x / cblocks, b = blockIdx.z;
    const int64_t c = (blockIdx.x % cblocks) * CONV_THREADS + threadIdx.x;
    if (c >= p.ch) return;
    const int K = p.K, S = K - 1;
    const float *x = p.x + b * p.n * p.xs + c, *w = p.w + c * K;
    float *state = S ? p.state + (b * p.ch + c) * S : nullptr;
    const float bias = p.bias ? p.bias[c] : 0.0f;
    const int64_t t0 = tile * CONV_TOKENS, t1 = t0 + CONV_TOKENS < p.n ? t0 + CONV_TOKENS : p.n;
    for (int64_t t = t0; t < t1; t++) {
        float acc = bias;
        for (int j = 0; j < K; j++) {
            const int64_t idx = t - S + j;
            acc += w[j] * (idx >= 0 ? x[idx * p.xs] : state[S + idx]);
        }
        p.y[(b * p.n + t) * p.ys + c] = silu_dev(acc);
    }
    if (tile == 0)  // the last K-1 inputs; the read index n + j stays ahead of the write index j
        for (int j = 0; j < S; j++) {
            const int64_t idx = p.n - S + j;
            state[j] = idx >= 0 ? x[idx * p.xs] : state[S + idx];
        }
}

}  // namespace lc_cuda

using namespace lc_cuda;

lc_status lc_cuda_causal_conv1d_check(const lc_causal_conv1d *c) {
    lc_status st = lc_causal_conv1d_check(c);
    if (st) return st;
    if ((st = check_device())) return st;
    if (c->batch > 65535) return lc_error(LC_EUNSUPPORTED, "batch=%lld: the GPU conv1d takes at most 65535 sequences a call", (long long)c->batch);
    if ((double)ceil_div(c->channels, CONV_THREADS) * (double)ceil_div(c->n, CONV_TOKENS) > 2147483647.0)
        return lc_error(LC_EUNSUPPORTED, "channels=%lld x n=%lld: too many for one grid", (long long)c->channels, (long long)c->n);
    return LC_OK;
}

lc_status lc_cuda_causal_conv1d(const lc_causal_conv1d *c, lc_cuda_stream stream) {
    lc_status st = lc_cuda_causal_conv1d_check(c);
    if (st) return st;
    conv_args p;
    p.x = c->x, p.w = c->w, p.bias = c->bias, p.y = c->y, p.state = c->state;
    p.n = c->n, p.ch = c->channels, p.xs = c->x_stride, p.ys = c->y_stride, p.K = (int)c->kernel;
    const int64_t blocks = ceil_div(c->channels, CONV_THREADS) * ceil_div(c->n, CONV_TOKENS);
    conv_kernel<<<dim3((unsigned)blocks, 1, (unsigned)c->batch), CONV_THREADS, 0, stream>>>(p);
    return launched("causal conv1d");
}
