// Linear attention on the GPU, behind lc_linear_attention: the chunkwise-parallel prefill
// (Katharopoulos et al. 2020; chunked as RetNet, Sun et al. 2023, eq. 7, and Yang et al.
// 2024), with the CPU's state (S, z, log-scale c; S_true = exp(c) S) carried in and out.
// For a chunk of L tokens, log-decay g and key log-scales ks_t (FAVOR+'s max-shift; 0 for
// elu+1 and relu), token r of the chunk (r, t counted from the chunk's start) sums
//   num_r = f_r phi(q_r)^T S_in + sum_{t<=r} (phi(q_r).phi(k_t)) exp(g (r-t) + ks_t - base_r) v_t
//   den_r = f_r phi(q_r).z_in   + sum_{t<=r} (phi(q_r).phi(k_t)) exp(g (r-t) + ks_t - base_r)
// with f_r = exp(c_in + g (r+1) - base_r) and base_r the largest log-weight of the row, and
// writes num_r / den_r (normalize) or num_r exp(base_r + qs_r). Launches:
//   features   phi(q), phi(k) of every token (f32, contiguous per head), their log-scales,
//              and v as f32 (lin_map_kernel; FAVOR+: lin_favor_logits_kernel then
//              lin_favor_shift_kernel);
//   chunks     each chunk's own state S_c = sum_t exp(g (L-1-t) + ks_t - top_c) phi(k_t) [v_t 1]^T
//              and top_c = max_t g (L-1-t) + ks_t, in parallel (lin_chunk_state_kernel);
//   pass       the log-scale entering each chunk, c_next = max(c_in + g L, top_c)
//              (lin_scale_kernel, a thread per head), then the states entering each chunk
//              and the final state, a thread per state element (lin_pass_kernel);
//   outputs    every chunk's rows in parallel, 64 rows x 64 value columns a block
//              (lin_output_kernel).
// Non-causal: the same with g = 0, the state over every key, and outputs of its read-out alone.
#include <cuda_runtime.h>
#include <math.h>

#include "check.h"
#include "linear_device.cuh"
#include "recurrent.cuh"
#include "tile_fma.cuh"

