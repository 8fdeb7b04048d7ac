// Flash attention forward for Hopper (sm_90a) on warpgroup MMAs (wgmma), after
// FlashAttention-3 (Shah et al. 2024) in its simplest form: the same algorithm as
// flash_fwd.cu (FlashAttention-2, Algorithm 1), with the products issued per warpgroup.
//
// A block of NWG consumer warpgroups (128 threads each) owns BLOCK_M = 64 NWG query rows of
// one (batch, head), 64 per warpgroup, and a producer warpgroup issues its K / V copies;
// keys come in tiles of BLOCK_N = 128 (176 for the d = 128 block without soft-capping,
// FlashAttention-3's tile). Q, K and V sit in shared memory in the 128-byte-swizzled layout
// that wgmma reads through descriptors (wgmma.cuh). Per key tile that the mask does not empty:
//
//   S = Q K^T          wgmma m64nBLOCK_Nk16, A = Q and B = K from shared memory
//   soft-cap, mask, online softmax in log2 units in registers (as flash_fwd.cu)
//   O = O 2^(m - m') + P V    wgmma m64nDk16, A = P from registers (the S accumulator
//                             converted to 16 bits is already the A fragment), B = V
//                             from shared memory, MN-major
//
// K and V tiles come through a 3-stage ring in shared memory by the tensor memory
// accelerator (cp.async.bulk.tensor, completing on an mbarrier per stage; 176-key tiles: 2
// stages, K and V on separate mbarriers). The producer warpgroup's one copying thread runs
// with its registers lowered by setmaxnreg, so the 2 consumer warpgroups get 240 each (at
// d = 64, 3 of 160: 192 query rows). The P V product of one tile overlaps the softmax of the
// next inside a warpgroup, and with 2 or 3 warpgroups their products take turns (named
// barriers, FlashAttention-3's ping-pong) so one warpgroup's softmax overlaps the others'
// products. Where two query tiles of a head see the same keys (no causal mask, window or
// bitmap; the ws176 and ws3 blocks), their blocks run as a cluster of 2 whose producers each
// copy half of every K / V tile into both blocks (TMA multicast). The kernel is split as
// FlashAttention-3's hopper/ code is: tile scheduler (tile_of, key_walk), producer
// (produce), consumer mainloop (consume: issue_qk, cap_and_mask, online_softmax,
// rescale_and_pack, issue_pv), epilogue (store_rows).
// Everything else (masks, tile classification, GQA, q_offset, lse, empty rows) is as in
// flash_fwd.cu. Scores stay unscaled until the exponent, 2^(s scale log2(e) - m) in one
// FMA, so the kernel takes scale > 0 only (the dispatcher sends others to flash_fwd.cu).
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <math.h>
#include "check.h"
#include "flash_sm90.h"
#include "lse_merge.cuh"
#include "mma.cuh"
#include "wgmma.cuh"

