/* lin_features of many rows at once (the chunkwise kernel's loads): FAVOR+ projects all rows
 * with one sgemm. Apart from features.c so that the reference and the recurrent form build
 * without cblas (the standalone CUDA build, src/cuda/CMakeLists.txt). */
#include <cblas.h>
#include <math.h>

#include "linear_internal.h"

void lin_features_rows(const lc_linear_attention *a, const float *x, int64_t ldx, int64_t sx, int64_t L, float *phi, float *ls, float *xs) {
    const int64_t d = a->q.shape[3], m = a->features;
    if (a->feature != LC_FEATURE_FAVOR) {
        for (int64_t r = 0; r < L; r++) ls[r] = lin_features(a, x + r * ldx, sx, phi + r * d);
        return;
    }
    const float s = (float)pow((double)d, -0.25), inv = 1.0f / sqrtf((float)m);
    for (int64_t r = 0; r < L; r++) {
        float half = 0;
        for (int64_t i = 0; i < d; i++) xs[r * d + i] = x[r * ldx + i * sx] * s, half += xs[r * d + i] * xs[r * d + i];
        ls[r] = 0.5f * half; /* |x'|^2 / 2 until the logits are in */
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)L, (int)m, (int)d, 1.0f, xs, (int)d, a->omega, (int)d, 0.0f, phi, (int)m);
    for (int64_t r = 0; r < L; r++) {
        float *p = phi + r * m, mx = -INFINITY;
        for (int64_t i = 0; i < m; i++) p[i] -= ls[r], mx = lin_max_nan(mx, p[i]);
        for (int64_t i = 0; i < m; i++) p[i] = expf(p[i] - mx) * inv;
        ls[r] = mx;
    }
}
