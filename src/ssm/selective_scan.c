/* Mamba's selective scan (Gu and Dao 2023, algorithm 2; the discretisation of section 2,
 * A_bar = exp(dt A), B_bar x = dt B x, as transformers' MambaMixer computes it), in f32 and
 * in float64, and softplus. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/overlap.h"
#include "scan_row.h"
#include "ssm_internal.h"

float lc_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

lc_status lc_selective_scan_check(const lc_selective_scan *s) {
    if (!s) return lc_error(LC_EINVAL, "selective scan descriptor is NULL");
    if (s->batch <= 0) return lc_error(LC_EINVAL, "batch=%lld must be > 0", (long long)s->batch);
    if (s->n <= 0) return lc_error(LC_EINVAL, "n=%lld must be > 0", (long long)s->n);
    if (s->channels <= 0) return lc_error(LC_EINVAL, "channels=%lld must be > 0", (long long)s->channels);
    if (s->state <= 0 || s->state > 1024) return lc_error(LC_EINVAL, "state=%lld must be in 1..1024", (long long)s->state);
    if ((double)s->batch * (double)s->n * (double)s->channels > 0x1p50 || (double)s->batch * (double)s->channels * (double)s->state > 0x1p50)
        return lc_error(LC_EINVAL, "batch=%lld x n=%lld x channels=%lld is past any machine's memory", (long long)s->batch, (long long)s->n,
                        (long long)s->channels);
    SSM_NEED(s->x, "x");
    SSM_NEED(s->dt, "dt");
    SSM_NEED(s->A, "A");
    SSM_NEED(s->B, "B");
    SSM_NEED(s->C, "C");
    SSM_NEED(s->y, "y");
    SSM_NEED(s->h, "h (the state: zeros start a sequence)");
    if (s->h_floats != s->batch * s->channels * s->state)
        return lc_error(LC_EINVAL, "h_floats=%lld must be batch*channels*state = %lld", (long long)s->h_floats,
                        (long long)(s->batch * s->channels * s->state));
    if (s->threads < 0) return lc_error(LC_EINVAL, "threads=%d must be >= 0 (0 is the default)", s->threads);
    /* the outputs (y, h) must not alias an input or each other */
    const size_t f = sizeof(float), xc = (size_t)(s->batch * s->n * s->channels) * f, bs = (size_t)(s->batch * s->n * s->state) * f;
    const size_t cs = (size_t)(s->channels * s->state) * f, hb = (size_t)s->h_floats * f, ch = (size_t)s->channels * f;
    const struct {
        const void *p;
        size_t bytes;
        const char *name;
    } in[] = {{s->x, xc, "x"}, {s->dt, xc, "dt"}, {s->z, xc, "z"}, {s->B, bs, "B"}, {s->C, bs, "C"}, {s->A, cs, "A"}, {s->D, ch, "D"}, {s->dt_bias, ch, "dt_bias"}};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (lc_overlaps(s->y, xc, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "y overlaps %s: the output must not alias an input", in[i].name);
        if (lc_overlaps(s->h, hb, in[i].p, in[i].bytes)) return lc_error(LC_EINVAL, "h overlaps %s: the state must not alias an input", in[i].name);
    }
    if (lc_overlaps(s->y, xc, s->h, hb)) return lc_error(LC_EINVAL, "y overlaps h");
    return LC_OK;
}

/* The plan of one call: jobs of `block` channels of one sequence, each running its channels'
 * states over every token in order, on threads only from MIN_PARALLEL_WORK state updates
 * (batch x tokens x channels x state) up: below it threads cost more than they save, and one
 * that a busy machine deschedules stalls the call for a time slice. Measured one token of
 * channels x state 16 (best of 300 batches of 8 calls, a loaded 2-core AVX-512 machine), 1
 * thread against 2: 512 channels (8192 updates) 4.8 / 6.0 us, 1024 8.2 / 8.1 us, 2048 13.9 /
 * 11.6 us, 5120 31.9 / 20.5 us. A block is a multiple of 16 channels (the vector width),
 * about JOBS_PER_THREAD jobs per thread per sequence: few enough that taking a job costs
 * nothing next to it, enough that a descheduled thread leaves the others work to take. */
enum { MIN_PARALLEL_WORK = 20000, JOBS_PER_THREAD = 4 };

typedef struct scan_plan {
    int64_t block, blocks; /* channels per job, jobs per sequence */
    int threads, parallel;
    ssm_scan_block_fn fn;
} scan_plan;

