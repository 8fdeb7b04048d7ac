/* Validation of the attention descriptor: one function, one sentence per wrong field. */
#include "longctx/attention.h"
#include "sequences.h"

#include <math.h>

#define LC_ATTENTION_MAX_DIM 1024

static int overlaps(uintptr_t a0, uintptr_t a1, uintptr_t b0, uintptr_t b1) { return a0 < b1 && b0 < a1; }

static lc_status check_dim(const char *name, int64_t d) {
    if (d > LC_ATTENTION_MAX_DIM) return lc_error(LC_EUNSUPPORTED, "%s head dim %lld is larger than %d", name, (long long)d, LC_ATTENTION_MAX_DIM);
    return LC_OK;
}

/* Whether the mask reads positions: anything but full attention does (the patterns the
 * varlen form accepts are causal, window, sinks and stride; sinks read key positions but
 * are bounded by causality, and a window's reach depends on the query's position). */
static int mask_reads_positions(const lc_mask *m) {
    return m->causal || m->window.enabled || m->sinks > 0 || m->stride.every > 0;
}

/* One offsets array: starts at 0, nondecreasing, ends at `total`; *longest gets the longest
 * sequence. */
static lc_status check_starts(const int32_t *starts, int count, int64_t total, const char *name, const char *axis, int64_t *longest) {
    if (starts[0] != 0) return lc_error(LC_EINVAL, "varlen.%s[0]=%d must be 0", name, (int)starts[0]);
    *longest = 0;
    for (int s = 0; s < count; s++) {
        if (starts[s + 1] < starts[s])
            return lc_error(LC_EINVAL, "varlen.%s must be nondecreasing: %s[%d]=%d after %s[%d]=%d", name, name, s + 1, (int)starts[s + 1], name, s,
                            (int)starts[s]);
        if (starts[s + 1] - starts[s] > *longest) *longest = starts[s + 1] - starts[s];
    }
    if (starts[count] != total)
        return lc_error(LC_EINVAL, "varlen.%s[%d]=%d (varlen.count=%d) must equal the %s, %lld", name, count, (int)starts[count], count, axis, (long long)total);
    return LC_OK;
}

/* The packed variable-length form (attention.h, lc_varlen). */
static lc_status check_varlen(const lc_attention *a) {
    const lc_varlen *vl = &a->varlen;
    const lc_mask *m = &a->mask;
    if (vl->count < 0) return lc_error(LC_EINVAL, "varlen.count=%d must be >= 0 (0 is off)", vl->count);
    if (!vl->q_starts) return lc_error(LC_EINVAL, "varlen.q_starts is NULL but varlen.count=%d", vl->count);
    if (!vl->kv_starts) return lc_error(LC_EINVAL, "varlen.kv_starts is NULL but varlen.count=%d", vl->count);
    if (a->q.shape[0] != 1) return lc_error(LC_EINVAL, "q.shape[0]=%lld (batch) must be 1 with varlen: the sequences lie along the token axis", (long long)a->q.shape[0]);
    if (m->q_offset != 0) return lc_error(LC_EINVAL, "mask.q_offset=%lld must be 0 with varlen: each sequence's queries are its last positions", (long long)m->q_offset);
    if (m->global.count > 0) return lc_error(LC_EUNSUPPORTED, "mask.global: varlen takes positional patterns only (causal, window, sinks, stride)");
    if (m->bigbird.block > 0) return lc_error(LC_EUNSUPPORTED, "mask.bigbird: varlen takes positional patterns only (causal, window, sinks, stride)");
    if (m->blocks.bits) return lc_error(LC_EUNSUPPORTED, "mask.blocks: varlen takes positional patterns only (causal, window, sinks, stride)");
    int64_t longest_q, longest_kv;
    lc_status s;
    if ((s = check_starts(vl->q_starts, vl->count, a->q.shape[1], "q_starts", "queries (q.shape[1])", &longest_q))) return s;
    if ((s = check_starts(vl->kv_starts, vl->count, a->k.shape[1], "kv_starts", "keys (k.shape[1])", &longest_kv))) return s;
    if (vl->max_q != longest_q) return lc_error(LC_EINVAL, "varlen.max_q=%lld must be the longest sequence's queries, %lld", (long long)vl->max_q, (long long)longest_q);
    if (vl->max_kv != longest_kv) return lc_error(LC_EINVAL, "varlen.max_kv=%lld must be the longest sequence's keys, %lld", (long long)vl->max_kv, (long long)longest_kv);
    if (mask_reads_positions(m))
        for (int i = 0; i < vl->count; i++) {
            const int64_t nq = vl->q_starts[i + 1] - vl->q_starts[i], nkv = vl->kv_starts[i + 1] - vl->kv_starts[i];
            if (nq > nkv)
                return lc_error(LC_EINVAL, "varlen sequence %d has %lld queries but %lld keys: its queries would sit before position 0; only the full mask takes more queries than keys",
                                i, (long long)nq, (long long)nkv);
        }
    return LC_OK;
}

