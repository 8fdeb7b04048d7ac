// The recurrent form of causal linear attention on the GPU (Katharopoulos et al. 2020,
// eq. 18-20, with the RetNet decay g), the CPU's lc_linear_attention_step: per token
//   S <- g S + phi(k) v^T,   z <- g z + phi(k),   o = phi(q)^T S / phi(q)^T z,
// kept at the log-scale c (S_true = exp(c) S) so FAVOR+ features cannot overflow. A block
// per (sequence, head) runs the call's tokens in order: the features of q and k into shared
// memory (FAVOR+: each thread projects some of the F rows of omega), then each thread
// updates whole columns of S (coalesced rows of the state), summing phi(q).S as it goes.
#include <cuda_runtime.h>
#include <math.h>

#include "check.h"
#include "linear_device.cuh"
#include "recurrent.cuh"

namespace lc_cuda {

constexpr int LIN_STEP_THREADS = 256;

struct lin_step_args {
    const float *q, *k, *v, *omega;
    float *out, *state;
    int64_t qb, qs, qh, qd, kb, ks, kh, kd, vb, vs, vh, vd, ob, os, oh, od;
    int64_t n;
    int H, dk, dv, F, feature, normalize;
};

__device__ float block_sum(float x, float *red) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x / 32] = x;
    __syncthreads();
    float s = 0;
    for (int w = 0; w < LIN_STEP_THREADS / 32; w++) s += red[w];
    return s;
}

__device__ float block_max(float x, float *red) {
    for (int o = 16; o > 0; o >>= 1) x = max_nan(x, __shfl_xor_sync(0xffffffffu, x, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x / 32] = x;
    __syncthreads();
    float m = -INFINITY;
    for (int w = 0; w < LIN_STEP_THREADS / 32; w++) m = max_nan(m, red[w]);
    return m;
}

// phi of one row x (dk values at stride sx) into phi[F] as phi / exp(log-scale); returns the
// log-scale (as lin_features on the CPU). xs: dk floats of shared scratch.
__device__ float step_features(const lin_step_args &p, const float *x, int64_t sx, float *phi, float *xs, float *red) {
    if (p.feature != LC_FEATURE_FAVOR) {
        for (int i = threadIdx.x; i < p.dk; i += LIN_STEP_THREADS) {
            const float v = x[i * sx];
            phi[i] = p.feature == LC_FEATURE_ELU1 ? (v > 0 ? v + 1.0f : expf(v)) : (v > 0 || v != v ? v : 0.0f);
        }
        return 0.0f;
    }
    const float s = rsqrtf(sqrtf((float)p.dk));
    float part = 0;
    for (int i = threadIdx.x; i < p.dk; i += LIN_STEP_THREADS) {
        const float v = x[i * sx] * s;
        xs[i] = v, part += v * v;
    }
    const float half = 0.5f * block_sum(part, red);  // (its barriers also publish xs)
    float mx = -INFINITY;
    for (int f = threadIdx.x; f < p.F; f += LIN_STEP_THREADS) {
        const float *w = p.omega + (int64_t)f * p.dk;
        float dot = 0;
        for (int i = 0; i < p.dk; i++) dot = fmaf(w[i], xs[i], dot);
        phi[f] = dot - half;
        mx = max_nan(mx, phi[f]);
    }
    mx = block_max(mx, red);
    const float inv = 1.0f / sqrtf((float)p.F);
    for (int f = threadIdx.x; f < p.F; f += LIN_STEP_THREADS) phi[f] = expf(phi[f] - mx) * inv;
    return mx;
}

__global__ void __launch_bounds__(LIN_STEP_THREADS) lin_step_kernel(const lin_step_args p, const lin_decay dec) {
    extern __shared__ float sh[];  // qf[F], kf[F], xs[dk]
    __shared__ float red[LIN_STEP_THREADS / 32];
    float *qf = sh, *kf = qf + p.F, *xs = kf + p.F;
    const int64_t bh = blockIdx.x, b = bh / p.H;
    const int h = (int)(bh % p.H);
    const int F = p.F, dv = p.dv;
    float *S = p.state + bh * ((int64_t)F * dv + F + 1), *z = S + (int64_t)F * dv;
    const float g = dec.log_g[h];
    float c = z[F];
    for (int64_t t = 0; t < p.n; t++) {
        const float qsc = step_features(p, p.q + b * p.qb + t * p.qs + h * p.qh, p.qd, qf, xs, red);
        __syncthreads();
        const float ksc = step_features(p, p.k + b * p.kb + t * p.ks + h * p.kh, p.kd, kf, xs, red);
        int nonzero = 0;
        for (int f = threadIdx.x; f < F; f += LIN_STEP_THREADS) nonzero |= z[f] != 0;
        const int empty = !__syncthreads_or(nonzero);  // (also publishes the features)
        const float top = empty ? ksc : max_nan(c + g, ksc);
        const float keep = empty ? 1.0f : expf(c + g - top), wk = expf(ksc - top);
        const float *v = p.v + b * p.vb + t * p.vs + h * p.vh;
        float dpart = 0;
        for (int f = threadIdx.x; f < F; f += LIN_STEP_THREADS) {
            const float zf = z[f] * keep + kf[f] * wk;
            z[f] = zf, dpart += qf[f] * zf;
        }
        float *o = p.out + b * p.ob + t * p.os + h * p.oh;
        const float den = block_sum(dpart, red);
        const float scale = p.normalize ? (den == 0 ? 0.0f : 1.0f / den) : expf(top + qsc);  // NaN den stays NaN
        for (int e = threadIdx.x; e < dv; e += LIN_STEP_THREADS) {
            const float ve = v[e * p.vd];
            float acc = 0;
            for (int f = 0; f < F; f++) {
                float *cell = S + (int64_t)f * dv + e;
                const float s = *cell * keep + kf[f] * wk * ve;
                *cell = s, acc += qf[f] * s;
            }
            o[e * p.od] = acc * scale;
        }
        c = top;
        __syncthreads();  // every thread has read this token's features and z
    }
    if (threadIdx.x == 0) z[F] = c;
}

}  // namespace lc_cuda

