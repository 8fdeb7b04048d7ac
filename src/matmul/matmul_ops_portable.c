/* lc_matmul's loops in plain C, the packing every path may use, and the table chooser. The
 * descriptors the ops receive have ldx, ldw and ldy set. */
#include <string.h>

#include "../core/tensor_io.h"
#include "matmul_ops.h"

static void stream(const lc_matmul *d, const uint16_t *xq, int64_t ldq, int64_t n0, int64_t n1) {
    const int64_t k = d->k;
    for (int64_t j = n0; j < n1; j++) {
        const uint8_t *wr = (const uint8_t *)d->w + (size_t)(j * d->ldw) * lc_dtype_size(d->w_dtype);
        for (int64_t i = 0; i < d->m; i++) {
            float s = 0;
            if (xq)
                for (int64_t e = 0; e < k; e++) s += lc_bf16_to_f32(xq[i * ldq + e]) * lc_load_elem(wr, d->w_dtype, e);
            else
                for (int64_t e = 0; e < k; e++) s += d->x[i * d->ldx + e] * lc_load_elem(wr, d->w_dtype, e);
            d->y[i * d->ldy + j] = d->bias ? s + d->bias[j] : s;
        }
    }
}

static void widen(float *dst, const void *src, lc_dtype t, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = lc_load_elem(src, t, i);
}

static void round_bf16(uint16_t *dst, const float *src, int64_t n, int64_t pad) {
    for (int64_t e = 0; e < n; e++) dst[e] = lc_f32_to_bf16(src[e]);
    for (int64_t e = n; e < pad; e++) dst[e] = 0;
}

void lc_matmul_pack_bf16_portable(const lc_matmul *d, uint32_t *xp, int64_t b0, int64_t b1) {
    const int64_t pairs = (d->k + 1) / 2;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t p = 0; p < pairs; p++) {
            uint32_t *v = xp + (b * pairs + p) * LC_MATMUL_MB;
            for (int64_t i = 0; i < LC_MATMUL_MB; i++) {
                const int64_t r = b * LC_MATMUL_MB + i;
                uint32_t lo = 0, hi = 0;
                if (r < d->m) {
                    lo = lc_f32_to_bf16(d->x[r * d->ldx + 2 * p]);
                    if (2 * p + 1 < d->k) hi = lc_f32_to_bf16(d->x[r * d->ldx + 2 * p + 1]);
                }
                v[i] = lo | hi << 16;
            }
        }
}

const lc_matmul_ops lc_matmul_ops_portable = {stream, widen, round_bf16, lc_matmul_pack_bf16_portable, NULL};

const lc_matmul_ops *lc_matmul_ops_for(lc_isa isa) {
    switch (isa) {
#ifdef LONGCTX_HAVE_X86_PATHS
    case LC_ISA_AVX512: return __builtin_cpu_supports("avx512bf16") ? &lc_matmul_ops_avx512_bf16 : &lc_matmul_ops_avx512;
    case LC_ISA_AVX2: return &lc_matmul_ops_avx2;
#endif
    default: return &lc_matmul_ops_portable;
    }
}