namespace lc_cuda {

constexpr int LIN_KT = 16;  // reduction slice of the staged products

lin_decay make_lin_decay(const lc_linear_attention *a) {
    lin_decay d;
    for (int h = 0; h < LC_CUDA_LINEAR_MAX_HEADS; h++) d.log_g[h] = a->decay && h < a->q.shape[2] ? (float)log((double)a->decay[h]) : 0.0f;
    return d;
}

struct lin_view {  // an f32 [batch, seq, heads, dim] view
    const float *data;
    int64_t sb, ss, sh, sd;
};
static lin_view view_of(const lc_tensor &t) { return {(const float *)t.data, t.stride[0], t.stride[1], t.stride[2], t.stride[3]}; }

struct lin_args {
    float *qf, *kf, *qs, *ks, *vf, *xs;  // features [BH][n][F], log-scales [BH][n], v [BH][n][dv], FAVOR+ scratch [BH][n][dk]
    float *st, *top, *cin, *cfin;        // [BH][chunks][F][dv+1], [BH][chunks], [BH][chunks], [BH]
    float *state;                        // the caller's (causal), or NULL
    const float *omega;
    lin_view out;
    int64_t n, L, chunks, BH;
    int H, dk, dv, F, causal, normalize;
};

static int64_t lin_chunk(const lc_linear_attention *a) {
    const int64_t L = a->chunk ? a->chunk : 64;
    return L < a->q.shape[1] ? L : a->q.shape[1];
}

// ---- features ---------------------------------------------------------------------------

enum lin_map { MAP_ELU1 = 0, MAP_RELU = 1, MAP_SCALE = 2, MAP_COPY = 3 };

// dst[(b H + h) n + t][i] = map(src[b, t, h, i]), element per thread; ls (when not NULL) <- 0.
__global__ void lin_map_kernel(lin_view src, float *dst, float *ls, int64_t n, int H, int d, int map, float scale) {
    const int64_t per_batch = n * H * d, local = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (local >= per_batch) return;
    const int64_t e = blockIdx.y * per_batch + local;  // [b H + h][t][i]
    const int i = (int)(e % d);
    const int64_t row = e / d, t = row % n, bh = row / n, b = bh / H, h = bh % H;
    const float x = src.data[b * src.sb + t * src.ss + h * src.sh + i * src.sd];
    float y = x;
    if (map == MAP_ELU1) y = x > 0 ? x + 1.0f : expf(x);
    else if (map == MAP_RELU) y = x > 0 || x != x ? x : 0.0f;
    else if (map == MAP_SCALE) y = x * scale;
    dst[e] = y;
    if (ls && i == 0) ls[row] = 0.0f;
}

// FAVOR+ logits w_f.x' - |x'|^2 / 2 of 64 rows x 64 features a block (x' = x d^(-1/4) in xs).
__global__ void __launch_bounds__(TILE_THREADS) lin_favor_logits_kernel(const float *xs, const float *omega, float *out, int64_t rows, int dk, int F) {
    __shared__ __align__(16) float As[LIN_KT * TILE_LD], Bs[LIN_KT * TILE_LD];
    const int64_t r0 = (int64_t)blockIdx.x * TILE;
    const int f0 = blockIdx.y * TILE;
    tile_acc acc;
    acc.zero();
    for (int i0 = 0; i0 < dk; i0 += LIN_KT) {
        for (int e = threadIdx.x; e < LIN_KT * TILE; e += TILE_THREADS) {
            const int row = e / LIN_KT, k = e % LIN_KT, i = i0 + k;
            As[k * TILE_LD + row] = r0 + row < rows && i < dk ? xs[(r0 + row) * dk + i] : 0.0f;
            Bs[k * TILE_LD + row] = f0 + row < F && i < dk ? omega[(int64_t)(f0 + row) * dk + i] : 0.0f;
        }
        __syncthreads();
        tile_fma(acc, As, Bs, LIN_KT);
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int64_t r = r0 + 4 * tile_ty() + a;
        if (r >= rows) continue;
        float sq = 0;  // |x'|^2 of the row
        for (int i = 0; i < dk; i++) sq = fmaf(xs[r * dk + i], xs[r * dk + i], sq);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int f = f0 + 4 * tile_tx() + j;
            if (f < F) out[r * F + f] = acc.v[a][j] - 0.5f * sq;
        }
    }
}

// phi = exp(logit - max) / sqrt(F) and the log-scale max (NaN kept), a warp per row.
__global__ void lin_favor_shift_kernel(float *phi, float *ls, int64_t rows, int F) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    float *p = phi + row * F, mx = -INFINITY;
    for (int f = lane; f < F; f += 32) mx = max_nan(mx, p[f]);
    for (int o = 16; o > 0; o >>= 1) mx = max_nan(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    const float inv = 1.0f / sqrtf((float)F);
    for (int f = lane; f < F; f += 32) p[f] = expf(p[f] - mx) * inv;
    if (lane == 0) ls[row] = mx;
}

// ---- the chunks' own states ------------------------------------------------------------------

// top_c = max_t g (Lc-1-t) + ks_t over the chunk, every thread of the block (NaN kept).
__device__ float chunk_top(const float *ks, int64_t t0, int64_t t1, float g, float *red) {
    float m = -INFINITY;
    for (int64_t t = t0 + threadIdx.x; t < t1; t += blockDim.x) m = max_nan(m, g * (float)(t1 - 1 - t) + ks[t]);
    for (int o = 16; o > 0; o >>= 1) m = max_nan(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x / 32] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < (int)blockDim.x / 32; w++) m = max_nan(m, red[w]);
    __syncthreads();
    return m;
}

