/* Selective state-space models on the CPU: Mamba's selective scan (Gu and Dao 2023) and
 * Mamba-2's state-space duality (SSD, Dao and Gu 2024), as the kernels and as whole mixer
 * layers with the equations of Hugging Face transformers' MambaMixer and Mamba2Mixer.
 * Arrays are contiguous f32, row-major, in the shapes the comments give; states are
 * caller-owned and all zeros at the start of a sequence. See docs/ssm.md.
 *
 * Non-finite inputs: NaN or Inf in an input makes every output and state element that
 * depends on it non-finite (the recurrences propagate it forward in time); elements that
 * do not depend on it are computed as usual. */
#ifndef LONGCTX_SSM_H
#define LONGCTX_SSM_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* softplus as PyTorch computes it: x above 20 passes through, else log(1 + exp(x)). */
float lc_softplus(float x);

/* ---- Mamba's selective scan ------------------------------------------------------------- */

/* Per channel d and state index i, with dt = softplus(dt_raw + dt_bias):
 *   h[d,i] <- exp(dt A[d,i]) h[d,i] + dt B_t[i] x_t[d]
 *   y_t[d]  = (sum_i C_t[i] h[d,i] + D[d] x_t[d]) * silu(z_t[d])      (no factor without z) */
typedef struct lc_selective_scan {
    int64_t batch, n, channels, state;
    const float *x;       /* [batch, n, channels]: after the convolution and activation */
    const float *dt;      /* [batch, n, channels]: dt_proj(...) without its bias */
    const float *dt_bias; /* [channels] or NULL */
    const float *A;       /* [channels, state]: A = -exp(A_log) */
    const float *B, *C;   /* [batch, n, state] */
    const float *D;       /* [channels] or NULL */
    const float *z;       /* [batch, n, channels] gate, or NULL */
    float *y;             /* [batch, n, channels], written */
    float *h;             /* [batch, channels, state]: start state, receives the final state */
    int64_t h_floats;     /* length of h */
    int threads;
    lc_isa isa;           /* LC_ISA_AUTO: the best vector path the CPU has */
} lc_selective_scan;

lc_status lc_selective_scan_check(const lc_selective_scan *s);
/* f32, channels in parallel, each channel's recurrence in order: the prefill and the step. */
lc_status lc_selective_scan_f32(const lc_selective_scan *s);
/* The same recurrence in float64 (reference; h is read and written as f32). */
lc_status lc_selective_scan_naive(const lc_selective_scan *s);

/* ---- Mamba-2 SSD -------------------------------------------------------------------------- */

/* Per head p (group gr = p / (heads / groups)), head channel d, state index i, with
 * dt = clamp(softplus(dt_raw + dt_bias), dt_min, dt_max) and scalar A[p]:
 *   h[p,d,i] <- exp(dt A[p]) h[p,d,i] + dt B_t[gr,i] x_t[p,d]
 *   y_t[p,d]  = sum_i C_t[gr,i] h[p,d,i] + D[p] x_t[p,d] */
typedef struct lc_ssd {
    int64_t batch, n, heads, head_dim, groups, state;
    const float *x;       /* [batch, n, heads, head_dim] */
    const float *dt;      /* [batch, n, heads], before dt_bias and softplus */
    const float *dt_bias; /* [heads] or NULL */
    float dt_min, dt_max; /* the clamp; 0 and 0 mean none (transformers' (0, inf)) */
    const float *A;       /* [heads]: A = -exp(A_log) */
    const float *B, *C;   /* [batch, n, groups, state] */
    const float *D;       /* [heads] or NULL */
    float *y;             /* [batch, n, heads, head_dim], written */
    float *h;             /* [batch, heads, head_dim, state]: start state, receives the final one */
    int64_t h_floats;
    int64_t chunk;        /* chunked form: tokens per chunk, 0 = 64 */
    int threads;
    lc_isa isa;           /* the step's vector path; LC_ISA_AUTO: the best the CPU has */
} lc_ssd;

lc_status lc_ssd_check(const lc_ssd *s);
/* The naive sequential recurrence in float64 (reference). */
lc_status lc_ssd_naive(const lc_ssd *s);
/* The recurrence in f32, token by token: decoding. Heads in parallel (from a size where
 * threads pay), each head's state rows vectorised over the state (AVX2 / AVX-512). */
lc_status lc_ssd_step(const lc_ssd *s);
/* The chunked algorithm (SSD paper, section 6): inside a chunk the quadratic form
 * (C B^T .* L) X with L the decay mask, between chunks the state. Needs
 * lc_ssd_workspace_size(s) bytes. */
size_t lc_ssd_workspace_size(const lc_ssd *s);
lc_status lc_ssd_chunked(const lc_ssd *s, void *workspace, size_t workspace_bytes);
lc_status lc_ssd_chunked_alloc(const lc_ssd *s);

/* ---- the causal convolution in front of both scans --------------------------------------- */

/* Depthwise causal conv1d over n tokens, then silu, as both mixers run it (Mamba's conv1d
 * with padding kernel - 1):
 *   y[b,t,c] = silu(bias[c] + sum_j w[c,j] x[b, t-(K-1)+j, c])
 * where the inputs before t = 0 come from state[b,c,:] (the last K-1 inputs, oldest first),
 * which then receives the last K-1 inputs, so a prefill is continued by steps. Rows of x and
 * y lie x_stride and y_stride floats apart (a mixer reads x out of its wider projection). */
