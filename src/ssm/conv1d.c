/* The causal depthwise convolution in front of both scans (Mamba's conv1d with
 * padding = kernel - 1, as transformers' mixers run it, followed by silu), carrying the last
 * kernel - 1 inputs of every channel from one call to the next. */
#include <math.h>
#include <string.h>

#include "../core/overlap.h"
#include "ssm_internal.h"

lc_status lc_causal_conv1d_check(const lc_causal_conv1d *c) {
    if (!c) return lc_error(LC_EINVAL, "causal conv1d descriptor is NULL");
    if (c->batch <= 0) return lc_error(LC_EINVAL, "batch=%lld must be > 0", (long long)c->batch);
    if (c->n <= 0) return lc_error(LC_EINVAL, "n=%lld must be > 0", (long long)c->n);
    if (c->channels <= 0) return lc_error(LC_EINVAL, "channels=%lld must be > 0", (long long)c->channels);
    if (c->kernel <= 0 || c->kernel > 64) return lc_error(LC_EINVAL, "kernel=%lld must be in 1..64", (long long)c->kernel);
    if (c->x_stride < c->channels) return lc_error(LC_EINVAL, "x_stride=%lld must be >= channels=%lld", (long long)c->x_stride, (long long)c->channels);
    if (c->y_stride < c->channels) return lc_error(LC_EINVAL, "y_stride=%lld must be >= channels=%lld", (long long)c->y_stride, (long long)c->channels);
    if ((double)c->batch * (double)c->n * (double)(c->x_stride > c->y_stride ? c->x_stride : c->y_stride) > 0x1p50)
        return lc_error(LC_EINVAL, "batch=%lld x n=%lld rows of %lld floats: past any machine's memory", (long long)c->batch, (long long)c->n,
                        (long long)(c->x_stride > c->y_stride ? c->x_stride : c->y_stride));
    SSM_NEED(c->x, "x");
    SSM_NEED(c->w, "w");
    SSM_NEED(c->y, "y");
    const int64_t need = c->batch * c->channels * (c->kernel - 1);
    if (need > 0) SSM_NEED(c->state, "state (the last kernel-1 inputs: zeros start a sequence)");
    if (c->state_floats != need)
        return lc_error(LC_EINVAL, "state_floats=%lld must be batch*channels*(kernel-1) = %lld", (long long)c->state_floats, (long long)need);
    /* the outputs (y, state) must not alias an input or each other */
    const size_t f = sizeof(float), rows = (size_t)(c->batch * c->n - 1);
    const size_t xb = (rows * (size_t)c->x_stride + (size_t)c->channels) * f, yb = (rows * (size_t)c->y_stride + (size_t)c->channels) * f;
    const size_t wb = (size_t)(c->channels * c->kernel) * f, bb = (size_t)c->channels * f, sb = (size_t)need * f;
    const struct {
        const void *p;
        size_t bytes;
        const char *name;
    } in[] = {{c->x, xb, "x"}, {c->w, wb, "w"}, {c->bias, bb, "bias"}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (lc_overlaps(c->y, yb, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "y overlaps %s: the output must not alias an input", in[i].name);
        if (lc_overlaps(c->state, sb, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "state overlaps %s: the state must not alias an input", in[i].name);
    }
    if (lc_overlaps(c->y, yb, c->state, sb)) return lc_error(LC_EINVAL, "y overlaps state");
    return LC_OK;
}

void ssm_conv_silu(const float *in, int64_t ld_in, int64_t n, int64_t ch, const float *w, const float *b, int64_t K, float *state,
                   float *out, int64_t ld_out) {
    const int64_t S = K - 1;
    for (int64_t c = 0; c < ch; c++) {
        const float *wc = w + c * K;
        float *sc = S ? state + c * S : NULL;
        for (int64_t t = 0; t < n; t++) {
            float acc = b ? b[c] : 0.0f;
            for (int64_t j = 0; j < K; j++) {
                int64_t idx = t - S + j;
                acc += wc[j] * (idx >= 0 ? in[idx * ld_in + c] : sc[S + idx]);
            }
            out[t * ld_out + c] = ssm_silu(acc);
        }
        /* the last K-1 inputs: from the new tokens, or shifted from the old state */
        float keep[64];
        for (int64_t j = 0; j < S; j++) {
            int64_t idx = n - S + j;
            keep[j] = idx >= 0 ? in[idx * ld_in + c] : sc[S + idx];
        }
        if (S > 0) memcpy(sc, keep, sizeof(float) * (size_t)S);
    }
}

lc_status lc_causal_conv1d_f32(const lc_causal_conv1d *c) {
    lc_status st = lc_causal_conv1d_check(c);
    if (st) return st;
    const int64_t S = c->kernel - 1;
    for (int64_t b = 0; b < c->batch; b++)
        ssm_conv_silu(c->x + b * c->n * c->x_stride, c->x_stride, c->n, c->channels, c->w, c->bias, c->kernel, S ? c->state + b * c->channels * S : NULL,
                      c->y + b * c->n * c->y_stride, c->y_stride);
    return LC_OK;
}
