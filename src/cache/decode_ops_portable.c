/* Decode inner loops in plain C. */
#include <math.h>

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

void lc_decode_softmax_portable(float *sc, int R, int nb, int BT, float *m, float *l, float *acc, int D) {
    for (int r = 0; r < R; r++) {
        float *row = sc + (size_t)r * BT, *o = acc + (size_t)r * D, bm = -INFINITY;
        for (int u = 0; u < nb; u++) bm = row[u] > bm ? row[u] : bm;
        if (bm == -INFINITY) {
            for (int u = 0; u < nb; u++) row[u] = 0;
            continue;
        }
        if (bm > m[r]) { /* new maximum: rescale what was summed so far */
            float c = expf(m[r] - bm);
            l[r] *= c;
            if (c != 1.0f)
                for (int e = 0; e < D; e++) o[e] *= c;
            m[r] = bm;
        }
        for (int u = 0; u < nb; u++) {
            float w = row[u] == -INFINITY ? 0 : expf(row[u] - m[r]);
            l[r] += w;
            row[u] = w;
        }
    }
}

const lc_decode_ops lc_decode_ops_portable = {lc_kv_load_row, scores, pv, lc_decode_softmax_portable, NULL, NULL};
