#include "memory_util.h"

#include <stdlib.h>

lc_tensor mem_test_tensor(lc_dtype t, int64_t b, int64_t n, int64_t h, int64_t d, test_rng *r) {
    size_t count = (size_t)(b * n * h * d);
    float *f = malloc(count * sizeof(float));
    lc_rng_fill_normal(f, count, r->seed, r->counter, 0, 1, 1);
    r->counter += count;
    lc_tensor v = lc_tensor_bshd(malloc(count * lc_dtype_size(t)), t, b, n, h, d);
    lc_convert(v.data, t, f, LC_F32, count);
    free(f);
    return v;
}

float mem_test_elem(const lc_tensor *t, int64_t b, int64_t s, int64_t h, int64_t d) {
    int64_t off = lc_tensor_offset(t, b, s, h, d);
    switch (t->dtype) {
    case LC_F16: return lc_f16_to_f32(((const uint16_t *)t->data)[off]);
    case LC_BF16: return lc_bf16_to_f32(((const uint16_t *)t->data)[off]);
    default: return ((const float *)t->data)[off];
    }
}

lc_tensor mem_test_head(const lc_tensor *t, int64_t h) {
    lc_tensor v = *t;
    int64_t off = h * t->stride[2];
    v.data = (char *)t->data + (size_t)off * lc_dtype_size(t->dtype);
    v.capacity = t->capacity - off;
    v.shape[2] = 1;
    return v;
}
