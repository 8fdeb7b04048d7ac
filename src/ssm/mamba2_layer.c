/* The Mamba-2 mixer layer with the equations of transformers' Mamba2Mixer:
 *   [z | xBC | dt] = in_proj(u);  xBC = silu(conv1d(xBC));  [x | B | C] = xBC;
 *   y = SSD(x, dt + dt_bias, A = -exp(A_log), B, C) + D x;
 *   g = y * silu(z);  y = norm_w * g / sqrt(mean_group(g^2) + eps);  out = out_proj(y).
 * The prefill runs the chunked SSD, the step the recurrence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ssm_internal.h"

static int64_t inner_of(const lc_mamba2_weights *w) { return w->heads * w->head_dim; }
static int64_t conv_dim(const lc_mamba2_weights *w) { return inner_of(w) + 2 * w->groups * w->state; }

lc_status lc_mamba2_weights_check(const lc_mamba2_weights *w) {
    if (!w) return lc_error(LC_EINVAL, "mamba2 weights are NULL");
    if (w->hidden <= 0) return lc_error(LC_EINVAL, "hidden=%lld must be > 0", (long long)w->hidden);
    if (w->heads <= 0) return lc_error(LC_EINVAL, "heads=%lld must be > 0", (long long)w->heads);
    if (w->head_dim <= 0) return lc_error(LC_EINVAL, "head_dim=%lld must be > 0", (long long)w->head_dim);
    if (w->groups <= 0 || w->heads % w->groups)
        return lc_error(LC_EINVAL, "groups=%lld must be > 0 and divide heads=%lld", (long long)w->groups, (long long)w->heads);
    if (w->state <= 0) return lc_error(LC_EINVAL, "state=%lld must be > 0", (long long)w->state);
    if (w->conv_kernel <= 0 || w->conv_kernel > 64) return lc_error(LC_EINVAL, "conv_kernel=%lld must be in 1..64", (long long)w->conv_kernel);
    const int64_t E = inner_of(w);
    if (w->norm_group < 0 || (w->norm_group && E % w->norm_group))
        return lc_error(LC_EINVAL, "norm_group=%lld must divide heads*head_dim=%lld (0 is the whole width)", (long long)w->norm_group, (long long)E);
    if (!(w->norm_eps >= 0)) return lc_error(LC_EINVAL, "norm_eps=%g must be >= 0", (double)w->norm_eps);
    SSM_NEED(w->in_proj_w, "in_proj_w");
    SSM_NEED(w->conv_w, "conv_w");
    SSM_NEED(w->dt_bias, "dt_bias");
    SSM_NEED(w->A_log, "A_log");
    SSM_NEED(w->D, "D");
    SSM_NEED(w->norm_w, "norm_w");
    SSM_NEED(w->out_proj_w, "out_proj_w");
    return LC_OK;
}

int64_t lc_mamba2_conv_state_floats(const lc_mamba2_weights *w, int64_t batch) { return !w ? 0 : batch * conv_dim(w) * (w->conv_kernel - 1); }
int64_t lc_mamba2_ssm_state_floats(const lc_mamba2_weights *w, int64_t batch) { return !w ? 0 : batch * w->heads * w->head_dim * w->state; }

/* Scratch floats for m tokens. */
static size_t scratch_floats(const lc_mamba2_weights *w, int64_t m) {
    const int64_t E = inner_of(w), CD = conv_dim(w), PR = E + CD + w->heads;
    return (size_t)m * (size_t)(PR + CD + E + 2 * w->groups * w->state + w->heads + E);
}

