// Decode attention over a KV cache (flash-decoding; Dao, Haziza, Massa and Sizov 2023):
// split each sequence's visible keys into chunks, one thread block per (chunk, kv head,
// sequence), then merge the chunks' partial results by their log-sum-exp:
//
//   o_c, lse_c over chunk c;   lse = log sum_c e^{lse_c};   o = sum_c e^{lse_c - lse} o_c
//
// Decode is memory-bound: the floor is reading K and V once. Each warp streams its own
// 16-key tiles through shared memory (cp.async, several tiles in flight) and runs both
// products on the tensor cores (mma.sync m16n8k16), with the R <= 16 query rows that share
// the kv head (the GQA group times the new tokens) as the 16 rows of the MMA:
//   S[16 x 16 keys] = Q K^T,   P = online-softmax(S),   O[16 x D] += P V.
// A paged cache is read through its block table key by key. An int8 cache runs the MMAs in
// f16 and is widened in registers, straight into the MMA fragments: Q is scaled by the
// softmax scale and rounded to f16, K is widened to f16 exactly (|x| <= 127) with its
// per-token scales multiplying S's columns, and V is widened and multiplied by its scale
// key by key (f16 keeps 11 bits, more than bf16's 8).
#include "longctx/cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>

#include <atomic>
#include <type_traits>

#include "check.h"
#include "lse_merge.cuh"
#include "mma.cuh"

namespace lc_cuda {

constexpr float DEC_LOG2E = 1.4426950408889634f;
constexpr float DEC_LN2 = 0.6931471805599453f;
constexpr int DEC_WARPS = 4;
constexpr int DEC_KEYS = 16;  // keys per warp step: the k extent of one P.V MMA
constexpr int DEC_MAX_SPLITS = 65535;  // the split is the grid's y index
struct int8_contig {  // the stored type of a contiguous int8 cache: int8_t, deeper stages
    int8_t x;
};

// Where token j of sequence b lives: slot = paged ? table[b][j / block] * block + j % block
// : j (plus the batch stride); K row at k + b * k_b + slot * k_s + head * k_h (elements).
// A cache (cache_params) has k_s == v_s, which the 4-heads loader relies on.
struct kv_source {
    const void *k, *v;
    const float *k_scale, *v_scale;  // int8: [slot][head], batch stride sc_b, slot stride sc_s
    int64_t k_b, k_s, k_h, v_b, v_s, v_h, sc_b, sc_s;
    const int32_t *table;  // paged: [batch][max_blocks]; NULL: contiguous
    int block, max_blocks;
};

struct decode_params {
    kv_source kv;
    const void *q;
    void *out;
    float *lse;
    int64_t q_b, q_s, q_h, o_b, o_s, o_h;
    const int32_t *lens;  // device [batch]: keys of each sequence; NULL: n_kv each
    int n_kv;             // lens NULL: keys per sequence; else the largest lens[b]
    int n_q, heads_q, group, rows;
    float scale, scale_log2, softcap;
    device_mask mask;  // its q_offset is used when lens is NULL, else lens[b] - n_q
    int splits, chunk;  // visible keys per split: a multiple of DEC_KEYS
    float *part_o, *part_lse;  // [batch, heads_kv, splits, rows, D], [batch, heads_kv, splits, rows]
    int block_shift;  // paged: log2(kv.block) when it is a power of two, else -1 (last: the
                      // other fields keep their offsets, and the one-head kernels their code)
};

// The keys a sequence's queries can see, as two ranges of key positions: the sinks
// [0, ns) and the window [lo, hi); virtual key v < ns + hi - lo is position
// v < ns ? v : lo + v - ns. Everything else is masked for every query row.
struct key_ranges {
    int ns, lo, hi;
    __host__ __device__ int count() const { return ns + hi - lo; }
    __host__ __device__ int at(int v) const { return v < ns ? v : lo + v - ns; }
};
__host__ __device__ inline key_ranges visible_keys(const device_mask &m, int len, int qoff, int n_q) {
    key_ranges r;
    r.hi = len;
    if (m.causal && qoff + n_q < r.hi) r.hi = qoff + n_q < 0 ? 0 : qoff + n_q;
    r.lo = 0, r.ns = 0;
    if (m.any_pattern && !m.bits) {
        r.lo = m.window ? (m.left >= 0 && qoff - m.left > 0 ? qoff - m.left : 0) : r.hi;
        if (r.lo > r.hi) r.lo = r.hi;
        r.ns = m.sinks < r.lo ? m.sinks : r.lo;
    }
    return r;
}

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <> __device__ __forceinline__ float to_f(__half x) { return __half2float(x); }

// The plan's compile-time half: shared-memory bytes per warp for its pipeline's stages, so
// its copies in flight (plan_splits below is the run-time half). Each is the fastest setting
// measured on an H100 (docs/cuda.md): bf16 / f16 about 24 KB (2-6 stages by
// the head dim); int8 with one kv head per block (heads_kv % 4 != 0) 14336 paged (3 stages,
// 3 blocks per multiprocessor) and 24000 contiguous (5 stages, 2 blocks); int8 with 4 kv
// heads per block (a warp per head, the 4 warps on the same tiles: paged +2-3 points of the
// copy rate, contiguous +1.5) 9500, 2 stages.
__host__ __device__ constexpr int plan_stage_budget(bool int8, bool contiguous, int heads_per_block) {
    return !int8 ? 24576 : heads_per_block > 1 ? 9500 : contiguous ? 24000 : 14336;
}

// Shared memory of one warp's pipeline stage: K and V tiles as stored (16-bit: swizzled for
// ldmatrix; int8: rows padded by 16 bytes, so the fragment loads hit distinct banks) and the
// int8 scales.
// HB: kv heads per block (decode_split_kernel).
template <typename S, int D, int HB = 1> struct stage_layout {
    static constexpr int row_bytes = sizeof(S) == 1 ? D + 16 : 2 * D;
    static constexpr int kv_bytes = DEC_KEYS * row_bytes;
    static constexpr int bytes = 2 * kv_bytes + (sizeof(S) == 1 ? 2 * DEC_KEYS * 4 : 0);
    static constexpr int budget = plan_stage_budget(sizeof(S) == 1, std::is_same<S, int8_contig>::value, HB);
    static constexpr int stages = budget / bytes < 2 ? 2 : budget / bytes > 6 ? 6 : budget / bytes;  // 2 to 6
};

template <typename S, int D, int HB> constexpr int decode_smem_bytes() {
    typedef stage_layout<S, D, HB> L;
    const int pipe = HB * DEC_KEYS * D * 2 + DEC_WARPS * L::stages * L::bytes;  // Q of HB heads, then the stages
    const int merge = DEC_WARPS * DEC_KEYS * (D + 2) * 4;                  // after the loop
    return pipe > merge ? pipe : merge;
}

// The slot of key v0 + lane of a tile, for lanes < 16 (paged: a read of the block table,
// done one tile early so that its latency hides behind the tile before).
__device__ __forceinline__ int64_t tile_slot(const decode_params &p, const key_ranges &kr, int b, int v0, int vend, int lane) {
    const int v = v0 + lane;
    if (lane >= 16 || v >= vend) return 0;
    const int j = kr.at(v);
    return p.kv.table ? (int64_t)p.kv.table[(int64_t)b * p.kv.max_blocks + j / p.kv.block] * p.kv.block + j % p.kv.block : j;
}

// Start the copy of tile v0 .. v0+15 (virtual keys) of this warp into `st`, lane u < 16
// holding key u's slot; each lane copies 16-byte pieces of the rows, rows past the end zero.
template <typename S, int D>
__device__ __forceinline__ void load_tile(const decode_params &p, int b, int hk, int v0, int vend, int64_t slot, char *st, int lane) {
    typedef stage_layout<S, D> L;
    constexpr int PIECES = D * (int)sizeof(S) / 16;  // 16-byte pieces per row
    const bool valid = lane < 16 && v0 + lane < vend;
    const char *K = static_cast<const char *>(p.kv.k) + (b * p.kv.k_b + hk * p.kv.k_h) * (int64_t)sizeof(S);
    const char *V = static_cast<const char *>(p.kv.v) + (b * p.kv.v_b + hk * p.kv.v_h) * (int64_t)sizeof(S);
    char *sk = st, *sv = st + L::kv_bytes;
#pragma unroll
    for (int i = 0; i < DEC_KEYS * PIECES / 32; i++) {
        const int c = lane + 32 * i, row = c / PIECES, piece = c % PIECES;
        const int64_t s = __shfl_sync(0xffffffffu, slot, row);
        const bool ok = v0 + row < vend;
        const int at = sizeof(S) == 2 ? swizzle<D>(row, piece * 8) * 2 : row * L::row_bytes + piece * 16;
        cp_async_16(sk + at, ok ? K + s * p.kv.k_s * (int64_t)sizeof(S) + piece * 16 : K, ok);
        cp_async_16(sv + at, ok ? V + s * p.kv.v_s * (int64_t)sizeof(S) + piece * 16 : V, ok);
    }
    if constexpr (sizeof(S) == 1) {
        float *scales = reinterpret_cast<float *>(st + 2 * L::kv_bytes);
        if (valid) {
            const int64_t at = b * p.kv.sc_b + slot * p.kv.sc_s + hk;
            asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(scales + lane)), "l"(p.kv.k_scale + at));
            asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(scales + 16 + lane)), "l"(p.kv.v_scale + at));
        } else if (lane < 16) {
            scales[lane] = 0.f, scales[16 + lane] = 0.f;
        }
    }
}

