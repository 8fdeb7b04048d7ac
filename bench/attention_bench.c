/* Benchmark of exact attention on the CPU. For each case it counts the useful FLOPs
 * (2 (d_k + d_v) per allowed query-key pair: 4 n^2 d per head for full attention, about
 * half for causal, the active pairs for sliding windows), times the kernel, and reports
 * GFLOP/s, the fractions of two ceilings measured in the same run (OpenBLAS's sgemm with the
 * kernels it picked for this CPU, and the peak of longctx's own micro-kernel on tiles that
 * stay in cache), and the peak resident memory the call added above its inputs and output. The cases are
 * tests/cases/attention_cases.c's (ATTN_BENCH_CPU*); --lengths and --dims replace its grid's. */
#include "attention_bench.h"
#include "args.h"
#include "attention_cases.h"
#include "bench_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bench_case {
    attn_case c;        /* the table's (tests/cases/attention_cases.c) */
    const char *method; /* "flash" or "naive" */
    /* results */
    double seconds, gflops, frac, frac_tile, peak_bytes;
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

/* A [batch, n, heads, d] tensor of normal draws (the bench's seed), or the poisoned output. */
static lc_tensor tensor_of(lc_dtype t, int64_t batch, int64_t n, int64_t heads, int64_t d, uint64_t seed) {
    lc_tensor x = seed ? bench_tensor_random(t, batch * n, heads, d, seed) : bench_tensor_output(t, batch * n, heads, d);
    x.shape[0] = batch, x.shape[1] = n, x.stride[0] = n * heads * d;
    return x;
}

/* Runs one case; repeats short runs and keeps the best time. */
static void run_case(bench_case *b, int threads, double ceiling, double tile_ceiling) {
    const attn_case *c = &b->c;
    lc_tensor q = tensor_of(c->tq, c->batch, c->n_q, c->hq, c->dk, 11);
    lc_tensor k = tensor_of(c->tk, c->batch, c->n_kv, c->hkv, c->dk, 12);
    lc_tensor v = tensor_of(c->tv, c->batch, c->n_kv, c->hkv, c->dv, 13);
    lc_tensor o = tensor_of(c->tout, c->batch, c->n_q, c->hq, c->dv, 0);
    lc_attention a = {0};
    a.q = q, a.k = k, a.v = v, a.out = o, a.threads = threads;
    a.mask = attn_case_mask(c), a.scale = c->scale, a.softcap = c->softcap;
    double flops = 2.0 * (double)(c->dk + c->dv) * (double)lc_attention_active_pairs(&a);

    int is_naive = !strcmp(b->method, "naive");
    /* the workspace is allocated once, as a caller making repeated calls does; the peak is the
     * workspace and what a call adds above it, once warm (runs after the first) */
    const size_t ws_bytes = is_naive ? 0 : lc_attention_flash_workspace_size(&a);
    void *ws = ws_bytes ? lc_aligned_alloc(ws_bytes, 64) : NULL;
    double best = 1e30, total = 0;
    size_t peak = 0;
    for (int rep = 0; rep < 50; rep++) {
        bench_peak_reset();
        size_t base = bench_rss_bytes();
        double t = bench_now();
        lc_status s = is_naive ? lc_attention_naive(&a, 0) : ws_bytes && !ws ? LC_ENOMEM : lc_attention_flash(&a, ws, ws_bytes);
        t = bench_now() - t;
        size_t hwm = bench_peak_rss_bytes();
        if (s != LC_OK) {
            b->skipped = "error";
            fprintf(stderr, "  %s failed: %s\n", b->method, lc_last_error());
            break;
        }
        if (rep >= 1 && hwm > base && hwm - base > peak) peak = hwm - base;
        if (t < best) best = t;
        total += t;
        if (rep >= 1 && (total > 0.5 || (rep >= 2 && total > 0.2))) break; /* at least two runs: the first warms caches */
    }
    if (!b->skipped) {
        b->seconds = best;
        b->gflops = flops / best * 1e-9;
        b->frac = b->gflops / ceiling;
        b->frac_tile = b->gflops / tile_ceiling;
        b->peak_bytes = (double)(peak + ws_bytes);
    }
    lc_aligned_free(ws);
    bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
}

