/* Binding a checkpoint's tensors to a model (model_load.c, arch_load.c): each tensor found by
 * name, its shape checked against what config.json implies, then used in the mapping where
 * it can be, else copied into memory the model owns (lc_model_destroy frees m->owned). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

void *lc_binder_own(lc_binder *b, size_t bytes, const char *what) {
    if (b->status) return NULL;
    void *p = lc_aligned_alloc(bytes ? bytes : 64, 64);
    if (b->m->n_owned == b->m->cap_owned) {
        int cap = b->m->cap_owned ? 2 * b->m->cap_owned : 64;
        void **o = realloc(b->m->owned, sizeof *o * (size_t)cap);
        if (!o) {
            lc_aligned_free(p);
            b->status = lc_error(LC_ENOMEM, "%s: weight table", b->dir);
            return NULL;
        }
        b->m->owned = o, b->m->cap_owned = cap;
    }
    if (!p) {
        b->status = lc_error(LC_ENOMEM, "%s: %s (%zu bytes)", b->dir, what, bytes);
        return NULL;
    }
    b->m->owned[b->m->n_owned++] = p;
    return p;
}

static const char *shape_str(const int64_t *d, int n, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)d[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

const void *lc_binder_tensor(lc_binder *b, const char *name, int nd, const int64_t *d, const char *why, int optional, lc_dtype *as_stored) {
    if (b->status) return NULL;
    const lc_st_tensor *t = lc_safetensors_find(b->m->st, name);
    if (!t) {
        if (!optional) b->status = lc_error(LC_EFORMAT, "%s: the checkpoint has no tensor '%s'", b->dir, name);
        return NULL;
    }
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = t->shape[i] == d[i];
    if (!same) {
        char got[128], exp[96];
        b->status = lc_error(LC_EFORMAT, "%s: tensor '%s' has shape %s, config.json implies %s (%s)", b->dir, name,
                             shape_str(t->shape, t->ndim, got, sizeof got), shape_str(d, nd, exp, sizeof exp), why);
        return NULL;
    }
    b->m->info.params += (double)t->numel;
    const size_t es = lc_dtype_size(t->dtype);
    char what[320];
    snprintf(what, sizeof what, "copying tensor '%s'", name);
    if (as_stored) { /* a matrix lc_matmul reads as stored */
        *as_stored = t->dtype;
        b->m->info.weight_bytes += (size_t)t->numel * es;
        if ((uintptr_t)t->data % es == 0) return t->data;
        void *copy = lc_binder_own(b, t->bytes, what); /* realigned */
        if (copy) memcpy(copy, t->data, t->bytes), b->m->info.copied_bytes += t->bytes;
        return copy;
    }
    b->m->info.weight_bytes += (size_t)t->numel * sizeof(float);
    if (t->dtype == LC_F32 && (uintptr_t)t->data % _Alignof(float) == 0) return t->data;
    float *copy = lc_binder_own(b, (size_t)t->numel * sizeof(float), what);
    if (!copy) return NULL;
    if ((uintptr_t)t->data % es == 0) {
        lc_convert(copy, LC_F32, t->data, t->dtype, (size_t)t->numel);
    } else { /* odd offsets: the raw bytes into the buffer's upper half, converted forward from there */
        uint8_t *raw = (uint8_t *)copy + (size_t)t->numel * (sizeof(float) - es);
        memcpy(raw, t->data, t->bytes);
        if (t->dtype != LC_F32) lc_convert(copy, LC_F32, raw, t->dtype, (size_t)t->numel);
    }
    b->m->info.copied_bytes += (size_t)t->numel * sizeof(float);
    return copy;
}
