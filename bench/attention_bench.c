/* Benchmark of exact attention on the CPU. For each case it counts the useful FLOPs
 * (2 (d_k + d_v) per allowed query-key pair: 4 n^2 d per head for full attention, about
 * half for causal, the active pairs for sliding windows), times the kernel, and reports
 * GFLOP/s, the fraction of the OpenBLAS sgemm ceiling measured in the same run, and the
 * peak resident memory the call added above its inputs and output. */
#include "attention_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_case {
    const char *method; /* "flash" or "naive" */
    int64_t n, d, window;
    int causal;
    lc_dtype dtype;
    /* results */
    double seconds, gflops, frac, peak_bytes;
    const char *skipped; /* reason, or NULL */
} bench_case;

typedef struct bench_opts {
    int64_t lengths[32];
    int n_lengths;
    int64_t dims[8];
    int n_dims;
    int64_t naive_max;
    int threads;
    int quick, big;
    const char *json;
} bench_opts;

static const char *mask_name(const bench_case *c, char *buf, size_t n) {
    if (c->window) snprintf(buf, n, "window %lld", (long long)c->window);
    else snprintf(buf, n, "%s", c->causal ? "causal" : "full");
    return buf;
}

/* Runs one case; repeats short runs and keeps the best time. */
static void run_case(bench_case *c, int threads, double ceiling) {
    lc_tensor q = bench_tensor_random(c->dtype, c->n, 1, c->d, 11);
    lc_tensor k = bench_tensor_random(c->dtype, c->n, 1, c->d, 12);
    lc_tensor v = bench_tensor_random(c->dtype, c->n, 1, c->d, 13);
    lc_tensor o = bench_tensor_output(c->dtype, c->n, 1, c->d);
    lc_attention a = {0};
    a.q = q, a.k = k, a.v = v, a.out = o, a.threads = threads;
    a.mask = c->window ? lc_mask_sliding_window(c->window) : c->causal ? lc_mask_causal() : lc_mask_full();
    double flops = 2.0 * (double)(2 * c->d) * (double)lc_attention_active_pairs(&a);

    int is_naive = !strcmp(c->method, "naive");
    double best = 1e30, total = 0;
    size_t peak = 0;
    for (int rep = 0; rep < 50; rep++) {
        bench_peak_reset();
        size_t base = bench_rss_bytes();
        double t = bench_now();
        lc_status s = is_naive ? lc_attention_naive(&a, 0) : lc_attention_flash_alloc(&a);
        t = bench_now() - t;
        size_t hwm = bench_peak_rss_bytes();
        if (s != LC_OK) {
            c->skipped = "error";
            fprintf(stderr, "  %s failed: %s\n", c->method, lc_last_error());
            break;
        }
        if (hwm > base && hwm - base > peak) peak = hwm - base;
        if (t < best) best = t;
        total += t;
        if (rep >= 1 && (total > 0.5 || (rep >= 2 && total > 0.2))) break; /* at least two runs: the first warms caches */
    }
    if (!c->skipped) {
        c->seconds = best;
        c->gflops = flops / best * 1e-9;
        c->frac = c->gflops / ceiling;
        c->peak_bytes = (double)peak;
    }
    bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
}

static void print_row(const bench_case *c) {
    char m[32], mem[32];
    if (c->skipped) {
        printf("%-6s %8lld %4lld %-12s %-5s %10s  %s\n", c->method, (long long)c->n, (long long)c->d, mask_name(c, m, sizeof m),
               lc_dtype_name(c->dtype), "-", c->skipped);
        return;
    }
    printf("%-6s %8lld %4lld %-12s %-5s %10.2f %9.1f %7.1f%% %12s\n", c->method, (long long)c->n, (long long)c->d,
           mask_name(c, m, sizeof m), lc_dtype_name(c->dtype), c->seconds * 1e3, c->gflops, 100 * c->frac,
           bench_bytes_str(c->peak_bytes, mem, sizeof mem));
    fflush(stdout);
}

