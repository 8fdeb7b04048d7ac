/* Ring attention internals shared by the plan, the driver and the CPU compute table. */
#ifndef LONGCTX_RING_INTERNAL_H
#define LONGCTX_RING_INTERNAL_H

#include "longctx/ring.h"

/* Whether queries [qs, qs+c) may see some key of [ks, ks+c) under the sequence's mask. */
int lc_ring_pair_visible(const lc_mask *m, int64_t qs, int64_t ks, int64_t c);
/* The mask of one block call: queries from qs against keys from ks (q_offset = qs - ks). */
lc_mask lc_ring_block_mask(const lc_mask *m, int64_t qs, int64_t ks);

/* Tokens [s0, s0+len) of a view. */
static inline lc_tensor lc_ring_seq_slice(const lc_tensor *t, int64_t s0, int64_t len) {
    lc_tensor v = *t;
    int64_t skip = s0 * t->stride[LC_SEQ];
    v.data = (uint8_t *)t->data + (size_t)skip * lc_dtype_size(t->dtype);
    v.capacity = t->capacity - skip;
    v.shape[LC_SEQ] = len;
    return v;
}

#endif