static void print_row(const bench_case *b) {
    const attn_case *c = &b->c;
    char m[32], mem[32];
    if (b->skipped) {
        printf("%-6s %8lld %4lld %-12s %-5s %10s  %s\n", b->method, (long long)c->n_q, (long long)c->dk, attn_case_mask_name(c, m, sizeof m),
               lc_dtype_name(c->tq), "-", b->skipped);
        return;
    }
    printf("%-6s %8lld %4lld %-12s %-5s %10.2f %9.1f %7.1f%% %7.1f%% %12s\n", b->method, (long long)c->n_q, (long long)c->dk,
           attn_case_mask_name(c, m, sizeof m), lc_dtype_name(c->tq), b->seconds * 1e3, b->gflops, 100 * b->frac, 100 * b->frac_tile,
           bench_bytes_str(b->peak_bytes, mem, sizeof mem));
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

/* The lengths and head dims stay empty unless given: then the table's grid runs over them.
 * 0, or ARGS_USAGE (said), or -1 for --help (printed). */
static int parse(int argc, char **argv, bench_opts *o) {
    static const char *cmd = "bench attention";
    o->n_lengths = 0, o->n_dims = 0;
    o->naive_max = 4096;
    o->threads = 0, o->quick = 0, o->big = 1;
    o->json = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return usage(stdout), -1;
        if (!strcmp(arg, "--quick")) {
            o->quick = 1, o->big = 0;
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

static cJSON *case_json(const bench_case *b) {
    const attn_case *c = &b->c;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "method", b->method);
    cJSON_AddNumberToObject(j, "n", (double)c->n_q);
    cJSON_AddNumberToObject(j, "d", (double)c->dk);
    cJSON_AddStringToObject(j, "mask", c->mask == ATTN_SLIDING ? "window" : c->mask == ATTN_CAUSAL ? "causal" : "full");
    if (c->mask == ATTN_SLIDING) cJSON_AddNumberToObject(j, "window", (double)c->window);
    cJSON_AddStringToObject(j, "dtype", lc_dtype_name(c->tq));
    if (b->skipped) {
        cJSON_AddStringToObject(j, "skipped", b->skipped);
        return j;
    }
    cJSON_AddNumberToObject(j, "seconds", b->seconds);
    cJSON_AddNumberToObject(j, "gflops", b->gflops);
    cJSON_AddNumberToObject(j, "fraction_of_sgemm", b->frac);
    cJSON_AddNumberToObject(j, "fraction_of_tile", b->frac_tile);
    cJSON_AddNumberToObject(j, "peak_extra_bytes", b->peak_bytes);
    return j;
}

int lc_bench_attention_main(int argc, char **argv) {
    bench_opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    int threads = lc_threads_resolve(o.threads);

    /* the table's cases (tests/cases/attention_cases.c); naive beside flash up to --naive-max */
    const case_axes axes = {o.lengths, o.n_lengths, o.dims, o.n_dims};
    int n_table;
    attn_case *table = attn_cases_select(ATTN_BENCH_CPU | ATTN_BENCH_CPU_WINDOW | (o.big ? ATTN_BENCH_CPU_BIG : 0), o.quick ? CASE_QUICK : CASE_FULL,
                                         &axes, &n_table);
    bench_case *cases = table ? calloc(2 * (size_t)n_table + 1, sizeof(bench_case)) : NULL;
    if (!cases) {
        free(table);
        fprintf(stderr, "attention bench: out of memory\n");
        return 1;
    }
    int nc = 0, window[2] = {-1, -1}, big_case = -1;
    for (int i = 0; i < n_table; i++) {
        const attn_case *c = &table[i];
        if (c->groups & ATTN_BENCH_CPU_WINDOW) window[window[0] >= 0] = nc;
        if (c->groups & ATTN_BENCH_CPU_BIG) big_case = nc;
        cases[nc++] = (bench_case){.c = *c, .method = "flash"};
        if ((c->groups & ATTN_BENCH_CPU) && c->n_q <= o.naive_max && c->n_kv <= o.naive_max) cases[nc++] = (bench_case){.c = *c, .method = "naive"};
    }
    free(table);

    bench_blas_warn("bench attention");
    fprintf(stderr, "measuring the ceilings on %d threads: OpenBLAS sgemm, longctx's tile product...\n", threads);
    double ceiling = 0, tile_ceiling = 0;
    for (int r = 0; r < (o.quick ? 1 : 3); r++) { /* alternately, best of each */
        ceiling = fmax(ceiling, bench_sgemm_gflops_on(o.quick ? 512 : 2048, 2, threads));
        tile_ceiling = fmax(tile_ceiling, bench_tile_gflops(threads, 5));
    }
    printf("machine: %d threads, vector path %s; ceilings: OpenBLAS %s sgemm %.1f GFLOP/s, longctx tile product %.1f GFLOP/s\n", threads,
           lc_isa_name(lc_isa_best()), bench_blas_core(), ceiling, tile_ceiling);
    printf("%-6s %8s %4s %-12s %-5s %10s %9s %8s %8s %12s\n", "method", "n", "d", "mask", "dtype", "time ms", "GFLOP/s", "of sgemm", "of tile",
           "peak extra");

    double t0 = bench_now();
    for (int i = 0; i < nc; i++) {
        const attn_case *c = &cases[i].c;
        char m[32];
        fprintf(stderr, "[%d/%d %.0fs] %s n=%lld d=%lld %s %s\n", i + 1, nc, bench_now() - t0, cases[i].method, (long long)c->n_q,
                (long long)c->dk, attn_case_mask_name(c, m, sizeof m), lc_dtype_name(c->tq));
        run_case(&cases[i], threads, ceiling, tile_ceiling);
        if (cases[i].skipped) {
            fprintf(stderr, "bench attention: case %d of %d failed; no results are written\n", i + 1, nc);
            free(cases);
            return 1;
        }
        print_row(&cases[i]);
    }

    double growth = NAN; /* measured only with two window cases: otherwise not in the JSON */
    if (window[1] >= 0) {
        const attn_case *wa = &cases[window[0]].c, *wb = &cases[window[1]].c;
        growth = cases[window[1]].seconds / cases[window[0]].seconds;
        printf("sliding window %lld: time grows %.2fx from n=%lld to n=%lld (linear would be %.2fx)\n", (long long)wa->window, growth,
               (long long)wa->n_q, (long long)wb->n_q, (double)wb->n_q / (double)wa->n_q);
    }
    if (big_case >= 0) {
        char mem[32];
        printf("n=%lld causal single head: peak extra memory %s above inputs and output\n", (long long)cases[big_case].c.n_q,
               bench_bytes_str(cases[big_case].peak_bytes, mem, sizeof mem));
    }

    if (!o.json) {
        free(cases);
        return 0;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "attention");
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(lc_isa_best()));
    cJSON_AddNumberToObject(root, "sgemm_gflops", ceiling);
    cJSON_AddNumberToObject(root, "tile_gflops", tile_ceiling);
    cJSON_AddStringToObject(root, "openblas_core", bench_blas_core());
    if (isfinite(growth)) cJSON_AddNumberToObject(root, "window_growth", growth);
    cJSON *arr = cJSON_AddArrayToObject(root, "cases");
    for (int i = 0; i < nc; i++) cJSON_AddItemToArray(arr, case_json(&cases[i]));
    free(cases);
    return bench_write_json(root, o.json);
}
