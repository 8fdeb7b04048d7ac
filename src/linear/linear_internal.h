/* Shared by the linear-attention kernels: feature maps of one row and the state layout. */
#ifndef LONGCTX_LINEAR_INTERNAL_H
#define LONGCTX_LINEAR_INTERNAL_H

#include "longctx/linear.h"

/* Element (b, s, h, d) of an f32 view. */
static inline const float *lin_row(const lc_tensor *t, int64_t b, int64_t s, int64_t h) {
    return (const float *)t->data + lc_tensor_offset(t, b, s, h, 0);
}

/* Features of one row x (d_k values at stride `sx`) into phi[F], as exp(log-scale) * phi:
 * returns the log-scale (the largest FAVOR+ logit; 0 for elu1 and relu) and writes
 * phi_i / exp(log-scale), so every written value is at most 1 / sqrt(m) for FAVOR+.
 * NaN in x gives NaN features and a NaN log-scale (propagated, never dropped). */
float lin_features(const lc_linear_attention *a, const float *x, int64_t sx, float *phi);

/* lin_features of L rows (row r at x + r * ldx) into phi[L, F] and their log-scales into
 * ls[L]; FAVOR+ projects all rows with one sgemm, using xs (L * d_k floats) as scratch. */
void lin_features_rows(const lc_linear_attention *a, const float *x, int64_t ldx, int64_t sx, int64_t L, float *phi, float *ls, float *xs);

/* The same in float64, unshifted (phi itself), for the reference. */
void lin_features_f64(const lc_linear_attention *a, const float *x, int64_t sx, double *phi);

/* Per-head log of the decay (0 without one). */
static inline double lin_log_decay(const lc_linear_attention *a, int64_t h);

#include <math.h>
static inline double lin_log_decay(const lc_linear_attention *a, int64_t h) { return a->decay ? log((double)a->decay[h]) : 0.0; }

/* max that keeps NaN: once a NaN is seen the result is NaN. */
static inline float lin_max_nan(float m, float x) { return (x > m || x != x) ? x : m; }

#endif
