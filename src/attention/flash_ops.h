/* The row operations of the flash kernel, one implementation per instruction set,
 * chosen at run time (internal). Each file flash_ops_<isa>.c fills one table. */
#ifndef LONGCTX_FLASH_OPS_H
#define LONGCTX_FLASH_OPS_H

#include "longctx/core.h"

typedef struct lc_flash_ops {
    /* dst[c] = src[c * stride] for c < n, converted from dtype t to f32. */
    void (*load_row)(float *dst, const void *src, lc_dtype t, int64_t stride, int64_t n);
    /* max over s[0..n) (-inf when n = 0 or all are -inf). */
    float (*row_max)(const float *s, int64_t n);
    /* s[c] = exp(s[c] - m) (0 where s[c] = -inf); returns the sum. m is finite. */
    float (*exp_sum)(float *s, int64_t n, float m);
    /* s[c] = cap * tanh(s[c] / cap). */
    void (*softcap)(float *s, int64_t n, float cap);
    /* dst[c] = src[c] * scale for c < n, converted to dtype t (f16 / bf16: rounded to
     * nearest, ties to even, as lc_f32_to_f16 / lc_f32_to_bf16); dst contiguous. */
    void (*store_row)(void *dst, lc_dtype t, const float *src, float scale, int64_t n);
} lc_flash_ops;

const lc_flash_ops *lc_flash_ops_portable(void);
const lc_flash_ops *lc_flash_ops_avx2(void);
const lc_flash_ops *lc_flash_ops_avx512(void);

/* The table for a resolved ISA (not LC_ISA_AUTO). */
const lc_flash_ops *lc_flash_ops_for(lc_isa isa);

/* One tile of the online softmax (Milakov and Gimelshein 2018), in flash.c: for each of
 * `rows` score rows s (row stride lds, `cols` valid) with running maximum m[r], sum l[r]
 * and unnormalised output o (rows of dv), m' = max(m, rowmax s); s = exp(s - m');
 * l = l e^{m - m'} + rowsum s; o *= e^{m - m'}. Rows masked so far (all -inf) become 0. */
void lc_flash_softmax_rows(const lc_flash_ops *ops, float *s, int64_t lds, int64_t rows, int64_t cols, float *m, float *l, float *o, int64_t dv);

#endif
