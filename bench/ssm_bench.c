/* Benchmark of the state-space kernels at the shapes of real layers (defaults: Mamba-2 with
 * 48 heads x 64, state 128, one group; Mamba with 5120 channels, state 16):
 *
 *   step   one token (decoding): lc_ssd_step / lc_selective_scan_f32 with n = 1, against the
 *          floor measured in the same run: the state read and written once, in place, on the
 *          same threads (each thread its slice, as the step splits its heads or channels);
 *   scan   a 512-token prefill from a zero state: lc_ssd_chunked / lc_selective_scan_f32.
 *
 * Times are the best of many repetitions (a step: the mean of a batch of calls, best batch),
 * so a machine shared with other work disturbs them less. */
#include "ssm_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssm_opts {
    int64_t heads, head_dim, state, groups; /* Mamba-2 */
    int64_t channels, mamba_state;          /* Mamba */
    int64_t scan_tokens;
    int threads, quick;
    const char *json;
} ssm_opts;

typedef struct ssm_row {
    const char *name;
    double seconds, floor_seconds; /* floor 0: none (the scans) */
    double state_bytes;
    int64_t tokens;
} ssm_row;

static float *alloc_normal(size_t n, uint64_t seed, float mean, float sd) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    if (!x) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(1);
    }
    lc_rng_fill_normal(x, n, seed, 0, mean, sd, 0);
    return x;
}

/* The floor: h[i] *= 1 in place on `threads` threads, each its contiguous slice (the
 * compiler's widest vectors for the CPU: a memory-bound loop either way). */
__attribute__((target("avx512f"))) static void scale_avx512(float *h, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) h[i] *= c;
}
__attribute__((target("avx2"))) static void scale_avx2(float *h, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) h[i] *= c;
}
static void scale_plain(float *h, int64_t n, float c) {
    for (int64_t i = 0; i < n; i++) h[i] *= c;
}

static volatile float one = 1.0f; /* read at run time: the loop cannot be elided */

static void touch_state(float *h, int64_t n, int threads) {
    const lc_isa isa = lc_isa_best();
    const float c = one;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        const int64_t a = n * t / threads, b = n * (t + 1) / threads;
        if (isa == LC_ISA_AVX512) scale_avx512(h + a, b - a, c);
        else if (isa == LC_ISA_AVX2) scale_avx2(h + a, b - a, c);
        else scale_plain(h + a, b - a, c);
    }
}

typedef lc_status (*step_fn)(void *ctx);

/* Seconds per call: the mean over a batch of `calls`, the best of `batches`. Each batch of
 * the step is followed by one of the floor on the same state (alternating, so both see the
 * same machine); *floor gets the floor's best. 0 on success. */
static int time_step(step_fn fn, void *ctx, float *h, int64_t h_floats, int threads, int batches, int calls, double *best, double *floor) {
    *best = *floor = 1e30;
    for (int b = 0; b < batches; b++) {
        double t = bench_now();
        for (int i = 0; i < calls; i++)
            if (fn(ctx)) return fprintf(stderr, "  failed: %s\n", lc_last_error()), 1;
        t = (bench_now() - t) / calls;
        if (t < *best) *best = t;
        double f = bench_now();
        for (int i = 0; i < calls; i++) touch_state(h, h_floats, threads);
        f = (bench_now() - f) / calls;
        if (f < *floor) *floor = f;
    }
    return 0;
}

static int time_scan(step_fn fn, void *ctx, int reps, double *best) {
    *best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        if (fn(ctx)) return fprintf(stderr, "  failed: %s\n", lc_last_error()), 1;
        t = bench_now() - t;
        if (t < *best) *best = t;
    }
    return 0;
}

/* ---- Mamba-2 ---- */
typedef struct ssd_ctx {
    lc_ssd s;
    void *ws;
    size_t ws_bytes;
} ssd_ctx;
static lc_status ssd_step(void *p) { return lc_ssd_step(&((ssd_ctx *)p)->s); }
static lc_status ssd_scan(void *p) {
    ssd_ctx *c = p;
    memset(c->s.h, 0, sizeof(float) * (size_t)c->s.h_floats);
    return lc_ssd_chunked(&c->s, c->ws, c->ws_bytes);
}

static ssd_ctx ssd_make(const ssm_opts *o, int64_t n) {
    const int64_t H = o->heads, P = o->head_dim, G = o->groups, N = o->state;
    float *A = alloc_normal((size_t)H, 5, 0, 1);
    for (int64_t i = 0; i < H; i++) A[i] = -expf(A[i]);
    lc_ssd s = {1, n, H, P, G, N, alloc_normal((size_t)(n * H * P), 1, 0, 1), alloc_normal((size_t)(n * H), 2, -2, 1), NULL, 0, 0, A,
                alloc_normal((size_t)(n * G * N), 3, 0, 1), alloc_normal((size_t)(n * G * N), 4, 0, 1), alloc_normal((size_t)H, 6, 0, 1),
                alloc_normal((size_t)(n * H * P), 7, 0, 1), alloc_normal((size_t)(H * P * N), 8, 0, 1), H * P * N, 0, o->threads, LC_ISA_AUTO};
    ssd_ctx c = {s, NULL, 0};
    return c;
}

