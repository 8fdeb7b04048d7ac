/* The reference: materialise each head's score matrix, softmax and weighted sum, all in
 * float64. Slow and obviously correct; every fast path is tested against it. */
#include "longctx/attention.h"
#include "../core/tensor_io.h"
#include "sequences.h"

#include <math.h>
#include <stdlib.h>

#define LC_NAIVE_MAX_DIM 1024

/* One head of one sequence (sequences.h): scores S[i][j] in float64, then the softmax rows. */
static void naive_head(const lc_attention *a, const lc_attn_seq *q, int64_t h, double *S, double *kf, double *vf, int nt) {
    const int64_t n_q = q->n_q, n_kv = q->n_kv, dk = a->q.shape[3], dv = a->v.shape[3], b = q->b;
    const int64_t hk = h / (a->q.shape[2] / a->k.shape[2]);
    const double scale = a->scale != 0 ? (double)a->scale : 1.0 / sqrt((double)dk);
    const double cap = a->softcap;

    for (int64_t j = 0; j < n_kv; j++) {
        for (int64_t d = 0; d < dk; d++) kf[j * dk + d] = lc_load_elem(a->k.data, a->k.dtype, lc_tensor_offset(&a->k, b, q->kv0 + j, hk, d));
        for (int64_t d = 0; d < dv; d++) vf[j * dv + d] = lc_load_elem(a->v.data, a->v.dtype, lc_tensor_offset(&a->v, b, q->kv0 + j, hk, d));
    }
    (void)nt;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n_q; i++) {
        double qrow[LC_NAIVE_MAX_DIM];
        for (int64_t d = 0; d < dk; d++) qrow[d] = lc_load_elem(a->q.data, a->q.dtype, lc_tensor_offset(&a->q, b, q->q0 + i, h, d));
        double *Si = S + i * n_kv, m = -INFINITY;
        int nan = 0; /* a NaN score, which the max skips: the row is NaN, never a silent 0 */
        for (int64_t j = 0; j < n_kv; j++) {
            if (!lc_mask_allows(&q->mask, i, j)) {
                Si[j] = -INFINITY;
                continue;
            }
            const double *kj = kf + j * dk;
            double acc = 0;
            for (int64_t d = 0; d < dk; d++) acc += qrow[d] * kj[d];
            double s = scale * acc;
            if (cap > 0) s = cap * tanh(s / cap);
            Si[j] = s;
            if (s > m) m = s;
            nan |= isnan(s);
        }
        double orow[LC_NAIVE_MAX_DIM] = {0}, l = 0;
        if (nan) {
            m = l = NAN;
            for (int64_t d = 0; d < dv; d++) orow[d] = NAN;
        } else if (m != -INFINITY) {
            for (int64_t j = 0; j < n_kv; j++) {
                if (Si[j] == -INFINITY) continue;
                double p = exp(Si[j] - m);
                l += p;
                for (int64_t d = 0; d < dv; d++) orow[d] += p * vf[j * dv + d];
            }
            for (int64_t d = 0; d < dv; d++) orow[d] /= l;
        }
        for (int64_t d = 0; d < dv; d++) lc_store_elem(a->out.data, a->out.dtype, lc_tensor_offset(&a->out, b, q->q0 + i, h, d), (float)orow[d]);
        if (a->lse) a->lse[(b * a->q.shape[2] + h) * a->q.shape[1] + q->q0 + i] = nan ? NAN : m == -INFINITY ? -INFINITY : (float)(m + log(l));
    }
}

lc_status lc_attention_naive(const lc_attention *a, size_t max_score_bytes) {
    lc_status s = lc_attention_check(a);
    if (s) return s;
    if (a->q.shape[3] > LC_NAIVE_MAX_DIM || a->v.shape[3] > LC_NAIVE_MAX_DIM)
        return lc_error(LC_EUNSUPPORTED, "naive attention supports head dims up to %d", LC_NAIVE_MAX_DIM);
    /* the largest score matrix and key rows of any one sequence */
    const int64_t count = lc_attn_seq_count(a);
    int64_t n_q = 0, n_kv = 0, n_kv_most = 1;
    for (int64_t q = 0; q < count; q++) {
        const lc_attn_seq sq = lc_attn_seq_at(a, q);
        if (sq.n_kv > n_kv_most) n_kv_most = sq.n_kv;
        if (sq.n_q > 0 && sq.n_kv > 0 && (double)sq.n_q * (double)sq.n_kv > (double)n_q * (double)n_kv) n_q = sq.n_q, n_kv = sq.n_kv;
    }
    if (n_kv > 0 && (uint64_t)n_q > SIZE_MAX / sizeof(double) / (uint64_t)n_kv)
        return lc_error(LC_ENOMEM, "naive attention: a %lld x %lld score matrix does not fit in memory", (long long)n_q, (long long)n_kv);
    size_t bytes = (size_t)n_q * (size_t)n_kv * sizeof(double);
    if (max_score_bytes && bytes > max_score_bytes)
        return lc_error(LC_ENOMEM, "naive attention needs %zu bytes for its %lld x %lld score matrix, over the limit of %zu", bytes, (long long)n_q, (long long)n_kv, max_score_bytes);
    double *S = malloc(bytes ? bytes : sizeof(double));
    double *kf = malloc((size_t)n_kv_most * (size_t)a->k.shape[3] * sizeof(double));
    double *vf = malloc((size_t)n_kv_most * (size_t)a->v.shape[3] * sizeof(double));
    if (!S || !kf || !vf) {
        free(S), free(kf), free(vf);
        return lc_error(LC_ENOMEM, "naive attention could not allocate %zu bytes for its score matrix", bytes);
    }
    int nt = lc_threads_resolve(a->threads);
    for (int64_t q = 0; q < count; q++) {
        const lc_attn_seq sq = lc_attn_seq_at(a, q);
        for (int64_t h = 0; h < a->q.shape[2]; h++) naive_head(a, &sq, h, S, kf, vf, nt);
    }
    free(S), free(kf), free(vf);
    return LC_OK;
}
