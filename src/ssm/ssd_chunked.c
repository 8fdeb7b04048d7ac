/* Mamba-2's chunked SSD algorithm (Dao and Gu 2024, section 6, listing 1): for a chunk of
 * L tokens with a_t = dt_t A and cumulative sums s_r = a_0 + ... + a_r,
 *   Y      = (C B^T .* L) (X dt)  +  diag(exp(s)) C H_prev^T      L_rt = exp(s_r - s_t), t <= r
 *   H_next = exp(s_{L-1}) H_prev + sum_t exp(s_{L-1} - s_t) (x_t dt_t) B_t^T
 * Every exponent is <= 0, so nothing overflows whatever the length. The products run as
 * single-threaded OpenBLAS sgemm, heads in parallel. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ssm_internal.h"

static int64_t chunk_len(const lc_ssd *s) {
    int64_t L = s->chunk ? s->chunk : 64;
    return L < s->n ? L : s->n;
}

static size_t thread_floats(const lc_ssd *s) {
    const int64_t L = chunk_len(s);
    return (size_t)(L * L + L * s->head_dim + 2 * L + 16);
}

size_t lc_ssd_workspace_size(const lc_ssd *s) {
    if (ssm_ssd_check_shapes(s)) return 0; /* the shapes: a probe's pointers need not be real */
    return sizeof(float) * thread_floats(s) * (size_t)lc_threads_resolve(s->threads);
}

lc_status lc_ssd_chunked(const lc_ssd *s, void *workspace, size_t workspace_bytes) {
    lc_status st = lc_ssd_check(s);
    if (st) return st;
    const size_t need = lc_ssd_workspace_size(s);
    if (!workspace || workspace_bytes < need)
        return lc_error(LC_EINVAL, "workspace of %zu bytes is below lc_ssd_workspace_size=%zu", workspace ? workspace_bytes : 0, need);
    const int64_t n = s->n, H = s->heads, P = s->head_dim, G = s->groups, N = s->state, Lc = chunk_len(s);
    const int64_t ldx = H * P, ldb = G * N;
    const size_t tf = thread_floats(s);
#pragma omp parallel num_threads(lc_threads_resolve(s->threads))
    {
        omp_set_num_threads(1); /* OpenBLAS inside the region: one thread each */
        float *M = (float *)workspace + tf * (size_t)omp_get_thread_num(), *xdt = M + Lc * Lc, *cs = xdt + Lc * P, *dts = cs + Lc;
#pragma omp for schedule(dynamic, 1)
        for (int64_t bp = 0; bp < s->batch * H; bp++) {
            const int64_t b = bp / H, p = bp % H, gr = p / (H / G);
            float *h = s->h + bp * P * N;
            const float A = s->A[p];
            for (int64_t t0 = 0; t0 < n; t0 += Lc) {
                const int64_t L = n - t0 < Lc ? n - t0 : Lc;
                const float *x = s->x + ((b * n + t0) * H + p) * P;
                const float *Bc = s->B + ((b * n + t0) * G + gr) * N, *Cc = s->C + ((b * n + t0) * G + gr) * N;
                float *y = s->y + ((b * n + t0) * H + p) * P;
                float run = 0;
                for (int64_t r = 0; r < L; r++) {
                    dts[r] = ssm_dt(s->dt[(b * n + t0 + r) * H + p], s->dt_bias, p, s->dt_min, s->dt_max);
                    /* exp(a) is exactly 0 in f32 below -104: the floor changes no result but
                     * keeps the sums finite, so s_r - s_t is never -inf - -inf */
                    float a = dts[r] * A;
                    run += a < -1e4f ? -1e4f : a, cs[r] = run;
                    for (int64_t d = 0; d < P; d++) xdt[r * P + d] = x[r * ldx + d] * dts[r];
                }
                /* inter-chunk: y_r = exp(s_r) C_r H^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L, (int)P, (int)N, 1.0f, Cc, (int)ldb, h, (int)N, 0.0f, y, (int)ldx);
                for (int64_t r = 0; r < L; r++) {
                    const float f = expf(cs[r]);
                    for (int64_t d = 0; d < P; d++) y[r * ldx + d] *= f;
                }
                /* intra-chunk: y += (C B^T .* L) (X dt) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L, (int)L, (int)N, 1.0f, Cc, (int)ldb, Bc, (int)ldb, 0.0f, M, (int)L);
                for (int64_t r = 0; r < L; r++)
                    for (int64_t t = 0; t < L; t++) M[r * L + t] = t < r ? M[r * L + t] * expf(cs[r] - cs[t]) : t == r ? M[r * L + t] : 0.0f;
                int finite = 1;
                for (int64_t i = 0; i < L * P; i++) finite &= isfinite(xdt[i]) != 0;
                if (finite) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)L, (int)P, (int)L, 1.0f, M, (int)L, xdt, (int)P, 1.0f, y, (int)ldx);
                } else { /* triangular: a non-finite x_t must not reach rows r < t through 0 * NaN */
                    for (int64_t r = 0; r < L; r++)
                        for (int64_t t = 0; t <= r; t++)
                            for (int64_t d = 0; d < P; d++) y[r * ldx + d] += M[r * L + t] * xdt[t * P + d];
                }
                if (s->D)
                    for (int64_t r = 0; r < L; r++)
                        for (int64_t d = 0; d < P; d++) y[r * ldx + d] += s->D[p] * x[r * ldx + d];
                /* state: H = exp(s_{L-1}) H + sum_t exp(s_{L-1} - s_t) (x_t dt_t) B_t^T */
                const float last = cs[L - 1], fh = expf(last);
                for (int64_t i = 0; i < P * N; i++) h[i] *= fh;
                for (int64_t r = 0; r < L; r++) {
                    const float f = expf(last - cs[r]);
                    for (int64_t d = 0; d < P; d++) xdt[r * P + d] *= f;
                }
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)P, (int)N, (int)L, 1.0f, xdt, (int)P, Bc, (int)ldb, 1.0f, h, (int)N);
            }
        }
    }
    return LC_OK;
}

lc_status lc_ssd_chunked_alloc(const lc_ssd *s) {
    lc_status st = lc_ssd_check(s);
    if (st) return st;
    size_t bytes = lc_ssd_workspace_size(s);
    void *ws = lc_aligned_alloc(bytes, 64);
    if (!ws) return LC_ENOMEM;
    st = lc_ssd_chunked(s, ws, bytes);
    lc_aligned_free(ws);
    return st;
}
