// Mamba-2's SSD (Dao and Gu 2024) on the GPU, behind lc_ssd: the chunked algorithm (section 6)
// and the recurrence. For a chunk of L tokens with a_t = dt_t A and s_r = a_0 + ... + a_r
// (cumulative inside the chunk):
//   Y      = (C B^T .* L) (X dt)  +  diag(exp(s)) C H_prev^T  + D X,    L_rt = exp(s_r - s_t), t <= r
//   H_next = exp(s_{L-1}) H_prev + S_c,   S_c = sum_t exp(s_{L-1} - s_t) dt_t x_t B_t^T
// Four launches: dt and the cumulative sums (ssd_dt_kernel); every chunk's S_c in parallel
// (ssd_chunk_state_kernel); one pass over the chunks turning S_c into the state entering
// chunk c and writing the final state (ssd_pass_kernel); every chunk's outputs in parallel
// (ssd_output_kernel), 64 rows x 64 head channels a block, the products on tile_fma.
// The step is the recurrence: a warp per (sequence, head, head channel), its state in registers.
#include "longctx/cuda.h"

#include <cuda_runtime.h>

#include "check.h"
#include "recurrent.cuh"
#include "tile_fma.cuh"

namespace lc_cuda {

constexpr int SSD_MAX_DIM = 256;  // head_dim and state: 4 tiles of 64 (the step: 8 per lane)
constexpr int SSD_KT = 16;        // reduction slice of the staged products

struct ssd_args {
    const float *x, *dt, *dt_bias, *A, *B, *C, *D;
    float *y, *h;
    float *dts, *cs, *st;  // workspace: [B H][n], [B H][n], [B H][chunks][P][N]
    int64_t n, L, chunks, BH;
    int H, P, G, N;
    float dt_min, dt_max;
};

static int64_t chunk_of(const lc_ssd *s) { return s->chunk ? s->chunk : 64; }

__device__ __forceinline__ float ssd_dt(float raw, float lo, float hi) {
    float dt = softplus_dev(raw);
    if (lo != 0 || hi != 0) dt = dt < lo ? lo : dt > hi ? hi : dt;  // NaN passes through
    return dt;
}

// dt after softplus and the clamp, and s_r, thread per (sequence, chunk, head).
__global__ void ssd_dt_kernel(const ssd_args p) {
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, b = blockIdx.y;
    if (idx >= p.chunks * p.H) return;
    const int h = (int)(idx % p.H);
    const int64_t c = idx / p.H, t0 = c * p.L, t1 = t0 + p.L < p.n ? t0 + p.L : p.n;
    const float bias = p.dt_bias ? p.dt_bias[h] : 0.0f, A = p.A[h];
    float run = 0;
    float *dts = p.dts + (b * p.H + h) * p.n, *cs = p.cs + (b * p.H + h) * p.n;
    for (int64_t t = t0; t < t1; t++) {
        const float dt = ssd_dt(p.dt[(b * p.n + t) * p.H + h] + bias, p.dt_min, p.dt_max);
        // exp(a) is 0 in f32 below -104: the floor keeps s_r - s_t from being -inf - -inf
        const float a = dt * A;
        run += a < -1e4f ? -1e4f : a;
        dts[t] = dt, cs[t] = run;
    }
}

// S_c[p][i] = sum_t exp(s_last - s_t) dt_t x_t[p] B_t[i]: block per (chunk, 64 x 64 tile), (sequence, head).
__global__ void __launch_bounds__(TILE_THREADS) ssd_chunk_state_kernel(const ssd_args p) {
    __shared__ __align__(16) float As[SSD_KT * TILE_LD], Bs[SSD_KT * TILE_LD];
    const int tp = (p.P + TILE - 1) / TILE, tn = (p.N + TILE - 1) / TILE;
    const int64_t c = blockIdx.x / (tp * tn);
    const int tile = (int)(blockIdx.x % (tp * tn)), p0 = (tile / tn) * TILE, i0 = (tile % tn) * TILE;
    const int64_t bh = blockIdx.y, b = bh / p.H;
    const int h = (int)(bh % p.H), g = h / (p.H / p.G);
    const int64_t t0 = c * p.L, t1 = t0 + p.L < p.n ? t0 + p.L : p.n;
    const float *dts = p.dts + bh * p.n, *cs = p.cs + bh * p.n;
    const float last = cs[t1 - 1];
    tile_acc acc;
    acc.zero();
    for (int64_t tt = t0; tt < t1; tt += SSD_KT) {
        for (int e = threadIdx.x; e < SSD_KT * TILE; e += TILE_THREADS) {
            const int k = e / TILE, col = e % TILE;
            const int64_t t = tt + k;
            float xv = 0, bv = 0;
            if (t < t1) {
                if (p0 + col < p.P) xv = expf(last - cs[t]) * dts[t] * p.x[((b * p.n + t) * p.H + h) * p.P + p0 + col];
                if (i0 + col < p.N) bv = p.B[((b * p.n + t) * p.G + g) * p.N + i0 + col];
            }
            As[k * TILE_LD + col] = xv, Bs[k * TILE_LD + col] = bv;
        }
        __syncthreads();
        tile_fma(acc, As, Bs, SSD_KT);
        __syncthreads();
    }
    float *out = p.st + (bh * p.chunks + c) * p.P * p.N;
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int pp = p0 + 4 * tile_ty() + a, i = i0 + 4 * tile_tx() + j;
            if (pp < p.P && i < p.N) out[pp * p.N + i] = acc.v[a][j];
        }
}