static void ssd_free(ssd_ctx *c) {
    free((void *)c->s.x), free((void *)c->s.dt), free((void *)c->s.A), free((void *)c->s.B), free((void *)c->s.C), free((void *)c->s.D);
    free(c->s.y), free(c->s.h), free(c->ws);
}

/* ---- Mamba ---- */
typedef struct scan_ctx {
    lc_selective_scan s;
} scan_ctx;
static lc_status scan_step(void *p) { return lc_selective_scan_f32(&((scan_ctx *)p)->s); }
static lc_status scan_prefill(void *p) {
    scan_ctx *c = p;
    memset(c->s.h, 0, sizeof(float) * (size_t)c->s.h_floats);
    return lc_selective_scan_f32(&c->s);
}

static scan_ctx scan_make(const ssm_opts *o, int64_t n) {
    const int64_t E = o->channels, N = o->mamba_state;
    float *A = alloc_normal((size_t)(E * N), 5, 0, 1);
    for (int64_t i = 0; i < E * N; i++) A[i] = -expf(A[i]);
    lc_selective_scan s = {1, n, E, N, alloc_normal((size_t)(n * E), 1, 0, 1), alloc_normal((size_t)(n * E), 2, -2, 1), NULL, A,
                           alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)E, 6, 0, 1),
                           alloc_normal((size_t)(n * E), 7, 0, 1), alloc_normal((size_t)(n * E), 8, 0, 1), alloc_normal((size_t)(E * N), 9, 0, 1),
                           E * N, o->threads, LC_ISA_AUTO};
    scan_ctx c = {s};
    return c;
}

static void scan_free(scan_ctx *c) {
    free((void *)c->s.x), free((void *)c->s.dt), free((void *)c->s.A), free((void *)c->s.B), free((void *)c->s.C), free((void *)c->s.D);
    free((void *)c->s.z), free(c->s.y), free(c->s.h);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ssm [--quick] [--heads 48] [--head-dim 64] [--state 128] [--groups 1] [--channels 5120]\n"
               "           [--mamba-state 16] [--tokens 512] [--threads N] [--json FILE]\n"
               "  Mamba-2's SSD step and Mamba's selective-scan step against the time to read and write\n"
               "  their state once, and their scans over --tokens tokens; a table on stdout, JSON to FILE\n"
               "  only when --json is given. --threads 0 (all) .. %d. Exit status: 0 done, 1 a case\n"
               "  failed (nothing is written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

/* 0, ARGS_USAGE (said) or -1 for --help (printed). */
static int parse(int argc, char **argv, ssm_opts *o) {
    static const char *cmd = "bench ssm";
    o->heads = 48, o->head_dim = 64, o->state = 128, o->groups = 1, o->channels = 5120, o->mamba_state = 16, o->scan_tokens = 512;
    o->threads = 0, o->quick = 0, o->json = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return usage(stdout), -1;
        if (!strcmp(arg, "--quick")) {
            o->quick = 1;
            continue;
        }
        static const char *known[] = {"--heads", "--head-dim", "--state", "--groups", "--channels", "--mamba-state", "--tokens", "--threads", "--json"};
        int k = -1;
        for (int j = 0; j < 9; j++)
            if (!strcmp(arg, known[j])) k = j;
        if (k < 0) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, arg);
            return usage(stderr), ARGS_USAGE;
        }
        if (!val) return args_missing(cmd, arg);
        i++;
        switch (k) {
        case 0: rc = args_i64(cmd, arg, val, 1, 4096, &o->heads); break;
        case 1: rc = args_i64(cmd, arg, val, 1, 1024, &o->head_dim); break;
        case 2: rc = args_i64(cmd, arg, val, 1, 1024, &o->state); break;
        case 3: rc = args_i64(cmd, arg, val, 1, 4096, &o->groups); break;
        case 4: rc = args_i64(cmd, arg, val, 1, 1 << 20, &o->channels); break;
        case 5: rc = args_i64(cmd, arg, val, 1, 1024, &o->mamba_state); break;
        case 6: rc = args_count(cmd, arg, val, 1, 1 << 20, &o->scan_tokens); break;
        case 7: rc = args_threads(cmd, arg, val, &o->threads); break;
        default: o->json = val; break;
        }
    }
    if (rc) return rc;
    if (o->heads % o->groups) {
        fprintf(stderr, "%s: --groups %lld must divide --heads %lld\n", cmd, (long long)o->groups, (long long)o->heads);
        return ARGS_USAGE;
    }
    const double n = (double)o->scan_tokens;
    const double need = 4.0 * (n * (3.0 * (double)(o->heads * o->head_dim) + 2.0 * (double)(o->groups * o->state)) + (double)(o->heads * o->head_dim * o->state) +
                               n * 5.0 * (double)o->channels + (double)(o->channels * o->mamba_state) * 2);
    return args_fits(cmd, "--heads, --head-dim, --state, --channels and --tokens (inputs, outputs and states)", need);
}