static lc_status mamba2_tokens(const lc_mamba2_weights *w, const lc_mixer_io *io, int64_t b, int64_t t0, int64_t m, float *scratch,
                               const float *A, int chunked, void *ws, size_t ws_bytes) {
    const int64_t Hd = w->hidden, E = inner_of(w), CD = conv_dim(w), GN = w->groups * w->state, NH = w->heads, PR = E + CD + NH;
    float *proj = scratch, *xbc = proj + m * PR, *x = xbc + m * CD, *Bm = x + m * E, *Cm = Bm + m * GN, *dt = Cm + m * GN, *y = dt + m * NH;
    ssm_linear(io->x + (b * io->n + t0) * Hd, Hd, m, Hd, w->in_proj_w, w->in_proj_b, PR, proj, PR);
    ssm_conv_silu(proj + E, PR, m, CD, w->conv_w, w->conv_b, w->conv_kernel, io->conv_state + b * CD * (w->conv_kernel - 1), xbc, CD);
    for (int64_t t = 0; t < m; t++) {
        memcpy(x + t * E, xbc + t * CD, sizeof(float) * (size_t)E);
        memcpy(Bm + t * GN, xbc + t * CD + E, sizeof(float) * (size_t)GN);
        memcpy(Cm + t * GN, xbc + t * CD + E + GN, sizeof(float) * (size_t)GN);
        memcpy(dt + t * NH, proj + t * PR + E + CD, sizeof(float) * (size_t)NH);
    }
    const int64_t hf = NH * w->head_dim * w->state;
    lc_ssd s = {1, m, NH, w->head_dim, w->groups, w->state, x, dt, w->dt_bias, w->dt_min, w->dt_max, A, Bm, Cm, w->D, y,
                io->ssm_state + b * hf, hf, w->chunk, io->threads, LC_ISA_AUTO};
    lc_status st = chunked ? lc_ssd_chunked(&s, ws, ws_bytes) : lc_ssd_step(&s);
    if (st) return st;
    /* gated RMSNorm (MambaRMSNormGated): g = y silu(z), normalised over groups of width gw */
    const int64_t gw = w->norm_group ? w->norm_group : E;
    for (int64_t t = 0; t < m; t++) {
        float *yt = y + t * E;
        const float *zt = proj + t * PR;
        for (int64_t e = 0; e < E; e++) yt[e] *= ssm_silu(zt[e]);
        for (int64_t g0 = 0; g0 < E; g0 += gw) {
            float ss = 0;
            for (int64_t e = g0; e < g0 + gw; e++) ss += yt[e] * yt[e];
            const float r = 1.0f / sqrtf(ss / (float)gw + w->norm_eps);
            for (int64_t e = g0; e < g0 + gw; e++) yt[e] = w->norm_w[e] * (yt[e] * r);
        }
    }
    ssm_linear(y, E, m, E, w->out_proj_w, w->out_proj_b, Hd, io->y + (b * io->n + t0) * Hd, Hd);
    return LC_OK;
}

static lc_status mamba2_run(const lc_mamba2_weights *w, const lc_mixer_io *io, int per_token) {
    lc_status st = lc_mamba2_weights_check(w);
    if (st || (st = ssm_io_check(io, lc_mamba2_conv_state_floats(w, io ? io->batch : 0), lc_mamba2_ssm_state_floats(w, io ? io->batch : 0))))
        return st;
    const int64_t m = per_token ? 1 : io->n, NH = w->heads;
    size_t ws_bytes = 0;
    if (!per_token) {
        lc_ssd probe = {1, m, NH, w->head_dim, w->groups, w->state, io->x, io->x, NULL, 0, 0, io->x, io->x, io->x, NULL, io->y,
                        io->ssm_state, NH * w->head_dim * w->state, w->chunk, io->threads, LC_ISA_AUTO};
        ws_bytes = lc_ssd_workspace_size(&probe);
    }
    const size_t floats = (size_t)NH + scratch_floats(w, m) + ws_bytes / sizeof(float) + 16;
    float *buf = lc_aligned_alloc(sizeof(float) * floats, 64);
    if (!buf) return lc_error(LC_ENOMEM, "mamba2 layer: %zu bytes of scratch", sizeof(float) * floats);
    float *A = buf, *scratch = buf + NH, *ws = scratch + scratch_floats(w, m);
    for (int64_t p = 0; p < NH; p++) A[p] = -expf(w->A_log[p]);
    for (int64_t b = 0; b < io->batch && !st; b++)
        for (int64_t t0 = 0; t0 < io->n && !st; t0 += m) st = mamba2_tokens(w, io, b, t0, m, scratch, A, !per_token, ws, ws_bytes);
    lc_aligned_free(buf);
    return st;
}

lc_status lc_mamba2_prefill(const lc_mamba2_weights *w, const lc_mixer_io *io) { return mamba2_run(w, io, 0); }
lc_status lc_mamba2_step(const lc_mamba2_weights *w, const lc_mixer_io *io) { return mamba2_run(w, io, 1); }