namespace lc_cuda {

// K and V of a stage on barriers of their own (sm90_smem)
__host__ __device__ constexpr bool kv_apart(int stages) { return stages < 3; }

namespace {

// K / V tiles: 128 keys (the 176-key tile of the d = 128 block is chosen by plan_sm90), in a
// 3-stage ring (2 stages for 176 keys)
constexpr int SM90_BLOCK_N = 128, SM90_STAGES = 3;

// The kernel's parameters: attn_params and the K, V tensor maps (4-D: d, seq, heads, batch;
// boxes of 64 x BLOCK_N x 1 x 1, 128-byte swizzled), passed by value as a __grid_constant__,
// and the tail split (tail_plan).
struct sm90_params {
    CUtensorMap tk, tv;
    attn_params p;
    int tail_from, tail_splits;  // work tiles >= tail_from run as tail_splits key ranges each
    float *part_o, *part_lse;    // their rows: [tile - tail_from][split][BM][D], [..][BM] (log2)
};

// ---- tile scheduler ------------------------------------------------------------------------
// The grid is one dimension of work tiles, (query tile, head, batch) with the query tile
// fastest, heaviest (latest rows) first; past tail_from each tile is tail_splits blocks, one
// per key range. Work tile `lin` -> its rows (split -1: all keys).
struct work_tile {
    int lin, split, q0, h, b;
};
__device__ __forceinline__ work_tile tile_at(const sm90_params &prm, int lin, int split, int BM) {
    const int n_qt = (prm.p.n_q + BM - 1) / BM;
    return {lin, split, (n_qt - 1 - lin % n_qt) * BM, lin / n_qt % prm.p.heads_q, lin / n_qt / prm.p.heads_q};
}
// Block `blk` -> its tile and key range. In clusters of CL blocks (consecutive blocks) the
// CL tiles of a cluster are consecutive query tiles of one head that share every key range:
// past tail_from, blocks go CL tiles x tail_splits ranges at a time.
template <int CL> __device__ __forceinline__ work_tile tile_of(const sm90_params &prm, int blk, int BM) {
    if (blk < prm.tail_from) return tile_at(prm, blk, -1, BM);
    const int j = blk - prm.tail_from, S = prm.tail_splits;
    return tile_at(prm, prm.tail_from + j / (CL * S) * CL + j % CL, j / CL % S, BM);
}

// The key tiles of a block's work tile: [kt_lo, kt_end) of its key range, less the tiles the
// mask empties (next), each classified for the rows pos0 .. pos1 (positions).
template <int BN> struct key_walk {
    device_mask mk;
    int n_kv, pos0, pos1, kt_lo, kt_end;
    __device__ __forceinline__ int classify(int kt) const { return mask_classify(mk, pos0, pos1, kt * BN, min((kt + 1) * BN, n_kv) - 1); }
    __device__ __forceinline__ int next(int kt) const {
        while (kt < kt_end && classify(kt) == TILE_EMPTY) kt++;
        return kt;
    }
};
// The next three tiles a walk visits (kt_end: none), kt[0] the current one: the producer
// starts at kt[0], the consumers keep the window moving.
struct tile_queue {
    int kt[3];
};
// the first ones: a window alone empties every key before pos0 - left, so the walk starts there
template <int BN> __device__ __forceinline__ tile_queue first_tiles(const key_walk<BN> &kw) {
    const device_mask &mk = kw.mk;
    tile_queue q;
    q.kt[0] = kw.next(max(kw.kt_lo, mk.window && mk.left >= 0 && mk.sinks == 0 && !mk.bits ? max(0, kw.pos0 - mk.left) / BN : 0));
    q.kt[1] = q.kt[0] < kw.kt_end ? kw.next(q.kt[0] + 1) : kw.kt_end;
    q.kt[2] = q.kt[1] < kw.kt_end ? kw.next(q.kt[1] + 1) : kw.kt_end;
    return q;
}
// a copy of the mask, not a reference to the parameter: measured 3-6% faster on the window
// masks. In a cluster the mask has no causal part, window or bitmap (plan_sm90): known here,
// their tests go, and with them the registers they took in the producer's budget.
template <int BN, int CL>
__device__ __forceinline__ key_walk<BN> key_walk_of(const sm90_params &prm, const work_tile &wt, int BM) {
    const attn_params &p = prm.p;
    key_walk<BN> kw;
    kw.mk = p.mask;
    if (CL > 1) kw.mk.causal = 0, kw.mk.window = 0, kw.mk.bits = nullptr;
    kw.n_kv = p.n_kv;
    kw.pos0 = kw.mk.q_offset + wt.q0, kw.pos1 = kw.mk.q_offset + min(wt.q0 + BM, p.n_q) - 1;
    const int n_kt = (p.n_kv + BN - 1) / BN, per_split = (n_kt + prm.tail_splits - 1) / prm.tail_splits;
    // a tail split's key tiles: [split per_split, (split + 1) per_split)
    kw.kt_lo = wt.split < 0 ? 0 : wt.split * per_split;
    const int kt_hi = wt.split < 0 ? n_kt : min(n_kt, kw.kt_lo + per_split);
    kw.kt_end = kw.mk.causal ? min(kt_hi, kw.pos1 / BN + 1) : kt_hi;
    return kw;
}

// ---- shared memory -------------------------------------------------------------------------
// Q (BM x D), ST stages of K and of V (BN x D each) in the 128-byte swizzle, then the
// stages' mbarriers: full (the tile landed) and empty (every consumer warp is done with it).
// With 2 stages K and V have barriers of their own: the K tile is free once S = Q K^T is
// done, so the producer refills it while P V still reads V. With 3, one pair serves both
// (the V pointers alias the K ones; the stage is free after P V): K and V apart measured
// 1-4% slower at d = 64.
template <typename T, int D, int BM, int BN, int ST> struct sm90_smem {
    static constexpr size_t bytes = 1024 + sizeof(T) * (size_t)(BM * D + 2 * ST * BN * D) + ST * 4 * 8;  // 1 KB to align
    T *q, *k, *v;
    uint64_t *full_k, *full_v, *empty_k, *empty_v;
    // descriptors need 1024-byte aligned atoms: the base is aligned up
    __device__ __forceinline__ explicit sm90_smem(unsigned char *raw) {
        q = reinterpret_cast<T *>(raw + ((1024 - (smem_addr(raw) & 1023)) & 1023));
        k = q + BM * D;
        v = k + ST * BN * D;
        full_k = reinterpret_cast<uint64_t *>(v + ST * BN * D);
        full_v = kv_apart(ST) ? full_k + ST : full_k;
        empty_k = full_k + 2 * ST;
        empty_v = kv_apart(ST) ? empty_k + ST : empty_k;
    }
};

// element offset of chunk c (8 elements) of row r in a ROWS-row tile of 64-wide panels
template <int ROWS> __device__ __forceinline__ int sw128(int r, int c) { return (c >> 3) * ROWS * 64 + r * 64 + (((c & 7) ^ (r & 7)) << 3); }

// rows [row0, row0 + ROWS) of a [seq, D] slice (row stride ld) into a swizzled tile;
// rows at or past `valid` are zero-filled
template <typename T, int ROWS, int D, int THREADS>
__device__ __forceinline__ void load_tile_sw128(T *dst, const T *src, int64_t ld, int row0, int valid) {
    constexpr int CHUNKS = D / 8;
    static_assert(ROWS * CHUNKS % THREADS == 0, "whole passes");
#pragma unroll
    for (int it = 0; it < ROWS * CHUNKS / THREADS; it++) {
        const int i = threadIdx.x + it * THREADS, r = i / CHUNKS, c = i % CHUNKS;
        const bool ok = row0 + r < valid;
        cp_async_16(dst + sw128<ROWS>(r, c), ok ? src + (int64_t)(row0 + r) * ld + c * 8 : src, ok);
    }
}

// ---- producer (the K / V loads) ------------------------------------------------------------
// K or V of key tile kt into a stage (one thread). In a cluster (CL blocks, the same keys)
// each block's producer copies rows [rank, rank + 1) BN / CL of the tile into every block of
// the cluster (multicast), so L2 serves each tile once per cluster; a block's `full`
// barrier counts the whole tile's bytes, whoever sent them.
template <typename T, int D, int BN, int CL>
__device__ __forceinline__ void copy_tile(T *dst, const CUtensorMap *map, int kt, int hk, int b, int rank, uint64_t *bar) {
#pragma unroll
    for (int c = 0; c < D / 64; c++) {
        T *to = dst + c * BN * 64 + rank * (BN / CL) * 64;
        if (CL == 1) tma_load_4d(to, map, c * 64, kt * BN, hk, b, bar);
        else tma_load_4d_multicast(to, map, c * 64, kt * BN + rank * (BN / CL), hk, b, bar, (1 << CL) - 1);
    }
}

// One thread of the producer warpgroup: K (V) of the j-th visited tile into stage j % ST
// once the consumer warps are done with the K (V) there.
template <typename T, int D, int BM, int BN, int ST, int CL>
__device__ __forceinline__ void produce(const sm90_params &prm, const sm90_smem<T, D, BM, BN, ST> &sm, const key_walk<BN> &kw, int kt0, int hk, int b,
                                       int rank) {
    constexpr bool SPLIT = kv_apart(ST);
    constexpr uint32_t STAGE_BYTES = BN * D * sizeof(T);
    for (int j = 0, kt = kt0; kt < kw.kt_end; j++, kt = kw.next(kt + 1)) {
        const int st = j % ST;
        if (j >= ST) mbar_wait(&sm.empty_k[st], (j / ST - 1) & 1);
        mbar_expect_tx(&sm.full_k[st], SPLIT ? STAGE_BYTES : 2 * STAGE_BYTES);
        copy_tile<T, D, BN, CL>(sm.k + st * BN * D, &prm.tk, kt, hk, b, rank, &sm.full_k[st]);
        if (SPLIT && j >= ST) mbar_wait(&sm.empty_v[st], (j / ST - 1) & 1);
        if (SPLIT) mbar_expect_tx(&sm.full_v[st], STAGE_BYTES);
        copy_tile<T, D, BN, CL>(sm.v + st * BN * D, &prm.tv, kt, hk, b, rank, &sm.full_v[st]);
    }
}

// A consumer warp is done with a stage's K or V (one arrival per warp): in a cluster on
// every block's barrier, lane r telling block r, since each block's producer writes its
// rows into every block.
template <int CL> __device__ __forceinline__ void release(uint64_t *bar, int lane) {
    if (CL == 1 && lane == 0) mbar_arrive(bar);
    if (CL > 1 && lane < CL) mbar_arrive_cluster(bar, lane);
}

// ---- consumer mainloop: S = Q K^T, mask, online softmax, O += P V --------------------------
// This thread's accumulators: O (o[4j + e]: row g + 8 (e / 2), column 8j + 2t + e % 2), and
// m, l of rows g (r = 0) and g + 8 (r = 1); m in log2 units.
template <int D> struct sm90_acc {
    float o[D / 2], m[2], l[2];
};

// S = Q K^T for stage `ks_addr`: k16 steps walk 32 bytes inside a 64-wide panel, then to
// the next panel (issued and committed, not waited for)
template <typename T, int D, int BM, int BN>
__device__ __forceinline__ void issue_qk(float (&s)[BN / 2], uint32_t q_addr, uint32_t ks_addr) {
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++)
        wgmma<T, BN>::ss(s, wgmma_desc(q_addr + (ks / 4) * BM * 128 + (ks % 4) * 32, 16, 1024), wgmma_desc(ks_addr + (ks / 4) * BN * 128 + (ks % 4) * 32, 16, 1024),
                         ks > 0);
    wgmma_commit();
}

// O += P V for the P held in pa and the V tile at vs_addr (issued, not waited for)
template <typename T, int D, int BN>
__device__ __forceinline__ void issue_pv(float (&o)[D / 2], const uint32_t (&pa)[BN / 16][4], uint32_t vs_addr) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) wgmma<T, D>::rs_t(o, pa[kk], wgmma_desc(vs_addr + kk * 16 * 128, BN * 128, 1024), 1);
    wgmma_commit();
}

