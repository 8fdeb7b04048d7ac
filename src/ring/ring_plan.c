/* Ring attention's plan: where each rank's chunks sit in the sequence, which key/value
 * slices a rank needs, how far each slice travels around the ring, and whether lc_mask
 * can express every block call. Pure functions of (layout, size, n_local, mask), so every
 * rank derives the same plan without talking. See include/longctx/ring.h. */
#include "ring_internal.h"

#include <string.h>

int lc_ring_chunks(lc_ring_layout layout) { return layout == LC_RING_ZIGZAG ? 2 : 1; }

int64_t lc_ring_chunk_start(lc_ring_layout layout, int size, int rank, int chunk, int64_t n_local) {
    if (layout != LC_RING_ZIGZAG) return (int64_t)rank * n_local;
    int64_t c = n_local / 2;
    return (chunk == 0 ? (int64_t)rank : (int64_t)(2 * size - 1 - rank)) * c;
}

lc_status lc_ring_split_check(lc_ring_layout layout, int size, int64_t n_total) {
    if (layout != LC_RING_CONTIGUOUS && layout != LC_RING_ZIGZAG)
        return lc_error(LC_EINVAL, "ring layout=%d must be LC_RING_CONTIGUOUS or LC_RING_ZIGZAG", (int)layout);
    if (size <= 0) return lc_error(LC_EINVAL, "ring size=%d must be positive", size);
    int64_t parts = (int64_t)size * lc_ring_chunks(layout);
    if (n_total < parts || n_total % parts)
        return lc_error(LC_EINVAL, "sequence length %lld does not split into %lld equal chunks (%d ranks%s): pad it to %lld tokens or pick another rank count",
                        (long long)n_total, (long long)parts, size, layout == LC_RING_ZIGZAG ? ", 2 zigzag chunks each" : "",
                        (long long)((n_total + parts - 1) / parts * parts));
    return LC_OK;
}

/* Patterns that name absolute key positions cannot be shifted into a block call. */
static lc_status mask_supported(const lc_mask *m) {
    if (m->q_offset != 0) return lc_error(LC_EUNSUPPORTED, "ring: mask.q_offset=%lld must be 0 (the mask describes the whole sequence)", (long long)m->q_offset);
    if (m->global.count > 0) return lc_error(LC_EUNSUPPORTED, "ring: mask.global names absolute key positions, which a ring block call (keys from 0, no key offset in lc_mask) cannot express");
    if (m->sinks > 0) return lc_error(LC_EUNSUPPORTED, "ring: mask.sinks names absolute key positions, which a ring block call (keys from 0, no key offset in lc_mask) cannot express");
    if (m->stride.every > 0 && m->stride.summary > 0)
        return lc_error(LC_EUNSUPPORTED, "ring: mask.stride.summary=%lld names absolute key positions, which a ring block call cannot express", (long long)m->stride.summary);
    if (m->bigbird.block > 0) return lc_error(LC_EUNSUPPORTED, "ring: mask.bigbird names absolute blocks, which a ring block call cannot express");
    if (m->blocks.bits) return lc_error(LC_EUNSUPPORTED, "ring: mask.blocks names absolute blocks, which a ring block call cannot express");
    return LC_OK;
}

/* A mask with nothing that depends on positions (full attention). */
static int position_free(const lc_mask *m) { return !m->causal && !m->window.enabled && m->stride.every == 0; }

int lc_ring_pair_visible(const lc_mask *m, int64_t qs, int64_t ks, int64_t c) {
    return lc_mask_classify_tile(m, qs, qs + c, ks, ks + c) != LC_TILE_EMPTY;
}

lc_mask lc_ring_block_mask(const lc_mask *m, int64_t qs, int64_t ks) {
    lc_mask b = *m;
    b.q_offset = position_free(m) ? 0 : qs - ks;
    return b;
}

