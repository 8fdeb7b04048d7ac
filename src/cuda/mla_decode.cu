// MLA decode over the latent cache (DeepSeek-V2, absorbed form; docs/mla.md, "GPU decode"):
//
//   q_lat = W_UK^T q_nope (per head),   Q = [q_lat ; q_rope]                (rank + rope = 576)
//   s_j = scale Q . c_j,   o_lat = sum_j softmax(s)_j c_j[:rank],   out = W_UV o_lat
//
// After absorption every query row (head x new token) of a sequence reads the same latent
// rows, so a thread block takes up to 64 of a sequence's rows and one chunk of its keys, and
// reads each latent of the chunk once for all of them (flash-decoding: the chunks' partial
// results merge by their log-sum-exp, lse_merge.cuh). In the block, tiles of 32 latents
// stream through shared memory (cp.async, 2-3 in flight) and both products run on the tensor
// cores (mma.sync m16n8k16, f32 accumulation), one pair of warps per 16 rows:
//
//   S = Q C^T:  warp 0 of the pair sums the first 288 of the 576 terms, warp 1 the rest;
//               each adds the other's partial (through shared memory) and both hold S
//   P = online softmax of S (the same in both warps: the same sums in the same order)
//   O += P C[:, :rank]:  warp 0 the first 256 columns of O, warp 1 the last 256
//
// so no warp holds more than a 16 x 256 f32 accumulator (128 registers per thread).
#include "longctx/cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "check.h"
#include "head_product.h"
#include "lse_merge.cuh"
#include "mma.cuh"

