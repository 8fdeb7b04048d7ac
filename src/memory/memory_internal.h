/* Internals shared by the files of src/memory: the kNN memory's layout, row loads of any
 * dtype, and an online softmax accumulator (float64) for attention over gathered rows. */
#ifndef LONGCTX_MEMORY_INTERNAL_H
#define LONGCTX_MEMORY_INTERNAL_H

#include <math.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>

#include "longctx/memory.h"
#include "../core/tensor_io.h"

struct lc_knn_memory {
    lc_knn_memory_config c; /* defaults resolved */
    int64_t first, end;     /* positions [first, end) are held; end - first <= capacity */
    float *keys;            /* [heads][capacity][d_k], row of position p at slot p % capacity */
    float *values;          /* [heads][capacity][d_v] */
    int64_t n_slots;        /* index slots per head: segment s lives at slot s % n_slots */
    FaissIndex **index;     /* [heads][n_slots]; set exactly for complete segments all held */
    FaissParameterSpace *space;
};

static inline const float *lc_mem_key(const lc_knn_memory *m, int64_t h, int64_t pos) {
    return m->keys + (h * m->c.capacity + pos % m->c.capacity) * m->c.d_k;
}
static inline const float *lc_mem_value(const lc_knn_memory *m, int64_t h, int64_t pos) {
    return m->values + (h * m->c.capacity + pos % m->c.capacity) * m->c.d_v;
}

/* Row (b, s, h, :) of t as f32. */
static inline void lc_mem_load_row(const lc_tensor *t, int64_t b, int64_t s, int64_t h, float *dst) {
    int64_t off = lc_tensor_offset(t, b, s, h, 0);
    if (t->dtype == LC_F32 && t->stride[3] == 1) {
        const float *src = (const float *)t->data + off;
        for (int64_t d = 0; d < t->shape[3]; d++) dst[d] = src[d];
        return;
    }
    for (int64_t d = 0; d < t->shape[3]; d++) dst[d] = lc_load_elem(t->data, t->dtype, off + d * t->stride[3]);
}

/* Row (b, s, h, :) of t as f32: a pointer into t when it is contiguous f32, else buf. */
static inline const float *lc_mem_row(const lc_tensor *t, int64_t b, int64_t s, int64_t h, float *buf) {
    if (t->dtype == LC_F32 && t->stride[3] == 1) return (const float *)t->data + lc_tensor_offset(t, b, s, h, 0);
    lc_mem_load_row(t, b, s, h, buf);
    return buf;
}

static inline float lc_mem_dot(const float *a, const float *b, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1], s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Online softmax (Milakov & Gimelshein 2018) in float64: after adding (s_j, v_j) for all j,
 * out = sum_j exp(s_j - max) v_j / sum_j exp(s_j - max). */
typedef struct lc_softmax_acc {
    double max, sum;
    double *acc; /* [d] */
    int64_t d;
} lc_softmax_acc;

static inline void lc_softmax_acc_init(lc_softmax_acc *a, double *acc, int64_t d) {
    a->max = -INFINITY, a->sum = 0, a->acc = acc, a->d = d;
    for (int64_t i = 0; i < d; i++) acc[i] = 0;
}

static inline void lc_softmax_acc_add(lc_softmax_acc *a, double s, const float *v) {
    if (s > a->max) {
        double r = exp(a->max - s);
        a->sum *= r;
        for (int64_t i = 0; i < a->d; i++) a->acc[i] *= r;
        a->max = s;
    }
    double w = exp(s - a->max);
    a->sum += w;
    for (int64_t i = 0; i < a->d; i++) a->acc[i] += w * v[i];
}

/* out[i] = acc[i] / sum (0 when nothing was added). */
static inline void lc_softmax_acc_finish(const lc_softmax_acc *a, float *out) {
    double inv = a->sum > 0 ? 1.0 / a->sum : 0;
    for (int64_t i = 0; i < a->d; i++) out[i] = (float)(a->acc[i] * inv);
}

#endif