// The 4-heads int8 kernel (HB = 4), paged, reads the block table a tile ahead and keeps the
// entry raw: lane u < 16 holds key v0 + u's page (its table entry) and offset in the page,
// first multiplied out when that tile's copies start, a whole tile of work later (the
// entry's load no longer stalls the warp). Power-of-two pages are split by shift.
struct page_ref {
    int page, off;
};
// A contiguous cache (PAGED false) has one page: the offset is the key's position.
template <bool PAGED>
__device__ __forceinline__ page_ref tile_page(const decode_params &p, const int32_t *trow, const key_ranges &kr, int v0, int vend, int lane) {
    page_ref r = {0, 0};
    const int v = v0 + lane;
    if (lane < 16 && v < vend) {
        const int j = kr.at(v);
        if constexpr (PAGED) {
            const int q = p.block_shift >= 0 ? j >> p.block_shift : j / p.kv.block;
            r.page = trow[q], r.off = j - q * p.kv.block;
        } else {
            r.off = j;
        }
    }
    return r;
}
// load_tile for that kernel: the same copies (8 lanes per 128-byte row), with one 64-bit
// row offset per key (K and V share the stride) shuffled to the lanes that copy the row.
// K, V, ks, vs: this warp's head of sequence b (the batch and head terms added once).
template <int D, bool PAGED>
__device__ __forceinline__ void load_tile_heads4(const decode_params &p, const char *K, const char *V, const float *ks, const float *vs, int v0, int vend,
                                                page_ref pr, char *st, int lane) {
    typedef stage_layout<int8_t, D> L;
    constexpr int PIECES = D / 16;  // 16-byte pieces per row
    const int64_t slot = PAGED ? (int64_t)pr.page * p.kv.block + pr.off : pr.off, row = slot * p.kv.k_s;
    char *sk = st, *sv = st + L::kv_bytes;
#pragma unroll
    for (int i = 0; i < DEC_KEYS * PIECES / 32; i++) {
        const int c = lane + 32 * i, r = c / PIECES, piece = c % PIECES;
        const int64_t o = __shfl_sync(0xffffffffu, row, r) + piece * 16;  // 0 past the end
        const bool ok = v0 + r < vend;
        cp_async_16(sk + r * L::row_bytes + piece * 16, K + o, ok);
        cp_async_16(sv + r * L::row_bytes + piece * 16, V + o, ok);
    }
    float *scales = reinterpret_cast<float *>(st + 2 * L::kv_bytes);
    if (lane < 16 && v0 + lane < vend) {
        const int64_t at = slot * p.kv.sc_s;
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(scales + lane)), "l"(ks + at));
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(scales + 16 + lane)), "l"(vs + at));
    } else if (lane < 16) {
        scales[lane] = 0.f, scales[16 + lane] = 0.f;
    }
}

// The tiles (virtual keys v0 .. v0 + 15) that every query row sees whole, so that they need
// no mask: v0 <= sink_last (the sinks, j = v), or win_first <= v0 <= win_last (the window,
// j = lo + v - ns). A key j is seen by all positions p0 .. p1 when j <= p0 (causal) and
// p1 - left <= j <= p0 + right (window) or j < sinks; keys of the sinks that fall in the
// window's range are left to the mask (conservative, like mask_classify).
struct whole_tiles {
    int sink_last, win_first, win_last;
    __device__ bool at(int v0) const { return v0 <= sink_last || (v0 >= win_first && v0 <= win_last); }
};
__device__ __forceinline__ whole_tiles whole_tiles_of(const device_mask &m, const key_ranges &kr, int p0, int p1, int vend) {
    whole_tiles w = {INT_MIN, INT_MAX, INT_MIN};
    if (m.bits) return w;  // (decode refuses bitmaps)
    w.sink_last = min(m.causal ? min(kr.ns, p0 + 1) : kr.ns, vend) - DEC_KEYS;
    int jlo = kr.lo, jhi = m.causal ? min(kr.hi - 1, p0) : kr.hi - 1;
    if (m.any_pattern && m.window) {
        if (m.left >= 0) jlo = max(jlo, p1 - m.left);
        if (m.right >= 0) jhi = min(jhi, p0 + m.right);
    }
    w.win_first = kr.ns + jlo - kr.lo, w.win_last = min(kr.ns + jhi - kr.lo + 1, vend) - DEC_KEYS;
    return w;
}

