/* The vector paths of lc_convert (internal): chosen at run time in dtype.c. */
#ifndef LONGCTX_DTYPE_PATHS_H
#define LONGCTX_DTYPE_PATHS_H

#include <stddef.h>
#include <stdint.h>

void lc_widen_f16_avx2(float *dst, const uint16_t *src, size_t n);

#endif
