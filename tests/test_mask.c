/* Masks: the tile classification and the tile fills (query-major and key-major) agree with lc_mask_allows (the single
 * truth) on random masks of every kind; the patterns mean what their papers say; bad
 * masks are refused with a sentence. */
#include <stdlib.h>
#include <string.h>

#include "random_mask.h"
#include "harness.h"

/* Brute force over a tile: bit 0 = some pair allowed, bit 1 = some pair refused. */
static int tile_truth(const lc_mask *m, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    int seen = 0;
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) seen |= lc_mask_allows(m, i, j) ? 1 : 2;
    return seen;
}

static void test_tiles_agree(uint64_t seed) {
    test_rng r = {seed, 0};
    uint8_t fill[64 * 64], fill_keys[64 * 64];
    for (int kind = 0; kind < TEST_MASK_KINDS; kind++) {
        long wrong_class = 0, wrong_fill = 0, wrong_keys = 0, empty_missed = 0;
        for (int trial = 0; trial < 60; trial++) {
            int64_t n_q = 1 + (int64_t)test_below(&r, 150), n_kv = 1 + (int64_t)test_below(&r, 150);
            test_mask_store st;
            lc_mask m = test_random_mask(kind, &r, n_q, n_kv, &st);
            CHECK(lc_mask_check(&m, n_q, n_kv) == LC_OK, "%s mask valid: %s", test_mask_kind_name[kind], lc_last_error());
            /* one trial in four uses 1 x 1 tiles: a single cell is classified exactly */
            int single = test_below(&r, 4) == 0;
            int64_t tq = single ? 1 : 1 + (int64_t)test_below(&r, 40), tk = single ? 1 : 1 + (int64_t)test_below(&r, 40);
            int64_t count = 0;
            for (int64_t i0 = 0; i0 < n_q; i0 += tq)
                for (int64_t j0 = 0; j0 < n_kv; j0 += tk) {
                    int64_t i1 = i0 + tq < n_q ? i0 + tq : n_q, j1 = j0 + tk < n_kv ? j0 + tk : n_kv;
                    int truth = tile_truth(&m, i0, i1, j0, j1);
                    lc_tile_class c = lc_mask_classify_tile(&m, i0, i1, j0, j1);
                    if ((c == LC_TILE_EMPTY && (truth & 1)) || (c == LC_TILE_FULL && (truth & 2))) wrong_class++;
                    /* interval masks are classified exactly: no empty tile is missed */
                    if ((kind <= 2 || single) && truth == 2 && c != LC_TILE_EMPTY) empty_missed++;
                    lc_mask_fill_tile(&m, i0, i1 - i0, j0, j1 - j0, fill, 64);
                    lc_mask_fill_tile_keys(&m, i0, i1 - i0, j0, j1 - j0, fill_keys, 64);
                    for (int64_t i = i0; i < i1; i++)
                        for (int64_t j = j0; j < j1; j++) {
                            int a = lc_mask_allows(&m, i, j);
                            count += a;
                            if (fill[(i - i0) * 64 + (j - j0)] != a) wrong_fill++;
                            if (fill_keys[(j - j0) * 64 + (i - i0)] != a) wrong_keys++;
                        }
                }
            CHECK(lc_mask_count(&m, n_q, n_kv) == count, "%s: lc_mask_count %lld vs %lld", test_mask_kind_name[kind], (long long)lc_mask_count(&m, n_q, n_kv), (long long)count);
        }
        CHECK(wrong_class == 0, "%s: %ld tiles misclassified", test_mask_kind_name[kind], wrong_class);
        CHECK(wrong_fill == 0, "%s: %ld filled entries differ from lc_mask_allows", test_mask_kind_name[kind], wrong_fill);
        CHECK(wrong_keys == 0, "%s: %ld key-major filled entries differ from lc_mask_allows", test_mask_kind_name[kind], wrong_keys);
        CHECK(empty_missed == 0, "%s: %ld empty tiles not classified empty", test_mask_kind_name[kind], empty_missed);
    }
}