// S_c [F][dv+1] tile of 64 features x 64 columns (column dv is z): block per (chunk, tile), head.
__global__ void __launch_bounds__(TILE_THREADS) lin_chunk_state_kernel(const lin_args p, const lin_decay dec) {
    __shared__ __align__(16) float As[LIN_KT * TILE_LD], Bs[LIN_KT * TILE_LD];
    __shared__ float red[TILE_THREADS / 32];
    const int W = p.dv + 1, tf = (p.F + TILE - 1) / TILE, te = (W + TILE - 1) / TILE;
    const int64_t c = blockIdx.x / (tf * te), bh = blockIdx.y;
    const int tile = (int)(blockIdx.x % (tf * te)), f0 = (tile / te) * TILE, e0 = (tile % te) * TILE;
    const float g = p.causal ? dec.log_g[bh % p.H] : 0.0f;
    const int64_t t0 = c * p.L, t1 = t0 + p.L < p.n ? t0 + p.L : p.n;
    const float *ks = p.ks + bh * p.n, *kf = p.kf + bh * p.n * p.F, *vf = p.vf + bh * p.n * p.dv;
    const float top = chunk_top(ks, t0, t1, g, red);
    if (tile == 0 && threadIdx.x == 0) p.top[bh * p.chunks + c] = top;
    tile_acc acc;
    acc.zero();
    for (int64_t tt = t0; tt < t1; tt += LIN_KT) {
        for (int e = threadIdx.x; e < LIN_KT * TILE; e += TILE_THREADS) {
            const int k = e / TILE, col = e % TILE;
            const int64_t t = tt + k;
            float a = 0, v = 0;
            if (t < t1) {
                if (f0 + col < p.F) a = expf(g * (float)(t1 - 1 - t) + ks[t] - top) * kf[t * p.F + f0 + col];
                const int ec = e0 + col;
                v = ec < p.dv ? vf[t * p.dv + ec] : ec == p.dv ? 1.0f : 0.0f;
            }
            As[k * TILE_LD + col] = a, Bs[k * TILE_LD + col] = v;
        }
        __syncthreads();
        tile_fma(acc, As, Bs, LIN_KT);
        __syncthreads();
    }
    float *out = p.st + (bh * p.chunks + c) * p.F * W;
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int f = f0 + 4 * tile_ty() + a, e = e0 + 4 * tile_tx() + j;
            if (f < p.F && e < W) out[(int64_t)f * W + e] = acc.v[a][j];
        }
}

// ---- the pass over the chunks ------------------------------------------------------------

// The log-scale entering each chunk and after the last, a thread per head. A state whose z
// is all zeros is empty (its c means nothing), as on the CPU.
__global__ void lin_scale_kernel(const lin_args p, const lin_decay dec) {
    const int64_t bh = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (bh >= p.BH) return;
    const float g = p.causal ? dec.log_g[bh % p.H] : 0.0f;
    float c = -INFINITY;
    if (p.state) {
        const float *S = p.state + bh * ((int64_t)p.F * p.dv + p.F + 1), *z = S + (int64_t)p.F * p.dv;
        int empty = 1;
        for (int f = 0; f < p.F && empty; f++) empty = z[f] == 0;
        if (!empty) c = z[p.F];
    }
    for (int64_t ch = 0; ch < p.chunks; ch++) {
        p.cin[bh * p.chunks + ch] = c;
        const int64_t Lc = ((ch + 1) * p.L < p.n ? (ch + 1) * p.L : p.n) - ch * p.L;
        c = max_nan(c + g * (float)Lc, p.top[bh * p.chunks + ch]);
    }
    p.cfin[bh] = c;
}