int lc_ring_needs(const lc_ring *r, int q_rank, int kv_rank) {
    if (!r || !r->transport || r->transport->size < 1 || q_rank < 0 || kv_rank < 0 || q_rank >= r->transport->size || kv_rank >= r->transport->size)
        return 0;
    const int size = r->transport->size, nc = lc_ring_chunks(r->layout);
    const int64_t n_local = r->attn.q.shape[LC_SEQ], c = n_local / nc;
    for (int a = 0; a < nc; a++)
        for (int b = 0; b < nc; b++)
            if (lc_ring_pair_visible(&r->attn.mask, lc_ring_chunk_start(r->layout, size, q_rank, a, n_local),
                                     lc_ring_chunk_start(r->layout, size, kv_rank, b, n_local), c))
                return 1;
    return 0;
}

int lc_ring_last_hop(const lc_ring *r, int kv_rank) {
    if (!r || !r->transport || r->transport->size < 1) return -1;
    const int size = r->transport->size;
    for (int t = size - 1; t >= 0; t--)
        if (lc_ring_needs(r, (kv_rank + t) % size, kv_rank)) return t;
    return -1;
}

lc_status lc_ring_check(const lc_ring *r) {
    if (!r) return lc_error(LC_EINVAL, "ring descriptor is NULL");
    const lc_ring_transport *t = r->transport;
    if (!t) return lc_error(LC_EINVAL, "ring.transport is NULL");
    if (t->size <= 0 || t->rank < 0 || t->rank >= t->size)
        return lc_error(LC_EINVAL, "ring.transport: rank=%d must be in [0, size=%d)", t->rank, t->size);
    if (!t->start_send || !t->start_recv || !t->wait || !t->allgather)
        return lc_error(LC_EINVAL, "ring.transport: start_send, start_recv, wait and allgather must be set");
    if (r->compute && (!r->compute->attend || !r->compute->attend_workspace || !r->compute->pack || !r->compute->begin || !r->compute->merge || !r->compute->finish))
        return lc_error(LC_EINVAL, "ring.compute: every function of the table must be set");
    if (r->layout != LC_RING_CONTIGUOUS && r->layout != LC_RING_ZIGZAG)
        return lc_error(LC_EINVAL, "ring.layout=%d must be LC_RING_CONTIGUOUS or LC_RING_ZIGZAG", (int)r->layout);
    if (!(r->timeout_s >= 0)) return lc_error(LC_EINVAL, "ring.timeout_s=%g must not be negative", r->timeout_s);
    const lc_attention *a = &r->attn;
    lc_status st = lc_attention_check(a);
    if (st) return st;
    const int64_t n_local = a->q.shape[LC_SEQ];
    if (a->k.shape[LC_SEQ] != n_local)
        return lc_error(LC_EINVAL, "ring: k.shape[1]=%lld must equal q.shape[1]=%lld (each rank holds the same tokens of q, k and v)",
                        (long long)a->k.shape[LC_SEQ], (long long)n_local);
    if (r->layout == LC_RING_ZIGZAG && n_local % 2)
        return lc_error(LC_EINVAL, "ring: zigzag needs an even slice, q.shape[1]=%lld is odd (two chunks per rank)", (long long)n_local);
    if ((st = mask_supported(&a->mask))) return st;
    if (position_free(&a->mask)) return LC_OK;
    /* A visible block whose queries come before its keys would need q_offset < 0. */
    const int size = t->size, nc = lc_ring_chunks(r->layout);
    const int64_t c = n_local / nc;
    for (int qr = 0; qr < size; qr++)
        for (int kr = 0; kr < size; kr++)
            for (int x = 0; x < nc; x++)
                for (int y = 0; y < nc; y++) {
                    int64_t qs = lc_ring_chunk_start(r->layout, size, qr, x, n_local), ks = lc_ring_chunk_start(r->layout, size, kr, y, n_local);
                    if (qs < ks && lc_ring_pair_visible(&a->mask, qs, ks, c))
                        return lc_error(LC_EUNSUPPORTED,
                                        "ring: queries at %lld see keys at %lld that come after them (mask.causal=0 with a window or stride): lc_mask cannot express a negative q_offset",
                                        (long long)qs, (long long)ks);
                }
    return LC_OK;
}
