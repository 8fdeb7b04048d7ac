/* The Mamba mixer layer with the equations of transformers' MambaMixer (slow path):
 *   [x | z] = in_proj(u);  x = silu(conv1d(x));  [dt_r | B | C] = x_proj(x);
 *   (Jamba: dt_r, B, C = RMSNorm(dt_r), RMSNorm(B), RMSNorm(C));
 *   dt = dt_proj.weight dt_r (its bias joins inside the scan's softplus);
 *   y = selective_scan(x, dt, A = -exp(A_log), B, C, D, z);  out = out_proj(y). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ssm_internal.h"

lc_status lc_mamba_weights_check(const lc_mamba_weights *w) {
    if (!w) return lc_error(LC_EINVAL, "mamba weights are NULL");
    if (w->hidden <= 0) return lc_error(LC_EINVAL, "hidden=%lld must be > 0", (long long)w->hidden);
    if (w->inner <= 0) return lc_error(LC_EINVAL, "inner=%lld must be > 0", (long long)w->inner);
    if (w->state <= 0 || w->state > 1024) return lc_error(LC_EINVAL, "state=%lld must be in 1..1024", (long long)w->state);
    if (w->conv_kernel <= 0 || w->conv_kernel > 64) return lc_error(LC_EINVAL, "conv_kernel=%lld must be in 1..64", (long long)w->conv_kernel);
    if (w->dt_rank <= 0) return lc_error(LC_EINVAL, "dt_rank=%lld must be > 0", (long long)w->dt_rank);
    SSM_NEED(w->in_proj_w, "in_proj_w");
    SSM_NEED(w->conv_w, "conv_w");
    SSM_NEED(w->x_proj_w, "x_proj_w");
    SSM_NEED(w->dt_proj_w, "dt_proj_w");
    SSM_NEED(w->A_log, "A_log");
    SSM_NEED(w->D, "D");
    SSM_NEED(w->out_proj_w, "out_proj_w");
    if ((w->dt_norm_w || w->b_norm_w || w->c_norm_w) && !(w->norm_eps >= 0))
        return lc_error(LC_EINVAL, "norm_eps=%g must be >= 0", (double)w->norm_eps);
    return LC_OK;
}

int64_t lc_mamba_conv_state_floats(const lc_mamba_weights *w, int64_t batch) { return !w ? 0 : batch * w->inner * (w->conv_kernel - 1); }
int64_t lc_mamba_ssm_state_floats(const lc_mamba_weights *w, int64_t batch) { return !w ? 0 : batch * w->inner * w->state; }

/* Checks io against the state sizes the layer needs. */
lc_status ssm_io_check(const lc_mixer_io *io, int64_t conv_floats, int64_t ssm_floats) {
    if (!io) return lc_error(LC_EINVAL, "mixer io is NULL");
    if (io->batch <= 0) return lc_error(LC_EINVAL, "batch=%lld must be > 0", (long long)io->batch);
    if (io->n <= 0) return lc_error(LC_EINVAL, "n=%lld must be > 0", (long long)io->n);
    SSM_NEED(io->x, "x");
    SSM_NEED(io->y, "y");
    if (conv_floats > 0) SSM_NEED(io->conv_state, "conv_state");
    SSM_NEED(io->ssm_state, "ssm_state");
    if (io->conv_state_floats != conv_floats)
        return lc_error(LC_EINVAL, "conv_state_floats=%lld must be batch*channels*(conv_kernel-1) = %lld", (long long)io->conv_state_floats,
                        (long long)conv_floats);
    if (io->ssm_state_floats != ssm_floats)
        return lc_error(LC_EINVAL, "ssm_state_floats=%lld must be %lld for this layer and batch", (long long)io->ssm_state_floats, (long long)ssm_floats);
    if (io->threads < 0) return lc_error(LC_EINVAL, "threads=%d must be >= 0 (0 is the default)", io->threads);
    return LC_OK;
}

/* Tokens [t0, t0 + m) of sequence b; scratch holds m * (5 inner + dt_rank + 4 state) floats
 * and A the inner * state values of -exp(A_log). */
