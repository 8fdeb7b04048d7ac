// Mamba's selective scan (Gu and Dao 2023, algorithm 2) on the GPU, behind lc_selective_scan:
// per channel d and state index i, with dt = softplus(dt_raw + dt_bias),
//   h[d,i] <- exp(dt A[d,i]) h[d,i] + dt B_t[i] x_t[d],   y_t[d] = (C_t . h[d] + D[d] x_t[d]) silu(z_t[d]).
// One thread holds one channel's state in registers and runs it over a span of tokens (x,
// dt, z and y rows are read across the threads of a block, coalesced; B_t and C_t are the
// same for every channel). The recurrence is diagonal, so the tokens can be cut into spans:
// a span run from a zero state ends in h_loc, and over the whole span the state decays by
// exp(A[d,i] sum_t dt_t); the state entering span c+1 is
//   H_{c+1} = exp(A sum_{t in c} dt_t) H_c + h_loc_c
// (one pass over the spans, thread per (d, i)). Then every span runs again from its H_c,
// writing y; the last span's thread writes the final state.
#include "longctx/cuda.h"

#include <cuda_runtime.h>

#include "check.h"
#include "recurrent.cuh"

namespace lc_cuda {

// The plan. Spans are cut only when batch x channels threads leave the GPU idle: a span is
// at least SCAN_MIN_SPAN tokens, and there are enough spans for SCAN_TARGET_THREADS threads
// (an H100 keeps 132 x 2048 = 270K threads resident). Chosen, not measured.
constexpr int SCAN_THREADS = 128;
constexpr int64_t SCAN_TARGET_THREADS = 1 << 18;
constexpr int64_t SCAN_MIN_SPAN = 32;
constexpr int SCAN_MAX_STATE = 64;  // the state lives in registers: 16, 32 or 64 of them

struct scan_plan {
    int64_t span, spans;
};

static scan_plan plan_scan(const lc_selective_scan *s) {
    const int64_t lanes = s->batch * s->channels, want = lanes >= SCAN_TARGET_THREADS ? 1 : ceil_div(SCAN_TARGET_THREADS, lanes);
    int64_t span = ceil_div(s->n, want);
    if (span < SCAN_MIN_SPAN) span = SCAN_MIN_SPAN;
    if (span > s->n) span = s->n;
    return {span, ceil_div(s->n, span)};
}

struct scan_args {
    const float *x, *dt, *dt_bias, *A, *B, *C, *D, *z;
    float *y, *h;
    float *h_span;  // workspace [batch, spans, channels, state]: h_loc, then the state entering each span
    float *dt_sum;  // workspace [batch, spans, channels]
    int64_t n, E, span, spans;
    int N;
};

// One span of one channel (thread), blocks over (channel block, span) and batch. SUMMARY: from
// zero, writing h_loc and sum dt; otherwise from the entering state, writing y (and, in the
// last span, the final state).
template <int NMAX, bool SUMMARY>
__global__ void __launch_bounds__(SCAN_THREADS) scan_span_kernel(const scan_args p) {
    const int64_t dblocks = ceil_div(p.E, SCAN_THREADS), c = blockIdx.x / dblocks, b = blockIdx.z;
    const int64_t d = (blockIdx.x % dblocks) * SCAN_THREADS + threadIdx.x;
    if (d >= p.E) return;
    const int N = p.N;
    const int64_t slot = (b * p.spans + c) * p.E + d;
    const float *hin = p.spans == 1 ? p.h + (b * p.E + d) * N : p.h_span + slot * N;
    constexpr bool A_IN_REGISTERS = NMAX <= 32;  // at 64 both arrays would spill: A is read through L1
    const float *Ad = p.A + d * N;
    float h[NMAX], a[A_IN_REGISTERS ? NMAX : 1];
#pragma unroll
    for (int i = 0; i < NMAX; i++) {
        if (A_IN_REGISTERS) a[i] = i < N ? Ad[i] : 0.0f;
        h[i] = SUMMARY || i >= N ? 0.0f : hin[i];
    }
    const float bias = p.dt_bias ? p.dt_bias[d] : 0.0f;
    const int64_t t0 = c * p.span, t1 = t0 + p.span < p.n ? t0 + p.span : p.n;
    float dt_sum = 0;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t row = (b * p.n + t) * p.E + d;
        const float dt = softplus_dev(p.dt[row] + bias), x = p.x[row], dx = dt * x;
        const float *Bt = p.B + (b * p.n + t) * N, *Ct = p.C + (b * p.n + t) * N;
        float y = 0;
#pragma unroll
        for (int i = 0; i < NMAX; i++)
            if (i < N) {
                h[i] = expf((A_IN_REGISTERS ? a[i] : Ad[i]) * dt) * h[i] + dx * Bt[i];
                if (!SUMMARY) y += h[i] * Ct[i];
            }
        if (SUMMARY) {
            dt_sum += dt;
        } else {
            if (p.D) y += x * p.D[d];
            if (p.z) y *= silu_dev(p.z[row]);
            p.y[row] = y;
        }
    }
    if (SUMMARY) {
        float *out = p.h_span + slot * N;
#pragma unroll
        for (int i = 0; i < NMAX; i++)
            if (i < N) out[i] = h[i];
        p.dt_sum[slot] = dt_sum;
    } else if (c == p.spans - 1) {
        float *out = p.h + (b * p.E + d) * N;
#pragma unroll
        for (int i = 0; i < NMAX; i++)
            if (i < N) out[i] = h[i];
    }
}