// Soft-capping (to log2 units) when on, then the mask on a partial tile kt: `interval`
// (causal and / or a window, no sinks, no bitmap) compares each key with one interval
// per row, the column a constant of the unrolled loop against bounds relative to this
// lane's first column; other masks ask mask_allows per element. row_pos: row g's position.
template <int BN, bool SOFTCAP>
__device__ __forceinline__ void cap_and_mask(float (&s)[BN / 2], const attn_params &p, const device_mask &mk, int kt, bool need_mask, bool interval, int row_pos,
                                             int t) {
    constexpr float LOG2E = 1.4426950408889634f;
    if (SOFTCAP) {
#pragma unroll
        for (int e = 0; e < BN / 2; e++) s[e] = p.softcap * tanhf(s[e] * p.scale / p.softcap) * LOG2E;
    }
    if (need_mask && interval) {
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int pos = row_pos + 8 * r, base = kt * BN + 2 * t;
            int hi = p.n_kv - 1;
            if (mk.causal) hi = min(hi, pos);
            if (mk.window && mk.right >= 0) hi = min(hi, pos + mk.right);
            const int lo = (mk.window && mk.left >= 0 ? pos - mk.left : 0) - base;
            hi -= base;
#pragma unroll
            for (int j = 0; j < BN / 8; j++)
#pragma unroll
                for (int c = 0; c < 2; c++)
                    if (8 * j + c < lo || 8 * j + c > hi) s[4 * j + 2 * r + c] = -INFINITY;
        }
    } else if (need_mask) {
#pragma unroll
        for (int e = 0; e < BN / 2; e++) {
            const int key = kt * BN + (e / 4) * 8 + 2 * t + (e & 1), pos = row_pos + ((e >> 1) & 1) * 8;
            if (key >= p.n_kv || !mask_allows(mk, pos, key)) s[e] = -INFINITY;
        }
    }
}

