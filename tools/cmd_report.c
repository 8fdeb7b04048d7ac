/* longctx report: the quadratic wall, seen on this machine. For growing n it runs one head
 * of causal attention twice: the naive reference, which materialises the n x n score
 * matrix, and the flash kernel, which never does, and prints time and the peak memory
 * each added above its inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
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

int cmd_report(int argc, char **argv) {
    int64_t lengths[32] = {1024, 2048, 4096, 8192, 16384, 32768, 65536};
    int n_lengths = 7;
    int64_t naive_max = 8192, d = 128;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--lengths") && val) {
            if ((n_lengths = bench_parse_lengths(val, lengths, 32)) <= 0) return fprintf(stderr, "bad --lengths '%s'\n", val), 2;
            i++;
        } else if (!strcmp(argv[i], "--naive-max") && val) {
            if (bench_parse_lengths(val, &naive_max, 1) != 1) return fprintf(stderr, "bad --naive-max '%s'\n", val), 2;
            i++;
        } else if (!strcmp(argv[i], "--dim") && val) {
            d = atoll(val), i++;
        } else if (!strcmp(argv[i], "--threads") && val) {
            threads = atoi(val), i++;
        } else {
            fprintf(stderr,
                    "usage: longctx report [--lengths 1K,2K,...] [--naive-max N] [--dim D] [--threads N]\n"
                    "  one head of causal attention, naive (n x n scores) and flash (tiles), at each length\n");
            return 2;
        }
    }
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
        if (n <= naive_max) {
            run_result r = run(&a, 1, 0);
            if (r.status == LC_OK) {
                snprintf(naive_t, sizeof naive_t, "%.3f s", r.seconds);
                snprintf(naive_m, sizeof naive_m, "%s", bench_bytes_str((double)r.peak, b1, sizeof b1));
            } else {
                snprintf(naive_t, sizeof naive_t, "%s", lc_status_str(r.status));
            }
        }
        run_result f = run(&a, 0, 0);
        if (f.status != LC_OK) {
            fprintf(stderr, "flash attention failed: %s\n", lc_last_error());
            return 1;
        }
        char flash_t[32];
        snprintf(flash_t, sizeof flash_t, "%.3f s", f.seconds);
        printf("%8lld | %12s %12s | %12s %12s | %14s\n", (long long)n, naive_t, naive_m, flash_t,
               bench_bytes_str((double)f.peak, b2, sizeof b2), bench_bytes_str(scores, b3, sizeof b3));
        fflush(stdout);
        bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
    }
    if (bench_blas_hint()) printf("\n%s.\n", bench_blas_hint());
    printf("\nnaive memory grows as n^2 (the float64 score matrix); flash memory stays at its tiles.\n"
           "Time grows as n^2 for both: exact attention does n^2 work; `longctx bench attention`\n"
           "shows how close flash runs to this machine's matrix-multiply ceiling.\n");
    return 0;
}
