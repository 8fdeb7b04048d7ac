/* One token of the selective scan for one channel, over its N state entries:
 *   h[i] = exp(A[i] dt) h[i] + dx B[i];   returns sum_i C[i] h[i]
 * in portable C and in AVX2 / AVX-512 (scan_row_avx2.c, scan_row_avx512.c), chosen once
 * per call through lc_isa. */
#ifndef LONGCTX_SCAN_ROW_H
#define LONGCTX_SCAN_ROW_H

#include <stdint.h>

#include "longctx/core.h"

typedef float (*ssm_scan_row_fn)(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);

float ssm_scan_row_avx2(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);
float ssm_scan_row_avx512(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);

#endif