// int8 -> f16, two bytes at a time: x + 128 (the caller's XOR with 0x80) as the low byte
// of f16 0x6400 = 1024 makes the half 1024 + x + 128 exactly; minus 1152 leaves x.
// `sel` picks two bytes of u (byte_perm selectors 0x4140: bytes 0, 1; 0x4342: bytes 2, 3).
__device__ __forceinline__ __half2 int8x2_to_half2(uint32_t u, uint32_t sel) {
    const uint32_t h = __byte_perm(u, 0x64646464u, sel);
    return __hsub2(*reinterpret_cast<const __half2 *>(&h), __float2half2_rn(1152.f));
}
__device__ __forceinline__ uint32_t bits(__half2 h) { return *reinterpret_cast<uint32_t *>(&h); }

// The int8 fragment layouts (mma.cuh's names: lane = 4g + t).
// K, the B operand of S = Q K^T: lane (g, t) holds keys g and g + 8, bytes
// [t D/4, (t+1) D/4) of each; in k-step kk its b0, b1 are bytes 4kk .. 4kk+3 of those. Q's
// columns are permuted to match (q_column), which leaves the dot products unchanged.
__device__ __forceinline__ int q_column(int D, int kk, int p) {  // logical column p of k-step kk
    const int t = (p % 8) / 2, e = p % 2 + (p >= 8 ? 2 : 0);
    return t * (D / 4) + 4 * kk + e;
}
// V, the B operand of O += P V: lane (g, t) reads the words at bytes 32jj + 4g of keys 2t,
// 2t+1, 2t+8 and 2t+9; byte dn of them is column g of n-tile 4jj + dn, so column n of
// n-tile j is output dim 32 (j / 4) + 4n + j % 4 (out_column).
__device__ __forceinline__ int out_column(int j, int n) { return 32 * (j / 4) + 4 * n + j % 4; }

// Q's A fragment of k-step kk (ldmatrix from the swizzled rows)
template <int D, typename T> __device__ __forceinline__ void q_fragment(const T *sQ, int kk, uint32_t a[4], int lane) {
    ldmatrix_x4(a, sQ + swizzle<D>((lane % 8) + ((lane / 8) % 2) * 8, kk * 16 + (lane / 16) * 8));
}

// ---- the block's parts: Q prologue, loader (producer), mainloop (S = Q K^T, scale and
// mask, online softmax, O += P V), epilogue (the warps' merge and the chunk's partials) ----

// QT: the query's 16-bit type; S: the cache's stored type (QT; int8_t paged, int8_contig
// contiguous); the MMAs run in T: QT, or f16 for int8. HB: kv heads per block. HB = 1: the
// 4 warps take turns over the chunk's tiles of one head. HB = 4 (int8): warp w reads head
// 4 blockIdx.x + w, all four the same tiles in step (a block barrier per tile), so that the
// four heads' rows of a token are fetched together (plan_stage_budget).
template <typename QT, typename S, int HB> struct dec_types {
    static constexpr bool INT8 = sizeof(S) == 1, LOCK = HB > 1, PAGED = std::is_same<S, int8_t>::value;  // PAGED: for LOCK
    typedef typename std::conditional<INT8, __half, QT>::type T;
};

// Rows of Q (zeros past R) into shared memory, swizzled for ldmatrix; for int8 scaled, in
// f16, with the columns permuted as q_column says (the block's HB heads).
template <typename QT, typename S, int D, int HB>
__device__ __forceinline__ void load_q(const decode_params &p, int b, int hk0, int hk, char *smem) {
    typedef dec_types<QT, S, HB> X;
    typedef typename X::T T;
    if constexpr (X::INT8) {
        for (int c = threadIdx.x; c < HB * DEC_KEYS * D; c += blockDim.x) {
            const int x = HB == 1 ? 0 : c / (DEC_KEYS * D), r = HB == 1 ? c / D : c / D % DEC_KEYS, col = c % D, h = (hk0 + x) * p.group + r / p.n_q, i = r % p.n_q;
            const QT *q = static_cast<const QT *>(p.q) + b * p.q_b + i * p.q_s + h * p.q_h;
            reinterpret_cast<T *>(smem)[x * DEC_KEYS * D + swizzle<D>(r, col)] =
                __float2half_rn(r < p.rows ? to_f(q[q_column(D, col / 16, col % 16)]) * p.scale : 0.f);
        }
    } else {
        T *sQ = reinterpret_cast<T *>(smem);
        for (int c = threadIdx.x; c < DEC_KEYS * D / 8; c += blockDim.x) {
            const int r = c / (D / 8), col = c % (D / 8) * 8, h = hk * p.group + r / p.n_q, i = r % p.n_q;
            uint4 x = make_uint4(0, 0, 0, 0);
            if (r < p.rows) x = *reinterpret_cast<const uint4 *>(static_cast<const QT *>(p.q) + b * p.q_b + i * p.q_s + h * p.q_h + col);
            *reinterpret_cast<uint4 *>(sQ + swizzle<D>(r, col)) = x;
        }
    }
}

// The loader: this warp's tiles wt, wt + STEP, ... of the chunk [vbeg, vend), tile i into
// stage i % stages. where(i) reads the block table for tile i (a tile ahead of its copies),
// start(i, where, stage) issues them. HB = 4 goes through tile_page / load_tile_heads4 with
// this warp's head of sequence b added once, HB = 1 through tile_slot / load_tile.
template <typename S, int D, int HB> struct tile_loader {
    typedef dec_types<S, S, HB> X;  // (the query type does not matter here)
    typedef typename std::conditional<X::LOCK, page_ref, int64_t>::type where_t;
    static constexpr int STEP = DEC_WARPS / HB;  // warps per head
    const decode_params &p;
    const key_ranges &kr;
    int b, hk, wt, vbeg, vend, lane;
    const char *Kh, *Vh;
    const float *ksh, *vsh;
    const int32_t *trow;
    __device__ __forceinline__ tile_loader(const decode_params &p_, const key_ranges &kr_, int b_, int hk_, int wt_, int vbeg_, int vend_, int lane_)
        : p(p_), kr(kr_), b(b_), hk(hk_), wt(wt_), vbeg(vbeg_), vend(vend_), lane(lane_) {
        Kh = static_cast<const char *>(p.kv.k) + b * p.kv.k_b + hk * p.kv.k_h;
        Vh = static_cast<const char *>(p.kv.v) + b * p.kv.v_b + hk * p.kv.v_h;
        ksh = p.kv.k_scale + b * p.kv.sc_b + hk, vsh = p.kv.v_scale + b * p.kv.sc_b + hk;
        trow = p.kv.table + (int64_t)b * p.kv.max_blocks;
    }
    __device__ __forceinline__ int v0(int i) const { return vbeg + (wt + i * STEP) * DEC_KEYS; }
    __device__ __forceinline__ where_t where(int i) const {
        if constexpr (X::LOCK) return tile_page<X::PAGED>(p, trow, kr, v0(i), vend, lane);
        else return tile_slot(p, kr, b, v0(i), vend, lane);
    }
    __device__ __forceinline__ void start(int i, where_t w, char *stage) const {
        if constexpr (X::LOCK) load_tile_heads4<D, X::PAGED>(p, Kh, Vh, ksh, vsh, v0(i), vend, w, stage, lane);
        else load_tile<S, D>(p, b, hk, v0(i), vend, w, stage, lane);
    }
};

