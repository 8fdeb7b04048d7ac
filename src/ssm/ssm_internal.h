/* Helpers shared by the state-space kernels and layers. */
#ifndef LONGCTX_SSM_INTERNAL_H
#define LONGCTX_SSM_INTERNAL_H

#include <math.h>

#include "longctx/ssm.h"

/* lc_ssd_check without the pointers' overlap checks: what a workspace size depends on. */
lc_status ssm_ssd_check_shapes(const lc_ssd *s);

static inline float ssm_silu(float x) { return x / (1.0f + expf(-x)); }

static inline float ssm_dt(float raw, const float *bias, int64_t i, float lo, float hi) {
    float dt = lc_softplus(raw + (bias ? bias[i] : 0.0f));
    if (lo != 0 || hi != 0) dt = dt < lo ? lo : dt > hi ? hi : dt; /* NaN passes through */
    return dt;
}

/* x[0..n) <- w * x / sqrt(mean(x^2) + eps) in place, as transformers' RMSNorm in f32. */
static inline void ssm_rms_norm(float *x, int64_t n, const float *w, float eps) {
    float ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) x[i] = w[i] * (x[i] * r);
}

/* Causal depthwise conv1d of n tokens followed by silu: out[t, c] = silu(b[c] +
 * sum_j w[c, j] in[t - (K-1) + j, c]), where inputs before t = 0 come from state[c, :]
 * (the last K-1 inputs, oldest first), which then receives the last K-1 inputs. */
void ssm_conv_silu(const float *in, int64_t ld_in, int64_t n, int64_t ch, const float *w, const float *b, int64_t K, float *state,
                   float *out, int64_t ld_out);

/* y[n, rows] = x[n, cols] W^T + bias (x rows at stride ldx, y rows at stride ldy). */
void ssm_linear(const float *x, int64_t ldx, int64_t n, int64_t cols, const float *W, const float *bias, int64_t rows, float *y, int64_t ldy);

/* Checks a mixer call against the state sizes the layer needs (mamba_layer.c). */
lc_status ssm_io_check(const lc_mixer_io *io, int64_t conv_floats, int64_t ssm_floats);

/* lc_error sentence for a NULL weight array. */
#define SSM_NEED(p, name)                                                                                                  \
    if (!(p)) return lc_error(LC_EINVAL, "%s is NULL", name)

#endif