// The pass over the spans, thread per (channel, state index): h_loc_c becomes the state
// entering span c (span 0: the caller's state).
__global__ void scan_join_kernel(const scan_args p) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y;
    if (idx >= p.E * p.N) return;
    const int64_t d = idx / p.N;
    const float a = p.A[idx];
    float H = p.h[b * p.E * p.N + idx];
    for (int64_t c = 0; c < p.spans; c++) {
        const int64_t slot = (b * p.spans + c) * p.E + d;
        float *cell = p.h_span + slot * p.N + idx % p.N;
        const float loc = c < p.spans - 1 ? *cell : 0.0f;
        *cell = H;
        if (c < p.spans - 1) H = expf(a * p.dt_sum[slot]) * H + loc;
    }
}

template <int NMAX>
static void scan_launch(const scan_args &p, int64_t batch, cudaStream_t stream) {
    const int64_t dblocks = ceil_div(p.E, SCAN_THREADS);
    if (p.spans > 1) {
        scan_span_kernel<NMAX, true><<<dim3((unsigned)(dblocks * (p.spans - 1)), 1, (unsigned)batch), SCAN_THREADS, 0, stream>>>(p);
        scan_join_kernel<<<dim3((unsigned)ceil_div(p.E * p.N, 256), (unsigned)batch), 256, 0, stream>>>(p);
    }
    scan_span_kernel<NMAX, false><<<dim3((unsigned)(dblocks * p.spans), 1, (unsigned)batch), SCAN_THREADS, 0, stream>>>(p);
}

}  // namespace lc_cuda

using namespace lc_cuda;

lc_status lc_cuda_selective_scan_check(const lc_selective_scan *s) {
    lc_status st = lc_selective_scan_check(s);
    if (st) return st;
    if ((st = check_device())) return st;
    if (s->state > SCAN_MAX_STATE)
        return lc_error(LC_EUNSUPPORTED, "state=%lld: the GPU scan keeps a channel's state in registers, at most %d", (long long)s->state, SCAN_MAX_STATE);
    if (s->batch > 65535) return lc_error(LC_EUNSUPPORTED, "batch=%lld: the GPU scan takes at most 65535 sequences a call", (long long)s->batch);
    const scan_plan pl = plan_scan(s);
    if ((double)ceil_div(s->channels, SCAN_THREADS) * (double)pl.spans > 2147483647.0 || (double)s->channels * (double)s->state > 2147483647.0 * 256)
        return lc_error(LC_EUNSUPPORTED, "channels=%lld: too many for one grid", (long long)s->channels);
    return LC_OK;
}

size_t lc_cuda_selective_scan_workspace_size(const lc_selective_scan *s) {
    if (lc_cuda_selective_scan_check(s)) return 0;
    const scan_plan pl = plan_scan(s);
    if (pl.spans == 1) return 0;
    return sizeof(float) * (size_t)(s->batch * pl.spans * s->channels * (s->state + 1));
}

lc_status lc_cuda_selective_scan(const lc_selective_scan *s, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    lc_status st = lc_cuda_selective_scan_check(s);
    if (st) return st;
    const size_t need = lc_cuda_selective_scan_workspace_size(s);
    if (need && (!workspace || workspace_bytes < need))
        return lc_error(LC_EINVAL, "workspace of %zu bytes is below lc_cuda_selective_scan_workspace_size=%zu", workspace ? workspace_bytes : 0, need);
    const scan_plan pl = plan_scan(s);
    scan_args p;
    p.x = s->x, p.dt = s->dt, p.dt_bias = s->dt_bias, p.A = s->A, p.B = s->B, p.C = s->C, p.D = s->D, p.z = s->z, p.y = s->y, p.h = s->h;
    p.h_span = (float *)workspace;
    p.dt_sum = pl.spans > 1 ? p.h_span + s->batch * pl.spans * s->channels * s->state : nullptr;
    p.n = s->n, p.E = s->channels, p.span = pl.span, p.spans = pl.spans, p.N = (int)s->state;
    if (s->state <= 16) scan_launch<16>(p, s->batch, stream);
    else if (s->state <= 32) scan_launch<32>(p, s->batch, stream);
    else scan_launch<64>(p, s->batch, stream);
    return launched("selective scan");
}
