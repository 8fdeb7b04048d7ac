/* Loading and storing tensor elements of any storage dtype as f32 (internal). */
#ifndef LONGCTX_TENSOR_IO_H
#define LONGCTX_TENSOR_IO_H

#include "longctx/core.h"

static inline float lc_load_elem(const void *base, lc_dtype t, int64_t off) {
    switch (t) {
    case LC_F16: return lc_f16_to_f32(((const uint16_t *)base)[off]);
    case LC_BF16: return lc_bf16_to_f32(((const uint16_t *)base)[off]);
    default: return ((const float *)base)[off];
    }
}

static inline void lc_store_elem(void *base, lc_dtype t, int64_t off, float x) {
    switch (t) {
    case LC_F16: ((uint16_t *)base)[off] = lc_f32_to_f16(x); break;
    case LC_BF16: ((uint16_t *)base)[off] = lc_f32_to_bf16(x); break;
    default: ((float *)base)[off] = x; break;
    }
}

#endif