// S = Q K^T over one tile: s[n][0..1] row g, keys 8n + 2t, +1; s[n][2..3] row g + 8. Q's
// A fragments come from registers (qa_reg, D <= 128) or shared memory (sQ, D = 256); an
// int8 tile's K bytes go straight into the B fragments (int8x2_to_half2).
template <typename T, int D, bool INT8, int ROW_BYTES, bool QREG>
__device__ __forceinline__ void tile_scores(float (&s)[2][4], const char *st, const T *sQ, const uint32_t (&qa_reg)[QREG ? D / 16 : 1][4], int lane) {
    constexpr int KSTEPS = D / 16;
    const int g = lane / 4, t = lane % 4;
    const T *tK = reinterpret_cast<const T *>(st);
    uint32_t kw[2][INT8 ? D / 16 : 1];  // int8: keys g, g + 8, D/4 bytes each (x + 128)
    if constexpr (INT8) {
#pragma unroll
        for (int n = 0; n < 2; n++)
#pragma unroll
            for (int i = 0; i < D / 64; i++) {
                const uint4 x = *reinterpret_cast<const uint4 *>(st + (g + 8 * n) * ROW_BYTES + t * (D / 4) + 16 * i);
                kw[n][4 * i] = x.x ^ 0x80808080u, kw[n][4 * i + 1] = x.y ^ 0x80808080u;
                kw[n][4 * i + 2] = x.z ^ 0x80808080u, kw[n][4 * i + 3] = x.w ^ 0x80808080u;
            }
    }
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++) {
        uint32_t qa_tile[4];
        if constexpr (!QREG) q_fragment<D>(sQ, kk, qa_tile, lane);
        const uint32_t *qa = QREG ? qa_reg[QREG ? kk : 0] : qa_tile;
        if constexpr (INT8) {
#pragma unroll
            for (int n = 0; n < 2; n++) mma_op<T>::run(s[n], qa, bits(int8x2_to_half2(kw[n][kk], 0x4140)), bits(int8x2_to_half2(kw[n][kk], 0x4342)));
        } else {
            uint32_t kb[4];
            ldmatrix_x4(kb, tK + swizzle<D>((lane % 8) + (lane / 16) * 8, kk * 16 + ((lane / 8) % 2) * 8));
            mma_op<T>::run(s[0], qa, kb[0], kb[1]);
            mma_op<T>::run(s[1], qa, kb[2], kb[3]);
        }
    }
}

// The tile's scores to log2 units (the int8 keys' scales sc first, soft-capping when on),
// then the mask: keys past vend and rows past R are -inf, and a tile that not every row
// sees whole asks mask_allows per key. LOCK (4 heads): every entry scaled, then one test of
// the tile against the whole tiles wtl; else mask_classify per tile.
template <bool INT8, bool LOCK, bool SOFTCAP>
__device__ __forceinline__ void scale_and_mask(float (&s)[2][4], const decode_params &p, const key_ranges &kr, const whole_tiles &wtl, const float *sc, int v0, int vend,
                                               int qoff, int lane) {
    const int g = lane / 4, t = lane % 4;
    if constexpr (LOCK) {
        const float2 sk[2] = {*reinterpret_cast<const float2 *>(sc + 2 * t), *reinterpret_cast<const float2 *>(sc + 8 + 2 * t)};
#pragma unroll
        for (int n = 0; n < 2; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const float x = s[n][e] * (e % 2 ? sk[n].y : sk[n].x);  // Q holds the softmax scale
                if constexpr (SOFTCAP) s[n][e] = p.softcap * tanhf(x / p.softcap) * DEC_LOG2E;
                else s[n][e] = x * DEC_LOG2E;
            }
        if (!wtl.at(v0)) {
#pragma unroll
            for (int n = 0; n < 2; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int v = v0 + 8 * n + 2 * t + e % 2, r = g + 8 * (e / 2);
                    if (v >= vend || r >= p.rows || !mask_allows(p.mask, qoff + r % p.n_q, kr.at(v))) s[n][e] = -INFINITY;
                }
        }
    } else {
        const int j0 = kr.at(v0), j1 = kr.at(min(v0 + DEC_KEYS, vend) - 1);
        const bool whole = v0 + DEC_KEYS <= vend && j1 - j0 == DEC_KEYS - 1 && mask_classify(p.mask, qoff, qoff + p.n_q - 1, j0, j1) == TILE_FULL;
#pragma unroll
        for (int n = 0; n < 2; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float x = INT8 ? s[n][e] * sc[8 * n + 2 * t + e % 2] : s[n][e];  // int8: Q holds the scale
                if constexpr (SOFTCAP) x = p.softcap * tanhf((INT8 ? x : x * p.scale) / p.softcap) * DEC_LOG2E;
                else x *= INT8 ? DEC_LOG2E : p.scale_log2;
                if (!whole) {
                    const int v = v0 + 8 * n + 2 * t + e % 2, r = g + 8 * (e / 2);
                    if (v >= vend || r >= p.rows || !mask_allows(p.mask, qoff + r % p.n_q, kr.at(v))) x = -INFINITY;
                }
                s[n][e] = x;
            }
    }
}

