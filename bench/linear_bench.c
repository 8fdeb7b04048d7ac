/* Benchmark of the O(n) sequence mixers against exact attention of the same width. For each
 * method and length n it times the causal prefill over n tokens (best of a few runs), the
 * peak resident memory the call adds above its inputs and outputs, and one decode token
 * after the prefill (the recurrent step for the O(n) methods, one query against the n-key
 * cache for flash) with the bytes that decoding keeps (state, or KV cache). It then fits the
 * log-log slope of prefill time against n and finds the measured length from which each
 * O(n) method is cheaper than flash, for prefill and for decode.
 *
 * Widths: attention and linear attention use `heads` heads of dimension d (elu1 features =
 * d, FAVOR+ m = d random features); Mamba's scan has heads*d channels and state 16;
 * Mamba-2's SSD heads heads of dimension d, one group, state d, chunk 64. */
#include "linear_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_ELU, M_FAVOR, M_MAMBA, M_SSD, M_FLASH, M_COUNT };
static const char *method_name[M_COUNT] = {"linear-elu1", "linear-favor", "mamba-scan", "mamba2-ssd", "flash"};

typedef struct lin_result {
    int method;
    int64_t n;
    double seconds, peak_bytes, decode_seconds, decode_bytes;
    const char *skipped;
} lin_result;

typedef struct lin_opts {
    int64_t lengths[32];
    int n_lengths;
    int64_t heads, d, flash_max, mamba_state;
    int threads;
    const char *json;
} lin_opts;

static float *alloc_normal(size_t n, uint64_t seed, float mean, float sd) {
    float *x = malloc(sizeof(float) * n);
    if (!x) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(1);
    }
    lc_rng_fill_normal(x, n, seed, 0, mean, sd, 0);
    return x;
}

/* Times fn(ctx) best-of-runs (at least 2 runs unless one takes over 2 s); peak extra RSS. */
typedef lc_status (*run_fn)(void *ctx);
static int time_it(run_fn fn, void *ctx, double *best, double *peak) {
    double total = 0;
    *best = 1e30, *peak = 0;
    for (int rep = 0; rep < 20; rep++) {
        bench_peak_reset();
        size_t base = bench_rss_bytes();
        double t = bench_now();
        lc_status s = fn(ctx);
        t = bench_now() - t;
        size_t hwm = bench_peak_rss_bytes();
        if (s) return fprintf(stderr, "  failed: %s\n", lc_last_error()), -1;
        if (hwm > base && (double)(hwm - base) > *peak) *peak = (double)(hwm - base);
        if (t < *best) *best = t;
        total += t;
        if ((rep >= 1 && total > 0.3) || t > 2.0) break;
    }
    return 0;
}

/* Seconds per call of fn(ctx), averaged over 64 calls, best of 3. */
static double time_decode(run_fn fn, void *ctx) {
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = bench_now();
        for (int i = 0; i < 64; i++)
            if (fn(ctx)) return fprintf(stderr, "  decode failed: %s\n", lc_last_error()), NAN;
        t = (bench_now() - t) / 64;
        if (t < best) best = t;
    }
    return best;
}

/* ---- linear attention ---- */
typedef struct lin_ctx {
    lc_linear_attention a, one; /* one: a single token, for decoding */
    float *state;
    int64_t state_floats;
} lin_ctx;
static lc_status lin_prefill(void *p) {
    lin_ctx *c = p;
    memset(c->state, 0, sizeof(float) * (size_t)c->state_floats);
    return lc_linear_attention_forward_alloc(&c->a, c->state, c->state_floats);
}
static lc_status lin_decode(void *p) {
    lin_ctx *c = p;
    return lc_linear_attention_step(&c->one, c->state, c->state_floats);
}