using namespace lc_cuda;

lc_status lc_cuda_linear_attention_step(const lc_linear_attention *a, float *state, int64_t state_floats, lc_cuda_stream stream) {
    lc_status st = lc_cuda_linear_attention_check(a);
    if (st) return st;
    if (!a->causal) return lc_error(LC_EINVAL, "causal=0: the recurrent form is causal by definition");
    const int64_t B = a->q.shape[0], H = a->q.shape[2], per = lc_linear_state_floats(a);
    if (!state) return lc_error(LC_EINVAL, "state is NULL: the recurrent form needs batch*heads*(F*d_v+F+1) floats");
    if (state_floats != B * H * per)
        return lc_error(LC_EINVAL, "state_floats=%lld must be batch*heads*(F*d_v+F+1) = %lld", (long long)state_floats, (long long)(B * H * per));
    lin_step_args p;
    p.q = (const float *)a->q.data, p.k = (const float *)a->k.data, p.v = (const float *)a->v.data, p.omega = a->omega;
    p.out = (float *)a->out.data, p.state = state;
    p.qb = a->q.stride[0], p.qs = a->q.stride[1], p.qh = a->q.stride[2], p.qd = a->q.stride[3];
    p.kb = a->k.stride[0], p.ks = a->k.stride[1], p.kh = a->k.stride[2], p.kd = a->k.stride[3];
    p.vb = a->v.stride[0], p.vs = a->v.stride[1], p.vh = a->v.stride[2], p.vd = a->v.stride[3];
    p.ob = a->out.stride[0], p.os = a->out.stride[1], p.oh = a->out.stride[2], p.od = a->out.stride[3];
    p.n = a->q.shape[1], p.H = (int)H, p.dk = (int)a->q.shape[3], p.dv = (int)a->v.shape[3], p.F = (int)lc_linear_features(a);
    p.feature = a->feature, p.normalize = a->normalize;
    const size_t smem = sizeof(float) * (size_t)(2 * p.F + p.dk);
    if (smem + sizeof(float) * (LIN_STEP_THREADS / 32) > 48 * 1024) {  // past the default: ask for more
        cudaError_t e = cudaFuncSetAttribute(lin_step_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return lc_error(LC_EUNSUPPORTED, "linear attention step: %zu bytes of shared memory: %s", smem, cudaGetErrorString(e));
    }
    lin_step_kernel<<<(unsigned)(B * H), LIN_STEP_THREADS, smem, stream>>>(p, make_lin_decay(a));
    return launched("linear attention step");
}
