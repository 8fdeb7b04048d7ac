/* Mamba-2's SSD layer as a recurrence (Dao and Gu 2024, eq. 1 with scalar A per head,
 * section 7.2 for the groups of B and C): the float64 reference and the f32 step. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "../core/overlap.h"
#include "scan_row.h"
#include "ssm_internal.h"

lc_status ssm_ssd_check_shapes(const lc_ssd *s) {
    if (!s) return lc_error(LC_EINVAL, "ssd descriptor is NULL");
    if (s->batch <= 0) return lc_error(LC_EINVAL, "batch=%lld must be > 0", (long long)s->batch);
    if (s->n <= 0) return lc_error(LC_EINVAL, "n=%lld must be > 0", (long long)s->n);
    if (s->heads <= 0) return lc_error(LC_EINVAL, "heads=%lld must be > 0", (long long)s->heads);
    if (s->head_dim <= 0) return lc_error(LC_EINVAL, "head_dim=%lld must be > 0", (long long)s->head_dim);
    if (s->groups <= 0 || s->heads % s->groups)
        return lc_error(LC_EINVAL, "groups=%lld must be > 0 and divide heads=%lld", (long long)s->groups, (long long)s->heads);
    if (s->state <= 0) return lc_error(LC_EINVAL, "state=%lld must be > 0", (long long)s->state);
    if ((double)s->batch * (double)s->n * (double)s->heads * (double)s->head_dim > 0x1p50 ||
        (double)s->batch * (double)s->heads * (double)s->head_dim * (double)s->state > 0x1p50 || (double)s->batch * (double)s->n * (double)s->groups * (double)s->state > 0x1p50)
        return lc_error(LC_EINVAL, "batch=%lld, n=%lld, heads=%lld, head_dim=%lld, state=%lld: past any machine's memory", (long long)s->batch, (long long)s->n,
                        (long long)s->heads, (long long)s->head_dim, (long long)s->state);
    if (!(s->dt_min >= 0) || !(s->dt_max >= 0) || (s->dt_max != 0 && s->dt_max < s->dt_min))
        return lc_error(LC_EINVAL, "dt_min=%g, dt_max=%g: need 0 <= dt_min <= dt_max (0, 0: no clamp)", (double)s->dt_min, (double)s->dt_max);
    SSM_NEED(s->x, "x");
    SSM_NEED(s->dt, "dt");
    SSM_NEED(s->A, "A");
    SSM_NEED(s->B, "B");
    SSM_NEED(s->C, "C");
    SSM_NEED(s->y, "y");
    SSM_NEED(s->h, "h (the state: zeros start a sequence)");
    const int64_t need = s->batch * s->heads * s->head_dim * s->state;
    if (s->h_floats != need)
        return lc_error(LC_EINVAL, "h_floats=%lld must be batch*heads*head_dim*state = %lld", (long long)s->h_floats, (long long)need);
    if (s->chunk < 0 || s->chunk > 1024) return lc_error(LC_EINVAL, "chunk=%lld must be in 0..1024 (0 is 64)", (long long)s->chunk);
    if (s->threads < 0) return lc_error(LC_EINVAL, "threads=%d must be >= 0 (0 is the default)", s->threads);
    return LC_OK;
}

lc_status lc_ssd_check(const lc_ssd *s) {
    lc_status st = ssm_ssd_check_shapes(s);
    if (st) return st;
    /* the outputs (y, h) must not alias an input or each other */
    const size_t f = sizeof(float), xb = (size_t)(s->batch * s->n * s->heads * s->head_dim) * f, db = (size_t)(s->batch * s->n * s->heads) * f;
    const size_t bb = (size_t)(s->batch * s->n * s->groups * s->state) * f, hd = (size_t)s->heads * f, hb = (size_t)s->h_floats * f;
    const struct {
        const void *p;
        size_t bytes;
        const char *name;
    } in[] = {{s->x, xb, "x"}, {s->dt, db, "dt"}, {s->B, bb, "B"}, {s->C, bb, "C"}, {s->A, hd, "A"}, {s->D, hd, "D"}, {s->dt_bias, hd, "dt_bias"}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (lc_overlaps(s->y, xb, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "y overlaps %s: the output must not alias an input", in[i].name);
        if (lc_overlaps(s->h, hb, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "h overlaps %s: the state must not alias an input", in[i].name);
    }
    if (lc_overlaps(s->y, xb, s->h, hb)) return lc_error(LC_EINVAL, "y overlaps h");
    return LC_OK;
}

lc_status lc_ssd_naive(const lc_ssd *s) {
    lc_status st = lc_ssd_check(s);
    if (st) return st;
    const int64_t n = s->n, H = s->heads, P = s->head_dim, G = s->groups, N = s->state;
    double *h = malloc(sizeof(double) * (size_t)(P * N));
    if (!h) return lc_error(LC_ENOMEM, "ssd reference: %zu bytes", sizeof(double) * (size_t)(P * N));
    for (int64_t b = 0; b < s->batch; b++)
        for (int64_t p = 0; p < H; p++) {
            const int64_t gr = p / (H / G);
            float *hs = s->h + (b * H + p) * P * N;
            for (int64_t i = 0; i < P * N; i++) h[i] = hs[i];
            for (int64_t t = 0; t < n; t++) {
                double raw = (double)s->dt[(b * n + t) * H + p] + (s->dt_bias ? s->dt_bias[p] : 0.0);
                double dt = raw > 20 ? raw : log1p(exp(raw));
                if (s->dt_min != 0 || s->dt_max != 0) dt = dt < s->dt_min ? s->dt_min : dt > s->dt_max ? s->dt_max : dt;
                const double dA = exp(dt * s->A[p]);
                const float *x = s->x + ((b * n + t) * H + p) * P, *Bt = s->B + ((b * n + t) * G + gr) * N, *Ct = s->C + ((b * n + t) * G + gr) * N;
                float *y = s->y + ((b * n + t) * H + p) * P;
                for (int64_t d = 0; d < P; d++) {
                    double acc = 0;
                    for (int64_t i = 0; i < N; i++) {
                        h[d * N + i] = dA * h[d * N + i] + dt * (double)Bt[i] * x[d];
                        acc += (double)Ct[i] * h[d * N + i];
                    }
                    if (s->D) acc += (double)s->D[p] * x[d];
                    y[d] = (float)acc;
                }
            }
            for (int64_t i = 0; i < P * N; i++) hs[i] = (float)h[i];
        }
    free(h);
    return LC_OK;
}

void ssm_ssd_rows_portable(float *h, int64_t P, int64_t N, float dA, float dt, const float *x, const float *B, const float *C, float *y) {
    for (int64_t d = 0; d < P; d++) {
        float *hd = h + d * N, acc = 0;
        const float dx = dt * x[d];
        for (int64_t i = 0; i < N; i++) {
            hd[i] = dA * hd[i] + dx * B[i];
            acc += C[i] * hd[i];
        }
        y[d] = acc;
    }
}

/* The plan of lc_ssd_step: one job per (sequence, head), on threads only from
 * MIN_PARALLEL_WORK state updates (batch x tokens x heads x head_dim x state) up: below it
 * one thread finishes before a second would have paid for itself, and one that a busy machine
 * deschedules stalls the call for a time slice. Measured one token of heads x 64 x state
 * 128 (best of 300 batches of 8 calls, a loaded 2-core AVX-512 machine), 1 thread against 2:
 * 8 heads (65536 updates) 6.96 / 7.10 us, 16 heads 14.2 / 11.2 us, 48 heads 46.8 / 26.5 us. */
enum { MIN_PARALLEL_WORK = 100000 };

typedef struct step_plan {
    int threads, parallel;
    ssm_ssd_rows_fn rows;
} step_plan;

static step_plan make_step_plan(const lc_ssd *s, lc_isa isa) {
    step_plan p;
    p.threads = lc_threads_resolve(s->threads);
    p.parallel = (double)s->batch * s->n * s->heads * s->head_dim * s->state >= MIN_PARALLEL_WORK;
    p.rows = ssm_ssd_rows_portable;
#ifdef LONGCTX_HAVE_X86_PATHS
    if (isa == LC_ISA_AVX512) p.rows = ssm_ssd_rows_avx512;
    else if (isa == LC_ISA_AVX2) p.rows = ssm_ssd_rows_avx2;
#else
    (void)isa;
#endif
    return p;
}

lc_status lc_ssd_step(const lc_ssd *s) {
    lc_status st = lc_ssd_check(s);
    if (st) return st;
    lc_isa isa;
    if ((st = lc_isa_resolve(s->isa, &isa))) return st;
    const int64_t n = s->n, H = s->heads, P = s->head_dim, G = s->groups, N = s->state;
    const step_plan plan = make_step_plan(s, isa);
#pragma omp parallel for num_threads(plan.threads) schedule(static) if (plan.parallel)
    for (int64_t bp = 0; bp < s->batch * H; bp++) {
        const int64_t b = bp / H, p = bp % H, gr = p / (H / G);
        float *h = s->h + bp * P * N;
        for (int64_t t = 0; t < n; t++) {
            const float dt = ssm_dt(s->dt[(b * n + t) * H + p], s->dt_bias, p, s->dt_min, s->dt_max), dA = expf(dt * s->A[p]);
            const float *x = s->x + ((b * n + t) * H + p) * P, *Bt = s->B + ((b * n + t) * G + gr) * N, *Ct = s->C + ((b * n + t) * G + gr) * N;
            float *y = s->y + ((b * n + t) * H + p) * P;
            plan.rows(h, P, N, dA, dt, x, Bt, Ct, y);
            if (s->D)
                for (int64_t d = 0; d < P; d++) y[d] += s->D[p] * x[d];
        }
    }
    return LC_OK;
}
