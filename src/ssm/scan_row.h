/* The recurrences' inner loops, one implementation per instruction set, chosen once per call
 * through lc_isa (portable C in selective_scan.c and ssd.c, AVX2 and AVX-512 in
 * scan_row_<isa>.c and ssd_rows_<isa>.c).
 *
 * Mamba's selective scan, one token for one channel over its N state entries:
 *   h[i] = exp(A[i] dt) h[i] + dx B[i];   returns sum_i C[i] h[i]
 *
 * Mamba-2's SSD (Dao and Gu 2024, eq. 1 with scalar A), one token for one head over its
 * P x N state:
 *   h[d, i] = dA h[d, i] + dt x[d] B[i];   y[d] = sum_i C[i] h[d, i]      (d < P, i < N) */
#ifndef LONGCTX_SCAN_ROW_H
#define LONGCTX_SCAN_ROW_H

#include <stdint.h>

#include "longctx/core.h"

typedef float (*ssm_scan_row_fn)(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);

float ssm_scan_row_avx2(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);
float ssm_scan_row_avx512(const float *A, float *h, const float *B, const float *C, float dt, float dx, int64_t N);

typedef void (*ssm_ssd_rows_fn)(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);

void ssm_ssd_rows_portable(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);
void ssm_ssd_rows_avx2(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);
void ssm_ssd_rows_avx512(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);

#endif
