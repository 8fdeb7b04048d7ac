/* Block retrieval in the manner of Landmark Attention (Mohtashami & Jaggi 2023): the past
 * is cut into blocks of b tokens, each represented by a landmark key (the caller's
 * landmark token's key, or the block mean, the representative-key form of later systems);
 * each query takes the top_blocks blocks by q . L_j and attends exactly over their tokens,
 * its local window and the sink tokens (one softmax over the union). */
#include "memory_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Local keys of the query at position p start at a block boundary, so no key is lost
 * between the last candidate block and the window. */
static int64_t local_begin(const lc_block_attention *a, int64_t p) {
    int64_t w0 = p - a->window + 1;
    if (w0 < 0) w0 = 0;
    return w0 / a->block * a->block;
}

/* Candidate blocks of the last query row: the most any row has. */
static int64_t max_blocks(const lc_block_attention *a) { return local_begin(a, a->q_offset + a->q.shape[1] - 1) / a->block; }

lc_status lc_block_attention_check(const lc_block_attention *a) {
    if (!a) return lc_error(LC_EINVAL, "block attention descriptor is NULL");
    lc_status st = lc_tensor_check(&a->q, "q", 0);
    if (!st) st = lc_tensor_check(&a->k, "k", 0);
    if (!st) st = lc_tensor_check(&a->v, "v", 0);
    if (!st) st = lc_tensor_check(&a->out, "out", 1);
    if (st) return st;
    const int64_t B = a->q.shape[0], n_q = a->q.shape[1], hq = a->q.shape[2], n_kv = a->k.shape[1], hkv = a->k.shape[2];
    if (a->k.shape[0] != B || a->v.shape[0] != B || a->out.shape[0] != B)
        return lc_error(LC_EINVAL, "batch: q %lld, k %lld, v %lld, out %lld must be equal", (long long)B, (long long)a->k.shape[0],
                        (long long)a->v.shape[0], (long long)a->out.shape[0]);
    if (a->v.shape[1] != n_kv) return lc_error(LC_EINVAL, "v.shape[1]=%lld must equal k.shape[1]=%lld", (long long)a->v.shape[1], (long long)n_kv);
    if (a->v.shape[2] != hkv) return lc_error(LC_EINVAL, "v.shape[2]=%lld must equal k.shape[2]=%lld", (long long)a->v.shape[2], (long long)hkv);
    if (hq % hkv) return lc_error(LC_EINVAL, "k.shape[2]=%lld must divide q heads=%lld", (long long)hkv, (long long)hq);
    if (a->k.shape[3] != a->q.shape[3]) return lc_error(LC_EINVAL, "k.shape[3]=%lld must equal q.shape[3]=%lld", (long long)a->k.shape[3], (long long)a->q.shape[3]);
    if (a->out.shape[1] != n_q || a->out.shape[2] != hq || a->out.shape[3] != a->v.shape[3])
        return lc_error(LC_EINVAL, "out shape [%lld, %lld, %lld, %lld] must be [%lld, %lld, %lld, %lld]", (long long)a->out.shape[0],
                        (long long)a->out.shape[1], (long long)a->out.shape[2], (long long)a->out.shape[3], (long long)B, (long long)n_q,
                        (long long)hq, (long long)a->v.shape[3]);
    if (a->q_offset < 0 || a->q_offset + n_q > n_kv)
        return lc_error(LC_ERANGE, "q_offset=%lld + n_q=%lld must be in [n_q, n_kv=%lld]: queries are causal over k", (long long)a->q_offset,
                        (long long)n_q, (long long)n_kv);
    if (a->block < 1) return lc_error(LC_EINVAL, "block=%lld must be >= 1", (long long)a->block);
    if (a->top_blocks < 0) return lc_error(LC_EINVAL, "top_blocks=%lld must be >= 0", (long long)a->top_blocks);
    if (a->window < 1) return lc_error(LC_EINVAL, "window=%lld must be >= 1 (it includes the query's own key)", (long long)a->window);
    if (a->sinks < 0) return lc_error(LC_EINVAL, "sinks=%lld must be >= 0", (long long)a->sinks);
    if (!(a->scale >= 0) || isinf(a->scale)) return lc_error(LC_EINVAL, "scale=%g must be finite and >= 0", (double)a->scale);
    if (a->landmarks.data) {
        const lc_tensor *L = &a->landmarks;
        if ((st = lc_tensor_check(L, "landmarks", 0))) return st;
        if (L->shape[0] != B || L->shape[2] != hkv || L->shape[3] != a->k.shape[3])
            return lc_error(LC_EINVAL, "landmarks shape [%lld, ., %lld, %lld] must be [%lld, ., %lld, %lld]", (long long)L->shape[0],
                            (long long)L->shape[2], (long long)L->shape[3], (long long)B, (long long)hkv, (long long)a->k.shape[3]);
        if (L->shape[1] < max_blocks(a))
            return lc_error(LC_EINVAL, "landmarks.shape[1]=%lld must be >= %lld, the blocks before the last query's window", (long long)L->shape[1],
                            (long long)max_blocks(a));
    }
    return LC_OK;
}

