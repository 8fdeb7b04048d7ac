/* The pattern catalogue and the cost model's pair counts against the masks themselves:
 * every pattern's cells counted with lc_mask_allows equal lc_mask_count, and the closed
 * forms of lc_pairs_* (and so the cost model's sparse FLOPs) equal lc_mask_count of the
 * same lc_mask on fresh random parameters. */
#include <string.h>

#include "harness.h"
#include "patterns.h" /* the catalogue: tools/patterns.c, compiled into this test */

static void test_sum_clamped(test_rng *g) {
    for (int it = 0; it < 3000; it++) {
        int64_t a = (int64_t)test_below(g, 50) - 10, b = a + (int64_t)test_below(g, 60) - 5;
        int64_t off = (int64_t)test_below(g, 80) - 40, lo = (int64_t)test_below(g, 60) - 30, hi = lo + (int64_t)test_below(g, 40);
        double want = 0;
        for (int64_t p = a; p < b; p++) {
            int64_t x = p + off;
            want += (double)(x < lo ? lo : x > hi ? hi : x);
        }
        double got = lc_sum_clamped(a, b, off, lo, hi);
        CHECK(got == want, "sum_clamped(%lld, %lld, %lld, %lld, %lld) = %g, want %g", (long long)a, (long long)b, (long long)off,
              (long long)lo, (long long)hi, got, want);
    }
}

static void test_catalogue(test_rng *g) {
    int64_t sizes[] = {24, 4, 5, 7, 12, 13, 31, 64, 97, 200};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] + 4; si++) {
        int64_t n = si < sizeof sizes / sizeof sizes[0] ? sizes[si] : 4 + (int64_t)test_below(g, 300);
        for (int k = 0; k < pattern_count(); k++) {
            pattern pat;
            lc_status s = pattern_build(k, n, &pat);
            CHECK(s == LC_OK, "pattern %d n=%lld: %s", k, (long long)n, lc_last_error());
            if (s) continue;
            int64_t cells = 0, upper = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    int a = lc_mask_allows(&pat.mask, i, j);
                    cells += a;
                    upper += a && j > i;
                }
            int64_t count = lc_mask_count(&pat.mask, n, n);
            CHECK(cells == count, "%s n=%lld: %lld cells drawn, lc_mask_count %lld", pat.name, (long long)n, (long long)cells, (long long)count);
            CHECK(cells > 0 && cells <= n * n, "%s n=%lld: %lld cells", pat.name, (long long)n, (long long)cells);
            if (k == 0) CHECK(cells == n * n, "full is the whole grid");
            if (k == 1) CHECK(cells == n * (n + 1) / 2, "causal is the lower triangle");
            if (k >= 2 && n >= 12) CHECK(cells < n * n, "%s n=%lld is sparse", pat.name, (long long)n);
            if (pat.mask.causal) CHECK(upper == 0, "%s is causal: nothing above the diagonal", pat.name);
            if (k == 2) CHECK((double)cells == lc_pairs_sliding(n, pat.mask.window.left + 1), "sliding-window closed form");
            for (int64_t i = 0; i < n; i++) CHECK(lc_mask_allows(&pat.mask, i, i), "%s n=%lld: row %lld sees itself", pat.name, (long long)n, (long long)i);
        }
    }
    pattern pat;
    CHECK(pattern_build(9, 24, &pat) == LC_EINVAL, "pattern index out of range");
    CHECK(pattern_build(0, 3, &pat) == LC_EINVAL && strstr(lc_last_error(), "n=3"), "grid too small: %s", lc_last_error());
    CHECK(pattern_build(0, 5000, &pat) == LC_EINVAL, "grid too large");
    /* the classic 24 x 24 pictures: full 576, causal 300 */
    pattern_build(0, 24, &pat);
    CHECK(lc_mask_count(&pat.mask, 24, 24) == 576, "24x24 full = 576");
    pattern_build(1, 24, &pat);
    CHECK(lc_mask_count(&pat.mask, 24, 24) == 300, "24x24 causal = 300");
}