static scan_plan make_plan(const lc_selective_scan *s, lc_isa isa) {
    scan_plan p;
    p.threads = lc_threads_resolve(s->threads);
    p.parallel = (double)s->batch * s->n * s->channels * s->state >= MIN_PARALLEL_WORK;
    const int64_t per = (s->channels + (int64_t)p.threads * JOBS_PER_THREAD - 1) / ((int64_t)p.threads * JOBS_PER_THREAD);
    p.block = p.parallel ? (per + 15) / 16 * 16 : s->channels;
    p.blocks = (s->channels + p.block - 1) / p.block;
    p.fn = ssm_scan_block_portable;
#ifdef LONGCTX_HAVE_X86_PATHS
    if (isa == LC_ISA_AVX512) p.fn = ssm_scan_block_avx512;
    else if (isa == LC_ISA_AVX2) p.fn = ssm_scan_block_avx2;
#else
    (void)isa;
#endif
    return p;
}

void ssm_scan_block_portable(const lc_selective_scan *s, const float *x, const float *dtr, const float *z, const float *B, const float *C, float *y,
                             float *h, int64_t d0, int64_t d1) {
    const int64_t N = s->state;
    for (int64_t d = d0; d < d1; d++) {
        const float dt = ssm_dt(dtr[d], s->dt_bias, d, 0, 0), dx = dt * x[d], *A = s->A + d * N;
        float *hd = h + d * N, acc = 0;
        for (int64_t i = 0; i < N; i++) {
            hd[i] = expf(A[i] * dt) * hd[i] + dx * B[i];
            acc += hd[i] * C[i];
        }
        if (s->D) acc += x[d] * s->D[d];
        if (z) acc *= ssm_silu(z[d]);
        y[d] = acc;
    }
}

lc_status lc_selective_scan_f32(const lc_selective_scan *s) {
    lc_status st = lc_selective_scan_check(s);
    if (st) return st;
    lc_isa isa;
    if ((st = lc_isa_resolve(s->isa, &isa))) return st;
    const scan_plan plan = make_plan(s, isa);
    const int64_t n = s->n, E = s->channels, N = s->state, blocks = plan.blocks;
#pragma omp parallel for num_threads(plan.threads) schedule(dynamic, 1) if (plan.parallel)
    for (int64_t job = 0; job < s->batch * blocks; job++) {
        const int64_t b = job / blocks, d0 = (job % blocks) * plan.block, d1 = d0 + plan.block < E ? d0 + plan.block : E;
        float *h = s->h + b * E * N;
        for (int64_t t = 0; t < n; t++) {
            const int64_t row = (b * n + t) * E;
            plan.fn(s, s->x + row, s->dt + row, s->z ? s->z + row : NULL, s->B + (b * n + t) * N, s->C + (b * n + t) * N, s->y + row, h, d0, d1);
        }
    }
    return LC_OK;
}

lc_status lc_selective_scan_naive(const lc_selective_scan *s) {
    lc_status st = lc_selective_scan_check(s);
    if (st) return st;
    const int64_t n = s->n, E = s->channels, N = s->state;
    double *h = malloc(sizeof(double) * (size_t)N);
    if (!h) return lc_error(LC_ENOMEM, "selective scan reference: %zu bytes", sizeof(double) * (size_t)N);
    for (int64_t b = 0; b < s->batch; b++)
        for (int64_t d = 0; d < E; d++) {
            float *hs = s->h + (b * E + d) * N;
            for (int64_t i = 0; i < N; i++) h[i] = hs[i];
            for (int64_t t = 0; t < n; t++) {
                const int64_t row = (b * n + t) * E;
                double raw = (double)s->dt[row + d] + (s->dt_bias ? s->dt_bias[d] : 0.0);
                double dt = raw > 20 ? raw : log1p(exp(raw)), x = s->x[row + d], y = 0;
                for (int64_t i = 0; i < N; i++) {
                    h[i] = exp((double)s->A[d * N + i] * dt) * h[i] + dt * s->B[(b * n + t) * N + i] * x;
                    y += h[i] * s->C[(b * n + t) * N + i];
                }
                if (s->D) y += x * s->D[d];
                if (s->z) {
                    double z = s->z[row + d];
                    y *= z / (1 + exp(-z));
                }
                s->y[row + d] = (float)y;
            }
            for (int64_t i = 0; i < N; i++) hs[i] = (float)h[i];
        }
    free(h);
    return LC_OK;
}