// Online softmax (Milakov & Gimelshein 2018) per row, the 4 lanes of a row together: m, l
// of rows g and g + 8 move on, P goes to pa (the A fragment of P V: keys 2t, 2t+1 and
// 8+2t, 9+2t), and O is rescaled where a row's maximum moved.
template <typename T, int D>
__device__ __forceinline__ void online_softmax(const float (&s)[2][4], float (&m)[2], float (&l)[2], uint32_t (&pa)[4], float (&acc)[D / 8][4]) {
    float alpha[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float mx = fmaxf(fmaxf(s[0][2 * h], s[0][2 * h + 1]), fmaxf(s[1][2 * h], s[1][2 * h + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[h], mx), m_use = m_new == -INFINITY ? 0.f : m_new;
        alpha[h] = fast_exp2(m[h] - m_use);
        m[h] = m_new;
        float pr[4];
#pragma unroll
        for (int e = 0; e < 4; e++) pr[e] = fast_exp2(s[e / 2][2 * h + e % 2] - m_use);
        l[h] = l[h] * alpha[h] + (pr[0] + pr[1]) + (pr[2] + pr[3]);
        pa[h] = mma_op<T>::pack(pr[0], pr[1]);      // keys 2t, 2t+1
        pa[2 + h] = mma_op<T>::pack(pr[2], pr[3]);  // keys 8+2t, 9+2t
    }
    if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {  // a row's maximum moved
#pragma unroll
        for (int n = 0; n < D / 8; n++) acc[n][0] *= alpha[0], acc[n][1] *= alpha[0], acc[n][2] *= alpha[1], acc[n][3] *= alpha[1];
    }
}

// O += P V over one tile; int8 V bytes are widened and scaled (sc + 16: V's scales) into
// the B fragments, their output columns permuted (out_column).
template <typename T, int D, bool INT8, int ROW_BYTES, int KV_BYTES>
__device__ __forceinline__ void tile_pv(float (&acc)[D / 8][4], const uint32_t (&pa)[4], const char *st, const float *sc, int lane) {
    const int g = lane / 4, t = lane % 4;
    if constexpr (INT8) {
        const char *vrow = st + KV_BYTES + 4 * g;
        const __half2 vs01 = __floats2half2_rn(sc[16 + 2 * t], sc[17 + 2 * t]), vs89 = __floats2half2_rn(sc[24 + 2 * t], sc[25 + 2 * t]);
#pragma unroll
        for (int jj = 0; jj < D / 32; jj++) {
            uint32_t w[4];  // keys 2t, 2t+1, 2t+8, 2t+9 at dims 32jj + 4g .. +3
#pragma unroll
            for (int k = 0; k < 4; k++) w[k] = *reinterpret_cast<const uint32_t *>(vrow + (2 * t + (k & 1) + 8 * (k >> 1)) * ROW_BYTES + 32 * jj) ^ 0x80808080u;
            // pair the two keys of each half byte by byte: {k0.b0, k1.b0, k0.b1, k1.b1}, ...
            const uint32_t lo01 = __byte_perm(w[0], w[1], 0x5140), hi01 = __byte_perm(w[0], w[1], 0x7362);
            const uint32_t lo89 = __byte_perm(w[2], w[3], 0x5140), hi89 = __byte_perm(w[2], w[3], 0x7362);
#pragma unroll
            for (int dn = 0; dn < 4; dn++) {
                const uint32_t sel = dn % 2 ? 0x4342 : 0x4140;
                const __half2 b0 = __hmul2(int8x2_to_half2(dn < 2 ? lo01 : hi01, sel), vs01);
                const __half2 b1 = __hmul2(int8x2_to_half2(dn < 2 ? lo89 : hi89, sel), vs89);
                mma_op<T>::run(acc[4 * jj + dn], pa, bits(b0), bits(b1));
            }
        }
    } else {
        const T *tV = reinterpret_cast<const T *>(st + KV_BYTES);
#pragma unroll
        for (int dn = 0; dn < D / 16; dn++) {
            uint32_t vb[4];
            ldmatrix_x4_trans(vb, tV + swizzle<D>((lane % 8) + ((lane / 8) % 2) * 8, dn * 16 + (lane / 16) * 8));
            mma_op<T>::run(acc[2 * dn], pa, vb[0], vb[1]);
            mma_op<T>::run(acc[2 * dn + 1], pa, vb[2], vb[3]);
        }
    }
}

// The epilogue: the warps of a head merge through shared memory (the pipeline's space, after
// the loop), then the block writes its chunk's normalised rows and lse (natural log) to the
// partials for decode_merge_kernel.
template <int D, int HB, bool INT8>
__device__ __forceinline__ void store_chunk(const decode_params &p, char *smem, const float (&m)[2], const float (&l)[2], const float (&acc)[D / 8][4], int b, int hk0,
                                            int split, int lane, int warp) {
    const int g = lane / 4, t = lane % 4;
    __syncthreads();
    float *sm_acc = reinterpret_cast<float *>(smem);  // [warp][16][D]
    float *sm_m = sm_acc + DEC_WARPS * DEC_KEYS * D, *sm_l = sm_m + DEC_WARPS * DEC_KEYS;
    if (t == 0)
#pragma unroll
        for (int h = 0; h < 2; h++) sm_m[warp * DEC_KEYS + g + 8 * h] = m[h], sm_l[warp * DEC_KEYS + g + 8 * h] = l[h];
#pragma unroll
    for (int n = 0; n < D / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            sm_acc[(warp * DEC_KEYS + g + 8 * (e / 2)) * D + (INT8 ? out_column(n, 2 * t + e % 2) : 8 * n + 2 * t + e % 2)] = acc[n][e];
    __syncthreads();
    const int64_t base0 = (((int64_t)b * gridDim.x * HB + hk0) * p.splits + split) * p.rows;
    for (int idx = threadIdx.x; idx < HB * p.rows * D; idx += blockDim.x) {
        const int x = HB == 1 ? 0 : idx / (p.rows * D), r = HB == 1 ? idx / D : idx / D % p.rows, d = idx % D;  // head hk0 + x: warps x, x + HB, ...
        const int64_t base = base0 + (int64_t)x * p.splits * p.rows;
        float M = -INFINITY;
        for (int w = x; w < DEC_WARPS; w += HB) M = fmaxf(M, sm_m[w * DEC_KEYS + r]);
        float Lsum = 0.f, O = 0.f;
        if (M != -INFINITY)
            for (int w = x; w < DEC_WARPS; w += HB) {
                const float f = fast_exp2(sm_m[w * DEC_KEYS + r] - M);
                Lsum += sm_l[w * DEC_KEYS + r] * f, O += sm_acc[(w * DEC_KEYS + r) * D + d] * f;
            }
        p.part_o[(base + r) * D + d] = Lsum > 0.f ? O / Lsum : 0.f;
        if (d == 0) p.part_lse[base + r] = Lsum > 0.f ? (M + log2f(Lsum)) * DEC_LN2 : -INFINITY;
    }
}

// One block per (kv heads hk0 .. hk0 + HB - 1, split, sequence): its chunk of the visible
// keys, each warp streaming its tiles through STAGES - 1 copies in flight ahead.
template <typename QT, typename S, int D, bool SOFTCAP, int HB>
__global__ void __launch_bounds__(DEC_WARPS * 32) decode_split_kernel(const decode_params p) {
    typedef dec_types<QT, S, HB> X;
    typedef typename X::T T;
    constexpr bool INT8 = X::INT8, LOCK = X::LOCK;
    static_assert(HB == 1 || HB == DEC_WARPS, "one head per block, or a warp per head");
    typedef stage_layout<S, D, HB> L;
    constexpr int KSTEPS = D / 16;
    extern __shared__ __align__(128) char smem[];
    const int hk0 = blockIdx.x * HB, split = blockIdx.y, b = blockIdx.z;  // see decode_launch
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int hk = hk0 + warp % HB, wt = warp / HB;

    T *sQ = reinterpret_cast<T *>(smem + (warp % HB) * DEC_KEYS * D * 2);
    char *pipe = smem + HB * DEC_KEYS * D * 2 + warp * L::stages * L::bytes;

    const int len = p.lens ? min(p.lens[b], p.n_kv) : p.n_kv;
    const int qoff = p.lens ? len - p.n_q : p.mask.q_offset;
    const key_ranges kr = visible_keys(p.mask, len, qoff, p.n_q);
    const int vbeg = split * p.chunk, vend = min(vbeg + p.chunk, kr.count());
    const int tiles = vend > vbeg ? (vend - vbeg + DEC_KEYS - 1) / DEC_KEYS : 0;

    load_q<QT, S, D, HB>(p, b, hk0, hk, smem);
    // this warp's tiles: wt, wt + STEP, ... of the chunk, STAGES - 1 in flight ahead
    const tile_loader<S, D, HB> ld(p, kr, b, hk, wt, vbeg, vend, lane);
    const int mine = tiles > wt ? (tiles - wt + ld.STEP - 1) / ld.STEP : 0;
    whole_tiles wtl = {};  // LOCK: the tiles that need no mask
    if constexpr (LOCK) wtl = whole_tiles_of(p.mask, kr, qoff, qoff + p.n_q - 1, vend);
    typename tile_loader<S, D, HB>::where_t next{};
#pragma unroll
    for (int s = 0; s < L::stages - 1; s++) {
        if (s < mine) ld.start(s, ld.where(s), pipe + s * L::bytes);
        cp_async_commit();
    }
    if (L::stages - 1 < mine) next = ld.where(L::stages - 1);
    __syncthreads();  // sQ
    // Q's A fragments stay in registers (for D = 256 they are reloaded per tile instead)
    constexpr bool QREG = D <= 128;
    uint32_t qa_reg[QREG ? KSTEPS : 1][4];
    if constexpr (QREG) {
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) q_fragment<D>(sQ, kk, qa_reg[kk], lane);
    }

    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8
    float acc[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;

    for (int it = 0; it < mine; it++) {
        if constexpr (LOCK) {  // (every warp has the same `mine`)
            cp_async_wait<L::stages - 2>();  // tile it landed, for every warp after the barrier,
            __syncthreads();                 // and every warp is done with tile it - 1
        }
        const int ahead = it + L::stages - 1;  // into the stage tile it - 1 used
        if (ahead < mine) ld.start(ahead, next, pipe + (ahead % L::stages) * L::bytes);
        cp_async_commit();
        if (ahead + 1 < mine) next = ld.where(ahead + 1);
        if constexpr (!LOCK) {
            cp_async_wait<L::stages - 1>();
            __syncwarp();
        }
        const char *st = pipe + (it % L::stages) * L::bytes;
        const float *sc = reinterpret_cast<const float *>(st + 2 * L::kv_bytes);  // int8 scales: K [16], V [16]
        float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
        tile_scores<T, D, INT8, L::row_bytes, QREG>(s, st, sQ, qa_reg, lane);
        scale_and_mask<INT8, LOCK, SOFTCAP>(s, p, kr, wtl, sc, ld.v0(it), vend, qoff, lane);
        uint32_t pa[4];
        online_softmax<T, D>(s, m, l, pa, acc);
        tile_pv<T, D, INT8, L::row_bytes, L::kv_bytes>(acc, pa, st, sc, lane);
        __syncwarp();  // the stage is refilled next iteration (LOCK: after the barrier)
    }
    cp_async_wait<0>();
#pragma unroll
    for (int h = 0; h < 2; h++) {
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    }
    store_chunk<D, HB, INT8>(p, smem, m, l, acc, b, hk0, split, lane, warp);
}

template <typename TO> __device__ __forceinline__ TO from_f(float x);
template <> __device__ __forceinline__ float from_f(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f(float x) { return __float2bfloat16(x); }
template <> __device__ __forceinline__ __half from_f(float x) { return __float2half(x); }

// One block per (batch, kv head, row), a thread per output element: the chunks' partials
// merged by their log-sum-exp (lse_merge.cuh).
template <typename TO, int D>
__global__ void decode_merge_kernel(const decode_params p) {
    const int row = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, d = threadIdx.x;
    const int64_t base = ((int64_t)b * gridDim.y + hk) * p.splits;
    float lse;
    const float o = lse_merge<false>(
        p.splits, [&](int c) { return p.part_lse[(base + c) * p.rows + row]; }, [&](int c) { return p.part_o[((base + c) * p.rows + row) * D + d]; }, &lse);
    const int h = hk * p.group + row / p.n_q, i = row % p.n_q;
    TO *out = static_cast<TO *>(p.out) + b * p.o_b + i * p.o_s + h * p.o_h;
    out[d] = from_f<TO>(o);
    if (p.lse && d == 0) p.lse[((int64_t)b * p.heads_q + h) * p.n_q + i] = lse;
}

template <typename T, typename S, int D, bool SOFTCAP, int HB> static const void *split_kernel() {
    return reinterpret_cast<const void *>(&decode_split_kernel<T, S, D, SOFTCAP, HB>);
}

// Blocks of the split kernel that fit on one multiprocessor at once (asked once per device;
// host threads that ask together may both ask, and store the same answer).
template <typename T, typename S, int D, int HB> static int blocks_per_sm() {
    static std::atomic<int> per_dev[64];
    int dev = 0;
    if (cudaGetDevice(&dev) == cudaSuccess && dev < 64) {
        const int known = per_dev[dev].load(std::memory_order_relaxed);
        if (known) return known;
    }
    const void *k = split_kernel<T, S, D, false, HB>();
    const int smem = decode_smem_bytes<S, D, HB>();
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess) return 1;
    int n = 1;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, DEC_WARPS * 32, smem) != cudaSuccess || n < 1) n = 1;
    if (dev < 64) per_dev[dev].store(n, std::memory_order_relaxed);
    return n;
}

template <typename T, typename S, typename TO, int D, int HB>
static cudaError_t decode_launch(const decode_params &p, int batch, int heads_kv, cudaStream_t s) {
    const int smem = decode_smem_bytes<S, D, HB>();
    const void *k = p.softcap > 0.f ? split_kernel<T, S, D, true, HB>() : split_kernel<T, S, D, false, HB>();
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (e != cudaSuccess) return e;
    // kv heads fastest: the blocks of one (split, sequence) start together, so the 8 heads'
    // rows of a token (and its scales, one 32-byte sector for all heads) are fetched at
    // about the same time (paged int8 +2 points of copy on the H100, docs/cuda.md)
    dim3 grid(heads_kv / HB, p.splits, batch);
    if (p.softcap > 0.f) decode_split_kernel<T, S, D, true, HB><<<grid, DEC_WARPS * 32, smem, s>>>(p);
    else decode_split_kernel<T, S, D, false, HB><<<grid, DEC_WARPS * 32, smem, s>>>(p);
    if ((e = cudaGetLastError()) != cudaSuccess) return e;
    decode_merge_kernel<TO, D><<<dim3(p.rows, heads_kv, batch), D, 0, s>>>(p);
    return cudaGetLastError();
}

// The instantiations by run-time type: q in T (bf16/f16), cache T or int8, out T or f32,
// 1 or (int8) 4 kv heads per block.
template <typename T, typename S, int HB>
static cudaError_t decode_types(const decode_params &p, bool out_f32, int batch, int hkv, int d, cudaStream_t s) {
    if (d == 64) return out_f32 ? decode_launch<T, S, float, 64, HB>(p, batch, hkv, s) : decode_launch<T, S, T, 64, HB>(p, batch, hkv, s);
    if (d == 128) return out_f32 ? decode_launch<T, S, float, 128, HB>(p, batch, hkv, s) : decode_launch<T, S, T, 128, HB>(p, batch, hkv, s);
    return out_f32 ? decode_launch<T, S, float, 256, HB>(p, batch, hkv, s) : decode_launch<T, S, T, 256, HB>(p, batch, hkv, s);
}
// kv heads per block: 4 for an int8 cache with heads_kv % 4 == 0, else 1
static int heads_per_block(bool int8, int hkv) { return int8 && hkv % 4 == 0 ? 4 : 1; }

// f(storage<S>(), heads<HB>()) for the cache's storage type S (T as the query; int8 as
// int8_contig when contiguous, int8_t when paged) and HB kv heads per block.
template <typename S> struct storage {
    using type = S;
};
template <int HB> using heads = std::integral_constant<int, HB>;
template <typename T, typename F> static auto with_storage(bool int8, bool paged, int hkv, F &&f) {
    const bool four = heads_per_block(int8, hkv) == 4;
    if (!int8) return f(storage<T>(), heads<1>());
    if (!paged) return four ? f(storage<int8_contig>(), heads<4>()) : f(storage<int8_contig>(), heads<1>());
    return four ? f(storage<int8_t>(), heads<4>()) : f(storage<int8_t>(), heads<1>());
}

template <typename T> static cudaError_t decode_q(const decode_params &p, bool int8, bool out_f32, int batch, int hkv, int d, cudaStream_t s) {
    return with_storage<T>(int8, p.kv.table, hkv, [&](auto st, auto hb) {
        return decode_types<T, typename decltype(st)::type, decltype(hb)::value>(p, out_f32, batch, hkv, d, s);
    });
}
static cudaError_t decode_run(const decode_params &p, lc_dtype q, bool int8, bool out_f32, int batch, int hkv, int d, cudaStream_t s) {
    return q == LC_BF16 ? decode_q<__nv_bfloat16>(p, int8, out_f32, batch, hkv, d, s) : decode_q<__half>(p, int8, out_f32, batch, hkv, d, s);
}

// Blocks of the split kernel resident on one multiprocessor, for this cache and head dim.
template <typename T> static int occupancy(bool int8, bool paged, int hkv, int d) {
    return with_storage<T>(int8, paged, hkv, [&](auto st, auto hb) {
        using S = typename decltype(st)::type;
        constexpr int HB = decltype(hb)::value;
        return d == 64 ? blocks_per_sm<T, S, 64, HB>() : d == 128 ? blocks_per_sm<T, S, 128, HB>() : blocks_per_sm<T, S, 256, HB>();
    });
}

// Splits: the given count, or as many as fill the GPU's resident blocks once (at most one
// per 128 visible keys). Then the keys per split, a multiple of 16.
static void plan_splits(decode_params *p, int splits, int batch, int hkv, int d, lc_dtype q, bool int8, int max_keys) {
    if (splits <= 0) {
        int dev = 0, sms = 132;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        const bool paged = p->kv.table;
        const int64_t slots = (int64_t)sms * (q == LC_BF16 ? occupancy<__nv_bfloat16>(int8, paged, hkv, d) : occupancy<__half>(int8, paged, hkv, d));
        const int64_t pairs = (int64_t)batch * (hkv / heads_per_block(int8, hkv));  // blocks per split
        int64_t want = slots / pairs, most = (max_keys + 127) / 128;
        splits = (int)(want < 1 ? 1 : want > most ? (most < 1 ? 1 : most) : want);
    }
    p->splits = splits;
    p->chunk = ((max_keys + splits - 1) / splits + DEC_KEYS - 1) / DEC_KEYS * DEC_KEYS;
}

static size_t partials_bytes(int batch, int hkv, int splits, int rows, int d) {
    return (size_t)batch * hkv * splits * rows * (size_t)(d + 1) * sizeof(float);
}

}  // namespace lc_cuda