static lc_status mamba_tokens(const lc_mamba_weights *w, const lc_mixer_io *io, int64_t b, int64_t t0, int64_t m, float *scratch, const float *A) {
    const int64_t H = w->hidden, E = w->inner, N = w->state, R = w->dt_rank, K = w->conv_kernel, P = R + 2 * N;
    float *xz = scratch, *xc = xz + m * 2 * E, *dbc = xc + m * E, *dt = dbc + m * P, *Bc = dt + m * E, *Cc = Bc + m * N;
    float *z = Cc + m * N, *y = z + m * E;
    ssm_linear(io->x + (b * io->n + t0) * H, H, m, H, w->in_proj_w, w->in_proj_b, 2 * E, xz, 2 * E);
    ssm_conv_silu(xz, 2 * E, m, E, w->conv_w, w->conv_b, K, io->conv_state + b * E * (K - 1), xc, E);
    ssm_linear(xc, E, m, E, w->x_proj_w, NULL, P, dbc, P);
    if (w->dt_norm_w || w->b_norm_w || w->c_norm_w) /* Jamba's inner norms */
        for (int64_t t = 0; t < m; t++) {
            float *row = dbc + t * P;
            if (w->dt_norm_w) ssm_rms_norm(row, R, w->dt_norm_w, w->norm_eps);
            if (w->b_norm_w) ssm_rms_norm(row + R, N, w->b_norm_w, w->norm_eps);
            if (w->c_norm_w) ssm_rms_norm(row + R + N, N, w->c_norm_w, w->norm_eps);
        }
    ssm_linear(dbc, P, m, R, w->dt_proj_w, NULL, E, dt, E);
    for (int64_t t = 0; t < m; t++) {
        memcpy(Bc + t * N, dbc + t * P + R, sizeof(float) * (size_t)N);
        memcpy(Cc + t * N, dbc + t * P + R + N, sizeof(float) * (size_t)N);
        memcpy(z + t * E, xz + t * 2 * E + E, sizeof(float) * (size_t)E);
    }
    lc_selective_scan s = {1, m, E, N, xc, dt, w->dt_proj_b, A, Bc, Cc, w->D, z, y, io->ssm_state + b * E * N, E * N, io->threads, LC_ISA_AUTO};
    lc_status st = lc_selective_scan_f32(&s);
    if (st) return st;
    ssm_linear(y, E, m, E, w->out_proj_w, w->out_proj_b, H, io->y + (b * io->n + t0) * H, H);
    return LC_OK;
}

static lc_status mamba_run(const lc_mamba_weights *w, const lc_mixer_io *io, int per_token) {
    lc_status st = lc_mamba_weights_check(w);
    if (st || (st = ssm_io_check(io, lc_mamba_conv_state_floats(w, io ? io->batch : 0), lc_mamba_ssm_state_floats(w, io ? io->batch : 0))))
        return st;
    const int64_t E = w->inner, N = w->state, m = per_token ? 1 : io->n;
    const size_t floats = (size_t)(E * N) + (size_t)m * (size_t)(6 * E + w->dt_rank + 4 * N);
    float *buf = malloc(sizeof(float) * floats);
    if (!buf) return lc_error(LC_ENOMEM, "mamba layer: %zu bytes of scratch", sizeof(float) * floats);
    float *A = buf, *scratch = buf + E * N;
    for (int64_t i = 0; i < E * N; i++) A[i] = -expf(w->A_log[i]);
    for (int64_t b = 0; b < io->batch && !st; b++)
        for (int64_t t0 = 0; t0 < io->n && !st; t0 += m) st = mamba_tokens(w, io, b, t0, m, scratch, A);
    free(buf);
    return st;
}

lc_status lc_mamba_prefill(const lc_mamba_weights *w, const lc_mixer_io *io) { return mamba_run(w, io, 0); }
lc_status lc_mamba_step(const lc_mamba_weights *w, const lc_mixer_io *io) { return mamba_run(w, io, 1); }