// Online softmax on rows g (r = 0) and g + 8 (r = 1); four lanes share a row. s times `sc`
// is in log2 units; s becomes P = 2^(s sc - m') and alpha the rows' rescale 2^(m - m').
template <int BN>
__device__ __forceinline__ void online_softmax(float (&s)[BN / 2], float (&m)[2], float (&l)[2], float (&alpha)[2], float sc) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[r], mx * sc);
        const float m_use = m_new == -INFINITY ? 0.f : m_new;  // all masked so far: p = 0
        alpha[r] = fast_exp2(m[r] - m_use);
        m[r] = m_new;
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < BN / 8; j++) {
            s[4 * j + 2 * r] = fast_exp2(fmaf(s[4 * j + 2 * r], sc, -m_use));
            s[4 * j + 2 * r + 1] = fast_exp2(fmaf(s[4 * j + 2 * r + 1], sc, -m_use));
            sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
        }
        l[r] = l[r] * alpha[r] + sum;
    }
}

// Once P_{i-1} V_{i-1} is done: O rescaled by alpha, and P_i (the accumulators of key
// blocks 2kk, 2kk + 1 in 16 bits) becomes the A operand of the next product.
template <typename T, int D, int BN>
__device__ __forceinline__ void rescale_and_pack(float (&o)[D / 2], const float (&alpha)[2], const float (&s)[BN / 2], uint32_t (&pa)[BN / 16][4]) {
#pragma unroll
    for (int j = 0; j < D / 8; j++) o[4 * j] *= alpha[0], o[4 * j + 1] *= alpha[0], o[4 * j + 2] *= alpha[1], o[4 * j + 3] *= alpha[1];
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++)
#pragma unroll
        for (int x = 0; x < 4; x++) pa[kk][x] = mma_op<T>::pack(s[8 * kk + 2 * x], s[8 * kk + 2 * x + 1]);
}

// The consumer warpgroup wg's walk over the key tiles from tq. Tile i (the i-th tile the
// mask does not empty) computes S_i = Q K_i^T while the previous tile's O += P_{i-1} V_{i-1}
// runs on the tensor cores, so the softmax of S_i overlaps that product (FlashAttention-3's
// intra-warpgroup pipelining). kt0, kt1, kt2: key tiles i, i + 1, i + 2 (kt_end: none).
// With NWG > 1 the warpgroups issue their products in turn, 0, 1, .., NWG - 1, 0, ..:
// warpgroup w waits on barrier 1 + w, then signals the next one's.
template <typename T, int D, int NWG, bool SOFTCAP, int BN, int ST, int CL>
__device__ __forceinline__ void consume(const attn_params &p, const sm90_smem<T, D, 64 * NWG, BN, ST> &sm, const key_walk<BN> &kw, tile_queue tq, int q0,
                                        int wg, sm90_acc<D> &acc) {
    constexpr int BM = 64 * NWG;
    constexpr bool SPLIT = kv_apart(ST), TURNS = NWG > 1;
    constexpr uint32_t STAGE_BYTES = BN * D * sizeof(T);
    const int tid = threadIdx.x, warp = (tid % 128) / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const device_mask &mk = kw.mk;
    const int row_pos = mk.q_offset + q0 + wg * 64 + warp * 16 + g;  // position of row g; row g + 8 is + 8
    // causal and / or a window (no sinks, no bitmap): each row allows one interval of keys
    const bool interval = mk.sinks == 0 && !mk.bits;
    const uint32_t q_addr = smem_addr(sm.q + wg * 64 * 64), k_addr = smem_addr(sm.k), v_addr = smem_addr(sm.v);
    uint32_t pa[BN / 16][4];
    int kt0 = tq.kt[0], kt1 = tq.kt[1], kt2 = tq.kt[2];

    if (TURNS && wg == NWG - 1) named_arrive(1, 256);  // warpgroup 0 issues first
    int i = 0;
    for (; kt0 < kw.kt_end; i++) {
        const int kt = kt0, cls = kw.classify(kt);
        const bool need_mask = cls == TILE_PARTIAL || (kt + 1) * BN > p.n_kv;
        mbar_wait(&sm.full_k[i % ST], (i / ST) & 1);  // K_i landed

        float s[BN / 2];
        if (TURNS) named_sync(1 + wg, 256);
        wgmma_hold(acc.o);
        issue_qk<T, D, BM, BN>(s, q_addr, k_addr + (i % ST) * STAGE_BYTES);
        if (i > 0) {
            if (SPLIT) mbar_wait(&sm.full_v[(i - 1) % ST], ((i - 1) / ST) & 1);  // V_{i-1} landed
            issue_pv<T, D, BN>(acc.o, pa, v_addr + (i - 1) % ST * STAGE_BYTES);
            wgmma_wait<1>();  // S done; P_{i-1} V_{i-1} may still run
        } else {
            wgmma_wait<0>();
        }
        wgmma_hold(s);
        if (SPLIT) release<CL>(&sm.empty_k[i % ST], lane);   // K_i may be overwritten
        if (TURNS) named_arrive(1 + (wg + 1) % NWG, 256);  // the next warpgroup's turn
        cap_and_mask<BN, SOFTCAP>(s, p, mk, kt, need_mask, interval, row_pos, t);
        float alpha[2];
        online_softmax<BN>(s, acc.m, acc.l, alpha, SOFTCAP ? 1.f : p.scale_log2);
        wgmma_wait<0>();
        wgmma_hold(acc.o);
        rescale_and_pack<T, D, BN>(acc.o, alpha, s, pa);
        if (i > 0) release<CL>(&sm.empty_v[(i - 1) % ST], lane);  // V_{i-1} is free
        kt0 = kt1, kt1 = kt2;
        if (kt2 < kw.kt_end) kt2 = kw.next(kt2 + 1);
    }
    if (i > 0) {  // the last tile's P V
        mbar_wait(&sm.full_v[(i - 1) % ST], ((i - 1) / ST) & 1);
        wgmma_hold(acc.o);
        issue_pv<T, D, BN>(acc.o, pa, v_addr + (i - 1) % ST * STAGE_BYTES);
        wgmma_wait<0>();
        wgmma_hold(acc.o);
    }
    if (TURNS && wg == 0) named_sync(1, 256);  // the last warpgroup's last turn signal
}