static void usage(FILE *f) {
    fprintf(f, "usage: attention [--quick] [--lengths 1K,2K,...] [--dims 64,128] [--naive-max N]\n"
               "                 [--threads N] [--no-128k] [--json FILE]\n"
               "  flash vs naive vs the OpenBLAS sgemm ceiling; a table on stdout, and JSON to FILE when\n"
               "  --json is given (nothing is written otherwise). Lengths in [1, 1M], dims in [1, 1024],\n"
               "  --threads 0 (all processors) .. %d. Exit status: 0 done, 1 a case failed (nothing is\n"
               "  written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

/* 0, or ARGS_USAGE (said), or -1 for --help (printed). */
static int parse(int argc, char **argv, bench_opts *o) {
    static const char *cmd = "bench attention";
    static const int64_t default_lengths[] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
    memcpy(o->lengths, default_lengths, sizeof default_lengths);
    o->n_lengths = 7;
    o->dims[0] = 64, o->dims[1] = 128, o->n_dims = 2;
    o->naive_max = 4096;
    o->threads = 0, o->quick = 0, o->big = 1;
    o->json = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return usage(stdout), -1;
        if (!strcmp(arg, "--quick")) {
            o->quick = 1, o->big = 0;
            o->lengths[0] = 256, o->lengths[1] = 700, o->n_lengths = 2;
            o->dims[0] = 64, o->n_dims = 1;
            o->naive_max = 700;
            continue;
        }
        if (!strcmp(arg, "--no-128k")) {
            o->big = 0;
            continue;
        }
        if (strcmp(arg, "--lengths") && strcmp(arg, "--dims") && strcmp(arg, "--naive-max") && strcmp(arg, "--threads") && strcmp(arg, "--json")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, arg);
            return usage(stderr), ARGS_USAGE;
        }
        if (!val) return args_missing(cmd, arg);
        i++;
        if (!strcmp(arg, "--lengths")) rc = args_counts(cmd, arg, val, 1, (int64_t)1 << 20, o->lengths, 32, &o->n_lengths);
        else if (!strcmp(arg, "--dims")) rc = args_counts(cmd, arg, val, 1, 1024, o->dims, 8, &o->n_dims);
        else if (!strcmp(arg, "--naive-max")) rc = args_count(cmd, arg, val, 0, (int64_t)1 << 20, &o->naive_max);
        else if (!strcmp(arg, "--threads")) rc = args_threads(cmd, arg, val, &o->threads);
        else o->json = val;
    }
    if (rc) return rc;
    int64_t n = o->quick ? 1024 : o->big ? 131072 : 65536, dmax = 128, naive_top = 0; /* the window cases and the 128K case too */
    for (int i = 0; i < o->n_lengths; i++) {
        if (o->lengths[i] > n) n = o->lengths[i];
        if (o->lengths[i] <= o->naive_max && o->lengths[i] > naive_top) naive_top = o->lengths[i];
    }
    for (int i = 0; i < o->n_dims; i++) dmax = o->dims[i] > dmax ? o->dims[i] : dmax;
    double need = 8.0 * (double)n * (double)dmax * sizeof(float), naive = (double)naive_top * (double)naive_top * sizeof(double);
    return args_fits(cmd, "--lengths and --dims (q, k, v and out of the largest case), with the naive n x n scores up to --naive-max",
                     need + naive);
}

static cJSON *case_json(const bench_case *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "method", c->method);
    cJSON_AddNumberToObject(j, "n", (double)c->n);
    cJSON_AddNumberToObject(j, "d", (double)c->d);
    cJSON_AddStringToObject(j, "mask", c->window ? "window" : c->causal ? "causal" : "full");
    if (c->window) cJSON_AddNumberToObject(j, "window", (double)c->window);
    cJSON_AddStringToObject(j, "dtype", lc_dtype_name(c->dtype));
    if (c->skipped) {
        cJSON_AddStringToObject(j, "skipped", c->skipped);
        return j;
    }
    cJSON_AddNumberToObject(j, "seconds", c->seconds);
    cJSON_AddNumberToObject(j, "gflops", c->gflops);
    cJSON_AddNumberToObject(j, "fraction_of_sgemm", c->frac);
    cJSON_AddNumberToObject(j, "peak_extra_bytes", c->peak_bytes);
    return j;
}

