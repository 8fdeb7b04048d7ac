/* RoPE frequencies and rotation; the scalings follow Hugging Face transformers'
 * modeling_rope_utils (v5) function by function. See docs/rope.md for the equations. */
#include <math.h>
#include <stdlib.h>

#include "longctx/rope.h"

#define LC_PI 3.14159265358979323846

static const char *type_name(lc_rope_type t) {
    static const char *n[] = {"default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope"};
    return (unsigned)t < 7 ? n[t] : "?";
}

int lc_rope_dim(const lc_rope *r) {
    double p = r->partial == 0 ? 1.0 : r->partial;
    return (int)((double)r->head_dim * p); /* Python's int(): truncation */
}

lc_status lc_rope_check(const lc_rope *r) {
    if (!r) return lc_error(LC_EINVAL, "rope is NULL");
    if ((unsigned)r->type > LC_ROPE_LONGROPE) return lc_error(LC_EINVAL, "rope.type=%d is not a known lc_rope_type", (int)r->type);
    if (r->layout != LC_ROPE_NEOX && r->layout != LC_ROPE_GPTJ)
        return lc_error(LC_EINVAL, "rope.layout=%d must be LC_ROPE_NEOX or LC_ROPE_GPTJ", (int)r->layout);
    if (r->head_dim < 2) return lc_error(LC_EINVAL, "rope.head_dim=%d must be >= 2", r->head_dim);
    const double num[] = {r->partial, r->theta, r->factor, r->attention_factor, r->beta_fast, r->beta_slow, r->mscale, r->mscale_all_dim,
                          r->low_freq_factor, r->high_freq_factor};
    static const char *const num_name[] = {"partial", "theta", "factor", "attention_factor", "beta_fast", "beta_slow", "mscale",
                                           "mscale_all_dim", "low_freq_factor", "high_freq_factor"};
    for (size_t i = 0; i < sizeof num / sizeof num[0]; i++)
        if (!isfinite(num[i])) return lc_error(LC_EINVAL, "rope.%s=%g must be finite", num_name[i], num[i]);
    if (r->partial < 0 || r->partial > 1) return lc_error(LC_EINVAL, "rope.partial=%g must lie in (0, 1] (0: 1)", r->partial);
    int dim = lc_rope_dim(r);
    if (dim < 2 || dim % 2) return lc_error(LC_EINVAL, "rope: head_dim*partial=%d rotated dims must be even and >= 2", dim);
    if (!(r->theta > 1)) return lc_error(LC_EINVAL, "rope.theta=%g must be > 1", r->theta);
    if (r->max_pos < 1) return lc_error(LC_EINVAL, "rope.max_pos=%lld must be >= 1", (long long)r->max_pos);
    const char *tn = type_name(r->type);
    switch (r->type) {
    case LC_ROPE_DEFAULT: break;
    case LC_ROPE_NTK:
    case LC_ROPE_DYNAMIC:
        if (dim < 4) return lc_error(LC_EINVAL, "rope: %s needs >= 4 rotated dims (the exponent is dim/(dim-2)), got %d", tn, dim);
        /* fall through */
    case LC_ROPE_LINEAR:
        if (!(r->factor > 0)) return lc_error(LC_EINVAL, "rope.factor=%g must be > 0 for %s", r->factor, tn);
        break;
    case LC_ROPE_LLAMA3:
        if (!(r->factor > 0)) return lc_error(LC_EINVAL, "rope.factor=%g must be > 0 for llama3", r->factor);
        if (r->original_max_pos < 1) return lc_error(LC_EINVAL, "rope.original_max_pos must be >= 1 for llama3");
        if (!(r->low_freq_factor > 0) || !(r->high_freq_factor > r->low_freq_factor))
            return lc_error(LC_EINVAL, "rope.low_freq_factor=%g, high_freq_factor=%g: need 0 < low < high for llama3",
                            r->low_freq_factor, r->high_freq_factor);
        break;
    case LC_ROPE_YARN:
    case LC_ROPE_LONGROPE:
        if (r->original_max_pos < 1) return lc_error(LC_EINVAL, "rope.original_max_pos must be >= 1 for %s", tn);
        if (r->factor < 0) return lc_error(LC_EINVAL, "rope.factor=%g must be > 0 (0: max_pos/original_max_pos)", r->factor);
        if (r->attention_factor < 0) return lc_error(LC_EINVAL, "rope.attention_factor=%g must be >= 0", r->attention_factor);
        if (r->type == LC_ROPE_LONGROPE && (!r->short_factor || !r->long_factor))
            return lc_error(LC_EINVAL, "rope.short_factor and rope.long_factor (dim/2=%d values each) are required for longrope", dim / 2);
        if (r->type == LC_ROPE_YARN && (r->beta_fast < 0 || r->beta_slow < 0))
            return lc_error(LC_EINVAL, "rope.beta_fast=%g, beta_slow=%g must be >= 0 (0: 32, 1)", r->beta_fast, r->beta_slow);
        break;
    }
    return LC_OK;
}