lc_status lc_attention_check(const lc_attention *a) {
    if (!a) return lc_error(LC_EINVAL, "attention descriptor is NULL");
    lc_status s;
    if ((s = lc_tensor_check(&a->q, "q", 0)) || (s = lc_tensor_check(&a->k, "k", 0)) ||
        (s = lc_tensor_check(&a->v, "v", 0)) || (s = lc_tensor_check(&a->out, "out", 1)))
        return s;
    const int64_t *q = a->q.shape, *k = a->k.shape, *v = a->v.shape, *o = a->out.shape;
    if (k[0] != q[0]) return lc_error(LC_EINVAL, "k.shape[0]=%lld (batch) must equal q.shape[0]=%lld", (long long)k[0], (long long)q[0]);
    if (v[0] != q[0]) return lc_error(LC_EINVAL, "v.shape[0]=%lld (batch) must equal q.shape[0]=%lld", (long long)v[0], (long long)q[0]);
    if (o[0] != q[0]) return lc_error(LC_EINVAL, "out.shape[0]=%lld (batch) must equal q.shape[0]=%lld", (long long)o[0], (long long)q[0]);
    if (v[1] != k[1]) return lc_error(LC_EINVAL, "v.shape[1]=%lld (keys) must equal k.shape[1]=%lld", (long long)v[1], (long long)k[1]);
    if (o[1] != q[1]) return lc_error(LC_EINVAL, "out.shape[1]=%lld (queries) must equal q.shape[1]=%lld", (long long)o[1], (long long)q[1]);
    if (v[2] != k[2]) return lc_error(LC_EINVAL, "v.shape[2]=%lld (kv heads) must equal k.shape[2]=%lld", (long long)v[2], (long long)k[2]);
    if (q[2] % k[2] != 0) return lc_error(LC_EINVAL, "k.shape[2]=%lld must divide q heads=%lld", (long long)k[2], (long long)q[2]);
    if (o[2] != q[2]) return lc_error(LC_EINVAL, "out.shape[2]=%lld (heads) must equal q.shape[2]=%lld", (long long)o[2], (long long)q[2]);
    if (k[3] != q[3]) return lc_error(LC_EINVAL, "k.shape[3]=%lld (key head dim) must equal q.shape[3]=%lld", (long long)k[3], (long long)q[3]);
    if (o[3] != v[3]) return lc_error(LC_EINVAL, "out.shape[3]=%lld must equal v.shape[3]=%lld (value head dim)", (long long)o[3], (long long)v[3]);
    if ((s = check_dim("q/k", q[3])) || (s = check_dim("v", v[3]))) return s;
    if (!isfinite(a->scale)) return lc_error(LC_EINVAL, "scale=%g must be finite (0 selects 1/sqrt(d_k))", (double)a->scale);
    if (!isfinite(a->softcap) || a->softcap < 0) return lc_error(LC_EINVAL, "softcap=%g must be finite and >= 0 (0 is off)", (double)a->softcap);
    if (a->threads < 0) return lc_error(LC_EINVAL, "threads=%d must be >= 0 (0 is the default)", a->threads);
    lc_isa isa;
    if ((s = lc_isa_resolve(a->isa, &isa))) return s;
    if ((s = lc_mask_check(&a->mask, q[1], k[1]))) return s;
    if (a->varlen.count != 0 && (s = check_varlen(a))) return s;

    uintptr_t o0, o1, r0, r1;
    lc_tensor_byte_range(&a->out, &o0, &o1);
    const lc_tensor *in[3] = {&a->q, &a->k, &a->v};
    const char *in_name[3] = {"q", "k", "v"};
    for (int t = 0; t < 3; t++) {
        lc_tensor_byte_range(in[t], &r0, &r1);
        if (overlaps(o0, o1, r0, r1)) return lc_error(LC_EINVAL, "out overlaps %s: the output must not alias an input", in_name[t]);
    }
    if (a->lse) {
        if (q[0] > INT64_MAX / q[2] / q[1]) return lc_error(LC_ERANGE, "lse: batch*heads*n_q overflows");
        uintptr_t l0 = (uintptr_t)a->lse, l1 = l0 + (uintptr_t)(q[0] * q[2] * q[1]) * sizeof(float);
        for (int t = 0; t < 3; t++) {
            lc_tensor_byte_range(in[t], &r0, &r1);
            if (overlaps(l0, l1, r0, r1)) return lc_error(LC_EINVAL, "lse overlaps %s: the output must not alias an input", in_name[t]);
        }
        if (overlaps(l0, l1, o0, o1)) return lc_error(LC_EINVAL, "lse overlaps out");
    }
    return LC_OK;
}

int64_t lc_attention_active_pairs(const lc_attention *a) {
    if (!a) return 0;
    if (a->varlen.count <= 0) return lc_mask_count(&a->mask, a->q.shape[1], a->k.shape[1]) * a->q.shape[0] * a->q.shape[2];
    if (lc_attention_check(a)) return 0; /* the offsets are read: only once they are known to be sound */
    int64_t pairs = 0;
    for (int64_t s = 0; s < a->varlen.count; s++) {
        const lc_attn_seq q = lc_attn_seq_at(a, s);
        pairs += lc_mask_count(&q.mask, q.n_q, q.n_kv);
    }
    return pairs * a->q.shape[2];
}
