/* Decode inner loops in plain C. */
#include "decode_ops.h"

static void scores(const float *const *q, int R, const float *const *k, int nb, int D, float scale, float *sc, int BT) {
    for (int u = 0; u < nb; u++)
        for (int r = 0; r < R; r++) {
            float s = 0;
            for (int e = 0; e < D; e++) s += q[r][e] * k[u][e];
            sc[r * BT + u] = s * scale;
        }
}

static void pv(float *acc, int R, const float *p, const float *const *v, int nb, int D, int BT) {
    for (int r = 0; r < R; r++)
        for (int u = 0; u < nb; u++) {
            float w = p[r * BT + u];
            if (w == 0) continue;
            for (int e = 0; e < D; e++) acc[r * D + e] += w * v[u][e];
        }
}

const lc_decode_ops lc_decode_ops_portable = {lc_kv_load_row, scores, pv, NULL};