namespace lc_cuda {

constexpr int MLA_RANK = 512, MLA_ROPE = 64, MLA_W = MLA_RANK + MLA_ROPE;  // DeepSeek-V2/V3
constexpr int MLA_KT = 32;                  // latents per tile
constexpr int MLA_HALF_STEPS = MLA_W / 32;  // k-steps of 16 terms per warp of a pair (18)
constexpr int MLA_VCOLS = MLA_RANK / 2;     // output columns per warp of a pair (256)
constexpr int MLA_MAX_SPLITS = 65535;       // the split is the grid's y index
constexpr float MLA_LOG2E = 1.4426950408889634f;

// The plan's compile-time half: RW pairs of warps per block (16 query rows each), so 16 RW
// rows per block, and the shared memory of Q, the partial scores and the tile stages.
// Stages: 2 for RW = 1 (96 KB, two blocks per multiprocessor), else 3 (155 KB, 201 KB: one).
template <int RW> struct mla_plan {
    static constexpr int warps = 2 * RW, threads = 32 * warps, rows = 16 * RW;
    static constexpr int stages = RW == 1 ? 2 : 3;
    static constexpr int q_bytes = rows * MLA_W * 2;
    static constexpr int tile_bytes = MLA_KT * MLA_W * 2;
    static constexpr int red_floats = 16 * MLA_KT;  // one warp's partial S fragment: KT / 2 floats x 32 lanes
    static constexpr int red_bytes = warps * red_floats * 4;
    static constexpr int smem = q_bytes + red_bytes + stages * tile_bytes;
};

struct mla_params {
    const void *latent;        // [slots][576] of T
    const int32_t *table;      // paged: [batch][max_blocks]; NULL: contiguous
    int64_t capacity;          // contiguous: slots per sequence
    int block, max_blocks;
    const int32_t *lens;       // [batch] or NULL
    int max_len, n_q, heads, rows;  // rows = n_q * heads per sequence, row = i * heads + h
    const float *q_lat;        // [batch * n_q * heads][512]
    const float *q_rope;       // [batch * n_q * heads][64]
    float scale_log2;
    int splits, chunk;         // keys per split: a multiple of MLA_KT
    float *part_o;             // [batch][splits][rows][512], normalised; splits = 1: o_lat itself
    float *part_lse;           // [batch][splits][rows], log2
    float *o_lat;              // the merge's destination: [batch][rows][512]
};

// Token j of sequence b's row, as a byte offset from the latents.
__device__ __forceinline__ int64_t latent_offset(const mla_params &p, int b, int j) {
    const int64_t slot = p.table ? (int64_t)p.table[(int64_t)b * p.max_blocks + j / p.block] * p.block + j % p.block : (int64_t)b * p.capacity + j;
    return slot * (MLA_W * 2);
}

// The copy of keys j0 .. j0 + 31 (those below kend; the rest zeros) into a stage: warp w takes
// rows w, w + warps, ...; its lanes copy the row's 72 pieces of 16 bytes, swizzled for ldmatrix.
template <int WARPS>
__device__ __forceinline__ void load_tile(const mla_params &p, int b, int j0, int kend, char *st, int warp, int lane) {
    const char *base = static_cast<const char *>(p.latent);
    for (int r = warp; r < MLA_KT; r += WARPS) {
        const int j = j0 + r;
        const bool ok = j < kend;
        const char *src = ok ? base + latent_offset(p, b, j) : base;
        for (int piece = lane; piece < MLA_W / 8; piece += 32) cp_async_16(st + swizzle<MLA_W>(r, piece * 8) * 2, src + piece * 16, ok);
    }
}

// One block per (16 RW rows, split, sequence): the chunk's keys for those rows, normalised
// partial o_lat and its lse (log2) out.
template <typename T, int RW>
__global__ void __launch_bounds__(64 * RW, 1) mla_split_kernel(const mla_params p) {
    typedef mla_plan<RW> PL;
    extern __shared__ __align__(128) char smem[];
    T *sQ = reinterpret_cast<T *>(smem);
    float *red = reinterpret_cast<float *>(smem + PL::q_bytes);
    char *pipe = smem + PL::q_bytes + PL::red_bytes;
    const int split = blockIdx.y, b = blockIdx.z, row0 = blockIdx.x * PL::rows;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, cw = warp % 2, rw = warp / 2;
    const int g = lane / 4, t = lane % 4;

    const int len = p.lens ? max(min(p.lens[b], p.max_len), p.n_q) : p.max_len;
    const int first = len - p.n_q;  // query i is position first + i and sees keys 0 .. first + i
    const int last_row = min(row0 + PL::rows, p.rows) - 1;
    const int kbeg = split * p.chunk, kend = min(kbeg + p.chunk, first + last_row / p.heads + 1);
    const int whole_end = min(kend, first + row0 / p.heads + 1);  // keys every row of the block sees
    const int tiles = kend > kbeg ? (kend - kbeg + MLA_KT - 1) / MLA_KT : 0;

    for (int s = 0; s < PL::stages - 1; s++) {
        if (s < tiles) load_tile<PL::warps>(p, b, kbeg + s * MLA_KT, kend, pipe + s * PL::tile_bytes, warp, lane);
        cp_async_commit();
    }
    // Q: rows past the sequence's are zeros
    for (int c = threadIdx.x; c < PL::rows * (MLA_W / 8); c += PL::threads) {
        const int r = c / (MLA_W / 8), col = c % (MLA_W / 8) * 8, row = row0 + r;
        float4 x0 = make_float4(0.f, 0.f, 0.f, 0.f), x1 = x0;
        if (row < p.rows) {
            const int64_t q = ((int64_t)b * p.n_q + row / p.heads) * p.heads + row % p.heads;
            const float *src = col < MLA_RANK ? p.q_lat + q * MLA_RANK + col : p.q_rope + q * MLA_ROPE + (col - MLA_RANK);
            x0 = reinterpret_cast<const float4 *>(src)[0], x1 = reinterpret_cast<const float4 *>(src)[1];
        }
        uint4 v;
        v.x = mma_op<T>::pack(x0.x, x0.y), v.y = mma_op<T>::pack(x0.z, x0.w), v.z = mma_op<T>::pack(x1.x, x1.y), v.w = mma_op<T>::pack(x1.z, x1.w);
        *reinterpret_cast<uint4 *>(sQ + swizzle<MLA_W>(r, col)) = v;
    }

    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8 of the warp's 16
    float acc[MLA_VCOLS / 8][4];
#pragma unroll
    for (int n = 0; n < MLA_VCOLS / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
    const T *qw = sQ + rw * 16 * MLA_W;  // this pair's rows
    float *red_mine = red + warp * PL::red_floats, *red_other = red + (warp ^ 1) * PL::red_floats;

    for (int it = 0; it < tiles; it++) {
        cp_async_wait<PL::stages - 2>();  // tile it has landed (this thread's copies) ...
        __syncthreads();                  // ... and everyone's; every warp is done with tile it - 1
        const int ahead = it + PL::stages - 1;  // into the stage tile it - 1 used
        if (ahead < tiles) load_tile<PL::warps>(p, b, kbeg + ahead * MLA_KT, kend, pipe + (ahead % PL::stages) * PL::tile_bytes, warp, lane);
        cp_async_commit();
        const T *tile = reinterpret_cast<const T *>(pipe + (it % PL::stages) * PL::tile_bytes);

        // this warp's half of S = Q C^T: s[n] keys 8n .. 8n + 7
        float s[MLA_KT / 8][4];
#pragma unroll
        for (int n = 0; n < MLA_KT / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll 6
        for (int kk = 0; kk < MLA_HALF_STEPS; kk++) {
            const int k0 = (cw * MLA_HALF_STEPS + kk) * 16;
            uint32_t qa[4];
            ldmatrix_x4(qa, qw + swizzle<MLA_W>((lane % 8) + ((lane / 8) % 2) * 8, k0 + (lane / 16) * 8));
#pragma unroll
            for (int kg = 0; kg < MLA_KT / 16; kg++) {
                uint32_t kb[4];
                ldmatrix_x4(kb, tile + swizzle<MLA_W>(kg * 16 + (lane % 8) + (lane / 16) * 8, k0 + ((lane / 8) % 2) * 8));
                mma_op<T>::run(s[2 * kg], qa, kb[0], kb[1]);
                mma_op<T>::run(s[2 * kg + 1], qa, kb[2], kb[3]);
            }
        }
        // the pair's two halves added: both warps then hold the same S (a + b == b + a)
#pragma unroll
        for (int n = 0; n < MLA_KT / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) red_mine[(n * 4 + e) * 32 + lane] = s[n][e];
        asm volatile("bar.sync %0, 64;\n" ::"r"(1 + rw));  // the pair's named barrier
#pragma unroll
        for (int n = 0; n < MLA_KT / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[n][e] = (s[n][e] + red_other[(n * 4 + e) * 32 + lane]) * p.scale_log2;

        // mask: keys past the chunk, past a row's position, and rows past the sequence's
        const int j0 = kbeg + it * MLA_KT;
        if (j0 + MLA_KT > whole_end) {
#pragma unroll
            for (int n = 0; n < MLA_KT / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int j = j0 + 8 * n + 2 * t + e % 2, row = row0 + rw * 16 + g + 8 * (e / 2);
                    if (j >= kend || row >= p.rows || j > first + row / p.heads) s[n][e] = -INFINITY;
                }
        }

        // online softmax (Milakov & Gimelshein 2018), rows g and g + 8, the 4 lanes of a row together
        float alpha[2];
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float mx = -INFINITY;
#pragma unroll
            for (int n = 0; n < MLA_KT / 8; n++) mx = fmaxf(mx, fmaxf(s[n][2 * h], s[n][2 * h + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m[h], mx), m_use = m_new == -INFINITY ? 0.f : m_new;
            alpha[h] = fast_exp2(m[h] - m_use);
            m[h] = m_new;
            float sum = 0.f;
#pragma unroll
            for (int n = 0; n < MLA_KT / 8; n++) {
                s[n][2 * h] = fast_exp2(s[n][2 * h] - m_use), s[n][2 * h + 1] = fast_exp2(s[n][2 * h + 1] - m_use);
                sum += s[n][2 * h] + s[n][2 * h + 1];
            }
            l[h] = l[h] * alpha[h] + sum;
        }
        if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
#pragma unroll
            for (int n = 0; n < MLA_VCOLS / 8; n++) acc[n][0] *= alpha[0], acc[n][1] *= alpha[0], acc[n][2] *= alpha[1], acc[n][3] *= alpha[1];
        }

        // O += P C[:, cw 256 .. cw 256 + 255]: P's A fragments straight from S's accumulators
#pragma unroll
        for (int kg = 0; kg < MLA_KT / 16; kg++) {
            uint32_t pa[4];
            pa[0] = mma_op<T>::pack(s[2 * kg][0], s[2 * kg][1]);      // row g, keys 2t, 2t + 1
            pa[1] = mma_op<T>::pack(s[2 * kg][2], s[2 * kg][3]);      // row g + 8
            pa[2] = mma_op<T>::pack(s[2 * kg + 1][0], s[2 * kg + 1][1]);  // row g, keys 8 + 2t, 9 + 2t
            pa[3] = mma_op<T>::pack(s[2 * kg + 1][2], s[2 * kg + 1][3]);  // row g + 8
#pragma unroll
            for (int dn = 0; dn < MLA_VCOLS / 16; dn++) {
                uint32_t vb[4];
                ldmatrix_x4_trans(vb, tile + swizzle<MLA_W>(kg * 16 + (lane % 8) + ((lane / 8) % 2) * 8, cw * MLA_VCOLS + dn * 16 + (lane / 16) * 8));
                mma_op<T>::run(acc[2 * dn], pa, vb[0], vb[1]);
                mma_op<T>::run(acc[2 * dn + 1], pa, vb[2], vb[3]);
            }
        }
    }
    cp_async_wait<0>();

    // the chunk's normalised o_lat and its lse (log2) for the merge
#pragma unroll
    for (int h = 0; h < 2; h++) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int row = row0 + rw * 16 + g + 8 * h;
        if (row >= p.rows) continue;
        const int64_t at = ((int64_t)b * p.splits + split) * p.rows + row;
        const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;
        float *dst = p.part_o + at * MLA_RANK + cw * MLA_VCOLS + 2 * t;
#pragma unroll
        for (int n = 0; n < MLA_VCOLS / 8; n++) *reinterpret_cast<float2 *>(dst + 8 * n) = make_float2(acc[n][2 * h] * inv, acc[n][2 * h + 1] * inv);
        if (p.splits > 1 && cw == 0 && t == 0) p.part_lse[at] = l[h] > 0.f ? m[h] + log2f(l[h]) : -INFINITY;
    }
}

// One block per (row, sequence), a thread per 4 columns: the chunks' partials merged by their
// log-sum-exp (lse_merge.cuh, base 2).
__global__ void __launch_bounds__(128) mla_merge_kernel(const mla_params p) {
    const int row = blockIdx.x, b = blockIdx.y;
    const int64_t base = (int64_t)b * p.splits * p.rows + row;  // split s: base + s rows
    for (int d = threadIdx.x; d < MLA_RANK; d += blockDim.x) {
        float lse;
        const float o = lse_merge<true>(
            p.splits, [&](int s) { return p.part_lse[base + (int64_t)s * p.rows]; },
            [&](int s) { return p.part_o[(base + (int64_t)s * p.rows) * MLA_RANK + d]; }, &lse);
        p.o_lat[((int64_t)b * p.rows + row) * MLA_RANK + d] = o;
    }
}

// Query rows per block (16 RW) for a sequence's rows: RW = 1 up to 16 rows, 2 up to 32, else 4
// (blocks of 64 rows, the sequence's row blocks reading the same tiles at about the same time).
static int plan_row_warps(int rows) { return rows <= 16 ? 1 : rows <= 32 ? 2 : 4; }
static int plan_smem(int rw) { return rw == 1 ? mla_plan<1>::smem : rw == 2 ? mla_plan<2>::smem : mla_plan<4>::smem; }

// The split: the given count, or as many as fit the GPU's resident blocks in one wave (a
// second, partial wave would leave most multiprocessors idle while it runs), but no fewer
// than MIN_KEYS keys per split nor fewer than 8 per query row of the sequence: each
// split writes and the merge reads a partial row of 2 KB (f32 rank) per query row, against
// 1152 bytes read per key, so 8 keys per row keeps the partials under half the cache's
// bytes and 256 keys keeps them under a tenth for up to 16 rows.
static void plan_splits(mla_params *p, int given, int batch, int row_blocks, int rw) {
    constexpr int MIN_KEYS = 256;
    int splits = given;
    if (splits <= 0) {
        int dev = 0, sms = 132, smem_sm = 228 * 1024;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        cudaDeviceGetAttribute(&smem_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev);
        int per_sm = smem_sm / (plan_smem(rw) + 1024);  // (1 KB reserved per block)
        per_sm = per_sm < 1 ? 1 : per_sm > 4 ? 4 : per_sm;
        const int64_t blocks = (int64_t)batch * row_blocks, slots = (int64_t)sms * per_sm;
        const int64_t want = slots / blocks;
        const int per_split = p->rows * 8 > MIN_KEYS ? p->rows * 8 : MIN_KEYS;
        const int64_t most = p->max_len / per_split;
        splits = (int)(want < most ? want : most);
        if (splits < 1) splits = 1;
        if (splits > MLA_MAX_SPLITS) splits = MLA_MAX_SPLITS;
    }
    p->splits = splits;
    p->chunk = ((p->max_len + splits - 1) / splits + MLA_KT - 1) / MLA_KT * MLA_KT;
}

template <typename T, int RW> static cudaError_t split_launch(const mla_params &p, int batch, cudaStream_t s) {
    typedef mla_plan<RW> PL;
    const void *k = reinterpret_cast<const void *>(&mla_split_kernel<T, RW>);
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, PL::smem);
    if (e != cudaSuccess) return e;
    // the row blocks of a (split, sequence) are the fastest index: they read the same tiles together
    const dim3 grid((p.rows + PL::rows - 1) / PL::rows, p.splits, batch);
    mla_split_kernel<T, RW><<<grid, PL::threads, PL::smem, s>>>(p);
    return cudaGetLastError();
}

template <typename T> static cudaError_t split_run(const mla_params &p, int rw, int batch, cudaStream_t s) {
    return rw == 1 ? split_launch<T, 1>(p, batch, s) : rw == 2 ? split_launch<T, 2>(p, batch, s) : split_launch<T, 4>(p, batch, s);
}

// The workspace: q_lat and o_lat [batch n_q heads, 512] f32 (not absorbed), then the
// partials (splits > 1): o [batch, splits, rows, 512] and lse [batch, splits, rows], f32.
struct mla_workspace {
    size_t q_lat, o_lat, part_o, part_lse, total;  // byte offsets; total bytes
};
static size_t round256(size_t x) { return (x + 255) / 256 * 256; }
static mla_workspace workspace_of(const lc_cuda_mla *d, int splits) {
    const size_t rows = (size_t)d->n_q * d->mla->heads, lat = (size_t)d->batch * rows * MLA_RANK * sizeof(float);
    const size_t parts = splits > 1 ? (size_t)d->batch * splits * rows : 0;
    mla_workspace w;
    w.q_lat = 0;
    w.o_lat = d->absorbed ? 0 : round256(lat);
    w.part_o = d->absorbed ? 0 : 2 * round256(lat);
    w.part_lse = w.part_o + round256(parts * MLA_RANK * sizeof(float));
    w.total = w.part_lse + round256(parts * sizeof(float));
    return w;
}

}  // namespace lc_cuda

using namespace lc_cuda;

static bool aligned16(const void *x) { return (uintptr_t)x % 16 == 0; }
static bool overlap(const void *a, size_t na, const void *b, size_t nb) {
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return a && b && na && nb && x < y + nb && y < x + na;
}

extern "C" lc_status lc_cuda_mla_decode_check(const lc_cuda_mla *d) {
    if (!d) return lc_error(LC_EINVAL, "mla decode descriptor is NULL");
    const lc_mla *m = d->mla;
    if (!m) return lc_error(LC_EINVAL, "mla is NULL");
    lc_status st;
    if (!d->absorbed) {
        if ((st = lc_mla_check(m))) return st;
    } else {  // lc_mla_check without the weights, which the absorbed form does not read
        if (m->heads < 1 || m->rank < 1 || m->rope < 0 || m->nope < 0)
            return lc_error(LC_EINVAL, "mla: heads=%d, rank=%d must be >= 1 and nope=%d, rope=%d >= 0", m->heads, m->rank, m->nope, m->rope);
        if (m->scale < 0 || !isfinite(m->scale)) return lc_error(LC_EINVAL, "mla.scale=%g must be finite and >= 0", m->scale);
    }
    if (m->rank != MLA_RANK || m->rope != MLA_ROPE)
        return lc_error(LC_EUNSUPPORTED, "mla.rank=%d, mla.rope=%d: GPU MLA decode takes rank 512 and rope 64 (DeepSeek-V2/V3's kv_lora_rank and qk_rope_head_dim)",
                        m->rank, m->rope);
    if (m->dtype != LC_BF16 && m->dtype != LC_F16) return lc_error(LC_EUNSUPPORTED, "mla.dtype=%s: the GPU reads bf16 and f16 latent caches", lc_dtype_name(m->dtype));
    if (m->window != 0 || m->sinks != 0)
        return lc_error(LC_EUNSUPPORTED, "mla.window=%lld, mla.sinks=%lld: GPU MLA decode attends over every cached latent (both 0)", (long long)m->window,
                        (long long)m->sinks);
    if (m->heads > 65535) return lc_error(LC_EUNSUPPORTED, "mla.heads=%d: GPU MLA decode takes at most 65535 heads", m->heads);
    if (d->layout != LC_KV_CONTIGUOUS && d->layout != LC_KV_PAGED)
        return lc_error(LC_EUNSUPPORTED, "layout=%s: GPU MLA decode reads contiguous and paged caches", lc_kv_layout_name(d->layout));
    if (d->batch < 1 || d->batch > 65535) return lc_error(LC_EINVAL, "batch=%d must be in [1, 65535]", d->batch);
    if (d->n_q < 1) return lc_error(LC_EINVAL, "n_q=%d must be >= 1", d->n_q);
    if ((int64_t)d->n_q * m->heads > (1 << 24)) return lc_error(LC_EUNSUPPORTED, "n_q * heads = %lld: GPU MLA decode takes at most 2^24 query rows per sequence", (long long)d->n_q * m->heads);
    if (d->max_len < d->n_q || d->max_len >= (1 << 30)) return lc_error(LC_EINVAL, "max_len=%lld must be in [n_q=%d, 2^30)", (long long)d->max_len, d->n_q);
    if (d->capacity < d->max_len) return lc_error(LC_EINVAL, "capacity=%lld (tokens per sequence) is less than max_len=%lld", (long long)d->capacity, (long long)d->max_len);
    if (d->layout == LC_KV_PAGED) {
        if (d->block_size < 1 || d->num_blocks < 1) return lc_error(LC_EINVAL, "paged: block_size=%d and num_blocks=%lld must be >= 1", d->block_size, (long long)d->num_blocks);
        if (!d->block_table) return lc_error(LC_EINVAL, "a paged cache needs block_table");
        if ((d->capacity + d->block_size - 1) / d->block_size >= (1 << 30)) return lc_error(LC_EINVAL, "capacity / block_size must be below 2^30");
    }
    const int qdim = d->absorbed ? m->rank : m->nope, odim = d->absorbed ? m->rank : m->v_dim;
    if (!d->latent || !d->q_rope || !d->out || (qdim > 0 && !d->q_nope)) return lc_error(LC_EINVAL, "latent, q_nope, q_rope and out must not be NULL");
    if (!aligned16(d->latent) || !aligned16(d->q_rope) || !aligned16(d->out) || (d->absorbed && !aligned16(d->q_nope)))
        return lc_error(LC_EUNSUPPORTED, "latent, q_rope, out (and absorbed, q_nope) must be 16-byte aligned");
    const size_t rows = (size_t)d->batch * d->n_q * m->heads, ob = rows * odim * sizeof(float);
    if (overlap(d->out, ob, d->q_nope, rows * qdim * sizeof(float)) || overlap(d->out, ob, d->q_rope, rows * m->rope * sizeof(float)))
        return lc_error(LC_EINVAL, "out overlaps q_nope or q_rope: the output must not alias an input");
    if (d->splits < 0 || d->splits > MLA_MAX_SPLITS) return lc_error(LC_EINVAL, "splits=%d must be in [0, %d] (0 chooses)", d->splits, MLA_MAX_SPLITS);
    return check_device();
}

// The kernels' parameters of a checked descriptor, with the split planned.
static mla_params params_of(const lc_cuda_mla *d, int *rw) {
    const lc_mla *m = d->mla;
    mla_params p = {};
    p.latent = d->latent, p.capacity = d->capacity;
    if (d->layout == LC_KV_PAGED) p.table = d->block_table, p.block = d->block_size, p.max_blocks = (int)((d->capacity + d->block_size - 1) / d->block_size);
    p.lens = d->lens, p.max_len = (int)d->max_len, p.n_q = d->n_q, p.heads = m->heads, p.rows = d->n_q * m->heads;
    p.q_rope = d->q_rope;
    const float scale = m->scale > 0 ? m->scale : 1.0f / sqrtf((float)(m->nope + m->rope));
    p.scale_log2 = scale * MLA_LOG2E;
    *rw = plan_row_warps(p.rows);
    plan_splits(&p, d->splits, d->batch, (p.rows + 16 * *rw - 1) / (16 * *rw), *rw);
    return p;
}

extern "C" size_t lc_cuda_mla_decode_workspace_size(const lc_cuda_mla *d) {
    if (lc_cuda_mla_decode_check(d)) return 0;
    int rw;
    const mla_params p = params_of(d, &rw);
    const size_t total = workspace_of(d, p.splits).total;
    return total ? total : 16;
}

extern "C" lc_status lc_cuda_mla_decode(const lc_cuda_mla *d, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    lc_status st = lc_cuda_mla_decode_check(d);
    if (st) return st;
    int rw;
    mla_params p = params_of(d, &rw);
    const mla_workspace w = workspace_of(d, p.splits);
    const size_t need = w.total ? w.total : 16;
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace: GPU MLA decode needs %zu bytes of device memory (lc_cuda_mla_decode_workspace_size), got %zu", need,
                        workspace ? workspace_bytes : 0);
    if ((uintptr_t)workspace % 16) return lc_error(LC_EINVAL, "workspace is not 16-byte aligned");
    const lc_mla *m = d->mla;
    char *ws = static_cast<char *>(workspace);
    cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
    const int M = d->batch * d->n_q, H = m->heads;
    float *q_lat = d->absorbed ? const_cast<float *>(d->q_nope) : reinterpret_cast<float *>(ws + w.q_lat);
    float *o_lat = d->absorbed ? d->out : reinterpret_cast<float *>(ws + w.o_lat);
    cudaError_t e = cudaSuccess;
    if (!d->absorbed) {  // q_lat = W_UK^T q_nope, per head
        head_product hp = {d->q_nope, m->w_uk, q_lat, (int64_t)H * m->nope, m->nope, (int64_t)H * MLA_RANK, MLA_RANK, M, MLA_RANK, m->nope, H, false};
        e = head_product_launch(hp, s);
    }
    p.q_lat = q_lat, p.o_lat = o_lat;
    p.part_o = p.splits > 1 ? reinterpret_cast<float *>(ws + w.part_o) : o_lat;
    p.part_lse = reinterpret_cast<float *>(ws + w.part_lse);
    if (e == cudaSuccess) e = m->dtype == LC_BF16 ? split_run<__nv_bfloat16>(p, rw, d->batch, s) : split_run<__half>(p, rw, d->batch, s);
    if (e == cudaSuccess && p.splits > 1) {
        mla_merge_kernel<<<dim3(p.rows, d->batch), 128, 0, s>>>(p);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess && !d->absorbed) {  // out = W_UV o_lat, per head
        head_product hp = {o_lat, m->w_uv, d->out, (int64_t)H * MLA_RANK, MLA_RANK, (int64_t)H * m->v_dim, m->v_dim, M, m->v_dim, MLA_RANK, H, true};
        e = head_product_launch(hp, s);
    }
    if (e != cudaSuccess) return lc_error(LC_EINTERNAL, "MLA decode kernel launch failed: %s", cudaGetErrorString(e));
    return LC_OK;
}