using namespace lc_cuda;

static bool aligned16(const void *x) { return (uintptr_t)x % 16 == 0; }

extern "C" lc_status lc_cuda_decode_check(const lc_cuda_decode *d) {
    if (!d) return lc_error(LC_EINVAL, "decode descriptor is NULL");
    const lc_kv_config *c = &d->cache;
    lc_status st = lc_kv_config_check(c);
    if (st) return st;
    if (c->layout != LC_KV_CONTIGUOUS && c->layout != LC_KV_PAGED)
        return lc_error(LC_EUNSUPPORTED, "cache.layout=%s: GPU decode reads contiguous and paged caches", lc_kv_layout_name(c->layout));
    if (c->dtype != LC_BF16 && c->dtype != LC_F16 && c->dtype != LC_INT8)
        return lc_error(LC_EUNSUPPORTED, "cache.dtype=%s: GPU decode reads bf16, f16 and int8 caches", lc_dtype_name(c->dtype));
    if (d->q_dtype != LC_BF16 && d->q_dtype != LC_F16) return lc_error(LC_EUNSUPPORTED, "q_dtype=%s: queries are bf16 or f16", lc_dtype_name(d->q_dtype));
    if ((c->dtype == LC_BF16 && d->q_dtype != LC_BF16) || (c->dtype == LC_F16 && d->q_dtype != LC_F16))
        return lc_error(LC_EUNSUPPORTED, "a %s cache takes %s queries, not %s", lc_dtype_name(c->dtype), c->dtype == LC_BF16 ? "bf16" : "f16", lc_dtype_name(d->q_dtype));
    if (d->out_dtype != d->q_dtype && d->out_dtype != LC_F32) return lc_error(LC_EUNSUPPORTED, "out_dtype=%s: the output is q_dtype or f32", lc_dtype_name(d->out_dtype));
    if (c->head_dim != 64 && c->head_dim != 128 && c->head_dim != 256) return lc_error(LC_EUNSUPPORTED, "cache.head_dim=%d: GPU decode takes 64, 128 or 256", c->head_dim);
    if (d->heads_q < 1 || d->heads_q % c->heads_kv) return lc_error(LC_EINVAL, "heads_q=%d must be a positive multiple of cache.heads_kv=%d", d->heads_q, c->heads_kv);
    if (d->n_q < 1) return lc_error(LC_EINVAL, "n_q=%d must be >= 1", d->n_q);
    if (d->heads_q / c->heads_kv * d->n_q > DEC_KEYS)
        return lc_error(LC_EUNSUPPORTED, "(heads_q / heads_kv) * n_q = %d: GPU decode takes at most %d query rows per kv head", d->heads_q / c->heads_kv * d->n_q, DEC_KEYS);
    if (d->batch < 1) return lc_error(LC_EINVAL, "batch=%d must be >= 1", d->batch);
    if (c->layout == LC_KV_CONTIGUOUS && d->batch > c->max_seqs)
        return lc_error(LC_EINVAL, "batch=%d is more than the contiguous cache's cache.max_seqs=%d sequences", d->batch, c->max_seqs);
    if (d->max_len < d->n_q || d->max_len >= (1 << 30)) return lc_error(LC_EINVAL, "max_len=%lld must be in [n_q=%d, 2^30)", (long long)d->max_len, d->n_q);
    if (c->capacity < d->max_len)
        return lc_error(LC_EINVAL, "cache.capacity=%lld (tokens per sequence) is less than max_len=%lld", (long long)c->capacity, (long long)d->max_len);
    if (!d->k || !d->v || !d->q || !d->out) return lc_error(LC_EINVAL, "k, v, q and out must not be NULL");
    if (!aligned16(d->k) || !aligned16(d->v) || !aligned16(d->q) || !aligned16(d->out)) return lc_error(LC_EUNSUPPORTED, "k, v, q and out must be 16-byte aligned");
    if (c->dtype == LC_INT8 && (!d->k_scale || !d->v_scale)) return lc_error(LC_EINVAL, "an int8 cache needs k_scale and v_scale");
    if (c->layout == LC_KV_PAGED && !d->block_table) return lc_error(LC_EINVAL, "a paged cache needs block_table");
    if (d->scale < 0 || !isfinite(d->scale) || d->softcap < 0 || !isfinite(d->softcap)) return lc_error(LC_EINVAL, "scale and softcap must be finite and >= 0");
    const lc_mask *m = &d->mask;
    if (m->q_offset != 0)
        return lc_error(LC_EINVAL, "mask.q_offset=%lld must be 0: the queries are the last n_q positions of each sequence", (long long)m->q_offset);
    if ((st = lc_mask_check(m, d->n_q, d->max_len))) return st;
    if (m->window.enabled && m->window.dilation > 1) return lc_error(LC_EUNSUPPORTED, "mask.window.dilation=%lld: GPU decode has no dilated windows", (long long)m->window.dilation);
    if (m->global.count > 0 || m->stride.every > 0 || m->bigbird.block > 0 || m->blocks.bits)
        return lc_error(LC_EUNSUPPORTED, "mask: GPU decode takes causal, window and sink masks (no global tokens, strides, BigBird or bitmap)");
    if (d->splits < 0 || d->splits > DEC_MAX_SPLITS) return lc_error(LC_EINVAL, "splits=%d must be in [0, %d] (0 chooses)", d->splits, DEC_MAX_SPLITS);
    return check_device();
}