// Thread per element (f, e) of [S | z]: st[c] <- the state entering chunk c (non-causal: the
// total into st[0]); the caller's state <- the final one, with its c.
__global__ void lin_pass_kernel(const lin_args p, const lin_decay dec) {
    const int W = p.dv + 1;
    const int64_t FW = (int64_t)p.F * W, j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, bh = blockIdx.y;
    if (j >= FW) return;
    const int f = (int)(j / W), e = (int)(j % W);
    const int64_t per = (int64_t)p.F * p.dv + p.F + 1;
    float *mine = p.state ? p.state + bh * per + (e < p.dv ? (int64_t)f * p.dv + e : (int64_t)p.F * p.dv + f) : nullptr;
    const float g = p.causal ? dec.log_g[bh % p.H] : 0.0f;
    float H = mine ? *mine : 0.0f;
    const float *top = p.top + bh * p.chunks, *cin = p.cin + bh * p.chunks;
    for (int64_t ch = 0; ch < p.chunks; ch++) {
        float *cell = p.st + (bh * p.chunks + ch) * FW + j;
        const float S = *cell;
        if (p.causal) *cell = H;
        const int64_t Lc = ((ch + 1) * p.L < p.n ? (ch + 1) * p.L : p.n) - ch * p.L;
        const float next = ch + 1 < p.chunks ? cin[ch + 1] : p.cfin[bh];
        H = H * expf(cin[ch] + g * (float)Lc - next) + S * expf(top[ch] - next);
    }
    if (!p.causal) p.st[bh * p.chunks * FW + j] = H;
    if (mine) {
        *mine = H;
        if (j == 0) p.state[bh * per + per - 1] = p.cfin[bh];
    }
}

// ---- outputs --------------------------------------------------------------------------------

