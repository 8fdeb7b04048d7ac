/* The catalogue of sparse attention patterns that `longctx patterns` draws: each one an
 * lc_mask, so the picture is exactly what the kernels compute (docs/patterns.md). */
#ifndef LONGCTX_TOOLS_PATTERNS_H
#define LONGCTX_TOOLS_PATTERNS_H

#include "longctx/mask.h"

typedef struct pattern {
    const char *name;        /* "full", "causal", "sliding-window", ... */
    const char *description; /* one line with the parameters used */
    lc_mask mask;            /* points into the struct's own storage below */
    int64_t n;               /* the grid it was built for */
    int64_t global_index[8];
    uint8_t block_bits[16 * 16];
    char description_buf[160];
} pattern;

int pattern_count(void); /* 9 */
/* Pattern k (0 <= k < pattern_count()) for an n x n grid, 4 <= n <= 4096; the parameters
 * scale with n (window n/5, block n/6, stride ~sqrt(n), ...). The mask points into *out:
 * do not copy the struct, use it where it lies. */
lc_status pattern_build(int k, int64_t n, pattern *out);

#endif
