/* Linear attention (Katharopoulos et al. 2020; Performer, Choromanski et al. 2021;
 * RetNet decay, Sun et al. 2023): the kernel trick that reorders softmax attention so that
 * a fixed-size state replaces the n x n score matrix.
 *
 *   causal:      o_t = sum_{s<=t} g^(t-s) (phi(q_t).phi(k_s)) v_s  /  sum_{s<=t} g^(t-s) phi(q_t).phi(k_s)
 *   non-causal:  o_t = phi(q_t)^T (phi(K)^T V)                     /  phi(q_t)^T (phi(K)^T 1)
 *
 * with the denominator left out when `normalize` is 0, and a row whose denominator is zero
 * (possible with relu features) giving o_t = 0. The causal forms keep, per batch and head,
 * the state S = sum g^(t-s) phi(k_s) v_s^T ([features, d_v]), z = sum g^(t-s) phi(k_s)
 * ([features]) and, for FAVOR+, the log-scale c of both (see docs/linear-attention.md).
 * Three kernels compute the same thing: the float64 quadratic reference, the chunkwise-
 * parallel prefill and the token-by-token recurrence (decoding). Tensors are f32. */
#ifndef LONGCTX_LINEAR_H
#define LONGCTX_LINEAR_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lc_feature_map {
    LC_FEATURE_ELU1 = 0,  /* phi(x) = elu(x) + 1, features = d_k */
    LC_FEATURE_RELU = 1,  /* phi(x) = max(x, 0), features = d_k */
    LC_FEATURE_FAVOR = 2  /* phi(x) = exp(w_i.x' - |x'|^2/2) / sqrt(m), x' = x d_k^(-1/4), m = features */
} lc_feature_map;

const char *lc_feature_map_name(lc_feature_map f); /* "elu1", "relu", "favor", "?" */

/* Performer's positive orthogonal random features: fills omega[features * d] with rows in
 * blocks of d mutually orthogonal Gaussian directions, each row rescaled to the norm of an
 * independent Gaussian d-vector. A pure function of (seed, draw): redraw by passing the
 * next draw number. */
lc_status lc_favor_draw(float *omega, int64_t features, int64_t d, uint64_t seed, uint64_t draw);

typedef struct lc_linear_attention {
    lc_tensor q, k;      /* [batch, n, heads, d_k], f32 */
    lc_tensor v;         /* [batch, n, heads, d_v], f32 */
    lc_tensor out;       /* [batch, n, heads, d_v], f32, written */
    lc_feature_map feature;
    int64_t features;    /* FAVOR+: m > 0, the rows of omega; otherwise 0 or d_k */
    const float *omega;  /* FAVOR+: [features, d_k] from lc_favor_draw; otherwise NULL */
    int causal;          /* 1: token t sees tokens <= t */
    const float *decay;  /* causal only, optional: per-head g in (0, 1]; NULL = no decay */
    int normalize;       /* 1: divide by phi(q).z; 0: leave the numerator (RetNet style) */
    int64_t chunk;       /* chunkwise form: tokens per chunk, 0 = 64 */
    int threads;         /* 0: lc_threads_default() */
} lc_linear_attention;

/* Checks every field; the sentence names the first wrong one. */
lc_status lc_linear_attention_check(const lc_linear_attention *a);

/* The feature count F (d_k for elu1 and relu, `features` for FAVOR+) and the floats of
 * recurrent state per (batch, head): F * d_v + F + 1. A state buffer holds
 * batch * heads of them, (b * heads + h) major; all zeros is the empty state. */
int64_t lc_linear_features(const lc_linear_attention *a);
int64_t lc_linear_state_floats(const lc_linear_attention *a);

/* Reference: the quadratic masked form (phi(Q) phi(K)^T .* M) V in float64, M_ts = g^(t-s)
 * for s <= t (causal) or 1 (non-causal), no max-shift. Refuses with LC_ENOMEM when the
 * n x n matrix of one head would exceed max_bytes (0: no limit). */
lc_status lc_linear_attention_naive(const lc_linear_attention *a, size_t max_bytes);

/* The fast form: non-causal phi(Q)(phi(K)^T V); causal chunkwise-parallel (masked products
 * inside a chunk, the carried state between chunks). When `state` is not NULL (causal
 * only) it is the state to start from and receives the final state, so a prefill can be
 * continued by lc_linear_attention_step; state_floats is the buffer's length. */
size_t lc_linear_attention_workspace_size(const lc_linear_attention *a);
lc_status lc_linear_attention_forward(const lc_linear_attention *a, float *state, int64_t state_floats, void *workspace,
                                      size_t workspace_bytes);
lc_status lc_linear_attention_forward_alloc(const lc_linear_attention *a, float *state, int64_t state_floats);

/* The recurrent form (causal): one token at a time, updating `state` in place; any n,
 * typically 1 when decoding. Memory is the state alone, whatever the context length. */
lc_status lc_linear_attention_step(const lc_linear_attention *a, float *state, int64_t state_floats);

#ifdef __cplusplus
}
#endif
#endif