/* YaRN's mscale: 0.1 * m * ln(s) + 1 for s > 1, else 1 (Peng et al. 2023, eq. 22). */
static double yarn_mscale(double s, double m) { return s <= 1 ? 1.0 : 0.1 * m * log(s) + 1.0; }

/* The dimension index at which a frequency turns num_rot times over max_pos positions. */
static double yarn_correction_dim(double num_rot, int dim, double base, double max_pos) {
    return (dim * log(max_pos / (num_rot * 2 * LC_PI))) / (2 * log(base));
}

lc_status lc_rope_inv_freq(const lc_rope *r, int64_t seq_len, double *inv_freq, double *attention_factor) {
    lc_status st = lc_rope_check(r);
    if (st) return st;
    if (!inv_freq) return lc_error(LC_EINVAL, "inv_freq is NULL");
    if (seq_len < 0) return lc_error(LC_EINVAL, "seq_len=%lld must be >= 0", (long long)seq_len);
    const int dim = lc_rope_dim(r), half = dim / 2;
    double base = r->theta, attn = 1.0;
    if (r->type == LC_ROPE_NTK) base *= pow(r->factor, (double)dim / (dim - 2));
    if (r->type == LC_ROPE_DYNAMIC) { /* base * (factor * L / max_pos - (factor - 1))^(dim/(dim-2)), L >= max_pos */
        double L = (double)(seq_len > r->max_pos ? seq_len : r->max_pos);
        base *= pow(r->factor * L / (double)r->max_pos - (r->factor - 1), (double)dim / (dim - 2));
    }
    for (int i = 0; i < half; i++) inv_freq[i] = 1.0 / pow(base, (double)(2 * i) / dim);

    switch (r->type) {
    case LC_ROPE_DEFAULT:
    case LC_ROPE_NTK:
    case LC_ROPE_DYNAMIC: break;
    case LC_ROPE_LINEAR:
        for (int i = 0; i < half; i++) inv_freq[i] /= r->factor;
        break;
    case LC_ROPE_YARN: {
        double factor = r->factor > 0 ? r->factor : (double)r->max_pos / (double)r->original_max_pos;
        if (r->attention_factor > 0) attn = r->attention_factor;
        else if (r->mscale > 0 && r->mscale_all_dim > 0)
            attn = yarn_mscale(factor, r->mscale) / yarn_mscale(factor, r->mscale_all_dim);
        else attn = yarn_mscale(factor, 1.0);
        double beta_fast = r->beta_fast > 0 ? r->beta_fast : 32, beta_slow = r->beta_slow > 0 ? r->beta_slow : 1;
        double lo = yarn_correction_dim(beta_fast, dim, base, (double)r->original_max_pos);
        double hi = yarn_correction_dim(beta_slow, dim, base, (double)r->original_max_pos);
        if (!r->no_truncate) lo = floor(lo), hi = ceil(hi);
        if (lo < 0) lo = 0;
        if (hi > dim - 1) hi = dim - 1;
        if (lo == hi) hi += 0.001; /* HF: prevent a zero-width ramp */
        for (int i = 0; i < half; i++) {
            /* ramp = clamp((i - lo)/(hi - lo), 0, 1); extrapolate (keep f_i) where ramp = 0,
             * interpolate (f_i / factor) where ramp = 1 */
            double ramp = ((double)i - lo) / (hi - lo);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extra = 1 - ramp;
            inv_freq[i] = inv_freq[i] / factor * (1 - extra) + inv_freq[i] * extra;
        }
        break;
    }
    case LC_ROPE_LLAMA3: {
        double old = (double)r->original_max_pos;
        double low_wl = old / r->low_freq_factor, high_wl = old / r->high_freq_factor;
        for (int i = 0; i < half; i++) {
            double f = inv_freq[i], wl = 2 * LC_PI / f;
            if (wl > low_wl) f /= r->factor; /* long wavelengths: interpolate */
            else if (!(wl < high_wl)) {     /* medium: blend by old / wavelength */
                double sm = (old / wl - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
                f = (1 - sm) * f / r->factor + sm * f;
            }
            inv_freq[i] = f;
        }
        break;
    }
    case LC_ROPE_LONGROPE: {
        double omax = (double)r->original_max_pos;
        double factor = r->factor > 0 ? r->factor : (double)r->max_pos / omax;
        if (r->attention_factor > 0) attn = r->attention_factor;
        else attn = factor <= 1 ? 1.0 : sqrt(1 + log(factor) / log(omax));
        const double *ext = seq_len > r->original_max_pos ? r->long_factor : r->short_factor;
        for (int i = 0; i < half; i++) {
            if (!(ext[i] > 0)) return lc_error(LC_EINVAL, "rope.%s_factor[%d]=%g must be > 0",
                                               ext == r->long_factor ? "long" : "short", i, ext[i]);
            inv_freq[i] /= ext[i];
        }
        break;
    }
    }
    if (attention_factor) *attention_factor = attn;
    return LC_OK;
}

static float load(const lc_tensor *t, int64_t off) {
    switch (t->dtype) {
    case LC_F16: return lc_f16_to_f32(((const uint16_t *)t->data)[off]);
    case LC_BF16: return lc_bf16_to_f32(((const uint16_t *)t->data)[off]);
    default: return ((const float *)t->data)[off];
    }
}

static void store(lc_tensor *t, int64_t off, float v) {
    switch (t->dtype) {
    case LC_F16: ((uint16_t *)t->data)[off] = lc_f32_to_f16(v); break;
    case LC_BF16: ((uint16_t *)t->data)[off] = lc_f32_to_bf16(v); break;
    default: ((float *)t->data)[off] = v;
    }
}

lc_status lc_rope_apply(const lc_rope *r, lc_tensor *x, const int64_t *positions, int64_t pos0, int64_t seq_len) {
    lc_status st = lc_rope_check(r);
    if (st) return st;
    if (!x) return lc_error(LC_EINVAL, "x is NULL");
    if ((st = lc_tensor_check(x, "x", 1))) return st;
    if (x->shape[LC_DIM] != r->head_dim)
        return lc_error(LC_EINVAL, "x.shape[3]=%lld must equal rope.head_dim=%d", (long long)x->shape[LC_DIM], r->head_dim);
    const int dim = lc_rope_dim(r), half = dim / 2;
    double *f = malloc(sizeof(double) * (size_t)half);
    if (!f) return lc_error(LC_ENOMEM, "rope: %d frequencies", half);
    double attn;
    if ((st = lc_rope_inv_freq(r, seq_len, f, &attn))) { free(f); return st; }
    const int64_t B = x->shape[0], S = x->shape[1], H = x->shape[2];
    for (int64_t s = 0; s < S; s++) {
        double p = (double)(positions ? positions[s] : pos0 + s);
        for (int i = 0; i < half; i++) {
            double c = cos(p * f[i]) * attn, sn = sin(p * f[i]) * attn;
            int da = r->layout == LC_ROPE_NEOX ? i : 2 * i, db = r->layout == LC_ROPE_NEOX ? i + half : 2 * i + 1;
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++) {
                    int64_t oa = lc_tensor_offset(x, b, s, h, da), ob = lc_tensor_offset(x, b, s, h, db);
                    double xa = load(x, oa), xb = load(x, ob);
                    store(x, oa, (float)(xa * c - xb * sn));
                    store(x, ob, (float)(xb * c + xa * sn));
                }
        }
    }
    free(f);
    return LC_OK;
}