int lc_bench_attention_main(int argc, char **argv) {
    bench_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    int threads = lc_threads_resolve(o.threads);

    fprintf(stderr, "measuring the OpenBLAS sgemm ceiling on %d threads...\n", threads);
    double ceiling = bench_sgemm_gflops(o.quick ? 512 : 2048, o.quick ? 2 : 5);
    printf("machine: %d threads, vector path %s, OpenBLAS %s sgemm ceiling %.1f GFLOP/s\n", threads, lc_isa_name(lc_isa_best()),
           bench_blas_core(), ceiling);
    if (bench_blas_hint()) printf("%s\n", bench_blas_hint());
    printf("%-6s %8s %4s %-12s %-5s %10s %9s %8s %12s\n", "method", "n", "d", "mask", "dtype", "time ms", "GFLOP/s", "of sgemm", "peak extra");

    bench_case cases[512];
    int nc = 0;
    const lc_dtype dtypes[2] = {LC_F32, LC_BF16};
    for (int di = 0; di < o.n_dims; di++)
        for (int causal = 0; causal <= 1; causal++)
            for (int ti = 0; ti < 2; ti++)
                for (int li = 0; li < o.n_lengths && nc < 500; li++) {
                    bench_case base = {"flash", o.lengths[li], o.dims[di], 0, causal, dtypes[ti], 0, 0, 0, 0, NULL};
                    cases[nc++] = base;
                    if (o.lengths[li] <= o.naive_max) {
                        base.method = "naive";
                        cases[nc++] = base;
                    }
                }
    int window_first = nc;
    if (!o.quick) {
        bench_case w32 = {"flash", 32768, 128, 4096, 1, LC_F32, 0, 0, 0, 0, NULL}, w64 = w32;
        w64.n = 65536;
        cases[nc++] = w32, cases[nc++] = w64;
    } else {
        bench_case w1 = {"flash", 512, 64, 128, 1, LC_F32, 0, 0, 0, 0, NULL}, w2 = w1;
        w2.n = 1024;
        cases[nc++] = w1, cases[nc++] = w2;
    }
    int big_case = -1;
    if (o.big) {
        bench_case b = {"flash", 131072, 128, 0, 1, LC_F32, 0, 0, 0, 0, NULL};
        big_case = nc;
        cases[nc++] = b;
    }

    double t0 = bench_now();
    for (int i = 0; i < nc; i++) {
        char m[32];
        fprintf(stderr, "[%d/%d %.0fs] %s n=%lld d=%lld %s %s\n", i + 1, nc, bench_now() - t0, cases[i].method, (long long)cases[i].n,
                (long long)cases[i].d, mask_name(&cases[i], m, sizeof m), lc_dtype_name(cases[i].dtype));
        run_case(&cases[i], threads, ceiling);
        if (cases[i].skipped) {
            fprintf(stderr, "bench attention: case %d of %d failed; no results are written\n", i + 1, nc);
            return 1;
        }
        print_row(&cases[i]);
    }

    const bench_case *wa = &cases[window_first], *wb = &cases[window_first + 1];
    double growth = wb->seconds / wa->seconds;
    printf("sliding window %lld: time grows %.2fx from n=%lld to n=%lld (linear would be %.2fx)\n", (long long)wa->window, growth,
           (long long)wa->n, (long long)wb->n, (double)wb->n / (double)wa->n);
    if (big_case >= 0) {
        char mem[32];
        printf("n=%lld causal single head: peak extra memory %s above inputs and output\n", (long long)cases[big_case].n,
               bench_bytes_str(cases[big_case].peak_bytes, mem, sizeof mem));
    }

    if (!o.json) return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "attention");
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(lc_isa_best()));
    cJSON_AddNumberToObject(root, "sgemm_gflops", ceiling);
    cJSON_AddStringToObject(root, "openblas_core", bench_blas_core());
    cJSON_AddNumberToObject(root, "window_growth", growth);
    cJSON *arr = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < nc; i++) cJSON_AddItemToArray(arr, case_json(&cases[i]));
    int rc = bench_write_json(root, o.json);
    return rc;
}