static void test_meanings(void) {
    /* Mistral: causal window W sees min(W, p+1) keys, the last ones */
    lc_mask w = lc_mask_sliding_window(4);
    int ok = 1;
    for (int64_t i = 0; i < 20; i++) {
        int64_t seen = 0;
        for (int64_t j = 0; j < 20; j++) seen += lc_mask_allows(&w, i, j);
        ok &= seen == (i + 1 < 4 ? i + 1 : 4) && lc_mask_allows(&w, i, i) && (i < 3 || lc_mask_allows(&w, i, i - 3)) && (i < 4 || !lc_mask_allows(&w, i, i - 4));
    }
    CHECK(ok, "sliding window 4 = the last 4 keys incl. self");
    CHECK(lc_mask_count(&w, 1000, 1000) == 4 * 1000 - 6, "window count");

    /* prefill into a cache: queries at positions 10..14 over keys 0..14 */
    lc_mask c = lc_mask_causal();
    c.q_offset = 10;
    CHECK(lc_mask_allows(&c, 0, 10) && !lc_mask_allows(&c, 0, 11) && lc_mask_allows(&c, 4, 14), "q_offset shifts causality");
    CHECK(lc_mask_count(&c, 5, 15) == 11 + 12 + 13 + 14 + 15, "prefill count");

    /* Longformer: global token 5 sees all and is seen by all */
    int64_t g[1] = {5};
    lc_mask lf = lc_mask_full();
    lf.window.enabled = 1, lf.window.left = 1, lf.window.right = 1;
    lf.global.index = g, lf.global.count = 1;
    ok = 1;
    for (int64_t j = 0; j < 30; j++) ok &= lc_mask_allows(&lf, 5, j) && lc_mask_allows(&lf, j, 5);
    CHECK(ok && !lc_mask_allows(&lf, 20, 10) && lc_mask_allows(&lf, 20, 21), "longformer global");

    /* StreamingLLM: sinks 2 + window 3 */
    lc_mask s = lc_mask_sliding_window(3);
    s.sinks = 2;
    CHECK(lc_mask_allows(&s, 100, 0) && lc_mask_allows(&s, 100, 1) && !lc_mask_allows(&s, 100, 2) && lc_mask_allows(&s, 100, 98) &&
              !lc_mask_allows(&s, 100, 97) && !lc_mask_allows(&s, 1, 2),
          "sinks + window");

    /* dilated window: every 2nd key within 4 */
    lc_mask d = lc_mask_full();
    d.window.enabled = 1, d.window.left = 4, d.window.right = 4, d.window.dilation = 2;
    CHECK(lc_mask_allows(&d, 10, 6) && !lc_mask_allows(&d, 10, 7) && lc_mask_allows(&d, 10, 14) && !lc_mask_allows(&d, 10, 16), "dilated");

    /* strided (Sparse Transformer): window l + every l-th */
    lc_mask st = lc_mask_sliding_window(4);
    st.stride.every = 4;
    CHECK(lc_mask_allows(&st, 20, 0) && lc_mask_allows(&st, 20, 8) && !lc_mask_allows(&st, 20, 9) && lc_mask_allows(&st, 20, 17), "strided");
    lc_mask fx = lc_mask_causal();
    fx.stride.every = 4, fx.stride.summary = 1;
    CHECK(lc_mask_allows(&fx, 20, 3) && lc_mask_allows(&fx, 20, 7) && !lc_mask_allows(&fx, 20, 6), "fixed summary columns");

    /* BigBird: each query block sees exactly r random blocks beyond window and globals */
    lc_mask bb = lc_mask_full();
    bb.bigbird.block = 8, bb.bigbird.window_blocks = 1, bb.bigbird.global_blocks = 1, bb.bigbird.random_blocks = 3;
    bb.bigbird.seed = 42, bb.bigbird.n_keys = 8 * 32;
    ok = 1;
    for (int64_t qb = 1; qb < 32; qb++) {
        int64_t extra = 0, visible = 0;
        for (int64_t kb = 0; kb < 32; kb++) {
            int a = lc_mask_allows(&bb, qb * 8, kb * 8);
            visible += a;
            int fixed = kb == 0 || (kb >= qb - 1 && kb <= qb + 1);
            if (a && !fixed) extra++;
            for (int64_t t = 0; t < 8; t++) ok &= lc_mask_allows(&bb, qb * 8 + t, kb * 8 + 7 - t) == a; /* block granular */
        }
        ok &= extra == 3;
    }
    CHECK(ok, "bigbird: 3 random blocks per query block, block granular");
    CHECK(lc_mask_count(&bb, 256, 256) == lc_mask_count(&bb, 256, 256), "bigbird deterministic");
    lc_mask bb2 = bb;
    bb2.bigbird.seed = 43;
    CHECK(lc_mask_count(&bb2, 256, 256) == lc_mask_count(&bb, 256, 256), "same count for another seed");
    int differs = 0;
    for (int64_t j = 0; j < 256; j += 8) differs |= lc_mask_allows(&bb, 200, j) != lc_mask_allows(&bb2, 200, j);
    CHECK(differs, "another seed draws other blocks");

    /* block-sparse bitmap */
    uint8_t bits[4] = {1, 0, 0, 1};
    lc_mask bs = lc_mask_full();
    bs.blocks.bits = bits, bs.blocks.block_q = 2, bs.blocks.block_k = 3, bs.blocks.n_qb = 2, bs.blocks.n_kb = 2;
    CHECK(lc_mask_allows(&bs, 1, 2) && !lc_mask_allows(&bs, 1, 3) && lc_mask_allows(&bs, 3, 5) && !lc_mask_allows(&bs, 2, 0), "bitmap");
    CHECK(lc_mask_count(&bs, 4, 6) == 12, "bitmap count");
}

