/* kNN memory attention (Memorizing Transformers, Wu et al. 2022, eq. in section 3.2):
 *   out = g_h * softmax over the top_k retrieved (key, value) pairs
 *       + (1 - g_h) * local attention (lc_attention_flash with the caller's mask). */
#include "memory_internal.h"

#include <omp.h>
#include <stdlib.h>

lc_status lc_knn_attention_check(const lc_knn_attention *a) {
    if (!a) return lc_error(LC_EINVAL, "knn attention descriptor is NULL");
    lc_status st = lc_attention_check(&a->local);
    if (st) return st;
    const lc_attention *l = &a->local;
    const lc_knn_memory *m = a->memory;
    if (!m) return lc_error(LC_EINVAL, "memory is NULL");
    if (l->q.shape[0] != 1) return lc_error(LC_EINVAL, "local.q.shape[0]=%lld: a kNN memory holds one sequence, batch must be 1", (long long)l->q.shape[0]);
    if (l->softcap != 0) return lc_error(LC_EUNSUPPORTED, "local.softcap=%g: soft-capping is not supported with a kNN memory", (double)l->softcap);
    if (l->q.shape[3] != m->c.d_k) return lc_error(LC_EINVAL, "local.q.shape[3]=%lld must equal the memory's d_k=%lld", (long long)l->q.shape[3], (long long)m->c.d_k);
    if (l->v.shape[3] != m->c.d_v) return lc_error(LC_EINVAL, "local.v.shape[3]=%lld must equal the memory's d_v=%lld", (long long)l->v.shape[3], (long long)m->c.d_v);
    if (l->q.shape[2] % m->c.heads)
        return lc_error(LC_EINVAL, "local.q.shape[2]=%lld must be a multiple of the memory's heads=%lld", (long long)l->q.shape[2], (long long)m->c.heads);
    int64_t size = m->end - m->first;
    if (size == 0) return lc_error(LC_ESTATE, "the memory is empty: append keys and values before attending to it");
    if (a->top_k < 1 || a->top_k > size)
        return lc_error(LC_ERANGE, "top_k=%lld must be in [1, %lld], the number of tokens the memory holds", (long long)a->top_k, (long long)size);
    if (!a->gate) return lc_error(LC_EINVAL, "gate is NULL: give one g in [0, 1] per query head");
    for (int64_t h = 0; h < l->q.shape[2]; h++)
        if (!(a->gate[h] >= 0 && a->gate[h] <= 1)) return lc_error(LC_EINVAL, "gate[%lld]=%g must be in [0, 1]", (long long)h, (double)a->gate[h]);
    return LC_OK;
}

lc_status lc_knn_attention_retrieve(const lc_knn_attention *a) {
    lc_status st = lc_knn_attention_check(a);
    if (st) return st;
    const lc_attention *l = &a->local;
    const lc_knn_memory *m = a->memory;
    const int64_t n_q = l->q.shape[1], hq = l->q.shape[2], dk = m->c.d_k, dv = m->c.d_v, K = a->top_k;
    const int threads = lc_threads_resolve(l->threads);
    const double scale = l->scale > 0 ? l->scale : 1.0 / sqrt((double)dk);

    /* Local branch into an f32 buffer of the output's shape. */
    float *local = malloc((size_t)(n_q * hq * dv) * sizeof(float));
    int64_t *pos = malloc((size_t)(hq * n_q * K) * sizeof(int64_t));
    float *score = malloc((size_t)(hq * n_q * K) * sizeof(float));
    double *acc = malloc((size_t)(threads * dv) * sizeof(double));
    float *qrow = malloc((size_t)(threads * (dk + dv)) * sizeof(float));
    if (!local || !pos || !score || !acc || !qrow)
        st = lc_error(LC_ENOMEM, "cannot allocate the knn attention's %.0f bytes of scratch",
                      (double)(n_q * hq * dv) * 4 + (double)(hq * n_q * K) * 12 + (double)(threads * dv) * 8 + (double)(threads * (dk + dv)) * 4);
    if (!st) {
        lc_attention la = *l;
        la.out = lc_tensor_bshd(local, LC_F32, 1, n_q, hq, dv);
        st = lc_attention_flash_alloc(&la);
    }
    if (!st) st = lc_knn_memory_search(m, &l->q, K, pos, score);

    if (!st) {
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
        for (int64_t h = 0; h < hq; h++)
            for (int64_t i = 0; i < n_q; i++) {
                const int t = omp_get_thread_num();
                float *q = qrow + (size_t)t * (size_t)(dk + dv), *mem = q + dk;
                const int64_t hm = h / (hq / m->c.heads), *p = pos + (h * n_q + i) * K;
                const double g = a->gate[h];
                lc_softmax_acc sm;
                lc_softmax_acc_init(&sm, acc + (size_t)t * (size_t)dv, dv);
                if (g > 0) {
                    lc_mem_load_row(&l->q, 0, i, h, q);
                    for (int64_t r = 0; r < K && p[r] >= 0; r++) /* scores recomputed from the held keys */
                        lc_softmax_acc_add(&sm, scale * lc_mem_dot(q, lc_mem_key(m, hm, p[r]), dk), lc_mem_value(m, hm, p[r]));
                }
                lc_softmax_acc_finish(&sm, mem);
                const float *loc = local + (i * hq + h) * dv;
                for (int64_t d = 0; d < dv; d++)
                    lc_store_elem(l->out.data, l->out.dtype, lc_tensor_offset(&l->out, 0, i, h, d), (float)(g * mem[d] + (1 - g) * loc[d]));
            }
    }
    free(local), free(pos), free(score), free(acc), free(qrow);
    return st;
}
