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
} lc_flash_ops;

const lc_flash_ops *lc_flash_ops_portable(void);
const lc_flash_ops *lc_flash_ops_avx2(void);
const lc_flash_ops *lc_flash_ops_avx512(void);

/* The table for a resolved ISA (not LC_ISA_AUTO). */
const lc_flash_ops *lc_flash_ops_for(lc_isa isa);

#endif