// ---- epilogue ------------------------------------------------------------------------------
// out = O / l and lse = (m + log2 l) ln 2 of this thread's rows; a tail split's block writes
// its key range's normalised rows and log2-sum-exp to the workspace instead, for
// tail_merge_kernel.
template <typename TO, int D, int BM>
__device__ __forceinline__ void store_rows(const sm90_params &prm, const work_tile &wt, int wg, const sm90_acc<D> &acc) {
    constexpr float LN2 = 0.6931471805599453f;
    const attn_params &p = prm.p;
    const int tid = threadIdx.x, warp = (tid % 128) / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    TO *O = static_cast<TO *>(p.out) + wt.b * p.o_b + wt.h * p.o_h;
    const int64_t slot = wt.split < 0 ? 0 : ((int64_t)(wt.lin - prm.tail_from) * prm.tail_splits + wt.split) * BM;  // a split's rows
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float sum = acc.l[r];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        const int rt = wg * 64 + warp * 16 + g + r * 8, row = wt.q0 + rt;  // rt: the row in the tile
        if (row >= p.n_q) continue;
        const float inv = sum > 0.f ? 1.f / sum : 0.f;
        if (wt.split >= 0) {
            float *po = prm.part_o + (slot + rt) * D;
#pragma unroll
            for (int j = 0; j < D / 8; j++) store2<float>(po + j * 8 + 2 * t, acc.o[4 * j + 2 * r] * inv, acc.o[4 * j + 2 * r + 1] * inv);
            if (t == 0) prm.part_lse[slot + rt] = sum > 0.f ? acc.m[r] + log2f(sum) : -INFINITY;
            continue;
        }
#pragma unroll
        for (int j = 0; j < D / 8; j++) store2<TO>(O + (int64_t)row * p.o_s + j * 8 + 2 * t, acc.o[4 * j + 2 * r] * inv, acc.o[4 * j + 2 * r + 1] * inv);
        if (p.lse && t == 0) p.lse[((int64_t)wt.b * p.heads_q + wt.h) * p.n_q + row] = sum > 0.f ? (acc.m[r] + log2f(sum)) * LN2 : -INFINITY;
    }
}