/* Per-thread scratch: block scores and ids, chosen flags, q / key / value rows, f64 acc. */
static size_t thread_bytes(const lc_block_attention *a) {
    size_t nb = (size_t)max_blocks(a), dk = (size_t)a->q.shape[3], dv = (size_t)a->v.shape[3];
    size_t b = nb * (sizeof(float) + sizeof(int64_t)) + nb + (2 * dk + dv) * sizeof(float) + dv * sizeof(double);
    return (b + 63) / 64 * 64 + 64;
}

static size_t means_bytes(const lc_block_attention *a) {
    if (a->landmarks.data) return 0;
    return ((size_t)(a->q.shape[0] * a->k.shape[2] * max_blocks(a) * a->k.shape[3]) * sizeof(float) + 63) / 64 * 64;
}

size_t lc_block_attention_workspace_size(const lc_block_attention *a) {
    if (lc_block_attention_check(a)) return 0;
    return means_bytes(a) + (size_t)lc_threads_resolve(a->threads) * thread_bytes(a) + 64;
}

/* "a before b": higher score, then lower block. */
static int block_before(float sa, int64_t ja, float sb, int64_t jb) { return sa > sb || (sa == sb && ja < jb); }

/* Moves the k best of s[0..n), id[0..n) to the front (quickselect, deterministic pivot). */
static void select_top(float *s, int64_t *id, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        float ps = s[mid];
        int64_t pj = id[mid], i = lo, j = hi;
        while (i <= j) {
            while (block_before(s[i], id[i], ps, pj)) i++;
            while (block_before(ps, pj, s[j], id[j])) j--;
            if (i <= j) {
                float ts = s[i];
                int64_t tj = id[i];
                s[i] = s[j], id[i] = id[j], s[j] = ts, id[j] = tj;
                i++, j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else return;
    }
}

lc_status lc_block_attention_retrieve(const lc_block_attention *a, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_block_attention_check(a);
    if (st) return st;
    size_t need = lc_block_attention_workspace_size(a);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace of %zu bytes is smaller than lc_block_attention_workspace_size()=%zu", workspace ? workspace_bytes : 0, need);
    const int64_t batch = a->q.shape[0], n_q = a->q.shape[1], hq = a->q.shape[2], hkv = a->k.shape[2], dk = a->q.shape[3], dv = a->v.shape[3];
    const int64_t bs = a->block, nbm = max_blocks(a), group = hq / hkv;
    const int threads = lc_threads_resolve(a->threads);
    const double scale = a->scale > 0 ? a->scale : 1.0 / sqrt((double)dk);
    char *base = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    float *means = (float *)base;
    char *per_thread = base + means_bytes(a);
    const size_t tb = thread_bytes(a);

    if (!a->landmarks.data) { /* landmark = mean of the block's keys */
#pragma omp parallel for num_threads(threads) schedule(static) collapse(3)
        for (int64_t b = 0; b < batch; b++)
            for (int64_t h = 0; h < hkv; h++)
                for (int64_t j = 0; j < nbm; j++) {
                    float *row = (float *)(per_thread + (size_t)omp_get_thread_num() * tb), *mean = means + ((b * hkv + h) * nbm + j) * dk;
                    double acc[dk];
                    for (int64_t d = 0; d < dk; d++) acc[d] = 0;
                    for (int64_t t = j * bs; t < (j + 1) * bs; t++) {
                        const float *kr = lc_mem_row(&a->k, b, t, h, row);
                        for (int64_t d = 0; d < dk; d++) acc[d] += kr[d];
                    }
                    for (int64_t d = 0; d < dk; d++) mean[d] = (float)(acc[d] / (double)bs);
                }
    }

#pragma omp parallel for num_threads(threads) schedule(dynamic, 4) collapse(3)
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < hq; h++)
            for (int64_t i = 0; i < n_q; i++) {
                char *w = per_thread + (size_t)omp_get_thread_num() * tb;
                int64_t *bid = (int64_t *)w; /* 8-byte items first: w is 64-byte aligned */
                float *bscore = (float *)(bid + nbm);
                uint8_t *chosen = (uint8_t *)(bscore + nbm);
                float *qbuf = (float *)(((uintptr_t)(chosen + nbm) + 7) & ~(uintptr_t)7), *kbuf = qbuf + dk, *vbuf = kbuf + dk;
                double *acc = (double *)(((uintptr_t)(vbuf + dv) + 7) & ~(uintptr_t)7);
                const int64_t hk = h / group, p = a->q_offset + i, lb = local_begin(a, p), nb = lb / bs;
                const float *q = lc_mem_row(&a->q, b, i, h, qbuf);

                /* 1. score the candidate blocks by their landmarks, keep the top ones */
                int64_t keep = a->top_blocks < nb ? a->top_blocks : nb;
                memset(chosen, 0, (size_t)nb);
                if (keep == nb) {
                    memset(chosen, 1, (size_t)nb);
                } else if (keep > 0) {
                    for (int64_t j = 0; j < nb; j++) {
                        const float *L = a->landmarks.data ? lc_mem_row(&a->landmarks, b, j, hk, kbuf) : means + ((b * hkv + hk) * nbm + j) * dk;
                        bscore[j] = lc_mem_dot(q, L, dk), bid[j] = j;
                    }
                    select_top(bscore, bid, nb, keep);
                    for (int64_t r = 0; r < keep; r++) chosen[bid[r]] = 1;
                }

                /* 2. one softmax over chosen blocks U sinks U local, keys in increasing order */
                lc_softmax_acc sm;
                lc_softmax_acc_init(&sm, acc, dv);
                for (int64_t j = 0; j < nb; j++) {
                    int64_t t1 = chosen[j] ? (j + 1) * bs : (j * bs < a->sinks ? (a->sinks < (j + 1) * bs ? a->sinks : (j + 1) * bs) : j * bs);
                    for (int64_t t = j * bs; t < t1; t++)
                        lc_softmax_acc_add(&sm, scale * lc_mem_dot(q, lc_mem_row(&a->k, b, t, hk, kbuf), dk), lc_mem_row(&a->v, b, t, hk, vbuf));
                }
                for (int64_t t = lb; t <= p; t++)
                    lc_softmax_acc_add(&sm, scale * lc_mem_dot(q, lc_mem_row(&a->k, b, t, hk, kbuf), dk), lc_mem_row(&a->v, b, t, hk, vbuf));
                lc_softmax_acc_finish(&sm, vbuf);
                for (int64_t d = 0; d < dv; d++) lc_store_elem(a->out.data, a->out.dtype, lc_tensor_offset(&a->out, b, i, h, d), vbuf[d]);
            }
    return LC_OK;
}

lc_status lc_block_attention_retrieve_alloc(const lc_block_attention *a) {
    lc_status st = lc_block_attention_check(a);
    if (st) return st;
    size_t n = lc_block_attention_workspace_size(a);
    void *w = malloc(n);
    if (!w) return lc_error(LC_ENOMEM, "cannot allocate the block attention's %zu-byte workspace", n);
    st = lc_block_attention_retrieve(a, w, n);
    free(w);
    return st;
}