static void run_linear(lin_result *r, const lin_opts *o, int favor) {
    const int64_t n = r->n, H = o->heads, d = o->d;
    lin_ctx c;
    memset(&c, 0, sizeof c);
    c.a.q = bench_tensor_random(LC_F32, n, H, d, 1), c.a.k = bench_tensor_random(LC_F32, n, H, d, 2);
    c.a.v = bench_tensor_random(LC_F32, n, H, d, 3), c.a.out = bench_tensor_output(LC_F32, n, H, d);
    float *omega = NULL;
    c.a.causal = 1, c.a.normalize = 1, c.a.threads = o->threads;
    if (favor) {
        omega = alloc_normal((size_t)(d * d), 0, 0, 1);
        lc_favor_draw(omega, d, d, 42, 0);
        c.a.feature = LC_FEATURE_FAVOR, c.a.features = d, c.a.omega = omega;
    }
    c.state_floats = lc_linear_state_floats(&c.a) * H;
    c.state = calloc((size_t)c.state_floats, sizeof(float));
    c.one = c.a;
    c.one.q.shape[1] = c.one.k.shape[1] = c.one.v.shape[1] = c.one.out.shape[1] = 1;
    if (!c.state || (favor && !omega)) r->skipped = "error", fprintf(stderr, "  out of memory for the state (%lld floats) or the features\n", (long long)c.state_floats);
    else if (time_it(lin_prefill, &c, &r->seconds, &r->peak_bytes)) r->skipped = "error";
    else {
        r->decode_seconds = time_decode(lin_decode, &c);
        r->decode_bytes = (double)c.state_floats * sizeof(float);
    }
    free(c.state), free(omega);
    bench_tensor_free(&c.a.q), bench_tensor_free(&c.a.k), bench_tensor_free(&c.a.v), bench_tensor_free(&c.a.out);
}

/* ---- Mamba's selective scan ---- */
typedef struct scan_ctx {
    lc_selective_scan s, one;
} scan_ctx;
static lc_status scan_prefill(void *p) {
    scan_ctx *c = p;
    memset(c->s.h, 0, sizeof(float) * (size_t)c->s.h_floats);
    return lc_selective_scan_f32(&c->s);
}
static lc_status scan_decode(void *p) { return lc_selective_scan_f32(&((scan_ctx *)p)->one); }

static void run_mamba(lin_result *r, const lin_opts *o) {
    const int64_t n = r->n, E = o->heads * o->d, N = o->mamba_state;
    scan_ctx c;
    float *A = alloc_normal((size_t)(E * N), 5, 0, 1);
    for (int64_t i = 0; i < E * N; i++) A[i] = -expf(A[i]);
    lc_selective_scan s = {1, n, E, N, alloc_normal((size_t)(n * E), 1, 0, 1), alloc_normal((size_t)(n * E), 2, -2, 1), NULL, A,
                           alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)E, 6, 0, 1),
                           alloc_normal((size_t)(n * E), 7, 0, 1), alloc_normal((size_t)(n * E), 8, 0, 1), calloc((size_t)(E * N), sizeof(float)),
                           E * N, o->threads, LC_ISA_AUTO};
    c.s = s, c.one = s, c.one.n = 1;
    if (time_it(scan_prefill, &c, &r->seconds, &r->peak_bytes)) r->skipped = "error";
    else {
        r->decode_seconds = time_decode(scan_decode, &c);
        r->decode_bytes = (double)(E * N) * sizeof(float);
    }
    free((void *)s.x), free((void *)s.dt), free(A), free((void *)s.B), free((void *)s.C), free((void *)s.D), free((void *)s.z), free(s.y), free(s.h);
}

/* ---- Mamba-2's SSD ---- */
typedef struct ssd_ctx {
    lc_ssd s, one;
} ssd_ctx;
static lc_status ssd_prefill(void *p) {
    ssd_ctx *c = p;
    memset(c->s.h, 0, sizeof(float) * (size_t)c->s.h_floats);
    return lc_ssd_chunked_alloc(&c->s);
}
static lc_status ssd_decode(void *p) { return lc_ssd_step(&((ssd_ctx *)p)->one); }

static void run_ssd(lin_result *r, const lin_opts *o) {
    const int64_t n = r->n, H = o->heads, P = o->d, N = o->d;
    ssd_ctx c;
    float *A = alloc_normal((size_t)H, 5, 0, 1);
    for (int64_t i = 0; i < H; i++) A[i] = -expf(A[i]);
    lc_ssd s = {1, n, H, P, 1, N, alloc_normal((size_t)(n * H * P), 1, 0, 1), alloc_normal((size_t)(n * H), 2, -2, 1), NULL, 0, 0, A,
                alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)H, 6, 0, 1),
                alloc_normal((size_t)(n * H * P), 7, 0, 1), calloc((size_t)(H * P * N), sizeof(float)), H * P * N, 64, o->threads, LC_ISA_AUTO};
    c.s = s, c.one = s, c.one.n = 1;
    if (time_it(ssd_prefill, &c, &r->seconds, &r->peak_bytes)) r->skipped = "error";
    else {
        r->decode_seconds = time_decode(ssd_decode, &c);
        r->decode_bytes = (double)(H * P * N) * sizeof(float);
    }
    free((void *)s.x), free((void *)s.dt), free(A), free((void *)s.B), free((void *)s.C), free((void *)s.D), free(s.y), free(s.h);
}