static void test_bad_masks(void) {
    lc_mask m = lc_mask_full();
    m.q_offset = -1;
    CHECK(lc_mask_check(&m, 4, 4) == LC_EINVAL && strstr(lc_last_error(), "q_offset"), "negative offset: %s", lc_last_error());
    m = lc_mask_sliding_window(4), m.window.left = -5;
    CHECK(lc_mask_check(&m, 4, 4) == LC_EINVAL && strstr(lc_last_error(), "window.left"), "window.left: %s", lc_last_error());
    int64_t g[3] = {4, 2, 9};
    m = lc_mask_full(), m.global.index = g, m.global.count = 3;
    CHECK(lc_mask_check(&m, 4, 4) == LC_EINVAL && strstr(lc_last_error(), "increasing"), "unsorted globals: %s", lc_last_error());
    m = lc_mask_full(), m.global.count = 2;
    CHECK(lc_mask_check(&m, 4, 4) == LC_EINVAL && strstr(lc_last_error(), "global.index"), "null globals: %s", lc_last_error());
    m = lc_mask_full(), m.stride.every = 4, m.stride.summary = 5;
    CHECK(lc_mask_check(&m, 4, 4) == LC_EINVAL && strstr(lc_last_error(), "summary"), "summary: %s", lc_last_error());
    m = lc_mask_full(), m.bigbird.block = 4, m.bigbird.random_blocks = 100, m.bigbird.n_keys = 16;
    CHECK(lc_mask_check(&m, 16, 16) == LC_EINVAL && strstr(lc_last_error(), "random_blocks"), "random_blocks: %s", lc_last_error());
    m.bigbird.random_blocks = 2, m.bigbird.n_keys = 8;
    CHECK(lc_mask_check(&m, 16, 16) == LC_EINVAL && strstr(lc_last_error(), "n_keys"), "n_keys: %s", lc_last_error());
    uint8_t bits[4] = {1, 1, 1, 1};
    m = lc_mask_full(), m.blocks.bits = bits, m.blocks.block_q = 4, m.blocks.block_k = 4, m.blocks.n_qb = 2, m.blocks.n_kb = 2;
    CHECK(lc_mask_check(&m, 8, 8) == LC_OK, "bitmap covers");
    CHECK(lc_mask_check(&m, 9, 8) == LC_EINVAL && strstr(lc_last_error(), "n_qb"), "bitmap too small: %s", lc_last_error());
    m.blocks.block_k = 0;
    CHECK(lc_mask_check(&m, 8, 8) == LC_EINVAL && strstr(lc_last_error(), "block_k"), "block 0: %s", lc_last_error());
    CHECK(lc_mask_check(NULL, 8, 8) == LC_EINVAL, "null mask");
    m = lc_mask_full();
    CHECK(lc_mask_check(&m, 0, 8) == LC_EINVAL, "zero queries");
}

int main(void) {
    uint64_t seed = test_seed("test_mask");
    test_tiles_agree(seed);
    test_meanings();
    test_bad_masks();
    return test_finish("test_mask");
}
