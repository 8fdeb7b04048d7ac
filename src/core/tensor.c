/* Strided [batch, seq, heads, dim] views and their validation. */
#include "longctx/core.h"

lc_tensor lc_tensor_bshd(void *data, lc_dtype t, int64_t batch, int64_t seq, int64_t heads, int64_t dim) {
    lc_tensor v = {data, t, {batch, seq, heads, dim}, {seq * heads * dim, heads * dim, dim, 1}, batch * seq * heads * dim};
    return v;
}

lc_tensor lc_tensor_bhsd(void *data, lc_dtype t, int64_t batch, int64_t seq, int64_t heads, int64_t dim) {
    lc_tensor v = {data, t, {batch, seq, heads, dim}, {heads * seq * dim, dim, seq * dim, 1}, batch * seq * heads * dim};
    return v;
}

static const char *const axis_name[4] = {"batch", "seq", "heads", "dim"};

lc_status lc_tensor_check(const lc_tensor *t, const char *name, int writable) {
    if (!name) name = "tensor";
    if (!t) return lc_error(LC_EINVAL, "%s is NULL", name);
    if (!t->data) return lc_error(LC_EINVAL, "%s.data is NULL", name);
    if (!lc_dtype_is_float(t->dtype)) return lc_error(LC_EINVAL, "%s.dtype=%d is not f32, f16 or bf16", name, (int)t->dtype);
    if ((uintptr_t)t->data % lc_dtype_size(t->dtype))
        return lc_error(LC_EINVAL, "%s.data=%p is not aligned to its %zu-byte %s elements", name, t->data, lc_dtype_size(t->dtype), lc_dtype_name(t->dtype));
    if (t->capacity <= 0) return lc_error(LC_EINVAL, "%s.capacity=%lld must be the number of elements in the buffer (> 0)", name, (long long)t->capacity);
    int64_t last = 0; /* offset of the last element */
    for (int a = 0; a < 4; a++) {
        if (t->shape[a] <= 0)
            return lc_error(LC_EINVAL, "%s.shape[%d]=%lld (%s) must be positive", name, a, (long long)t->shape[a], axis_name[a]);
        if (t->stride[a] < 0)
            return lc_error(LC_EINVAL, "%s.stride[%d]=%lld (%s) must not be negative", name, a, (long long)t->stride[a], axis_name[a]);
        if (t->stride[a] > 0 && t->shape[a] - 1 > (INT64_MAX - last) / t->stride[a])
            return lc_error(LC_ERANGE, "%s: offsets overflow 64 bits at axis %d (%s)", name, a, axis_name[a]);
        last += (t->shape[a] - 1) * t->stride[a];
    }
    if (last >= t->capacity)
        return lc_error(LC_ERANGE, "%s: strides reach element %lld but capacity is %lld elements", name, (long long)last, (long long)t->capacity);
    if (writable) {
        /* Distinct indices must address distinct elements: ordered by stride, each
         * axis must step past everything the smaller axes span. */
        int order[4] = {0, 1, 2, 3};
        for (int i = 1; i < 4; i++)
            for (int j = i; j > 0 && t->stride[order[j]] < t->stride[order[j - 1]]; j--) {
                int tmp = order[j];
                order[j] = order[j - 1];
                order[j - 1] = tmp;
            }
        int64_t span = 1; /* elements spanned by the axes so far */
        for (int i = 0; i < 4; i++) {
            int a = order[i];
            if (t->shape[a] == 1) continue;
            if (t->stride[a] < span)
                return lc_error(LC_EINVAL, "%s.stride[%d]=%lld (%s) makes distinct elements overlap in an output", name, a, (long long)t->stride[a], axis_name[a]);
            span = t->stride[a] * (t->shape[a] - 1) + span;
        }
    }
    return LC_OK;
}

void lc_tensor_byte_range(const lc_tensor *t, uintptr_t *lo, uintptr_t *hi) {
    if (!t) { /* nothing: an empty range */
        if (lo) *lo = 0;
        if (hi) *hi = 0;
        return;
    }
    int64_t last = 0;
    for (int a = 0; a < 4; a++) last += (t->shape[a] - 1) * t->stride[a];
    size_t es = lc_dtype_size(t->dtype);
    if (lo) *lo = (uintptr_t)t->data;
    if (hi) *hi = (uintptr_t)t->data + (uintptr_t)(last + 1) * es;
}
