/* Rotary position embeddings (Su et al. 2021) and the frequency scalings that stretch a
 * model's trained context, computed exactly as Hugging Face transformers'
 * modeling_rope_utils does (see docs/rope.md):
 *
 *   inv_freq[i] = theta^(-2i/dim), i < dim/2, dim = int(head_dim * partial)   (default)
 *   x'[a] = (x[a] cos(p f_i) - x[b] sin(p f_i)) * attention_factor
 *   x'[b] = (x[b] cos(p f_i) + x[a] sin(p f_i)) * attention_factor
 *
 * with (a, b) = (i, i + dim/2) in the GPT-NeoX / Hugging Face "rotate half" layout and
 * (2i, 2i + 1) in the GPT-J interleaved layout; dims >= dim pass through unchanged. */
#ifndef LONGCTX_ROPE_H
#define LONGCTX_ROPE_H

#include "longctx/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lc_rope_type {
    LC_ROPE_DEFAULT = 0,  /* theta^(-2i/dim) */
    LC_ROPE_LINEAR = 1,   /* position interpolation (Chen et al. 2023): f_i / factor */
    LC_ROPE_NTK = 2,      /* NTK-aware: theta * factor^(dim/(dim-2)) */
    LC_ROPE_DYNAMIC = 3,  /* dynamic NTK: the NTK base grows with the current length */
    LC_ROPE_YARN = 4,     /* YaRN (Peng et al. 2023) */
    LC_ROPE_LLAMA3 = 5,   /* Llama 3.1 low/high frequency scaling */
    LC_ROPE_LONGROPE = 6  /* LongRoPE (Ding et al. 2024): per-dimension short/long factors */
} lc_rope_type;

typedef enum lc_rope_layout { LC_ROPE_NEOX = 0, LC_ROPE_GPTJ = 1 } lc_rope_layout;

/* One struct per problem; fields named after Hugging Face's rope_parameters. A zero in an
 * optional field means "absent from the config", and gets HF's default. */
typedef struct lc_rope {
    lc_rope_type type;
    lc_rope_layout layout;
    int head_dim;
    double partial;          /* partial_rotary_factor in (0, 1]; 0: 1 */
    double theta;            /* rope_theta > 1 */
    int64_t max_pos;         /* max_position_embeddings */
    int64_t original_max_pos;/* original_max_position_embeddings (yarn, llama3, longrope) */
    double factor;           /* linear, ntk, dynamic, llama3: required; yarn, longrope: 0 =
                                max_pos / original_max_pos */
    double attention_factor; /* yarn, longrope: 0 = computed */
    double beta_fast, beta_slow;   /* yarn: 0 = 32, 1 */
    double mscale, mscale_all_dim; /* yarn: 0 = absent */
    int no_truncate;         /* yarn: 1 = HF's truncate=False (no floor/ceil of the ramp ends) */
    double low_freq_factor, high_freq_factor; /* llama3 */
    const double *short_factor, *long_factor; /* longrope: dim/2 values each, caller-owned */
} lc_rope;

/* The rotated dims: int(head_dim * partial), which must be even and >= 2. */
int lc_rope_dim(const lc_rope *r);

/* Checks every field for the chosen type; the sentence names the first wrong one. */
lc_status lc_rope_check(const lc_rope *r);

/* inv_freq[0 .. dim/2) and the attention factor (the factor cos and sin are multiplied
 * by), as HF's init function for this type returns them when called with seq_len
 * (0: not passed). seq_len matters for dynamic (the length seen so far) and longrope
 * (long factors when seq_len > original_max_pos). attention_factor may be NULL. */
lc_status lc_rope_inv_freq(const lc_rope *r, int64_t seq_len, double *inv_freq, double *attention_factor);

/* Rotates x in place ([batch, seq, heads, head_dim] f32/f16/bf16) at positions
 * positions[s] (NULL: pos0 + s), with inv_freq computed for seq_len as above. */
lc_status lc_rope_apply(const lc_rope *r, lc_tensor *x, const int64_t *positions, int64_t pos0, int64_t seq_len);

#ifdef __cplusplus
}
#endif
#endif