// 64 rows of one chunk x 64 value columns: block per (chunk, row tile, column tile), head.
__global__ void __launch_bounds__(TILE_THREADS, 2) lin_output_kernel(const lin_args p, const lin_decay dec) {
    __shared__ __align__(16) float As[LIN_KT * TILE_LD], Bs[LIN_KT * TILE_LD], Ps[TILE * TILE_LD], Vs[TILE * TILE_LD];
    __shared__ float zs[LIN_KT], base[TILE], fr[TILE];
    const int W = p.dv + 1, tv = (p.dv + TILE - 1) / TILE;
    const int64_t rtiles = (p.L + TILE - 1) / TILE, per_chunk = rtiles * tv;
    const int64_t c = blockIdx.x / per_chunk, rt = (blockIdx.x % per_chunk) / tv, bh = blockIdx.y;
    const int e0 = (int)(blockIdx.x % tv) * TILE;
    const int64_t cstart = c * p.L, cend = cstart + p.L < p.n ? cstart + p.L : p.n, r0 = cstart + rt * TILE;
    if (r0 >= cend) return;
    const int64_t r1 = r0 + TILE < cend ? r0 + TILE : cend;
    const float g = p.causal ? dec.log_g[bh % p.H] : 0.0f;
    const float *qf = p.qf + bh * p.n * p.F, *kf = p.kf + bh * p.n * p.F, *ks = p.ks + bh * p.n, *vf = p.vf + bh * p.n * p.dv;
    const float *Sin = p.st + (bh * p.chunks + (p.causal ? c : 0)) * p.F * W;
    const float cin = p.causal ? p.cin[bh * p.chunks + c] : p.cfin[bh];
    const int ty = tile_ty(), tx = tile_tx();

    // base_r = max(c_in + g (r+1), g r + max_{t<=r} (ks_t - g t)); f_r = exp(c_in + g (r+1) - base_r)
    if (threadIdx.x == 0) {
        float run = -INFINITY;
        for (int64_t t = cstart; t < r1; t++) {
            const float rl = (float)(t - cstart);
            if (p.causal) run = max_nan(run, ks[t] - g * rl);
            if (t >= r0) {
                const float carried = cin + g * (rl + 1.0f);
                const float b = p.causal ? max_nan(g * rl + run, carried) : cin;
                base[t - r0] = b, fr[t - r0] = p.causal ? expf(carried - b) : 1.0f;
            }
        }
    }
    __syncthreads();

    // carried part: phi(q_r)^T [S_in | z_in], scaled by f_r
    tile_acc acc;
    acc.zero();
    float dz[4] = {0, 0, 0, 0};
    for (int f0 = 0; f0 < p.F; f0 += LIN_KT) {
        for (int e = threadIdx.x; e < LIN_KT * TILE; e += TILE_THREADS) {
            const int k = e % LIN_KT, row = e / LIN_KT, f = f0 + k;
            As[k * TILE_LD + row] = r0 + row < r1 && f < p.F ? qf[(r0 + row) * p.F + f] : 0.0f;
        }
        for (int e = threadIdx.x; e < LIN_KT * TILE; e += TILE_THREADS) {
            const int k = e / TILE, col = e % TILE, f = f0 + k;
            Bs[k * TILE_LD + col] = f < p.F && e0 + col < p.dv ? Sin[(int64_t)f * W + e0 + col] : 0.0f;
        }
        if (threadIdx.x < LIN_KT) zs[threadIdx.x] = f0 + threadIdx.x < p.F ? Sin[(int64_t)(f0 + threadIdx.x) * W + p.dv] : 0.0f;
        __syncthreads();
        tile_fma(acc, As, Bs, LIN_KT);
        for (int k = 0; k < LIN_KT; k++)
#pragma unroll
            for (int a = 0; a < 4; a++) dz[a] = fmaf(As[k * TILE_LD + 4 * ty + a], zs[k], dz[a]);
        __syncthreads();
    }
    float den[4];
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int row = 4 * ty + a;
        const float f = r0 + row < r1 ? fr[row] : 0.0f;
        den[a] = dz[a] * f;
#pragma unroll
        for (int j = 0; j < 4; j++) acc.v[a][j] *= f;
    }

    // in-chunk part: P = (phi(Q) phi(K)^T .* decay) over key tiles from the chunk's start
    if (p.causal)
        for (int64_t k0 = cstart; k0 < r1; k0 += TILE) {
            const int64_t k1 = k0 + TILE < r1 ? k0 + TILE : r1;
            tile_acc m;
            m.zero();
            for (int f0 = 0; f0 < p.F; f0 += LIN_KT) {
                for (int e = threadIdx.x; e < LIN_KT * TILE; e += TILE_THREADS) {
                    const int k = e % LIN_KT, row = e / LIN_KT, f = f0 + k;
                    As[k * TILE_LD + row] = r0 + row < r1 && f < p.F ? qf[(r0 + row) * p.F + f] : 0.0f;
                    Bs[k * TILE_LD + row] = k0 + row < k1 && f < p.F ? kf[(k0 + row) * p.F + f] : 0.0f;
                }
                __syncthreads();
                tile_fma(m, As, Bs, LIN_KT);
                __syncthreads();
            }
#pragma unroll
            for (int a = 0; a < 4; a++) {
                const int row = 4 * ty + a;
                const int64_t r = r0 + row;
                float rowsum = 0;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const int64_t t = k0 + 4 * tx + j;
                    float v = 0;
                    if (r < r1 && t < k1 && t <= r) v = m.v[a][j] * expf(g * (float)(r - t) + ks[t] - base[row]);
                    Ps[(4 * tx + j) * TILE_LD + row] = v;
                    rowsum += v;
                }
                for (int o = 8; o > 0; o >>= 1) rowsum += __shfl_xor_sync(0xffffffffu, rowsum, o);  // the 16 threads of the row
                den[a] += rowsum;
            }
            for (int e = threadIdx.x; e < TILE * TILE; e += TILE_THREADS) {
                const int k = e / TILE, col = e % TILE;
                const int64_t t = k0 + k;
                Vs[k * TILE_LD + col] = t < k1 && e0 + col < p.dv ? vf[t * p.dv + e0 + col] : 0.0f;
            }
            __syncthreads();
            if (k0 == r0) tile_fma_causal(acc, Ps, Vs, TILE);
            else tile_fma(acc, Ps, Vs, TILE);
            __syncthreads();
        }

    const float *qs = p.qs + bh * p.n;
    const int64_t b = bh / p.H, h = bh % p.H;
