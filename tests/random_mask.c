/* Random masks of every kind, for tests. */
#include "random_mask.h"

const char *const test_mask_kind_name[TEST_MASK_KINDS] = {"full", "causal", "window", "dilated", "longformer", "sinks", "strided", "fixed", "bigbird", "blocks", "mixed"};

lc_mask test_random_mask(int kind, test_rng *r, int64_t n_q, int64_t n_kv, test_mask_store *st) {
    lc_mask m = lc_mask_full();
    m.q_offset = test_below(r, 3) == 0 ? (int64_t)test_below(r, 40) : 0;
    m.causal = kind == 1 ? 1 : kind == 0 ? 0 : (int)test_below(r, 2);
    int64_t span = m.q_offset + n_q > n_kv ? m.q_offset + n_q : n_kv;
    if (kind == 2 || kind == 3 || kind == 4 || kind == 5 || kind == 6 || kind == 10) {
        m.window.enabled = 1;
        m.window.left = (int64_t)test_below(r, 12 + (uint64_t)span / 4) - 1;
        m.window.right = (int64_t)test_below(r, 12 + (uint64_t)span / 4) - 1;
        if (kind == 3 || kind == 10) m.window.dilation = 1 + (int64_t)test_below(r, 4);
    }
    if (kind == 4 || kind == 10) {
        int64_t count = 1 + (int64_t)test_below(r, 6), pos = (int64_t)test_below(r, 5);
        for (int64_t g = 0; g < count; g++, pos += 1 + (int64_t)test_below(r, span / 4 + 1)) st->global[g] = pos;
        m.global.index = st->global, m.global.count = count;
    }
    if (kind == 5 || kind == 10) m.sinks = 1 + (int64_t)test_below(r, 6);
    if (kind == 6 || kind == 7 || kind == 10) m.stride.every = 1 + (int64_t)test_below(r, 9);
    if (kind == 7) m.stride.summary = 1 + (int64_t)test_below(r, (uint64_t)m.stride.every);
    if (kind == 8 || kind == 10) {
        m.bigbird.block = 1 + (int64_t)test_below(r, 8) + span / 64;
        m.bigbird.window_blocks = (int64_t)test_below(r, 2);
        m.bigbird.global_blocks = (int64_t)test_below(r, 2);
        m.bigbird.random_blocks = (int64_t)test_below(r, 4);
        m.bigbird.seed = test_below(r, 1000);
        m.bigbird.n_keys = n_kv + (int64_t)test_below(r, 3);
    }
    if (kind == 9 || kind == 10) {
        m.blocks.block_q = 1 + (int64_t)test_below(r, 16) + span / 64;
        m.blocks.block_k = 1 + (int64_t)test_below(r, 16) + span / 64;
        m.blocks.n_qb = (m.q_offset + n_q + m.blocks.block_q - 1) / m.blocks.block_q;
        m.blocks.n_kb = (n_kv + m.blocks.block_k - 1) / m.blocks.block_k;
        if (m.blocks.n_qb * m.blocks.n_kb > 64 * 64) m.blocks.block_q = m.blocks.block_k = 0; /* too many: skip */
        else {
            for (int64_t b = 0; b < m.blocks.n_qb * m.blocks.n_kb; b++) st->bits[b] = test_below(r, 3) == 0;
            m.blocks.bits = st->bits;
        }
    }
    return m;
}

