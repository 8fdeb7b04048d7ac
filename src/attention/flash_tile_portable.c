/* The flash kernel's tile products in portable C (flash_tile.h): loops a compiler can
 * vectorise with the baseline instruction set, and the table chooser. */
#include "flash_tile.h"

#include <math.h>

enum { PANEL = 16 };

static void pack_q(float *qp, const float *q, int64_t ldq, int64_t rows, int64_t dk, float scale) {
    const int64_t npad = (rows + PANEL - 1) / PANEL * PANEL;
    for (int64_t p0 = 0; p0 < npad; p0 += PANEL) {
        float *blk = qp + p0 * dk;
        for (int64_t r = 0; r < PANEL; r++)
            for (int64_t d = 0; d < dk; d++) blk[d * PANEL + r] = p0 + r < rows ? scale * q[(p0 + r) * ldq + d] : 0.0f;
    }
}

static void scores_t(float *st, int64_t lds, float *colmax, const float *k, int64_t ldk, int64_t cols, const float *qp, int64_t npad, int64_t dk) {
    for (int64_t p0 = 0; p0 < npad; p0 += PANEL) {
        const float *blk = qp + p0 * dk;
        float mx[PANEL];
        for (int r = 0; r < PANEL; r++) mx[r] = -INFINITY;
        for (int64_t j = 0; j < cols; j++) {
            float acc[PANEL] = {0};
            for (int64_t d = 0; d < dk; d++) {
                const float kv = k[j * ldk + d];
                for (int r = 0; r < PANEL; r++) acc[r] += kv * blk[d * PANEL + r];
            }
            for (int r = 0; r < PANEL; r++) st[j * lds + p0 + r] = acc[r], mx[r] = acc[r] > mx[r] ? acc[r] : mx[r];
        }
        for (int r = 0; r < PANEL; r++) colmax[p0 + r] = mx[r];
    }
}

static void softmax_t(float *st, int64_t lds, int64_t cols, int64_t npad, const float *colmax, float *m, float *l, float *alpha) {
    for (int64_t i0 = 0; i0 < npad; i0 += PANEL) {
        float mx[PANEL], meff[PANEL], sum[PANEL];
        for (int r = 0; r < PANEL; r++) mx[r] = colmax ? colmax[i0 + r] : -INFINITY, sum[r] = 0;
        for (int64_t j = 0; !colmax && j < cols; j++)
            for (int r = 0; r < PANEL; r++) {
                const float x = st[j * lds + i0 + r];
                mx[r] = x > mx[r] ? x : mx[r]; /* NaN skipped */
            }
        for (int r = 0; r < PANEL; r++) {
            const float mo = m[i0 + r], mn = mo > mx[r] ? mo : mx[r];
            meff[r] = mn == -INFINITY ? 0.0f : mn; /* all masked so far: exp(-inf - 0) = 0 */
            alpha[i0 + r] = expf(mo - meff[r]);
            m[i0 + r] = mn;
        }
        for (int64_t j = 0; j < cols; j++)
            for (int r = 0; r < PANEL; r++) {
                float *x = st + j * lds + i0 + r;
                *x = expf(*x - meff[r]);
                sum[r] += *x;
            }
        for (int r = 0; r < PANEL; r++) l[i0 + r] = l[i0 + r] * alpha[i0 + r] + sum[r];
    }
}

static void accumulate(float *o, int64_t ldo, const float *alpha, const float *pt, int64_t ldp, int64_t rows, const float *v, int64_t ldv,
                       int64_t cols, int64_t dv, float *vp) {
    (void)vp; /* V's rows are read where they lie */
    for (int64_t i = 0; i < rows; i++) {
        float *oi = o + i * ldo;
        for (int64_t n = 0; n < dv; n++) oi[n] *= alpha[i];
        for (int64_t j = 0; j < cols; j++) {
            const float p = pt[j * ldp + i];
            const float *vj = v + j * ldv;
            for (int64_t n = 0; n < dv; n++) oi[n] += p * vj[n];
        }
    }
}

const lc_flash_tile_ops lc_flash_tile_portable = {PANEL, pack_q, scores_t, softmax_t, accumulate, 1};

const lc_flash_tile_ops *lc_flash_tile_ops_for(lc_isa isa) {
    switch (isa) {
#ifdef LONGCTX_HAVE_X86_PATHS
    case LC_ISA_AVX512: return &lc_flash_tile_avx512;
    case LC_ISA_AVX2: return &lc_flash_tile_avx2;
#endif
    default: return &lc_flash_tile_portable;
    }
}