// The pass over the chunks, thread per state element: st[c] <- the state entering chunk c;
// the caller's h <- the state after the last chunk.
__global__ void ssd_pass_kernel(const ssd_args p) {
    const int64_t PN = (int64_t)p.P * p.N, j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, bh = blockIdx.y;
    if (j >= PN) return;
    float H = p.h[bh * PN + j];
    const float *cs = p.cs + bh * p.n;
    for (int64_t c = 0; c < p.chunks; c++) {
        float *cell = p.st + (bh * p.chunks + c) * PN + j;
        const float S = *cell;
        *cell = H;
        const int64_t t1 = (c + 1) * p.L < p.n ? (c + 1) * p.L : p.n;
        H = expf(cs[t1 - 1]) * H + S;
    }
    p.h[bh * PN + j] = H;
}

// Outputs of 64 rows of one chunk x 64 head channels: block per (chunk, row tile, channel tile), (sequence, head).
__global__ void __launch_bounds__(TILE_THREADS, 2) ssd_output_kernel(const ssd_args p) {
    __shared__ __align__(16) float As[SSD_KT * TILE_LD], Bs[SSD_KT * TILE_LD], Ms[TILE * TILE_LD], Xs[TILE * TILE_LD];
    const int tp = (p.P + TILE - 1) / TILE;
    const int64_t rtiles = (p.L + TILE - 1) / TILE, per_chunk = rtiles * tp;
    const int64_t c = blockIdx.x / per_chunk, rt = (blockIdx.x % per_chunk) / tp;
    const int p0 = (int)(blockIdx.x % tp) * TILE;
    const int64_t bh = blockIdx.y, b = bh / p.H;
    const int h = (int)(bh % p.H), g = h / (p.H / p.G);
    const int64_t cstart = c * p.L, cend = cstart + p.L < p.n ? cstart + p.L : p.n;
    const int64_t r0 = cstart + rt * TILE;
    if (r0 >= cend) return;
    const int64_t r1 = r0 + TILE < cend ? r0 + TILE : cend;
    const float *dts = p.dts + bh * p.n, *cs = p.cs + bh * p.n;
    const float *Hin = p.st + (bh * p.chunks + c) * p.P * p.N;
    const int64_t ldx = (int64_t)p.H * p.P, ldb = (int64_t)p.G * p.N;
    const float *xh = p.x + b * p.n * ldx + (int64_t)h * p.P, *Bg = p.B + b * p.n * ldb + (int64_t)g * p.N, *Cg = p.C + b * p.n * ldb + (int64_t)g * p.N;
    const int ty = tile_ty(), tx = tile_tx();

    // inter-chunk: y_r = exp(s_r) C_r H_prev^T
    tile_acc acc;
    acc.zero();
    for (int i0 = 0; i0 < p.N; i0 += SSD_KT) {
        for (int e = threadIdx.x; e < SSD_KT * TILE; e += TILE_THREADS) {
            const int row = e / SSD_KT, k = e % SSD_KT, i = i0 + k;
            const int64_t r = r0 + row;
            As[k * TILE_LD + row] = r < r1 && i < p.N ? Cg[r * ldb + i] : 0.0f;
            Bs[k * TILE_LD + row] = p0 + row < p.P && i < p.N ? Hin[(int64_t)(p0 + row) * p.N + i] : 0.0f;
        }
        __syncthreads();
        tile_fma(acc, As, Bs, SSD_KT);
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int64_t r = r0 + 4 * ty + a;
        const float f = r < r1 ? expf(cs[r]) : 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) acc.v[a][j] *= f;
    }

    // intra-chunk: y += (C B^T .* L) (X dt), key tiles from the chunk's start to this row tile
    for (int64_t k0 = cstart; k0 < r1; k0 += TILE) {
        const int64_t k1 = k0 + TILE < r1 ? k0 + TILE : r1;
        tile_acc m;
        m.zero();
        for (int i0 = 0; i0 < p.N; i0 += SSD_KT) {
            for (int e = threadIdx.x; e < SSD_KT * TILE; e += TILE_THREADS) {
                const int row = e / SSD_KT, k = e % SSD_KT, i = i0 + k;
                const int64_t r = r0 + row, t = k0 + row;
                As[k * TILE_LD + row] = r < r1 && i < p.N ? Cg[r * ldb + i] : 0.0f;
                Bs[k * TILE_LD + row] = t < k1 && i < p.N ? Bg[t * ldb + i] : 0.0f;
            }
            __syncthreads();
            tile_fma(m, As, Bs, SSD_KT);
            __syncthreads();
        }
        // M[r][t] = C_r.B_t exp(s_r - s_t) dt_t for t <= r, stored as Ms[t][r]; X tile Xs[t][p]
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int64_t r = r0 + 4 * ty + a, t = k0 + 4 * tx + j;
                float v = 0;
                if (r < r1 && t < k1 && t <= r) v = (t < r ? m.v[a][j] * expf(cs[r] - cs[t]) : m.v[a][j]) * dts[t];
                Ms[(4 * tx + j) * TILE_LD + 4 * ty + a] = v;
            }
        for (int e = threadIdx.x; e < TILE * TILE; e += TILE_THREADS) {
            const int k = e / TILE, col = e % TILE;
            const int64_t t = k0 + k;
            Xs[k * TILE_LD + col] = t < k1 && p0 + col < p.P ? xh[t * ldx + p0 + col] : 0.0f;
        }
        __syncthreads();
        if (k0 == r0) tile_fma_causal(acc, Ms, Xs, TILE);  // the diagonal tile
        else tile_fma(acc, Ms, Xs, TILE);
        __syncthreads();
    }

    const float Dh = p.D ? p.D[h] : 0.0f;
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t r = r0 + 4 * ty + a;
            const int pp = p0 + 4 * tx + j;
            if (r < r1 && pp < p.P) {
                float y = acc.v[a][j];
                if (p.D) y += Dh * xh[r * ldx + pp];
                p.y[(b * p.n + r) * ldx + (int64_t)h * p.P + pp] = y;
            }
        }
}