#pragma unroll
    for (int a = 0; a < 4; a++) {
        const int row = 4 * ty + a;
        const int64_t r = r0 + row;
        if (r >= r1) continue;
        const float scale = p.normalize ? (den[a] == 0 ? 0.0f : 1.0f / den[a]) : expf(base[row] + qs[r]);  // NaN den stays NaN
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int e = e0 + 4 * tx + j;
            if (e < p.dv) ((float *)p.out.data)[b * p.out.sb + r * p.out.ss + h * p.out.sh + e * p.out.sd] = acc.v[a][j] * scale;
        }
    }
}

static int64_t lin_features_of(const lc_linear_attention *a) { return lc_linear_features(a); }

}  // namespace lc_cuda

using namespace lc_cuda;

lc_status lc_cuda_linear_attention_check(const lc_linear_attention *a) {
    lc_status st = lc_linear_attention_check(a);
    if (st) return st;
    if ((st = check_device())) return st;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], F = lin_features_of(a), dv = a->v.shape[3];
    if (F > LIN_MAX_WIDTH) return lc_error(LC_EUNSUPPORTED, "features=%lld: the GPU forms take at most %d", (long long)F, LIN_MAX_WIDTH);
    if (dv > LIN_MAX_WIDTH) return lc_error(LC_EUNSUPPORTED, "v.shape[3]=%lld: the GPU forms take d_v up to %d", (long long)dv, LIN_MAX_WIDTH);
    if (a->decay && H > LC_CUDA_LINEAR_MAX_HEADS)
        return lc_error(LC_EUNSUPPORTED, "heads=%lld: the GPU forms take a decay for at most %d heads", (long long)H, (int)LC_CUDA_LINEAR_MAX_HEADS);
    if (B * H > 65535) return lc_error(LC_EUNSUPPORTED, "batch x heads = %lld: the GPU forms take at most 65535 a call", (long long)(B * H));
    const int64_t L = lin_chunk(a), chunks = ceil_div(n, L);
    const int64_t tiles = ceil_div(F, TILE) * ceil_div(dv + 1, TILE) > ceil_div(L, TILE) * ceil_div(dv, TILE) ? ceil_div(F, TILE) * ceil_div(dv + 1, TILE)
                                                                                                              : ceil_div(L, TILE) * ceil_div(dv, TILE);
    const int64_t width = F > dv ? (F > a->q.shape[3] ? F : a->q.shape[3]) : (dv > a->q.shape[3] ? dv : a->q.shape[3]);
    if ((double)chunks * (double)tiles > 2147483647.0 || (double)B * H * n * width > 0x1p38)
        return lc_error(LC_EUNSUPPORTED, "n=%lld: too many tokens for one call on the GPU", (long long)n);
    return LC_OK;
}

size_t lc_cuda_linear_attention_workspace_size(const lc_linear_attention *a) {
    if (lc_cuda_linear_attention_check(a)) return 0;
    const int64_t BH = a->q.shape[0] * a->q.shape[2], n = a->q.shape[1], F = lin_features_of(a), dv = a->v.shape[3], dk = a->q.shape[3];
    const int64_t chunks = ceil_div(n, lin_chunk(a));
    const int64_t floats = BH * n * (2 * F + 2 + dv) + (a->feature == LC_FEATURE_FAVOR ? BH * n * dk : 0) + BH * chunks * F * (dv + 1) + 2 * BH * chunks + BH;
    return sizeof(float) * (size_t)floats;
}

