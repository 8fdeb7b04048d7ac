/* The log-sum-exp merge of partial attention results (lse_merge.h). */
#include "lse_merge.h"

#include <math.h>
#include <string.h>

void lc_lse_fold(float *a, float *m_a, float *l_a, const float *b, float m_b, float l_b, int64_t d) {
    if (m_b == -INFINITY) return;
    if (*m_a == -INFINITY) {
        memmove(a, b, sizeof(float) * (size_t)d);
        *m_a = m_b, *l_a = l_b;
        return;
    }
    const float m = *m_a > m_b ? *m_a : m_b, ca = expf(*m_a - m), cb = expf(m_b - m);
    for (int64_t e = 0; e < d; e++) a[e] = ca * a[e] + cb * b[e];
    *m_a = m, *l_a = ca * *l_a + cb * l_b;
}

float lc_lse_finish(float *out, const float *acc, float m, float l, int64_t d) {
    if (isnan(l) || isnan(m)) { /* a NaN that reached the row stays there: never a silent 0 */
        for (int64_t e = 0; e < d; e++) out[e] = NAN;
        return NAN;
    }
    if (!(l > 0) || m == -INFINITY) {
        memset(out, 0, sizeof(float) * (size_t)d);
        return -INFINITY;
    }
    for (int64_t e = 0; e < d; e++) out[e] = acc[e] / l;
    return m + logf(l);
}