// The kernels' parameters (decode_params) of a checked descriptor, with the split planned.
static decode_params params_of(const lc_cuda_decode *d) {
    const lc_kv_config *c = &d->cache;
    const int64_t row = (int64_t)c->heads_kv * c->head_dim, D = c->head_dim;
    decode_params p = {};
    p.kv.k = d->k, p.kv.v = d->v, p.kv.k_scale = d->k_scale, p.kv.v_scale = d->v_scale;
    p.kv.k_s = p.kv.v_s = row, p.kv.k_h = p.kv.v_h = D, p.kv.sc_s = c->heads_kv;
    if (c->layout == LC_KV_PAGED) p.kv.table = d->block_table, p.kv.block = c->block_size, p.kv.max_blocks = (int)((c->capacity + c->block_size - 1) / c->block_size);
    else p.kv.k_b = p.kv.v_b = c->capacity * row, p.kv.sc_b = c->capacity * c->heads_kv;
    p.block_shift = -1;
    for (int sh = 0; p.kv.table && sh < 31; sh++)
        if (p.kv.block == 1 << sh) p.block_shift = sh;
    p.q = d->q, p.out = d->out, p.lse = d->lse;
    p.q_s = p.o_s = (int64_t)d->heads_q * D, p.q_h = p.o_h = D, p.q_b = p.o_b = d->n_q * p.q_s;
    p.lens = d->lens, p.n_kv = (int)d->max_len;
    p.n_q = d->n_q, p.heads_q = d->heads_q, p.group = d->heads_q / c->heads_kv, p.rows = p.group * d->n_q;
    p.scale = d->scale > 0 ? d->scale : 1.0f / sqrtf((float)D), p.scale_log2 = p.scale * DEC_LOG2E, p.softcap = d->softcap;
    // without lens every sequence holds max_len tokens: the queries sit at max_len - n_q on
    lc_mask m = d->mask;
    m.q_offset = d->max_len - d->n_q;
    p.mask = make_device_mask(&m, NULL);
    const key_ranges kr = visible_keys(p.mask, p.n_kv, p.n_kv - p.n_q, p.n_q);  // the longest sequence sees the most
    plan_splits(&p, d->splits, d->batch, c->heads_kv, c->head_dim, d->q_dtype, c->dtype == LC_INT8, kr.count());
    return p;
}

