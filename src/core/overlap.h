/* Whether two byte ranges share a byte: the check every descriptor with raw output
 * pointers makes, so that an output never aliases an input (shared by the areas). */
#ifndef LONGCTX_CORE_OVERLAP_H
#define LONGCTX_CORE_OVERLAP_H

#include <stddef.h>
#include <stdint.h>

static inline int lc_overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes) {
    if (!a || !b || !a_bytes || !b_bytes) return 0;
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

#endif
