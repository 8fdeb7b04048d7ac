/* longctx report: the quadratic wall, seen on this machine. For growing n it runs one head
 * of causal attention twice: the naive reference, which materialises the n x n score
 * matrix, and the flash kernel, which never does, and prints time and the peak memory
 * each added above its inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "args.h"
#include "commands.h"

typedef struct run_result {
    double seconds;
    size_t peak;
    lc_status status;
} run_result;

static run_result run(lc_attention *a, int naive, size_t naive_limit) {
    run_result r;
    bench_peak_reset();
    size_t base = bench_rss_bytes();
    double t = bench_now();
    r.status = naive ? lc_attention_naive(a, naive_limit) : lc_attention_flash_alloc(a);
    r.seconds = bench_now() - t;
    size_t hwm = bench_peak_rss_bytes();
    r.peak = hwm > base ? hwm - base : 0;
    return r;
}

static void usage(FILE *f) {
    fprintf(f, "usage: longctx report [--lengths 1K,2K,...] [--naive-max N] [--dim D] [--threads N]\n"
               "  one head of causal attention, naive (n x n scores) and flash (tiles), at each length\n"
               "  --lengths L     up to 32 lengths in [1, 1M] (default 1K..64K)\n"
               "  --naive-max N   the naive reference runs up to this length (default 8K; its scores are n^2 doubles)\n"
               "  --dim D         head dimension in [1, 1024] (default 128)\n"
               "  --threads N     0 (default): all processors; at most %d\n",
            ARGS_MAX_THREADS);
}

int cmd_report(int argc, char **argv) {
    static const char *cmd = "longctx report";
    int64_t lengths[32] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
    int n_lengths = 7;
    int64_t naive_max = 8192, d = 128;
    int threads = 0, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (strcmp(a, "--lengths") && strcmp(a, "--naive-max") && strcmp(a, "--dim") && strcmp(a, "--threads")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!val) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--lengths")) rc = args_counts(cmd, a, val, 1, (int64_t)1 << 20, lengths, 32, &n_lengths);
        else if (!strcmp(a, "--naive-max")) rc = args_count(cmd, a, val, 0, (int64_t)1 << 20, &naive_max);
        else if (!strcmp(a, "--dim")) rc = args_i64(cmd, a, val, 1, 1024, &d);
        else rc = args_threads(cmd, a, val, &threads);
    }
    if (rc) return rc;
    /* up front: the largest length's q, k, v, out (and the naive scores where it runs) */
    int64_t n_max = 0, naive_top = 0;
    for (int li = 0; li < n_lengths; li++) {
        if (lengths[li] > n_max) n_max = lengths[li];
        if (lengths[li] <= naive_max && lengths[li] > naive_top) naive_top = lengths[li];
    }
    double need = 5.0 * (double)n_max * (double)d * sizeof(float), scores = (double)naive_top * (double)naive_top * sizeof(double);
    if (scores + 5.0 * (double)naive_top * (double)d * sizeof(float) > need) need = scores + 5.0 * (double)naive_top * (double)d * sizeof(float);
    char what[160];
    snprintf(what, sizeof what, "--lengths up to %lld with --dim %lld and --naive-max %lld (q, k, v, out and the naive n x n scores)",
             (long long)n_max, (long long)d, (long long)naive_max);
    if ((rc = args_fits(cmd, what, need))) return rc;
    printf("longctx %s: one head of causal attention, d=%lld, f32, %d threads, vector path %s\n\n", lc_version(), (long long)d,
           lc_threads_resolve(threads), lc_isa_name(lc_isa_best()));
    printf("%8s | %12s %12s | %12s %12s | %14s\n", "n", "naive time", "naive mem", "flash time", "flash mem", "n x n scores");
    printf("---------+---------------------------+---------------------------+---------------\n");
    for (int li = 0; li < n_lengths; li++) {
        int64_t n = lengths[li];
        fprintf(stderr, "n=%lld...\n", (long long)n);
        lc_tensor q = bench_tensor_random(LC_F32, n, 1, d, 1), k = bench_tensor_random(LC_F32, n, 1, d, 2),
                  v = bench_tensor_random(LC_F32, n, 1, d, 3), o = bench_tensor_output(LC_F32, n, 1, d);
        lc_attention a = {0};
        a.q = q, a.k = k, a.v = v, a.out = o, a.threads = threads, a.mask = lc_mask_causal();
        char b1[32], b2[32], b3[32], naive_t[32] = "skipped", naive_m[32] = "-";
        double scores = (double)n * (double)n * sizeof(double);
        lc_status st = LC_OK;
        if (n <= naive_max) {
            run_result r = run(&a, 1, 0);
            if ((st = r.status) == LC_OK) {
                snprintf(naive_t, sizeof naive_t, "%.3f s", r.seconds);
                snprintf(naive_m, sizeof naive_m, "%s", bench_bytes_str((double)r.peak, b1, sizeof b1));
            }
        }
        run_result f = {0, 0, LC_OK};
        if (!st) st = (f = run(&a, 0, 0)).status;
        if (st) {
            fprintf(stderr, "%s: %s attention at n=%lld failed: %s: %s\n", cmd, f.status ? "flash" : "naive", (long long)n, lc_status_str(st),
                    lc_last_error());
            bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
            return ARGS_FAILED;
        }
        char flash_t[32];
        snprintf(flash_t, sizeof flash_t, "%.3f s", f.seconds);
        printf("%8lld | %12s %12s | %12s %12s | %14s\n", (long long)n, naive_t, naive_m, flash_t,
               bench_bytes_str((double)f.peak, b2, sizeof b2), bench_bytes_str(scores, b3, sizeof b3));
        fflush(stdout);
        bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
    }
    printf("\nnaive memory grows as n^2 (the float64 score matrix); flash memory stays at its tiles.\n"
           "Time grows as n^2 for both: exact attention does n^2 work; `longctx bench attention`\n"
           "shows how close flash runs to this machine's matrix-multiply ceiling.\n");
    return 0;
}
