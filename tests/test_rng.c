/* The counter-based RNG: Philox4x32-10 known answers, distributions, and independence
 * from the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void test_known_answers(void) {
    /* Random123's kat_vectors for philox4x32_10 */
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0}, {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        lc_philox4x32(ctr[t], key[t], out);
        CHECK(!memcmp(out, want[t], sizeof out), "philox KAT %d: %08x %08x %08x %08x", t, out[0], out[1], out[2], out[3]);
    }
}

static void test_distributions(uint64_t seed) {
    enum { N = 200000 };
    double s = 0, s2 = 0, mn = 1, mx = 0;
    for (int i = 0; i < N; i++) {
        double u = lc_rng_uniform(seed, (uint64_t)i);
        s += u, s2 += u * u;
        mn = u < mn ? u : mn, mx = u > mx ? u : mx;
    }
    double mean = s / N, var = s2 / N - mean * mean;
    CHECK(mn >= 0 && mx < 1, "uniform in [0,1): %g %g", mn, mx);
    CHECK(fabs(mean - 0.5) < 0.005 && fabs(var - 1.0 / 12) < 0.002, "uniform moments %g %g", mean, var);
    s = s2 = 0;
    for (int i = 0; i < N; i++) {
        double z = lc_rng_normal(seed, (uint64_t)i);
        s += z, s2 += z * z;
    }
    mean = s / N, var = s2 / N - mean * mean;
    CHECK(fabs(mean) < 0.01 && fabs(var - 1) < 0.02, "normal moments %g %g", mean, var);
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        uint64_t b = lc_rng_below(seed, (uint64_t)i, 7);
        CHECK(b < 7, "below(7) gave %llu", (unsigned long long)b);
        if (b < 7) hist[b]++;
    }
    for (int b = 0; b < 7; b++) CHECK(abs(hist[b] - 10000) < 500, "below(7) bucket %d: %d", b, hist[b]);
    CHECK(lc_rng_u32(seed, 5) == lc_rng_u32(seed, 5) && lc_rng_u32(seed, 5) != lc_rng_u32(seed + 1, 5), "pure function of (seed, index)");
}

static void test_thread_independence(uint64_t seed) {
    enum { N = 100003 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float)), *c = malloc(N * sizeof(float));
    lc_rng_fill_normal(a, N, seed, 7, 0, 1, 1);
    lc_rng_fill_normal(b, N, seed, 7, 0, 1, 2);
    lc_rng_fill_normal(c, N, seed, 7, 0, 1, 3);
    CHECK(!memcmp(a, b, N * sizeof(float)) && !memcmp(a, c, N * sizeof(float)), "normal fill independent of threads");
    lc_rng_fill_uniform(a, N, seed, 0, -2, 3, 1);
    lc_rng_fill_uniform(b, N, seed, 0, -2, 3, 3);
    CHECK(!memcmp(a, b, N * sizeof(float)), "uniform fill independent of threads");
    int in_range = 1;
    for (int i = 0; i < N; i++) in_range &= a[i] >= -2 && a[i] <= 3;
    CHECK(in_range, "uniform fill in [lo, hi]");
    lc_rng_fill_uniform(c, N - 10, seed, 10, -2, 3, 2); /* offset: draw 10 + i */
    CHECK(!memcmp(a + 10, c, (N - 10) * sizeof(float)), "offset selects the draws");
    free(a), free(b), free(c);
}

int main(void) {
    uint64_t seed = test_seed("test_rng");
    test_known_answers();
    test_distributions(seed);
    test_thread_independence(seed);
    return test_finish("test_rng");
}