// The recurrence: a warp per (sequence, head, head channel p), lanes over the state index
// (i = lane + 32 k, k < 8), the state in registers over the call's tokens.
constexpr int SSD_STEP_WARPS = 8;
__global__ void __launch_bounds__(SSD_STEP_WARPS * 32) ssd_step_kernel(const ssd_args p) {
    const int lane = threadIdx.x & 31;
    const int64_t wid = (int64_t)blockIdx.x * SSD_STEP_WARPS + (threadIdx.x >> 5);
    const int64_t bh = wid / p.P, b = bh / p.H;
    if (bh >= p.BH) return;
    const int pp = (int)(wid % p.P), h = (int)(bh % p.H), g = h / (p.H / p.G);
    const int64_t ldx = (int64_t)p.H * p.P, ldb = (int64_t)p.G * p.N;
    float *hs = p.h + (bh * p.P + pp) * p.N;
    float hv[SSD_MAX_DIM / 32];
#pragma unroll
    for (int k = 0; k < SSD_MAX_DIM / 32; k++) hv[k] = lane + 32 * k < p.N ? hs[lane + 32 * k] : 0.0f;
    const float bias = p.dt_bias ? p.dt_bias[h] : 0.0f, A = p.A[h];
    for (int64_t t = 0; t < p.n; t++) {
        const float dt = ssd_dt(p.dt[(b * p.n + t) * p.H + h] + bias, p.dt_min, p.dt_max), dA = expf(dt * A);
        const float x = p.x[(b * p.n + t) * ldx + (int64_t)h * p.P + pp], dx = dt * x;
        const float *Bt = p.B + (b * p.n + t) * ldb + (int64_t)g * p.N, *Ct = p.C + (b * p.n + t) * ldb + (int64_t)g * p.N;
        float acc = 0;
#pragma unroll
        for (int k = 0; k < SSD_MAX_DIM / 32; k++) {
            const int i = lane + 32 * k;
            if (i < p.N) {
                hv[k] = dA * hv[k] + dx * Bt[i];
                acc += Ct[i] * hv[k];
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) p.y[(b * p.n + t) * ldx + (int64_t)h * p.P + pp] = acc + (p.D ? p.D[h] * x : 0.0f);
    }
#pragma unroll
    for (int k = 0; k < SSD_MAX_DIM / 32; k++)
        if (lane + 32 * k < p.N) hs[lane + 32 * k] = hv[k];
}

static ssd_args make_ssd_args(const lc_ssd *s) {
    ssd_args p;
    p.x = s->x, p.dt = s->dt, p.dt_bias = s->dt_bias, p.A = s->A, p.B = s->B, p.C = s->C, p.D = s->D, p.y = s->y, p.h = s->h;
    p.dts = p.cs = p.st = nullptr;
    p.n = s->n, p.L = chunk_of(s), p.chunks = ceil_div(s->n, p.L), p.BH = s->batch * s->heads;
    p.H = (int)s->heads, p.P = (int)s->head_dim, p.G = (int)s->groups, p.N = (int)s->state;
    p.dt_min = s->dt_min, p.dt_max = s->dt_max;
    return p;
}

}  // namespace lc_cuda