static void print_row(const ssm_row *r) {
    char sb[32];
    if (r->floor_seconds > 0)
        printf("%-14s %7lld %12.2f %12.2f %9.2fx %12s\n", r->name, (long long)r->tokens, r->seconds * 1e6, r->floor_seconds * 1e6,
               r->seconds / r->floor_seconds, bench_bytes_str(r->state_bytes, sb, sizeof sb));
    else
        printf("%-14s %7lld %12.2f %12s %10s %12s\n", r->name, (long long)r->tokens, r->seconds * 1e6, "-", "-", bench_bytes_str(r->state_bytes, sb, sizeof sb));
    fflush(stdout);
}

int lc_bench_ssm_main(int argc, char **argv) {
    ssm_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    const int threads = lc_threads_resolve(o.threads), batches = o.quick ? 5 : 40, calls = o.quick ? 8 : 32, reps = o.quick ? 2 : 10;
    bench_blas_warn("bench ssm");
    printf("machine: %d threads, vector path %s\n", threads, lc_isa_name(lc_isa_best()));
    printf("mamba2: %lld heads x %lld, state %lld, %lld group(s); mamba: %lld channels, state %lld\n", (long long)o.heads, (long long)o.head_dim,
           (long long)o.state, (long long)o.groups, (long long)o.channels, (long long)o.mamba_state);
    printf("%-14s %7s %12s %12s %10s %12s\n", "kernel", "tokens", "time us", "floor us", "of floor", "state");
    ssm_row rows[4];
    int nr = 0, failed = 0;

    ssd_ctx m2 = ssd_make(&o, 1);
    rows[nr] = (ssm_row){"mamba2-step", 0, 0, (double)m2.s.h_floats * sizeof(float), 1};
    failed |= time_step(ssd_step, &m2, m2.s.h, m2.s.h_floats, threads, batches, calls, &rows[nr].seconds, &rows[nr].floor_seconds);
    if (!failed) print_row(&rows[nr++]);
    ssd_free(&m2);

    scan_ctx m1 = scan_make(&o, 1);
    rows[nr] = (ssm_row){"mamba-step", 0, 0, (double)m1.s.h_floats * sizeof(float), 1};
    failed |= !failed && time_step(scan_step, &m1, m1.s.h, m1.s.h_floats, threads, batches, calls, &rows[nr].seconds, &rows[nr].floor_seconds);
    if (!failed) print_row(&rows[nr++]);
    scan_free(&m1);

    ssd_ctx m2s = ssd_make(&o, o.scan_tokens);
    m2s.ws_bytes = lc_ssd_workspace_size(&m2s.s), m2s.ws = malloc(m2s.ws_bytes ? m2s.ws_bytes : 1);
    rows[nr] = (ssm_row){"mamba2-chunked", 0, 0, (double)m2s.s.h_floats * sizeof(float), o.scan_tokens};
    failed |= !failed && (!m2s.ws || time_scan(ssd_scan, &m2s, reps, &rows[nr].seconds));
    if (!failed) print_row(&rows[nr++]);
    ssd_free(&m2s);

    scan_ctx m1s = scan_make(&o, o.scan_tokens);
    rows[nr] = (ssm_row){"mamba-scan", 0, 0, (double)m1s.s.h_floats * sizeof(float), o.scan_tokens};
    failed |= !failed && time_scan(scan_prefill, &m1s, reps, &rows[nr].seconds);
    if (!failed) print_row(&rows[nr++]);
    scan_free(&m1s);

    if (failed) {
        fprintf(stderr, "bench ssm: a case failed; no results are written\n");
        return 1;
    }
    printf("(floor: the state read and written once in place on the same threads, measured alternately with the step)\n");
    if (!o.json) return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "ssm");
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(lc_isa_best()));
    cJSON *arr = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < nr; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "kernel", rows[i].name);
        cJSON_AddNumberToObject(j, "tokens", (double)rows[i].tokens);
        cJSON_AddNumberToObject(j, "seconds", rows[i].seconds);
        cJSON_AddNumberToObject(j, "state_bytes", rows[i].state_bytes);
        if (rows[i].floor_seconds > 0) {
            cJSON_AddNumberToObject(j, "floor_seconds", rows[i].floor_seconds);
            cJSON_AddNumberToObject(j, "of_floor", rows[i].seconds / rows[i].floor_seconds);
        }
        cJSON_AddItemToArray(arr, j);
    }
    return bench_write_json(root, o.json);
}