lc_status lc_cuda_linear_attention_forward(const lc_linear_attention *a, float *state, int64_t state_floats, void *workspace, size_t workspace_bytes,
                                           lc_cuda_stream stream) {
    lc_status st = lc_cuda_linear_attention_check(a);
    if (st) return st;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], F = lin_features_of(a), dv = a->v.shape[3], dk = a->q.shape[3];
    const int64_t BH = B * H, per = lc_linear_state_floats(a);
    if (state) {
        if (!a->causal) return lc_error(LC_EINVAL, "state must be NULL when causal=0 (a non-causal pass has no state to carry)");
        if (state_floats != BH * per)
            return lc_error(LC_EINVAL, "state_floats=%lld must be batch*heads*(F*d_v+F+1) = %lld", (long long)state_floats, (long long)(BH * per));
    }
    const size_t need = lc_cuda_linear_attention_workspace_size(a);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace of %zu bytes is below lc_cuda_linear_attention_workspace_size=%zu", workspace ? workspace_bytes : 0, need);
    if ((uintptr_t)workspace % 16) return lc_error(LC_EINVAL, "workspace is not 16-byte aligned");
    const lin_decay dec = make_lin_decay(a);
    lin_args p;
    p.n = n, p.L = lin_chunk(a), p.chunks = ceil_div(n, p.L), p.BH = BH;
    p.H = (int)H, p.dk = (int)dk, p.dv = (int)dv, p.F = (int)F, p.causal = a->causal, p.normalize = a->normalize;
    float *w = (float *)workspace;
    p.qf = w, w += BH * n * F;
    p.kf = w, w += BH * n * F;
    p.vf = w, w += BH * n * dv;
    p.qs = w, w += BH * n;
    p.ks = w, w += BH * n;
    p.st = w, w += BH * p.chunks * F * (dv + 1);
    p.top = w, w += BH * p.chunks;
    p.cin = w, w += BH * p.chunks;
    p.cfin = w, w += BH;
    p.xs = a->feature == LC_FEATURE_FAVOR ? w : nullptr;
    p.state = state, p.omega = a->omega, p.out = view_of(a->out);

    // features
    const int64_t rows = BH * n;
    auto map = [&](const lc_tensor &t, float *dst, float *ls, int d, int kind, float scale) {
        const int64_t per_batch = n * H * d;
        lin_map_kernel<<<dim3((unsigned)ceil_div(per_batch, 256), (unsigned)B), 256, 0, stream>>>(view_of(t), dst, ls, n, (int)H, d, kind, scale);
    };
    if (a->feature == LC_FEATURE_FAVOR) {
        const float s = (float)pow((double)dk, -0.25);
        const lc_tensor *in[2] = {&a->q, &a->k};
        float *phi[2] = {p.qf, p.kf}, *ls[2] = {p.qs, p.ks};
        for (int i = 0; i < 2; i++) {
            map(*in[i], p.xs, nullptr, (int)dk, MAP_SCALE, s);
            lin_favor_logits_kernel<<<dim3((unsigned)ceil_div(rows, TILE), (unsigned)ceil_div(F, TILE)), TILE_THREADS, 0, stream>>>(p.xs, p.omega, phi[i], rows, (int)dk, (int)F);
            lin_favor_shift_kernel<<<(unsigned)ceil_div(rows, 8), 256, 0, stream>>>(phi[i], ls[i], rows, (int)F);
        }
    } else {
        const int kind = a->feature == LC_FEATURE_ELU1 ? MAP_ELU1 : MAP_RELU;
        map(a->q, p.qf, p.qs, (int)dk, kind, 1.0f);
        map(a->k, p.kf, p.ks, (int)dk, kind, 1.0f);
    }
    map(a->v, p.vf, nullptr, (int)dv, MAP_COPY, 1.0f);

    // the chunks' own states, the pass over the chunks, the outputs
    const int64_t tstate = ceil_div(F, TILE) * ceil_div(dv + 1, TILE);
    lin_chunk_state_kernel<<<dim3((unsigned)(p.chunks * tstate), (unsigned)BH), TILE_THREADS, 0, stream>>>(p, dec);
    lin_scale_kernel<<<(unsigned)ceil_div(BH, 128), 128, 0, stream>>>(p, dec);
    lin_pass_kernel<<<dim3((unsigned)ceil_div(F * (dv + 1), 256), (unsigned)BH), 256, 0, stream>>>(p, dec);
    const int64_t tout = ceil_div(p.L, TILE) * ceil_div(dv, TILE);
    lin_output_kernel<<<dim3((unsigned)(p.chunks * tout), (unsigned)BH), TILE_THREADS, 0, stream>>>(p, dec);
    return launched("linear attention");
}