using namespace lc_cuda;

lc_status lc_cuda_ssd_check(const lc_ssd *s) {
    lc_status st = lc_ssd_check(s);
    if (st) return st;
    if ((st = check_device())) return st;
    if (s->head_dim > SSD_MAX_DIM) return lc_error(LC_EUNSUPPORTED, "head_dim=%lld: the GPU SSD takes at most %d", (long long)s->head_dim, SSD_MAX_DIM);
    if (s->state > SSD_MAX_DIM) return lc_error(LC_EUNSUPPORTED, "state=%lld: the GPU SSD takes at most %d", (long long)s->state, SSD_MAX_DIM);
    if (s->batch * s->heads > 65535) return lc_error(LC_EUNSUPPORTED, "batch x heads = %lld: the GPU SSD takes at most 65535 a call", (long long)(s->batch * s->heads));
    const int64_t L = chunk_of(s), chunks = ceil_div(s->n, L), tiles = ceil_div(s->head_dim, TILE) * (ceil_div(L, TILE) > ceil_div(s->state, TILE) ? ceil_div(L, TILE) : ceil_div(s->state, TILE));
    if ((double)chunks * (double)tiles > 2147483647.0) return lc_error(LC_EUNSUPPORTED, "n=%lld: too many chunks for one grid", (long long)s->n);
    return LC_OK;
}

size_t lc_cuda_ssd_workspace_size(const lc_ssd *s) {
    if (lc_cuda_ssd_check(s)) return 0;
    const int64_t chunks = ceil_div(s->n, chunk_of(s)), BH = s->batch * s->heads;
    return sizeof(float) * (size_t)(2 * BH * s->n + BH * chunks * s->head_dim * s->state);
}

lc_status lc_cuda_ssd_chunked(const lc_ssd *s, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    lc_status st = lc_cuda_ssd_check(s);
    if (st) return st;
    const size_t need = lc_cuda_ssd_workspace_size(s);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace of %zu bytes is below lc_cuda_ssd_workspace_size=%zu", workspace ? workspace_bytes : 0, need);
    if ((uintptr_t)workspace % 16) return lc_error(LC_EINVAL, "workspace is not 16-byte aligned");
    ssd_args p = make_ssd_args(s);
    const int64_t BH = s->batch * s->heads;
    p.dts = (float *)workspace, p.cs = p.dts + BH * s->n, p.st = p.cs + BH * s->n;
    ssd_dt_kernel<<<dim3((unsigned)ceil_div(p.chunks * p.H, 128), (unsigned)s->batch), 128, 0, stream>>>(p);
    const int64_t tp = ceil_div(p.P, TILE), tn = ceil_div(p.N, TILE), rtiles = ceil_div(p.L, TILE);
    ssd_chunk_state_kernel<<<dim3((unsigned)(p.chunks * tp * tn), (unsigned)BH), TILE_THREADS, 0, stream>>>(p);
    ssd_pass_kernel<<<dim3((unsigned)ceil_div((int64_t)p.P * p.N, 256), (unsigned)BH), 256, 0, stream>>>(p);
    ssd_output_kernel<<<dim3((unsigned)(p.chunks * rtiles * tp), (unsigned)BH), TILE_THREADS, 0, stream>>>(p);
    return launched("ssd chunked");
}

lc_status lc_cuda_ssd_step(const lc_ssd *s, lc_cuda_stream stream) {
    lc_status st = lc_cuda_ssd_check(s);
    if (st) return st;
    ssd_args p = make_ssd_args(s);
    const int64_t warps = p.BH * p.P;
    ssd_step_kernel<<<(unsigned)ceil_div(warps, SSD_STEP_WARPS), SSD_STEP_WARPS * 32, 0, stream>>>(p);
    return launched("ssd step");
}