/* The closed forms against lc_mask_count, directly and through the cost model. */
static void test_pair_counts(test_rng *g) {
    lc_model_shape m;
    lc_model_preset("llama-3.1-8b", &m);
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    for (int it = 0; it < 300; it++) {
        int64_t n = 1 + (int64_t)test_below(g, 400);
        lc_mask mk = lc_mask_causal();
        CHECK((double)lc_mask_count(&mk, n, n) == lc_pairs_causal(n), "causal n=%lld", (long long)n);

        int64_t w = 1 + (int64_t)test_below(g, 500);
        mk = lc_mask_sliding_window(w);
        double want = (double)lc_mask_count(&mk, n, n);
        CHECK(lc_pairs_sliding(n, w) == want, "sliding n=%lld w=%lld: %g vs %g", (long long)n, (long long)w, lc_pairs_sliding(n, w), want);
        p.window = w;
        lc_cost_row r;
        CHECK(lc_cost_eval(&p, LC_TECH_SLIDING, n, &r) == LC_OK && r.pairs == want, "cost sliding pairs n=%lld", (long long)n);

        int64_t lw = (int64_t)test_below(g, 60) + 1, lg = (int64_t)test_below(g, 12);
        int64_t globals[16];
        for (int64_t k = 0; k < lg; k++) globals[k] = k;
        mk = lc_mask_full();
        mk.window = (lc_mask_window){1, lw, lw, 1};
        mk.global = (lc_mask_global){globals, lg};
        want = (double)lc_mask_count(&mk, n, n);
        CHECK(lc_pairs_longformer(n, lw, lg) == want, "longformer n=%lld w=%lld g=%lld: %g vs %g", (long long)n, (long long)lw, (long long)lg,
              lc_pairs_longformer(n, lw, lg), want);
        p.lf_window = lw, p.lf_global = lg;
        CHECK(lc_cost_eval(&p, LC_TECH_LONGFORMER, n, &r) == LC_OK && r.pairs == want, "cost longformer pairs");

        int64_t blk = 1 + (int64_t)test_below(g, 16), nb = 1 + (int64_t)test_below(g, 30);
        int64_t bw = (int64_t)test_below(g, 3), bg = (int64_t)test_below(g, 3), br = (int64_t)test_below(g, 5);
        int64_t nn = blk * nb;
        mk = lc_mask_full();
        mk.bigbird = (lc_mask_bigbird){blk, bw, bg, br, g->seed + (uint64_t)it, nn};
        want = (double)lc_mask_count(&mk, nn, nn);
        CHECK(lc_pairs_bigbird(nn, blk, bw, bg, br) == want, "bigbird n=%lld block=%lld w=%lld g=%lld r=%lld: %g vs %g", (long long)nn,
              (long long)blk, (long long)bw, (long long)bg, (long long)br, lc_pairs_bigbird(nn, blk, bw, bg, br), want);
        p.bb_block = blk, p.bb_window = bw, p.bb_global = bg, p.bb_random = br;
        CHECK(lc_cost_eval(&p, LC_TECH_BIGBIRD, nn, &r) == LC_OK && r.pairs == want, "cost bigbird pairs");
        /* a partial last block: the estimate stays within one block of rows and keys of the truth */
        int64_t part = nn + 1 + (int64_t)test_below(g, (uint64_t)blk);
        mk.bigbird.n_keys = part;
        double got = lc_pairs_bigbird(part, blk, bw, bg, br), truth = (double)lc_mask_count(&mk, part, part);
        CHECK(got >= truth - (double)(blk * part) && got <= truth + (double)(blk * part), "bigbird partial n=%lld: %g vs %g",
              (long long)part, got, truth);
    }
}

int main(void) {
    test_rng g = {test_seed("test_patterns"), 0};
    test_sum_clamped(&g);
    test_catalogue(&g);
    test_pair_counts(&g);
    return test_finish("test_patterns");
}
