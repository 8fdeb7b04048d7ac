/* The mixers' linear layers: y = x W^T + bias as one sgemm. */
#include <cblas.h>
#include <string.h>

#include "ssm_internal.h"

void ssm_linear(const float *x, int64_t ldx, int64_t n, int64_t cols, const float *W, const float *bias, int64_t rows, float *y, int64_t ldy) {
    if (bias)
        for (int64_t t = 0; t < n; t++) memcpy(y + t * ldy, bias, sizeof(float) * (size_t)rows);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)rows, (int)cols, 1.0f, x, (int)ldx, W, (int)cols, bias ? 1.0f : 0.0f,
                y, (int)ldy);
}
