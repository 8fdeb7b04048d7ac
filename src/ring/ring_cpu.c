/* Ring attention's CPU compute table: block calls through lc_attention_flash, and the
 * log-sum-exp merge of partial results (Liu et al. 2023; the same rescaling as the online
 * softmax of flash attention, applied once per block instead of once per tile). */
#include "ring_internal.h"
#include "../core/lse_merge.h"
#include "../core/tensor_io.h"

#include <math.h>
#include <string.h>

static size_t cpu_attend_workspace(void *ctx, const lc_attention *a) {
    (void)ctx;
    return lc_attention_flash_workspace_size(a);
}

static lc_status cpu_attend(void *ctx, const lc_attention *a, void *ws, size_t ws_bytes) {
    (void)ctx;
    return lc_attention_flash(a, ws, ws_bytes);
}

/* t as a contiguous [batch, seq, heads, dim] array in t's dtype; returns the byte after. */
static uint8_t *pack_one(const lc_tensor *t, uint8_t *dst) {
    const size_t es = lc_dtype_size(t->dtype), row = (size_t)t->shape[LC_DIM] * es;
    for (int64_t b = 0; b < t->shape[0]; b++)
        for (int64_t s = 0; s < t->shape[1]; s++)
            for (int64_t h = 0; h < t->shape[2]; h++, dst += row) {
                const uint8_t *src = (const uint8_t *)t->data + (size_t)lc_tensor_offset(t, b, s, h, 0) * es;
                if (t->stride[LC_DIM] == 1) {
                    memcpy(dst, src, row);
                } else {
                    for (int64_t d = 0; d < t->shape[LC_DIM]; d++) memcpy(dst + (size_t)d * es, src + (size_t)(d * t->stride[LC_DIM]) * es, es);
                }
            }
    return dst;
}

static void cpu_pack(void *ctx, const lc_tensor *k, const lc_tensor *v, void *buf) {
    (void)ctx;
    pack_one(v, pack_one(k, buf));
}

static void cpu_begin(void *ctx, float *acc_out, float *acc_lse, const lc_ring_rows *g) {
    (void)ctx;
    memset(acc_out, 0, sizeof(float) * (size_t)(g->batch * g->n_local * g->heads * g->dv));
    for (int64_t i = 0; i < g->batch * g->heads * g->n_local; i++) acc_lse[i] = -INFINITY;
}

/* Folds each row of the block into the accumulator, both normalised (out, lse): the
 * log-sum-exp merge of src/core/lse_merge.h with l = 1 on both sides. A row whose block
 * saw no key (lse = -inf) is left as it is. */
static void cpu_merge(void *ctx, float *acc_out, float *acc_lse, const float *part_out, const float *part_lse, const lc_ring_rows *g) {
    (void)ctx;
    const int64_t H = g->heads, dv = g->dv;
    for (int64_t b = 0; b < g->batch; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t r = 0; r < g->rows; r++) {
                float *L = acc_lse + (b * H + h) * g->n_local + g->row0 + r, m = *L, l = 1;
                float *O = acc_out + ((b * g->n_local + g->row0 + r) * H + h) * dv;
                const float *o = part_out + ((b * g->rows + r) * H + h) * dv;
                lc_lse_fold(O, &m, &l, o, part_lse[(b * H + h) * g->rows + r], 1, dv);
                *L = lc_lse_finish(O, O, m, l, dv);
            }
}

static void cpu_finish(void *ctx, const float *acc_out, const float *acc_lse, const lc_tensor *out, float *lse, const lc_ring_rows *g) {
    (void)ctx;
    const int64_t H = g->heads, dv = g->dv;
    for (int64_t b = 0; b < g->batch; b++)
        for (int64_t i = 0; i < g->n_local; i++)
            for (int64_t h = 0; h < H; h++) {
                const float *o = acc_out + ((b * g->n_local + i) * H + h) * dv;
                for (int64_t d = 0; d < dv; d++) lc_store_elem(out->data, out->dtype, lc_tensor_offset(out, b, i, h, d), o[d]);
            }
    if (lse) memcpy(lse, acc_lse, sizeof(float) * (size_t)(g->batch * H * g->n_local));
}

static const lc_ring_compute cpu_table = {
    NULL, cpu_attend_workspace, cpu_attend, cpu_pack, cpu_begin, cpu_merge, cpu_finish,
};

const lc_ring_compute *lc_ring_compute_cpu(void) { return &cpu_table; }
