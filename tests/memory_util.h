/* Helpers shared by the memory tests: random BSHD tensors that own their buffer. */
#ifndef LONGCTX_TEST_MEMORY_UTIL_H
#define LONGCTX_TEST_MEMORY_UTIL_H

#include "harness.h"

/* A contiguous [b, n, h, d] tensor of dtype t filled with normal draws (free its data). */
lc_tensor mem_test_tensor(lc_dtype t, int64_t b, int64_t n, int64_t h, int64_t d, test_rng *r);
/* Element (b, s, h, d) as float, any dtype. */
float mem_test_elem(const lc_tensor *t, int64_t b, int64_t s, int64_t h, int64_t d);
/* The view of head h alone (shape[2] = 1). */
lc_tensor mem_test_head(const lc_tensor *t, int64_t h);

#endif
