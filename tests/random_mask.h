/* Random masks of every kind, for tests: kind 0 full, 1 causal, 2 window, 3 dilated,
 * 4 longformer, 5 sinks, 6 strided, 7 fixed, 8 bigbird, 9 blocks, 10 all mixed. */
#ifndef LONGCTX_TEST_RANDOM_MASK_H
#define LONGCTX_TEST_RANDOM_MASK_H

#include "harness.h"

enum { TEST_MASK_KINDS = 11 };
extern const char *const test_mask_kind_name[TEST_MASK_KINDS];

typedef struct test_mask_store { /* the arrays a mask points to */
    int64_t global[16];
    uint8_t bits[64 * 64];
} test_mask_store;

lc_mask test_random_mask(int kind, test_rng *r, int64_t n_q, int64_t n_kv, test_mask_store *st);

#endif