/* ---- flash attention ---- */
typedef struct flash_ctx {
    lc_attention a, one;
} flash_ctx;
static lc_status flash_prefill(void *p) { return lc_attention_flash_alloc(&((flash_ctx *)p)->a); }
static lc_status flash_decode(void *p) { return lc_attention_flash_alloc(&((flash_ctx *)p)->one); }

static void run_flash(lin_result *r, const lin_opts *o) {
    const int64_t n = r->n, H = o->heads, d = o->d;
    if (n > o->flash_max) {
        r->skipped = "above --flash-max";
        return;
    }
    flash_ctx c;
    memset(&c, 0, sizeof c);
    c.a.q = bench_tensor_random(LC_F32, n, H, d, 1), c.a.k = bench_tensor_random(LC_F32, n, H, d, 2);
    c.a.v = bench_tensor_random(LC_F32, n, H, d, 3), c.a.out = bench_tensor_output(LC_F32, n, H, d);
    c.a.mask = lc_mask_causal(), c.a.threads = o->threads;
    c.one = c.a; /* the last query against all n keys: one decode token with an n-key cache */
    c.one.q.data = (float *)c.a.q.data + (n - 1) * H * d, c.one.q.shape[1] = 1, c.one.q.capacity = H * d;
    c.one.out.shape[1] = 1, c.one.mask.q_offset = n - 1;
    if (time_it(flash_prefill, &c, &r->seconds, &r->peak_bytes)) r->skipped = "error";
    else {
        r->decode_seconds = time_decode(flash_decode, &c);
        r->decode_bytes = (double)(2 * n * H * d) * sizeof(float); /* the KV cache */
    }
    bench_tensor_free(&c.a.q), bench_tensor_free(&c.a.k), bench_tensor_free(&c.a.v), bench_tensor_free(&c.a.out);
}

/* Least-squares slope of log(seconds) against log(n) over measured points with n >= from. */
static double slope(const lin_result *r, int nr, int method, int64_t from, int *points) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int k = 0;
    for (int i = 0; i < nr; i++) {
        if (r[i].method != method || r[i].skipped || r[i].n < from) continue;
        double x = log((double)r[i].n), y = log(r[i].seconds);
        sx += x, sy += y, sxx += x * x, sxy += x * y, k++;
    }
    *points = k;
    return k >= 2 ? (k * sxy - sx * sy) / (k * sxx - sx * sx) : NAN;
}

static const lin_result *find(const lin_result *r, int nr, int method, int64_t n) {
    for (int i = 0; i < nr; i++)
        if (r[i].method == method && r[i].n == n && !r[i].skipped) return &r[i];
    return NULL;
}

/* The smallest measured n from which `method` beats flash at every measured length (prefill
 * or decode): -1 if it never does where flash was measured, 0 if no flash point exists. */
