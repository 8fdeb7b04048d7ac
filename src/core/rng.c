/* Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011). Draw `index` under `seed` is the
 * Philox image of counter (index, 0) under key seed, so any thread can make any draw. */
#include "longctx/core.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void lc_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Four 32-bit words for (seed, index, lane); lane separates independent uses. */
static void draw4(uint64_t seed, uint64_t index, uint32_t lane, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), lane, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    lc_philox4x32(ctr, key, out);
}

uint32_t lc_rng_u32(uint64_t seed, uint64_t index) {
    uint32_t r[4];
    draw4(seed, index, 0, r);
    return r[0];
}

double lc_rng_uniform(uint64_t seed, uint64_t index) {
    uint32_t r[4];
    draw4(seed, index, 0, r);
    uint64_t bits = ((uint64_t)r[0] << 21) ^ (r[1] >> 11); /* 53 bits */
    return (double)bits * 0x1p-53;
}

double lc_rng_normal(uint64_t seed, uint64_t index) {
    uint32_t r[4];
    draw4(seed, index, 1, r);
    double u1 = ((double)(((uint64_t)r[0] << 21) ^ (r[1] >> 11)) + 0.5) * 0x1p-53; /* (0,1) */
    double u2 = (double)(((uint64_t)r[2] << 21) ^ (r[3] >> 11)) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t lc_rng_below(uint64_t seed, uint64_t index, uint64_t n) {
    /* Rejection on 64-bit words: unbiased; each retry uses the next lane. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (uint32_t lane = 2;; lane++) {
        uint32_t r[4];
        draw4(seed, index, lane, r);
        uint64_t x = ((uint64_t)r[0] << 32) | r[1];
        if (x < limit) return x % n;
        x = ((uint64_t)r[2] << 32) | r[3];
        if (x < limit) return x % n;
    }
}

void lc_rng_fill_uniform(float *x, size_t n, uint64_t seed, uint64_t offset, float lo, float hi, int threads) {
    int nt = lc_threads_resolve(threads);
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * lc_rng_uniform(seed, offset + i));
}

void lc_rng_fill_normal(float *x, size_t n, uint64_t seed, uint64_t offset, float mean, float stddev, int threads) {
    int nt = lc_threads_resolve(threads);
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + stddev * lc_rng_normal(seed, offset + i));
}
