/* bench/mla_error: where an f32 MLA prefill loses accuracy (docs/mla.md, "Why float64").
 * Over random shapes like tests/test_mla.c's, attention is run in the order of the flash
 * kernel but in float64, with one f32 rounding switched on at a time: K and V stored f32,
 * q.k accumulated in f32, exp in f32, the row sum l in f32, P V accumulated in f32, the
 * output rounded to f32; then all at once. Prints the worst error of each relative to
 * max |out| against the all-float64 result. The f32 sums here are sequential (a BLAS
 * blocks them, which errs somewhat less): an estimate of each term, not a bound.
 *   bench/mla_error [TRIALS (2000)] [KEY_SCALE (1): scales k, so logits grow]  */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "longctx/core.h"

enum { STORE = 1, DOT = 2, EXP = 4, SUM = 8, PV = 16, OUT = 32, ALL = 63 };

static uint64_t counter;
static float *normals(size_t n, float sd) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    lc_rng_fill_normal(x, n, 777, counter, 0, sd, 1);
    counter += n;
    return x;
}
static int below(int n) { /* uniform in [0, n) */
    float u;
    lc_rng_fill_normal(&u, 1, 778, counter++, 0, 1, 1);
    int r = (int)(0.5 * erfc(-u / sqrt(2.0)) * n);
    return r >= n ? n - 1 : r;
}
static double f32_if(int on, double x) { return on ? (double)(float)x : x; }

typedef struct shape {
    int H, R, N, P, DV, n_q;
    int64_t n;
    const float *wuk, *wuv, *lat, *kr, *qn, *qr;
} shape;

/* out[i, h] for the last n_q positions, causal; *max_logit gets the largest |logit|. */
static void attend(const shape *s, int fl, double *out, double *max_logit) {
    const int H = s->H, R = s->R, N = s->N, P = s->P, DK = N + P, DV = s->DV;
    const double scale = 1.0 / sqrt((double)DK);
    double *k = malloc(sizeof(double) * (size_t)s->n * DK), *v = malloc(sizeof(double) * (size_t)s->n * DV), *sc = malloc(sizeof(double) * (size_t)s->n);
    for (int h = 0; h < H; h++) {
        for (int64_t j = 0; j < s->n; j++) {
            for (int d = 0; d < N; d++) {
                double a = 0;
                for (int r = 0; r < R; r++) a += (double)s->wuk[((size_t)h * N + d) * R + r] * s->lat[j * R + r];
                k[j * DK + d] = f32_if(fl & STORE, a);
            }
            for (int e = 0; e < P; e++) k[j * DK + N + e] = s->kr[j * P + e];
            for (int e = 0; e < DV; e++) {
                double a = 0;
                for (int r = 0; r < R; r++) a += (double)s->wuv[((size_t)h * DV + e) * R + r] * s->lat[j * R + r];
                v[j * DV + e] = f32_if(fl & STORE, a);
            }
        }
        for (int i = 0; i < s->n_q; i++) {
            const int64_t last = s->n - s->n_q + i;
            double mx = -INFINITY, l = 0;
            for (int64_t j = 0; j <= last; j++) {
                double dot = 0;
                for (int d = 0; d < DK; d++) {
                    double q = d < N ? s->qn[((size_t)i * H + h) * N + d] : s->qr[((size_t)i * H + h) * P + d - N];
                    dot = f32_if(fl & DOT, dot + f32_if(fl & DOT, q * scale) * k[j * DK + d]);
                }
                sc[j] = dot, mx = fmax(mx, dot), *max_logit = fmax(*max_logit, fabs(dot));
            }
            double *o = out + ((size_t)i * H + h) * DV;
            for (int e = 0; e < DV; e++) o[e] = 0;
            for (int64_t j = 0; j <= last; j++) {
                double p = (fl & EXP) ? (double)expf((float)(sc[j] - mx)) : exp(sc[j] - mx);
                l = f32_if(fl & SUM, l + p);
                for (int e = 0; e < DV; e++) o[e] = f32_if(fl & PV, o[e] + f32_if(fl & PV, p * v[j * DV + e]));
            }
            for (int e = 0; e < DV; e++) o[e] = f32_if(fl & OUT, o[e] / l);
        }
    }
    free(k), free(v), free(sc);
}

int main(int argc, char **argv) {
    const int trials = argc > 1 ? atoi(argv[1]) : 2000;
    const float key_scale = argc > 2 ? (float)atof(argv[2]) : 1.0f;
    const int flags[] = {STORE, DOT, EXP, SUM, PV, OUT, ALL};
    const char *names[] = {"K, V stored f32", "q.k accumulated f32", "exp in f32 (expf)", "row sum l in f32", "P V accumulated f32", "output rounded f32",
                           "all of them"};
    double worst[7] = {0}, max_logit = 0;
    for (int t = 0; t < trials; t++) {
        shape s = {.H = 1 + below(5), .R = 1 + below(48), .N = 1 + below(24), .P = below(9), .DV = 1 + below(20), .n_q = 1 + below(4), .n = 1 + below(200)};
        if (s.n_q > s.n) s.n_q = (int)s.n;
        float *wuk = normals((size_t)s.H * s.N * s.R, key_scale / sqrtf((float)s.R)), *wuv = normals((size_t)s.H * s.DV * s.R, 1 / sqrtf((float)s.R));
        float *lat = normals((size_t)s.n * s.R, 1), *kr = normals((size_t)s.n * s.P, key_scale);
        float *qn = normals((size_t)s.n_q * s.H * s.N, 1), *qr = normals((size_t)s.n_q * s.H * s.P, 1);
        s.wuk = wuk, s.wuv = wuv, s.lat = lat, s.kr = kr, s.qn = qn, s.qr = qr;
        const size_t no = (size_t)s.n_q * s.H * s.DV;
        double *ref = malloc(sizeof(double) * no), *x = malloc(sizeof(double) * no), unused = 0, mo = 0;
        attend(&s, 0, ref, &max_logit);
        for (size_t i = 0; i < no; i++) mo = fmax(mo, fabs(ref[i]));
        for (int f = 0; f < 7; f++) {
            attend(&s, flags[f], x, &unused);
            for (size_t i = 0; i < no; i++) worst[f] = fmax(worst[f], fabs(x[i] - ref[i]) / mo);
        }
        free(wuk), free(wuv), free(lat), free(kr), free(qn), free(qr), free(ref), free(x);
    }
    printf("%d random shapes, keys scaled by %g, largest |logit| %.1f\n", trials, key_scale, max_logit);
    printf("%-22s %s\n", "f32 rounding", "worst error / max |out|");
    for (int f = 0; f < 7; f++) printf("%-22s %.2e\n", names[f], worst[f]);
    return 0;
}