static int64_t crossover(const lin_result *r, int nr, const lin_opts *o, int method, int decode) {
    int64_t cross = -1;
    int any = 0;
    for (int li = o->n_lengths - 1; li >= 0; li--) {
        const lin_result *m = find(r, nr, method, o->lengths[li]), *f = find(r, nr, M_FLASH, o->lengths[li]);
        if (!m || !f) continue;
        any = 1;
        double tm = decode ? m->decode_seconds : m->seconds, tf = decode ? f->decode_seconds : f->seconds;
        if (tm < tf) cross = o->lengths[li];
        else break;
    }
    return any ? cross : 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: linear [--quick] [--lengths 1K,...,1M] [--heads 2] [--dim 64] [--flash-max 64K]\n"
               "              [--threads N] [--json FILE]\n"
               "  causal prefill and decode of linear attention (elu1, FAVOR+), Mamba's scan and\n"
               "  Mamba-2's SSD against flash attention of the same width; a table on stdout, JSON to\n"
               "  FILE only when --json is given. Lengths in [1, 16M], --heads in [1, 1024], --dim in\n"
               "  [1, 256], --threads 0 (all) .. %d. Exit status: 0 done, 1 a case failed (nothing is\n"
               "  written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

/* 0, ARGS_USAGE (said) or -1 for --help (printed). */
static int parse(int argc, char **argv, lin_opts *o) {
    static const char *cmd = "bench linear";
    o->n_lengths = 0;
    for (int64_t n = 1024; n <= 1048576; n *= 2) o->lengths[o->n_lengths++] = n;
    o->heads = 2, o->d = 64, o->flash_max = 65536, o->mamba_state = 16, o->threads = 0;
    o->json = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return usage(stdout), -1;
        if (!strcmp(arg, "--quick")) {
            o->lengths[0] = 256, o->lengths[1] = 512, o->lengths[2] = 1024, o->n_lengths = 3, o->flash_max = 1024;
            continue;
        }
        if (strcmp(arg, "--lengths") && strcmp(arg, "--heads") && strcmp(arg, "--dim") && strcmp(arg, "--flash-max") && strcmp(arg, "--threads") &&
            strcmp(arg, "--json")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, arg);
            return usage(stderr), ARGS_USAGE;
        }
        if (!val) return args_missing(cmd, arg);
        i++;
        if (!strcmp(arg, "--lengths")) rc = args_counts(cmd, arg, val, 1, (int64_t)1 << 24, o->lengths, 32, &o->n_lengths);
        else if (!strcmp(arg, "--heads")) rc = args_i64(cmd, arg, val, 1, 1024, &o->heads);
        else if (!strcmp(arg, "--dim")) rc = args_i64(cmd, arg, val, 1, 256, &o->d);
        else if (!strcmp(arg, "--flash-max")) rc = args_count(cmd, arg, val, 0, (int64_t)1 << 24, &o->flash_max);
        else if (!strcmp(arg, "--threads")) rc = args_threads(cmd, arg, val, &o->threads);
        else o->json = val;
    }
    if (rc) return rc;
    for (int a = 1; a < o->n_lengths; a++) /* ascending: the crossover walks them from the top */
        for (int b = a; b > 0 && o->lengths[b] < o->lengths[b - 1]; b--) {
            int64_t t = o->lengths[b];
            o->lengths[b] = o->lengths[b - 1], o->lengths[b - 1] = t;
        }
    int64_t n = o->lengths[o->n_lengths - 1];
    /* the largest case: q, k, v, out and the f32 draws of one (flash, linear), or Mamba's eight n x heads*d inputs */
    double need = 9.0 * (double)n * (double)o->heads * (double)o->d * sizeof(float);
    return args_fits(cmd, "--lengths, --heads and --dim (the largest case's inputs and outputs)", need);
}

static void print_row(const lin_result *r) {
    char pk[32], db[32];
    if (r->skipped) {
        printf("%-13s %8lld  %s\n", method_name[r->method], (long long)r->n, r->skipped);
        return;
    }
    printf("%-13s %8lld %11.3f %12.1f %12s %12.2f %12s\n", method_name[r->method], (long long)r->n, r->seconds * 1e3, r->seconds / (double)r->n * 1e9,
           bench_bytes_str(r->peak_bytes, pk, sizeof pk), r->decode_seconds * 1e6, bench_bytes_str(r->decode_bytes, db, sizeof db));
    fflush(stdout);
}

