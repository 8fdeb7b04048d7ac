/* Feature maps of linear attention: elu(x)+1 (Katharopoulos et al. 2020, eq. 7), relu, and
 * Performer's FAVOR+ positive orthogonal random features (Choromanski et al. 2021, lemma 1:
 * exp(w.x - |x|^2/2) is an unbiased estimate of exp(x.y) with w ~ N(0, I); orthogonal
 * rows, section 2.4, lower its variance). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linear_internal.h"

const char *lc_feature_map_name(lc_feature_map f) {
    switch (f) {
    case LC_FEATURE_ELU1: return "elu1";
    case LC_FEATURE_RELU: return "relu";
    case LC_FEATURE_FAVOR: return "favor";
    }
    return "?";
}

/* Orthogonal blocks by modified Gram-Schmidt on Gaussian rows, in float64; each row then
 * gets the norm of an independent Gaussian vector, so rows are marginally N(0, I). */
lc_status lc_favor_draw(float *omega, int64_t features, int64_t d, uint64_t seed, uint64_t draw) {
    if (!omega) return lc_error(LC_EINVAL, "omega is NULL");
    if (features <= 0) return lc_error(LC_EINVAL, "features=%lld must be > 0", (long long)features);
    if (d <= 0 || d > 4096) return lc_error(LC_EINVAL, "d=%lld must be in 1..4096", (long long)d);
    double *blk = malloc(sizeof(double) * (size_t)(d * d));
    if (!blk) return lc_error(LC_ENOMEM, "lc_favor_draw: %lld bytes", (long long)(8 * d * d));
    /* draw number `draw` owns the counter range [draw * 2^40, (draw + 1) * 2^40) */
    uint64_t ctr = draw << 40;
    for (int64_t r0 = 0; r0 < features; r0 += d) {
        for (int64_t i = 0; i < d * d; i++) blk[i] = lc_rng_normal(seed, ctr++);
        for (int64_t i = 0; i < d; i++) {
            double *ri = blk + i * d;
            for (int64_t j = 0; j < i; j++) {
                const double *rj = blk + j * d;
                double dot = 0;
                for (int64_t c = 0; c < d; c++) dot += ri[c] * rj[c];
                for (int64_t c = 0; c < d; c++) ri[c] -= dot * rj[c];
            }
            double nn = 0;
            for (int64_t c = 0; c < d; c++) nn += ri[c] * ri[c];
            nn = sqrt(nn);
            for (int64_t c = 0; c < d; c++) ri[c] /= nn;
        }
        for (int64_t i = 0; i < d && r0 + i < features; i++) {
            double len = 0;
            for (int64_t c = 0; c < d; c++) {
                double g = lc_rng_normal(seed, ctr++);
                len += g * g;
            }
            len = sqrt(len);
            for (int64_t c = 0; c < d; c++) omega[(r0 + i) * d + c] = (float)(blk[i * d + c] * len);
        }
    }
    free(blk);
    return LC_OK;
}

float lin_features(const lc_linear_attention *a, const float *x, int64_t sx, float *phi) {
    const int64_t d = a->q.shape[3];
    if (a->feature == LC_FEATURE_ELU1) {
        for (int64_t i = 0; i < d; i++) {
            float v = x[i * sx];
            phi[i] = v > 0 ? v + 1.0f : expf(v); /* NaN: expf(NaN) = NaN */
        }
        return 0.0f;
    }
    if (a->feature == LC_FEATURE_RELU) {
        for (int64_t i = 0; i < d; i++) {
            float v = x[i * sx];
            phi[i] = v > 0 || v != v ? v : 0.0f;
        }
        return 0.0f;
    }
    /* FAVOR+: x' = x d^(-1/4) so that E[phi(q).phi(k)] = exp(q.k / sqrt(d)) */
    const int64_t m = a->features;
    const float s = (float)pow((double)d, -0.25);
    float xs[4096], half = 0;
    for (int64_t i = 0; i < d; i++) xs[i] = x[i * sx] * s, half += xs[i] * xs[i];
    half *= 0.5f;
    float mx = -INFINITY;
    for (int64_t r = 0; r < m; r++) {
        const float *w = a->omega + r * d;
        float dot = 0;
        for (int64_t i = 0; i < d; i++) dot += w[i] * xs[i];
        phi[r] = dot - half;
        mx = lin_max_nan(mx, phi[r]);
    }
    const float inv = 1.0f / sqrtf((float)m);
    for (int64_t r = 0; r < m; r++) phi[r] = expf(phi[r] - mx) * inv;
    return mx;
}

void lin_features_f64(const lc_linear_attention *a, const float *x, int64_t sx, double *phi) {
    const int64_t d = a->q.shape[3];
    if (a->feature != LC_FEATURE_FAVOR) {
        for (int64_t i = 0; i < d; i++) {
            double v = x[i * sx];
            phi[i] = a->feature == LC_FEATURE_ELU1 ? (v > 0 ? v + 1.0 : exp(v)) : (v > 0 || v != v ? v : 0.0);
        }
        return;
    }
    const double s = pow((double)d, -0.25);
    double half = 0;
    for (int64_t i = 0; i < d; i++) half += (x[i * sx] * s) * (x[i * sx] * s);
    half *= 0.5;
    for (int64_t r = 0; r < a->features; r++) {
        double dot = 0;
        for (int64_t i = 0; i < d; i++) dot += (double)a->omega[r * d + i] * (x[i * sx] * s);
        phi[r] = exp(dot - half) / sqrt((double)a->features);
    }
}
