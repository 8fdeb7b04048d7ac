/* The log-sum-exp merge of partial attention results (src/core/lse_merge.h), the one the
 * CPU decode, MLA decode and ring attention share: a row's keys split at random into
 * parts (some empty), each part reduced to its partial (max, sum, acc) or to its
 * normalised (out, lse), the parts folded in random order, against the float64 softmax
 * over all the keys. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/lse_merge.h"
#include "harness.h"

enum { MAX_KEYS = 200, MAX_D = 40, MAX_PARTS = 9 };

/* The partial of keys {j : part[j] == k}: max m, sum l, unnormalised acc. */
static void partial(const float *s, const float *v, const int *part, int n, int d, int k, float *acc, float *m, float *l) {
    *m = -INFINITY, *l = 0;
    memset(acc, 0, sizeof(float) * (size_t)d);
    for (int j = 0; j < n; j++)
        if (part[j] == k && s[j] > *m) *m = s[j];
    if (*m == -INFINITY) return;
    for (int j = 0; j < n; j++)
        if (part[j] == k) {
            float p = expf(s[j] - *m);
            *l += p;
            for (int e = 0; e < d; e++) acc[e] += p * v[j * d + e];
        }
}

static void test_random_splits(test_rng *g) {
    static float s[MAX_KEYS], v[MAX_KEYS * MAX_D], acc[MAX_PARTS][MAX_D], out[MAX_D], ms[MAX_PARTS], ls[MAX_PARTS];
    static int part[MAX_KEYS], order[MAX_PARTS];
    for (int trial = 0; trial < 2000; trial++) {
        const int n = (int)test_below(g, MAX_KEYS + 1), d = 1 + (int)test_below(g, MAX_D), parts = 1 + (int)test_below(g, MAX_PARTS);
        const double spread = trial % 3 == 0 ? 30 : 4; /* sharp and flat softmaxes */
        const int normalised = trial % 2;              /* (out, lse) parts, as ring attention merges */
        for (int j = 0; j < n; j++) {
            s[j] = (float)((test_uniform(g) - 0.5) * spread);
            part[j] = (int)test_below(g, (uint64_t)parts);
            for (int e = 0; e < d; e++) v[j * d + e] = (float)(test_uniform(g) * 2 - 1);
        }
        for (int k = 0; k < parts; k++) {
            partial(s, v, part, n, d, k, acc[k], &ms[k], &ls[k]);
            if (normalised) ms[k] = lc_lse_finish(acc[k], acc[k], ms[k], ls[k], d), ls[k] = 1;
            order[k] = k;
        }
        for (int k = parts - 1; k > 0; k--) { /* a random folding order */
            int j = (int)test_below(g, (uint64_t)k + 1), t = order[k];
            order[k] = order[j], order[j] = t;
        }
        float m = -INFINITY, l = 0;
        memset(out, 0, sizeof out);
        for (int k = 0; k < parts; k++) lc_lse_fold(out, &m, &l, acc[order[k]], ms[order[k]], ls[order[k]], d);
        const float lse = lc_lse_finish(out, out, m, l, d);

        double mx = -INFINITY, sum = 0, want[MAX_D] = {0};
        for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
        for (int j = 0; j < n; j++) {
            double p = exp((double)s[j] - mx);
            sum += p;
            for (int e = 0; e < d; e++) want[e] += p * v[j * d + e];
        }
        if (n == 0) {
            int zero = 1;
            for (int e = 0; e < d; e++) zero &= out[e] == 0;
            CHECK(lse == -INFINITY && zero, "trial %d: no key gives lse -inf and out 0 (lse %g)", trial, lse);
            continue;
        }
        double err = 0;
        for (int e = 0; e < d; e++) err = fmax(err, fabs(out[e] - want[e] / sum));
        const double want_lse = mx + log(sum);
        CHECK(err <= 2e-6, "trial %d (n %d d %d parts %d%s): out err %.3g", trial, n, d, parts, normalised ? ", normalised" : "", err);
        CHECK(fabs(lse - want_lse) <= 2e-6 * (1 + fabs(want_lse)), "trial %d: lse %.9g, want %.9g", trial, lse, want_lse);
    }
}

static void test_edges(void) {
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, m = 0.5f, l = 2;
    lc_lse_fold(a, &m, &l, b, -INFINITY, 0, 3); /* an empty part changes nothing */
    CHECK(a[0] == 1 && a[2] == 3 && m == 0.5f && l == 2, "fold of an empty part");
    float e[3] = {9, 9, 9}, me = -INFINITY, le = 0;
    lc_lse_fold(e, &me, &le, b, 0.25f, 3, 3); /* into an empty one: b exactly */
    CHECK(e[0] == 4 && e[1] == 5 && e[2] == 6 && me == 0.25f && le == 3, "fold into an empty part copies");
    float o[3];
    CHECK(lc_lse_finish(o, b, 0.25f, 2, 3) == 0.25f + logf(2) && o[1] == 2.5f, "finish divides by l");
    CHECK(lc_lse_finish(o, b, -INFINITY, 0, 3) == -INFINITY && o[0] == 0 && o[2] == 0, "finish of no key");
    float big[2] = {1, 1}, mb = 80, lb = 1; /* a part e^100 larger dominates without overflow */
    const float tiny[2] = {-1, -1};
    lc_lse_fold(big, &mb, &lb, tiny, -20, 1, 2);
    CHECK(mb == 80 && lb == 1 && big[0] == 1, "a negligible part: m %g l %g out %g", mb, lb, big[0]);
}

int main(void) {
    test_rng g = {test_seed("test_lse_merge"), 0};
    test_random_splits(&g);
    test_edges();
    return test_finish("test_lse_merge");
}