extern "C" size_t lc_cuda_decode_workspace_size(const lc_cuda_decode *d) {
    if (lc_cuda_decode_check(d)) return 0;
    const decode_params p = params_of(d);
    return partials_bytes(d->batch, d->cache.heads_kv, p.splits, p.rows, d->cache.head_dim);
}

extern "C" lc_status lc_cuda_decode_attention(const lc_cuda_decode *d, void *workspace, size_t workspace_bytes, lc_cuda_stream stream) {
    lc_status st = lc_cuda_decode_check(d);
    if (st) return st;
    decode_params p = params_of(d);
    const int batch = d->batch, hkv = d->cache.heads_kv, D = d->cache.head_dim;
    const size_t need = partials_bytes(batch, hkv, p.splits, p.rows, D);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace: GPU decode needs %zu bytes of device memory (lc_cuda_decode_workspace_size), got %zu", need, workspace ? workspace_bytes : 0);
    if ((uintptr_t)workspace % 16) return lc_error(LC_EINVAL, "workspace is not 16-byte aligned");
    const size_t parts = (size_t)batch * hkv * p.splits * p.rows;
    p.part_o = static_cast<float *>(workspace);
    p.part_lse = p.part_o + parts * D;
    cudaError_t e = decode_run(p, d->q_dtype, d->cache.dtype == LC_INT8, d->out_dtype == LC_F32, batch, hkv, D, reinterpret_cast<cudaStream_t>(stream));
    if (e != cudaSuccess) return lc_error(LC_EINTERNAL, "decode kernel launch failed: %s", cudaGetErrorString(e));
    return LC_OK;
}