int lc_bench_linear_main(int argc, char **argv) {
    lin_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    const int threads = lc_threads_resolve(o.threads);
    bench_blas_warn("bench linear");
    printf("machine: %d threads, vector path %s, OpenBLAS %s\n", threads, lc_isa_name(lc_isa_best()), bench_blas_core());
    printf("width: %lld heads x d=%lld (mamba: %lld channels, state %lld; mamba2: state %lld, chunk 64; favor: m=%lld)\n", (long long)o.heads,
           (long long)o.d, (long long)(o.heads * o.d), (long long)o.mamba_state, (long long)o.d, (long long)o.d);
    printf("%-13s %8s %11s %12s %12s %12s %12s\n", "method", "n", "prefill ms", "ns/token", "peak extra", "decode us/tok", "decode mem");
    lin_result *res = calloc((size_t)(M_COUNT * o.n_lengths), sizeof *res);
    if (!res) return fprintf(stderr, "bench linear: out of memory\n"), 1;
    int nr = 0;
    const double t0 = bench_now();
    for (int li = 0; li < o.n_lengths; li++)
        for (int m = 0; m < M_COUNT; m++) {
            lin_result *r = &res[nr++];
            r->method = m, r->n = o.lengths[li];
            fprintf(stderr, "[%d/%d %.0fs] %s n=%lld\n", nr, M_COUNT * o.n_lengths, bench_now() - t0, method_name[m], (long long)r->n);
            switch (m) {
            case M_ELU: run_linear(r, &o, 0); break;
            case M_FAVOR: run_linear(r, &o, 1); break;
            case M_MAMBA: run_mamba(r, &o); break;
            case M_SSD: run_ssd(r, &o); break;
            default: run_flash(r, &o); break;
            }
            if ((r->skipped && !strcmp(r->skipped, "error")) || (!r->skipped && !isfinite(r->decode_seconds))) {
                fprintf(stderr, "bench linear: %s at n=%lld failed; no results are written\n", method_name[m], (long long)r->n);
                free(res);
                return 1;
            }
            print_row(r);
        }

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "linear");
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(lc_isa_best()));
    cJSON_AddNumberToObject(root, "heads", (double)o.heads);
    cJSON_AddNumberToObject(root, "d", (double)o.d);
    cJSON_AddNumberToObject(root, "mamba_state", (double)o.mamba_state);
    cJSON *summary = cJSON_AddArrayToObject(root, "summary");
    const int64_t fit_from = o.lengths[o.n_lengths - 1] >= 8192 ? 8192 : 0;
    printf("\n%-13s %22s %22s %22s\n", "method", "slope log t / log n", "prefill beats flash", "decode beats flash");
    for (int m = 0; m < M_COUNT; m++) {
        int pts;
        double s = slope(res, nr, m, fit_from, &pts);
        char pre[32] = "-", dec[32] = "-";
        int64_t cp = m == M_FLASH ? 0 : crossover(res, nr, &o, m, 0), cd = m == M_FLASH ? 0 : crossover(res, nr, &o, m, 1);
        if (m != M_FLASH) {
            snprintf(pre, sizeof pre, cp > 0 ? "from n=%lld" : cp < 0 ? "not up to %lld" : "no flash data", (long long)(cp > 0 ? cp : o.flash_max));
            snprintf(dec, sizeof dec, cd > 0 ? "from n=%lld" : cd < 0 ? "not up to %lld" : "no flash data", (long long)(cd > 0 ? cd : o.flash_max));
        }
        char slope_text[32] = "-"; /* fewer than 2 points: no slope */
        if (isfinite(s)) snprintf(slope_text, sizeof slope_text, "%.3f", s);
        printf("%-13s %14s (%2d pts) %22s %22s\n", method_name[m], slope_text, pts, pre, dec);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "method", method_name[m]);
        if (isfinite(s)) cJSON_AddNumberToObject(j, "slope", s);
        else cJSON_AddNullToObject(j, "slope");
        cJSON_AddNumberToObject(j, "slope_from_n", (double)fit_from);
        cJSON_AddNumberToObject(j, "slope_points", pts);
        if (m != M_FLASH) { /* the n from which it is cheaper, or null with the reason in the text */
            if (cp > 0) cJSON_AddNumberToObject(j, "prefill_cheaper_than_flash_from_n", (double)cp);
            else cJSON_AddNullToObject(j, "prefill_cheaper_than_flash_from_n");
            if (cd > 0) cJSON_AddNumberToObject(j, "decode_cheaper_than_flash_from_n", (double)cd);
            else cJSON_AddNullToObject(j, "decode_cheaper_than_flash_from_n");
            cJSON_AddStringToObject(j, "prefill_vs_flash", pre);
            cJSON_AddStringToObject(j, "decode_vs_flash", dec);
        }
        cJSON_AddItemToArray(summary, j);
    }
    printf("(slope fitted over n >= %lld; crossover: smallest measured n from which the method is faster at every measured n up to\n"
           " flash's largest, 'not up to' if never; flash measured up to n=%lld)\n",
           (long long)fit_from, (long long)o.flash_max);
    cJSON *arr = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < nr; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "method", method_name[res[i].method]);
        cJSON_AddNumberToObject(j, "n", (double)res[i].n);
        if (res[i].skipped) cJSON_AddStringToObject(j, "skipped", res[i].skipped);
        else {
            cJSON_AddNumberToObject(j, "prefill_seconds", res[i].seconds);
            cJSON_AddNumberToObject(j, "prefill_ns_per_token", res[i].seconds / (double)res[i].n * 1e9);
            cJSON_AddNumberToObject(j, "peak_extra_bytes", res[i].peak_bytes);
            cJSON_AddNumberToObject(j, "decode_seconds_per_token", res[i].decode_seconds);
            cJSON_AddNumberToObject(j, "decode_memory_bytes", res[i].decode_bytes);
        }
        cJSON_AddItemToArray(arr, j);
    }
    int rc = 0;
    if (o.json) rc = bench_write_json(root, o.json);
    else cJSON_Delete(root);
    free(res);
    return rc;
}
