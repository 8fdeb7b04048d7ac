/* The float64 reference of linear attention: the quadratic masked form
 * O = (phi(Q) phi(K)^T .* M) V, row-normalised by (phi(Q) phi(K)^T .* M) 1 (Katharopoulos
 * et al. 2020, eq. 4-6), M_ts = g^(t-s) for s <= t when causal, 1 otherwise. */
#include <math.h>
#include <stdlib.h>

#include "linear_internal.h"

lc_status lc_linear_attention_naive(const lc_linear_attention *a, size_t max_bytes) {
    lc_status st = lc_linear_attention_check(a);
    if (st) return st;
    const int64_t B = a->q.shape[0], n = a->q.shape[1], H = a->q.shape[2], dv = a->v.shape[3];
    const int64_t F = lc_linear_features(a);
    size_t bytes = sizeof(double) * (size_t)n * (size_t)n;
    if (max_bytes && bytes > max_bytes)
        return lc_error(LC_ENOMEM, "linear attention reference: the %lld x %lld matrix needs %zu bytes, above the limit %zu", (long long)n,
                        (long long)n, bytes, max_bytes);
    double *m = malloc(bytes), *pq = malloc(sizeof(double) * (size_t)(n * F)), *pk = malloc(sizeof(double) * (size_t)(n * F));
    double *acc = malloc(sizeof(double) * (size_t)dv);
    if (!m || !pq || !pk || !acc) {
        free(m), free(pq), free(pk), free(acc);
        return lc_error(LC_ENOMEM, "linear attention reference: %zu bytes", bytes + sizeof(double) * (size_t)(2 * n * F + dv));
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const double g = lin_log_decay(a, h);
            for (int64_t t = 0; t < n; t++) {
                lin_features_f64(a, lin_row(&a->q, b, t, h), a->q.stride[3], pq + t * F);
                lin_features_f64(a, lin_row(&a->k, b, t, h), a->k.stride[3], pk + t * F);
            }
            for (int64_t t = 0; t < n; t++) /* M = phi(Q) phi(K)^T .* mask */
                for (int64_t s = 0; s < n; s++) {
                    double dot = 0;
                    if (!a->causal || s <= t) {
                        for (int64_t f = 0; f < F; f++) dot += pq[t * F + f] * pk[s * F + f];
                        if (a->causal) dot *= exp(g * (double)(t - s));
                    }
                    m[t * n + s] = dot;
                }
            for (int64_t t = 0; t < n; t++) {
                double den = 0;
                for (int64_t e = 0; e < dv; e++) acc[e] = 0;
                for (int64_t s = 0; s < n; s++) {
                    const float *vs = lin_row(&a->v, b, s, h);
                    den += m[t * n + s];
                    if (!a->causal || s <= t)
                        for (int64_t e = 0; e < dv; e++) acc[e] += m[t * n + s] * vs[e * a->v.stride[3]];
                }
                float *o = (float *)a->out.data + lc_tensor_offset(&a->out, b, t, h, 0);
                for (int64_t e = 0; e < dv; e++) {
                    double val = acc[e];
                    if (a->normalize) val = den == 0 ? 0.0 : val / den; /* relu may leave a row with no weight */
                    o[e * a->out.stride[3]] = (float)val;
                }
            }
        }
    free(m), free(pq), free(pk), free(acc);
    return LC_OK;
}