// ---- the kernel ----------------------------------------------------------------------------
// A block of NWG consumer warpgroups (64 query rows each) and one producer warpgroup, whose
// one thread issues every K / V copy with its register budget lowered to 24, so the NWG = 2
// consumer warpgroups rise to 240; with NWG = 3 (192 query rows, d = 64: each K / V tile
// feeds 1.5 times the rows) 32 and 160.
template <typename T, typename TO, int D, int NWG, bool SOFTCAP, int BN = SM90_BLOCK_N, int ST = SM90_STAGES, int CL = 1>
__global__ void __launch_bounds__((NWG + 1) * 128, 1) flash_fwd_sm90_kernel(const __grid_constant__ sm90_params prm) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int BM = 64 * NWG, THREADS = NWG * 128;  // THREADS: the consumers
    static_assert(CL == 1 || BN % (8 * CL) == 0, "clusters: the producer's copies, in whole 8-row swizzle atoms");
    // Registers per thread after setmaxnreg. The consumers' rise must come out of what the
    // producer gives back (the block holds 65536 / threads rounded down to 8 at entry: 168
    // with NWG = 2, 128 with 3), else setmaxnreg.inc waits forever.
    constexpr int PRODUCER_REGS = NWG == 3 ? 32 : 24, CONSUMER_REGS = NWG == 3 ? 160 : 240;
    static_assert(NWG * (CONSUMER_REGS - 65536 / ((NWG + 1) * 128) / 8 * 8) <= 65536 / ((NWG + 1) * 128) / 8 * 8 - PRODUCER_REGS,
                  "the consumers' registers come from the producer's");
    extern __shared__ unsigned char smem_raw[];
    const sm90_smem<T, D, BM, BN, ST> sm(smem_raw);
    const attn_params &p = prm.p;
    const int tid = threadIdx.x, wg = tid / 128;
    const work_tile wt = tile_of<CL>(prm, blockIdx.x, BM);
    const int hk = wt.h / p.group;
    const key_walk<BN> kw = key_walk_of<BN, CL>(prm, wt, BM);
    const int rank = CL > 1 ? cluster_rank() : 0;
    const tile_queue tq = first_tiles(kw);
    if (tid == 0) {
#pragma unroll
        for (int st = 0; st < ST; st++) {
            mbar_init(&sm.full_k[st], 1), mbar_init(&sm.empty_k[st], 4 * NWG * CL);
            if (kv_apart(ST)) mbar_init(&sm.full_v[st], 1), mbar_init(&sm.empty_v[st], 4 * NWG * CL);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    if (wg < NWG) {
        load_tile_sw128<T, BM, D, THREADS>(sm.q, static_cast<const T *>(p.q) + wt.b * p.q_b + wt.h * p.q_h, p.q_s, wt.q0, p.n_q);
        cp_async_commit();
        cp_async_wait<0>();
        fence_proxy_async();  // Q's copies are read by wgmma (the async proxy)
    }
    // Q in place, barriers initialised (in a cluster: every block's, before any copy reaches them)
    if (CL > 1) cluster_sync();
    else __syncthreads();
    if (wg == NWG) {
        setmaxnreg_dec<PRODUCER_REGS>();
        if (tid == THREADS) produce<T, D, BM, BN, ST, CL>(prm, sm, kw, tq.kt[0], hk, wt.b, rank);
        if (CL > 1) cluster_sync();  // see the consumers' below
        return;
    }
    setmaxnreg_inc<CONSUMER_REGS>();
    sm90_acc<D> acc;
#pragma unroll
    for (int i = 0; i < D / 2; i++) acc.o[i] = 0.f;
    acc.m[0] = acc.m[1] = -INFINITY, acc.l[0] = acc.l[1] = 0.f;
    consume<T, D, NWG, SOFTCAP, BN, ST, CL>(p, sm, kw, tq, wt.q0, wg, acc);
    // a cluster's blocks leave together: no block exits while another's copies or
    // arrivals may still reach its shared memory
    if (CL > 1) cluster_sync();
    store_rows<TO, D, BM>(prm, wt, wg, acc);
#endif
}

// The tail tiles' rows from their key ranges (one thread per output element, a block per
// row), merged by their log2-sum-exp (lse_merge.cuh).
template <typename TO, int D, int BM> __global__ void tail_merge_kernel(const __grid_constant__ sm90_params prm) {
    const attn_params &p = prm.p;
    const int tail = blockIdx.x / BM, rt = blockIdx.x % BM, S = prm.tail_splits;
    const work_tile wt = tile_at(prm, prm.tail_from + tail, 0, BM);
    const int row = wt.q0 + rt;
    if (row >= p.n_q) return;
    const int64_t slot0 = (int64_t)tail * S * BM + rt;  // split s: slot0 + s BM
    float lse2;
    const float o = lse_merge<true>(
        S, [&](int s) { return prm.part_lse[slot0 + s * BM]; }, [&](int s) { return prm.part_o[(slot0 + s * BM) * D + threadIdx.x]; }, &lse2);
    TO *O = static_cast<TO *>(p.out) + wt.b * p.o_b + wt.h * p.o_h + (int64_t)row * p.o_s;
    O[threadIdx.x] = (TO)o;
    if (p.lse && threadIdx.x == 0) p.lse[((int64_t)wt.b * p.heads_q + wt.h) * p.n_q + row] = lse2 * 0.6931471805599453f;
}

// A 4-D tensor map over a [batch, seq, heads, d] view (element strides s, h, b) whose box is
// 64 elements of d x bn rows of seq (BLOCK_N / blocks per cluster), 128-byte swizzled; rows
// past n read as zeros.
static bool encode_map(CUtensorMap *map, const void *base, bool f16, int d, int n, int heads, int batch, int64_t s, int64_t h, int64_t b, int bn) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
    if (!encode) {
        cudaDriverEntryPointQueryResult q;
        void *fn = nullptr;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q) != cudaSuccess || q != cudaDriverEntryPointSuccess || !fn)
            return false;
        encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
    }
    const cuuint64_t dims[4] = {(cuuint64_t)d, (cuuint64_t)n, (cuuint64_t)heads, (cuuint64_t)batch};
    const cuuint64_t strides[3] = {(cuuint64_t)s * 2, (cuuint64_t)h * 2, (cuuint64_t)b * 2};  // bytes, dims 1..3
    const cuuint32_t box[4] = {64, (cuuint32_t)bn, 1, 1}, unit[4] = {1, 1, 1, 1};
    return encode(map, f16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, const_cast<void *>(base), dims, strides, box, unit,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// ---- the plan --------------------------------------------------------------------------------
// The block, its tiles and clustering, then (at launch, once the device's resident blocks
// are known) the tail split. Every tuning choice of the Hopper kernel is here, with what
// was measured on an H100 (docs/cuda.md); a request (flash_sm90.h) may
// override the outcome, as the GPU test does to run every block.

// The tail split. A grid of T work tiles of equal cost (no causal mask, no bitmap) fills
// the P = SMs x blocks-per-SM slots F = T / P times and leaves r = T mod P tiles for a last
// round in which most SMs idle (d = 64, 8K tokens x 16 heads: 688 tiles of 192 rows on
// 132 SMs, r = 28, so 6 rounds for 5.2 rounds of work). Those r tiles run as S = P / r key
// ranges each (at most one per 4 key tiles), so the last round takes about 1/S of a tile's
// time, and tail_merge_kernel combines the ranges: d = 64 full 8K +12%, 16K +4-5%. It needs
// workspace (r S BM (D + 1) floats); without it the grid runs unsplit. A request's
// tail_tiles:tail_splits forces the last R tiles into S ranges. In clusters of CL blocks (T
// and P multiples of CL) r is rounded up to whole clusters.
struct tail_plan {
    int from, splits;  // no split: from = T (the grid), splits = 1
    size_t bytes;
};
static tail_plan plan_tail(const attn_params &p, int batch, int BM, int BN, int D, int P, int CL, const sm90_request &req) {
    const int T = (p.n_q + BM - 1) / BM * p.heads_q * batch, n_kt = (p.n_kv + BN - 1) / BN;
    tail_plan t = {T, 1, 0};
    int r = 0, S = 0;
    if (req.tail_tiles > 0) {
        r = min((req.tail_tiles + CL - 1) / CL * CL, T), S = min(req.tail_splits, n_kt);
    } else {
        if (p.mask.causal || p.mask.bits || P <= 0) return t;
        r = T % P;
        if (T < P || r == 0) return t;
        S = min(P / r, n_kt / 4);
    }
    if (r == 0 || S < 2) return t;
    t.from = T - r, t.splits = S, t.bytes = (size_t)r * S * BM * (D + 1) * sizeof(float);
    return t;
}

// The d = 64 block of 192 rows (3 consumer warpgroups) pays off once its blocks fill the SMs
// twice (causal: once; the heaviest-first order evens out the last wave): +22-30% at
// 16K-32K tokens. With fewer (1K-2K tokens x 16 heads) the block of 128 rows, more of them,
// was faster.
static bool ws3_fills(const attn_params &p, int batch) {
    int dev, sms;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return true;
    const long blocks = (long)((p.n_q + 191) / 192) * p.heads_q * batch;
    return blocks >= (p.mask.causal ? 1 : 2) * (long)sms;
}

// The block: ws176 at d = 128 without soft-capping (FlashAttention-3's d = 128 tile, +5-10%
// at 8K-32K; its tanh was not tried in those registers), ws3 at d = 64 where ws3_fills,
// else ws (soft-capping spills in ws3's 160 registers). Its rows BM and key tiles BN.
// Blocks per cluster (cl): 2 for ws176 and ws3 where the two query tiles of a cluster see
// the same keys (no causal mask, window or bitmap) and a head's query tiles pair up (an
// even number), so each K / V tile leaves L2 once per pair (FlashAttention-3 clusters its
// d >= 128 non-causal blocks likewise): d = 128 full +2-3% at 8K, +6% at 32K; d = 64 full
// +2.5% at 4K, +3-5% at 16K.
struct sm90_plan {
    sm90_block blk;
    int bm, bn, cl;
};
static sm90_plan plan_sm90(const attn_params &p, int batch, int d, const sm90_request &req) {
    const bool softcap = p.softcap > 0.f;
    sm90_block blk = req.block;
    if (blk == SM90_AUTO) blk = d == 128 && !softcap ? SM90_WS176 : d == 64 && ws3_fills(p, batch) ? SM90_WS3 : SM90_WS;
    if ((blk == SM90_WS3 && (d != 64 || softcap)) || (blk == SM90_WS176 && (d != 128 || softcap))) blk = SM90_WS;
    sm90_plan pl = {blk, blk == SM90_WS3 ? 192 : 128, blk == SM90_WS176 ? 176 : SM90_BLOCK_N, 1};
    if ((blk == SM90_WS176 || blk == SM90_WS3) && !p.mask.causal && !p.mask.window && !p.mask.bits && (p.n_q + pl.bm - 1) / pl.bm % 2 == 0 && !req.no_clusters)
        pl.cl = 2;
    return pl;
}

// Launch (or with `need`, only the workspace the launch would use, in bytes), in clusters
// of CL blocks.
template <typename T, typename TO, int D, int NWG, int BN = SM90_BLOCK_N, int ST = SM90_STAGES, int CL = 1>
cudaError_t launch_sm90(sm90_params &prm, int batch, const sm90_request &req, cudaStream_t stream, void *ws, size_t ws_bytes, size_t *need) {
    constexpr int BM = 64 * NWG, THREADS = (NWG + 1) * 128;
    const size_t smem = sm90_smem<T, D, BM, BN, ST>::bytes;
    auto kernel = flash_fwd_sm90_kernel<T, TO, D, NWG, false, BN, ST, CL>;
    if constexpr (NWG < 3 && BN == SM90_BLOCK_N)  // soft-capping spills in 160 registers: the plan sends it to NWG = 2
        if (prm.p.softcap > 0.f) kernel = flash_fwd_sm90_kernel<T, TO, D, NWG, true, BN, ST, CL>;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    cudaLaunchAttribute cluster = {};
    cluster.id = cudaLaunchAttributeClusterDimension, cluster.val.clusterDim.x = CL, cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.blockDim = dim3(THREADS), cfg.dynamicSmemBytes = smem, cfg.stream = stream, cfg.attrs = &cluster, cfg.numAttrs = CL > 1;
    // blocks resident at once on this device (of this instance; the soft-capped one alike or fewer)
    static int slots[64];
    int dev = 0, n = 0;
    if ((e = cudaGetDevice(&dev)) != cudaSuccess) return e;
    if (dev < 64 && !slots[dev]) {
        if (CL > 1) {
            cfg.gridDim = dim3(CL);
            e = cudaOccupancyMaxActiveClusters(&n, kernel, &cfg);
        } else if ((e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, THREADS, smem)) == cudaSuccess) {
            int sms = 0;
            e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
            n *= sms;
        }
        if (e != cudaSuccess) return e;
        slots[dev] = n * CL;
    }
    if (CL > 1 && dev < 64 && !slots[dev]) return cudaErrorInvalidClusterSize;  // none fits: the caller runs the blocks alone
    const tail_plan tp = plan_tail(prm.p, batch, BM, BN, D, dev < 64 ? slots[dev] : 0, CL, req);
    if (need) {
        *need = tp.bytes;
        return cudaSuccess;
    }
    const int tiles = (prm.p.n_q + BM - 1) / BM * prm.p.heads_q * batch, tail = tiles - tp.from;
    const bool split = tp.bytes && ws && ws_bytes >= tp.bytes;
    prm.tail_from = split ? tp.from : tiles, prm.tail_splits = split ? tp.splits : 1;
    prm.part_o = split ? static_cast<float *>(ws) : nullptr;
    prm.part_lse = split ? prm.part_o + (size_t)tail * tp.splits * BM * D : nullptr;
    cfg.gridDim = dim3(split ? tp.from + tail * tp.splits : tiles);
    if ((e = cudaLaunchKernelEx(&cfg, kernel, prm)) != cudaSuccess || (e = cudaGetLastError()) != cudaSuccess || !split) return e;
    tail_merge_kernel<TO, D, BM><<<tail * BM, D, 0, stream>>>(prm);
    return cudaGetLastError();
}

