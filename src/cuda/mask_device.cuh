// The subset of lc_mask that the CUDA kernels evaluate on the device: causal, a window
// (left/right, no dilation), sinks and a block bitmap, united then intersected with
// causality, exactly as lc_mask_allows (src/attention/mask.c) defines them.
#pragma once

#include <stdint.h>  // uint8_t

namespace lc_cuda {

// Positions are 32-bit on the device (the host refuses q_offset + n >= 2^30), which keeps
// the kernels' register pressure down.
struct device_mask {
    int q_offset;
    int causal;
    int any_pattern;  // no pattern set: every key (subject to causality)
    int window;       // window enabled
    int left, right;  // -1 = unbounded
    int sinks;
    const uint8_t *bits;  // device copy of the bitmap, or NULL
    int block_q, block_k, n_kb;
};

enum { TILE_EMPTY = 0, TILE_PARTIAL = 1, TILE_FULL = 2 };

__device__ __forceinline__ bool mask_allows(const device_mask &m, int p, int j) {
    if (m.causal && j > p) return false;
    if (!m.any_pattern) return true;
    if (m.window && (m.left < 0 || p - j <= m.left) && (m.right < 0 || j - p <= m.right)) return true;
    if (j < m.sinks) return true;
    if (m.bits && m.bits[(p / m.block_q) * m.n_kb + j / m.block_k]) return true;
    return false;
}

__device__ __forceinline__ int unite(int a, int b) { return a > b ? a : b; }  // EMPTY < PARTIAL < FULL

// Positions p0..p1 (inclusive) against keys j0..j1 (inclusive); conservative like
// lc_mask_classify_tile: EMPTY and FULL are exact claims, PARTIAL may be either.
__device__ __forceinline__ int mask_classify(const device_mask &m, int p0, int p1, int j0, int j1) {
    int causal = TILE_FULL;
    if (m.causal) {
        if (j0 > p1) return TILE_EMPTY;
        if (j1 > p0) causal = TILE_PARTIAL;
    }
    int u = m.any_pattern ? TILE_EMPTY : TILE_FULL;
    if (m.window) {
        bool empty = (m.left >= 0 && j1 < p0 - m.left) || (m.right >= 0 && j0 > p1 + m.right);
        bool full = (m.left < 0 || j0 >= p1 - m.left) && (m.right < 0 || j1 <= p0 + m.right);
        u = unite(u, empty ? TILE_EMPTY : full ? TILE_FULL : TILE_PARTIAL);
    }
    if (m.sinks > 0) u = unite(u, j1 < m.sinks ? TILE_FULL : j0 >= m.sinks ? TILE_EMPTY : TILE_PARTIAL);
    if (m.bits && u != TILE_FULL) {
        int yes = 0, total = 0;
        for (int qb = p0 / m.block_q; qb <= p1 / m.block_q; qb++)
            for (int kb = j0 / m.block_k; kb <= j1 / m.block_k; kb++, total++) yes += m.bits[qb * m.n_kb + kb] != 0;
        u = unite(u, yes == 0 ? TILE_EMPTY : yes == total ? TILE_FULL : TILE_PARTIAL);
    }
    if (u == TILE_EMPTY) return TILE_EMPTY;
    return (u == TILE_FULL && causal == TILE_FULL) ? TILE_FULL : TILE_PARTIAL;
}

}  // namespace lc_cuda
