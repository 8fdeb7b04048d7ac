/* The independent sequences of an attention call (internal): the batch entries of a plain
 * call, or the packed sequences of a variable-length one (attention.h, lc_varlen). The
 * reference, the flash kernel and the pair count all walk a call as these, so a packed
 * sequence is computed exactly as a plain call on its rows would be:
 *
 *   plain:   sequence b = batch entry b, rows [0, n_q) x [0, n_kv), the caller's mask;
 *   varlen:  sequence s = query rows [q_starts[s], q_starts[s+1]) of batch 0 over key rows
 *            [kv_starts[s], kv_starts[s+1]); its m queries are its last positions, so the
 *            mask is the caller's with q_offset = n - m (which lc_attention_check keeps
 *            at 0 in the descriptor; n - m < 0 only under the full mask, which ignores it). */
#ifndef LONGCTX_ATTENTION_SEQUENCES_H
#define LONGCTX_ATTENTION_SEQUENCES_H

#include "longctx/attention.h"

typedef struct lc_attn_seq {
    int64_t b;         /* batch index into q, k, v, out (0 under varlen) */
    int64_t q0, n_q;   /* query rows [q0, q0 + n_q) */
    int64_t kv0, n_kv; /* key rows [kv0, kv0 + n_kv) */
    lc_mask mask;      /* row i of the sequence (0 <= i < n_q) sits at mask.q_offset + i */
} lc_attn_seq;

static inline int64_t lc_attn_seq_count(const lc_attention *a) { return a->varlen.count > 0 ? a->varlen.count : a->q.shape[0]; }

static inline lc_attn_seq lc_attn_seq_at(const lc_attention *a, int64_t s) {
    lc_attn_seq r;
    r.mask = a->mask;
    if (a->varlen.count > 0) {
        r.b = 0;
        r.q0 = a->varlen.q_starts[s], r.n_q = a->varlen.q_starts[s + 1] - r.q0;
        r.kv0 = a->varlen.kv_starts[s], r.n_kv = a->varlen.kv_starts[s + 1] - r.kv0;
        r.mask.q_offset = r.n_kv - r.n_q;
    } else {
        r.b = s;
        r.q0 = 0, r.n_q = a->q.shape[1];
        r.kv0 = 0, r.n_kv = a->k.shape[1];
    }
    return r;
}

#endif