template <typename T, typename TO>
cudaError_t dispatch_sm90(sm90_params &p, int batch, int d, const sm90_plan &pl, const sm90_request &req, cudaStream_t s, void *ws, size_t ws_bytes, size_t *need) {
    switch (pl.blk) {
    case SM90_WS176:
        return pl.cl == 2 ? launch_sm90<T, TO, 128, 2, 176, 2, 2>(p, batch, req, s, ws, ws_bytes, need)
                          : launch_sm90<T, TO, 128, 2, 176, 2>(p, batch, req, s, ws, ws_bytes, need);
    case SM90_WS3:
        return pl.cl == 2 ? launch_sm90<T, TO, 64, 3, SM90_BLOCK_N, SM90_STAGES, 2>(p, batch, req, s, ws, ws_bytes, need)
                          : launch_sm90<T, TO, 64, 3>(p, batch, req, s, ws, ws_bytes, need);
    default:
        return d == 64 ? launch_sm90<T, TO, 64, 2>(p, batch, req, s, ws, ws_bytes, need) : launch_sm90<T, TO, 128, 2>(p, batch, req, s, ws, ws_bytes, need);
    }
}
template <typename T>
cudaError_t dispatch_out(sm90_params &p, int batch, int d, const sm90_plan &pl, const sm90_request &req, bool f32_out, cudaStream_t s, void *ws, size_t ws_bytes,
                         size_t *need) {
    return f32_out ? dispatch_sm90<T, float>(p, batch, d, pl, req, s, ws, ws_bytes, need) : dispatch_sm90<T, T>(p, batch, d, pl, req, s, ws, ws_bytes, need);
}

}  // namespace

