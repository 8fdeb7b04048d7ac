/* Validation of the linear-attention descriptor and the sizes derived from it. */
#include <math.h>

#include "linear_internal.h"

static lc_status check_view(const lc_tensor *t, const char *name, int writable) {
    lc_status s = lc_tensor_check(t, name, writable);
    if (s) return s;
    if (t->dtype != LC_F32) return lc_error(LC_EUNSUPPORTED, "%s.dtype=%s: linear attention takes f32 tensors", name, lc_dtype_name(t->dtype));
    return LC_OK;
}

lc_status lc_linear_attention_check(const lc_linear_attention *a) {
    if (!a) return lc_error(LC_EINVAL, "linear attention descriptor is NULL");
    lc_status s;
    if ((s = check_view(&a->q, "q", 0)) || (s = check_view(&a->k, "k", 0)) || (s = check_view(&a->v, "v", 0)) ||
        (s = check_view(&a->out, "out", 1)))
        return s;
    const int64_t *q = a->q.shape, *k = a->k.shape, *v = a->v.shape, *o = a->out.shape;
    static const char *axis[4] = {"batch", "seq", "heads", "dim"};
    for (int i = 0; i < 3; i++) {
        if (k[i] != q[i]) return lc_error(LC_EINVAL, "k.shape[%d]=%lld (%s) must equal q.shape[%d]=%lld", i, (long long)k[i], axis[i], i, (long long)q[i]);
        if (v[i] != q[i]) return lc_error(LC_EINVAL, "v.shape[%d]=%lld (%s) must equal q.shape[%d]=%lld", i, (long long)v[i], axis[i], i, (long long)q[i]);
        if (o[i] != q[i]) return lc_error(LC_EINVAL, "out.shape[%d]=%lld (%s) must equal q.shape[%d]=%lld", i, (long long)o[i], axis[i], i, (long long)q[i]);
    }
    if (k[3] != q[3]) return lc_error(LC_EINVAL, "k.shape[3]=%lld must equal q.shape[3]=%lld (d_k)", (long long)k[3], (long long)q[3]);
    if (o[3] != v[3]) return lc_error(LC_EINVAL, "out.shape[3]=%lld must equal v.shape[3]=%lld (d_v)", (long long)o[3], (long long)v[3]);
    if (q[3] > 4096) return lc_error(LC_EUNSUPPORTED, "q.shape[3]=%lld: d_k above 4096 is not supported", (long long)q[3]);
    uintptr_t o0, o1, r0, r1;
    lc_tensor_byte_range(&a->out, &o0, &o1);
    const lc_tensor *in[3] = {&a->q, &a->k, &a->v};
    static const char *in_name[3] = {"q", "k", "v"};
    for (int t = 0; t < 3; t++) {
        lc_tensor_byte_range(in[t], &r0, &r1);
        if (o0 < r1 && r0 < o1) return lc_error(LC_EINVAL, "out overlaps %s: the output must not alias an input", in_name[t]);
    }
    switch (a->feature) {
    case LC_FEATURE_ELU1:
    case LC_FEATURE_RELU:
        if (a->features != 0 && a->features != q[3])
            return lc_error(LC_EINVAL, "features=%lld: %s features are the d_k=%lld inputs (give 0)", (long long)a->features,
                            lc_feature_map_name(a->feature), (long long)q[3]);
        if (a->omega) return lc_error(LC_EINVAL, "omega must be NULL for %s features", lc_feature_map_name(a->feature));
        break;
    case LC_FEATURE_FAVOR:
        if (a->features <= 0) return lc_error(LC_EINVAL, "features=%lld: FAVOR+ needs a feature count > 0", (long long)a->features);
        if (a->features > 65536) return lc_error(LC_EUNSUPPORTED, "features=%lld: more than 65536 FAVOR+ features", (long long)a->features);
        if (!a->omega) return lc_error(LC_EINVAL, "omega is NULL: FAVOR+ needs [features, d_k] projections (lc_favor_draw)");
        break;
    default: return lc_error(LC_EINVAL, "feature=%d is not a feature map", (int)a->feature);
    }
    if (a->causal != 0 && a->causal != 1) return lc_error(LC_EINVAL, "causal=%d must be 0 or 1", a->causal);
    if (a->normalize != 0 && a->normalize != 1) return lc_error(LC_EINVAL, "normalize=%d must be 0 or 1", a->normalize);
    if (a->decay) {
        if (!a->causal) return lc_error(LC_EINVAL, "decay needs causal=1 (a decay orders the tokens)");
        for (int64_t h = 0; h < q[2]; h++)
            if (!(a->decay[h] > 0 && a->decay[h] <= 1)) return lc_error(LC_EINVAL, "decay[%lld]=%g must be in (0, 1]", (long long)h, (double)a->decay[h]);
    }
    if (a->chunk < 0 || a->chunk > 4096) return lc_error(LC_EINVAL, "chunk=%lld must be in 0..4096 (0 is 64)", (long long)a->chunk);
    if (a->threads < 0) return lc_error(LC_EINVAL, "threads=%d must be >= 0 (0 is the default)", a->threads);
    return LC_OK;
}

int64_t lc_linear_features(const lc_linear_attention *a) { return !a ? 0 : a->feature == LC_FEATURE_FAVOR ? a->features : a->q.shape[3]; }

int64_t lc_linear_state_floats(const lc_linear_attention *a) {
    if (!a) return 0;
    int64_t f = lc_linear_features(a);
    return f * a->v.shape[3] + f + 1;
}
