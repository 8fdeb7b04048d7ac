/* The recurrences' inner loops, one implementation per instruction set, chosen once per call
 * through lc_isa (portable C in selective_scan.c and ssd.c, AVX2 and AVX-512 in
 * scan_row_<isa>.c and ssd_rows_<isa>.c).
 *
 * Mamba's selective scan, one token for a block of channels d, each over its N state entries:
 *   h[d, i] = exp(A[d, i] dt_d) h[d, i] + dt_d x[d] B[i];   y[d] = sum_i C[i] h[d, i] (+ D, gate)
 *
 * Mamba-2's SSD (Dao and Gu 2024, eq. 1 with scalar A), one token for one head over its
 * P x N state:
 *   h[d, i] = dA h[d, i] + dt x[d] B[i];   y[d] = sum_i C[i] h[d, i]      (d < P, i < N) */
#ifndef LONGCTX_SCAN_ROW_H
#define LONGCTX_SCAN_ROW_H

#include <stdint.h>

#include "longctx/ssm.h"

/* One token of the selective scan for channels [d0, d1) of one sequence: x, dt, z and y the
 * token's rows ([channels]; z may be NULL), B and C the token's [N], h the sequence's state
 * [channels, N]; dt = softplus(dt + dt_bias), y = (sum_i C[i] h[d, i] + D x) silu(z). The
 * vector paths take dt, its softplus, D and the gate 16 (8) channels at a time. */
typedef void (*ssm_scan_block_fn)(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                                  float *h, int64_t d0, int64_t d1);

void ssm_scan_block_portable(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                             float *h, int64_t d0, int64_t d1);
void ssm_scan_block_avx2(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                         float *h, int64_t d0, int64_t d1);
void ssm_scan_block_avx512(const lc_selective_scan *s, const float *x, const float *dt, const float *z, const float *B, const float *C, float *y,
                           float *h, int64_t d0, int64_t d1);

typedef void (*ssm_ssd_rows_fn)(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);

void ssm_ssd_rows_portable(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);
void ssm_ssd_rows_avx2(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);
void ssm_ssd_rows_avx512(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y);

#endif