typedef struct lc_causal_conv1d {
    int64_t batch, n, channels, kernel; /* kernel K in 1..64 */
    const float *x;                     /* [batch, n, x_stride]: channels from column 0 */
    int64_t x_stride;                   /* >= channels */
    const float *w;                     /* [channels, K] */
    const float *bias;                  /* [channels] or NULL */
    float *y;                           /* [batch, n, y_stride], written (columns below channels) */
    int64_t y_stride;                   /* >= channels */
    float *state;                       /* [batch, channels, K-1]: zeros start a sequence; NULL when K = 1 */
    int64_t state_floats;
} lc_causal_conv1d;

lc_status lc_causal_conv1d_check(const lc_causal_conv1d *c);
/* f32, channel by channel (the mixers' own convolution). */
lc_status lc_causal_conv1d_f32(const lc_causal_conv1d *c);

/* ---- the mixer layers --------------------------------------------------------------------- */

/* The weights of a transformers MambaMixer (names as in its state_dict); biases may be NULL. */
typedef struct lc_mamba_weights {
    int64_t hidden, inner, state, conv_kernel, dt_rank;
    const float *in_proj_w, *in_proj_b;   /* [2 inner, hidden], [2 inner] */
    const float *conv_w, *conv_b;         /* [inner, conv_kernel], [inner] */
    const float *x_proj_w;                /* [dt_rank + 2 state, inner] */
    const float *dt_proj_w, *dt_proj_b;   /* [inner, dt_rank], [inner] */
    const float *A_log, *D;               /* [inner, state], [inner] */
    const float *out_proj_w, *out_proj_b; /* [hidden, inner], [hidden] */
    /* Jamba's mixer: RMSNorms (weight * x / sqrt(mean(x^2) + norm_eps)) on dt_r, B and C after
     * x_proj (JambaMambaMixer's dt_layernorm, b_layernorm, c_layernorm); NULL: none (Mamba) */
    const float *dt_norm_w, *b_norm_w, *c_norm_w; /* [dt_rank], [state], [state] */
    float norm_eps;
} lc_mamba_weights;

/* The weights of a transformers Mamba2Mixer. in_proj's rows are [z | x B C | dt]. */
typedef struct lc_mamba2_weights {
    int64_t hidden, heads, head_dim, groups, state, conv_kernel;
    int64_t norm_group;                   /* gated RMSNorm group width; 0 = heads*head_dim */
    float norm_eps, dt_min, dt_max;       /* dt clamp 0, 0: none */
    int64_t chunk;                        /* SSD chunk, 0 = 64 (any value gives the same result) */
    const float *in_proj_w, *in_proj_b;   /* [2 inner + 2 groups state + heads, hidden] */
    const float *conv_w, *conv_b;         /* [inner + 2 groups state, conv_kernel] */
    const float *dt_bias, *A_log, *D;     /* [heads] each */
    const float *norm_w;                  /* [inner] */
    const float *out_proj_w, *out_proj_b; /* [hidden, inner], [hidden] */
} lc_mamba2_weights;

/* One call of a mixer over n tokens of `batch` sequences, continuing from the states:
 * conv_state holds each channel's last conv_kernel-1 inputs ([batch, conv channels,
 * conv_kernel-1], oldest first) and ssm_state the recurrence ([batch, inner, state] for
 * Mamba, [batch, heads, head_dim, state] for Mamba-2). Zeros start a sequence; on return
 * both hold the states after the last token, so a prefill is continued by steps. */
typedef struct lc_mixer_io {
    int64_t batch, n;
    const float *x; /* [batch, n, hidden] */
    float *y;       /* [batch, n, hidden], written */
    float *conv_state;
    int64_t conv_state_floats;
    float *ssm_state;
    int64_t ssm_state_floats;
    int threads;
} lc_mixer_io;

int64_t lc_mamba_conv_state_floats(const lc_mamba_weights *w, int64_t batch);
int64_t lc_mamba_ssm_state_floats(const lc_mamba_weights *w, int64_t batch);
int64_t lc_mamba2_conv_state_floats(const lc_mamba2_weights *w, int64_t batch);
int64_t lc_mamba2_ssm_state_floats(const lc_mamba2_weights *w, int64_t batch);

lc_status lc_mamba_weights_check(const lc_mamba_weights *w);
lc_status lc_mamba2_weights_check(const lc_mamba2_weights *w);

/* Prefill: projections as matrix products over all n tokens, then the scan (Mamba) or
 * the chunked SSD (Mamba-2). Allocates its n-proportional scratch. */
lc_status lc_mamba_prefill(const lc_mamba_weights *w, const lc_mixer_io *io);
lc_status lc_mamba2_prefill(const lc_mamba2_weights *w, const lc_mixer_io *io);
/* Decoding: token by token with matrix-vector products and the recurrent step; scratch is
 * bounded by the layer's width, never by n. */
lc_status lc_mamba_step(const lc_mamba_weights *w, const lc_mixer_io *io);
lc_status lc_mamba2_step(const lc_mamba2_weights *w, const lc_mixer_io *io);

#ifdef __cplusplus
}
#endif
#endif