bool flash_sm90_covers(int dk, int dv) {
    if (dk != dv || (dk != 64 && dk != 128)) return false;
    int dev, major, minor;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess)
        return false;
    return major == 9 && minor == 0;  // the sm_90a machine code runs on compute capability 9.0 only
}

cudaError_t flash_fwd_sm90(const attn_params &p, int batch, int heads_kv, int d, const sm90_request &req, bool f16, bool f32_out, cudaStream_t s, void *ws,
                           size_t ws_bytes) {
    sm90_params prm = {};
    prm.p = p;
    // with no cluster of 2 fitting on this device (a small MIG slice, say), again unclustered
    for (sm90_plan pl = plan_sm90(p, batch, d, req);; pl.cl = 1) {
        const int box = pl.bn / pl.cl;  // a block's share of a key tile
        if (!encode_map(&prm.tk, p.k, f16, d, p.n_kv, heads_kv, batch, p.k_s, p.k_h, p.k_b, box) ||
            !encode_map(&prm.tv, p.v, f16, d, p.n_kv, heads_kv, batch, p.v_s, p.v_h, p.v_b, box))
            return cudaErrorNotSupported;
        const cudaError_t e = f16 ? dispatch_out<__half>(prm, batch, d, pl, req, f32_out, s, ws, ws_bytes, nullptr)
                                  : dispatch_out<__nv_bfloat16>(prm, batch, d, pl, req, f32_out, s, ws, ws_bytes, nullptr);
        if (e != cudaErrorInvalidClusterSize || pl.cl == 1) return e;
    }
}

size_t flash_fwd_sm90_workspace(const attn_params &p, int batch, int d, const sm90_request &req, bool f16, bool f32_out) {
    sm90_params prm = {};
    prm.p = p;
    size_t need = 0;
    for (sm90_plan pl = plan_sm90(p, batch, d, req);; pl.cl = 1) {  // falling back as flash_fwd_sm90 does
        const cudaError_t e = f16 ? dispatch_out<__half>(prm, batch, d, pl, req, f32_out, 0, nullptr, 0, &need)
                                  : dispatch_out<__nv_bfloat16>(prm, batch, d, pl, req, f32_out, 0, nullptr, 0, &need);
        if (e != cudaErrorInvalidClusterSize || pl.cl == 1) return e == cudaSuccess ? need : 0;
    }
}

}  // namespace lc_cuda
