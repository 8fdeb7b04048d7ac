/* longctx beside ggml on the CPU. Each row is one shape of a real model, timed here on
 * longctx's kernel (best of several runs), and, when --ggml-bench names a test-backend-ops
 * binary (ggml's own benchmark, built by the user from ggml or llama.cpp: nothing of ggml
 * is part of longctx), the time ggml's perf mode reports for the op of the same shape:
 *
 *   flash prefill   512 queries at the end of n_kv keys, 8 heads, d = 128, f16 K and V, f32
 *                   queries and output, causal (longctx); ggml: FLASH_ATTN_EXT with
 *                   hsk = hsv = 128, nh = 8, nb = 512, kv = n_kv, f16 K / V
 *   mamba2 scan     512 tokens of 48 heads x 64, state 128, one group (lc_ssd_chunked);
 *                   ggml: SSM_SCAN d_state 128, head_dim 64, n_head 48, n_group 1, 512 tokens
 *   mamba2 step     the same layer, one token (lc_ssd_step); ggml: the same with 1 token
 *
 * A shape that the given binary's perf list does not hold reads "-" in ggml's column (its
 * perf cases are fixed in test-backend-ops.cpp: a user adds a shape there). ggml's time is
 * its own mean over its runs, on its default threads. */
#include "cpu_peers_bench.h"
#include "args.h"
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peer_row {
    const char *name;
    const char *ggml_op, *ggml_params; /* test-backend-ops -o and -p (a regex over its parameters) */
    double seconds, mean, ggml_seconds; /* best and mean of longctx's runs; ggml's mean (0: not measured) */
} peer_row;

static float *alloc_normal(size_t n, uint64_t seed, float mean, float sd) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    if (!x) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(1);
    }
    lc_rng_fill_normal(x, n, seed, 0, mean, sd, 0);
    return x;
}

/* The flash prefill: best seconds of reps (*mean: their mean), or -1 on an error (said). */
static double time_prefill(int64_t n_kv, int threads, int reps, double *mean) {
    const int64_t nq = 512, H = 8, d = 128;
    lc_tensor q = bench_tensor_random(LC_F32, nq, H, d, 1), k = bench_tensor_random(LC_F16, n_kv, H, d, 2);
    lc_tensor v = bench_tensor_random(LC_F16, n_kv, H, d, 3), o = bench_tensor_output(LC_F32, nq, H, d);
    lc_attention a = {0};
    a.q = q, a.k = k, a.v = v, a.out = o, a.threads = threads;
    a.mask = lc_mask_causal(), a.mask.q_offset = n_kv - nq;
    const size_t ws = lc_attention_flash_workspace_size(&a);
    void *w = lc_aligned_alloc(ws, 64);
    double best = -1, total = 0;
    for (int r = 0; w && r < reps; r++) {
        double t = bench_now();
        if (lc_attention_flash(&a, w, ws)) {
            fprintf(stderr, "bench peers: flash failed: %s\n", lc_last_error());
            best = -1;
            break;
        }
        t = bench_now() - t;
        if (best < 0 || t < best) best = t;
        total += t;
    }
    *mean = total / reps;
    lc_aligned_free(w);
    bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
    return best;
}

/* The Mamba-2 layer's scan (n tokens, chunked) or step (n = 1): best seconds (*mean: the
 * mean), -1 on error. */
static double time_ssd(int64_t n, int threads, int reps, double *mean) {
    const int64_t H = 48, P = 64, N = 128;
    float *A = alloc_normal((size_t)H, 5, 0, 1);
    for (int64_t i = 0; i < H; i++) A[i] = -expf(A[i]);
    lc_ssd s = {1, n, H, P, 1, N, alloc_normal((size_t)(n * H * P), 1, 0, 1), alloc_normal((size_t)(n * H), 2, -2, 1), NULL, 0, 0, A,
                alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)H, 6, 0, 1),
                alloc_normal((size_t)(n * H * P), 7, 0, 1), calloc((size_t)(H * P * N), sizeof(float)), H * P * N, 0, threads, LC_ISA_AUTO};
    const size_t ws = n > 1 ? lc_ssd_workspace_size(&s) : 0;
    void *w = ws ? malloc(ws) : NULL;
    const int calls = n > 1 ? 1 : 64; /* a step is timed over a batch of calls */
    double best = -1, total = 0;
    for (int r = 0; r < reps && (!ws || w); r++) {
        double t = bench_now();
        for (int c = 0; c < calls; c++) {
            if (n > 1) memset(s.h, 0, sizeof(float) * (size_t)s.h_floats);
            if (n > 1 ? lc_ssd_chunked(&s, w, ws) : lc_ssd_step(&s)) {
                fprintf(stderr, "bench peers: ssd failed: %s\n", lc_last_error());
                r = reps, best = -1;
                break;
            }
        }
        t = (bench_now() - t) / calls;
        if (best < 0 || t < best) best = t;
        total += t;
    }
    *mean = total / reps;
    free(w), free((void *)s.x), free((void *)s.dt), free(A), free((void *)s.B), free((void *)s.C), free((void *)s.D), free(s.y), free(s.h);
    return best;
}

/* ggml's mean time for the first perf case of `op` whose parameters match `params`, in
 * seconds; 0 when the binary has no such case (or did not run). */
static double ggml_time(const char *bin, const char *op, const char *params) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' perf -b CPU -o %s -p '%s' 2>/dev/null", bin, op, params);
    FILE *f = popen(cmd, "r");
    if (!f) return 0;
    char line[4096];
    double us = 0;
    while (fgets(line, sizeof line, f)) {
        const char *u = strstr(line, " us/run");
        if (!u || us > 0 || strncmp(line + strspn(line, " "), op, strlen(op))) continue;
        const char *p = u;
        while (p > line && (p[-1] == ' ' || p[-1] == '.' || (p[-1] >= '0' && p[-1] <= '9'))) p--;
        us = strtod(p, NULL);
    }
    pclose(f);
    return us * 1e-6;
}

static void usage(FILE *f) {
    fprintf(f, "usage: cpu_peers [--ggml-bench PATH] [--threads N] [--reps 10]\n"
               "  longctx's flash prefill (512 queries over 4K and 16K keys, 8 heads, d = 128, f16 K/V) and\n"
               "  Mamba-2 scan (512 tokens) and step (48 heads x 64, state 128), and beside them ggml's\n"
               "  time for the same shapes from PATH, a test-backend-ops binary built from ggml or\n"
               "  llama.cpp (its perf mode). --threads 0 (all) .. %d for longctx. Exit status: 0 done,\n"
               "  1 a case failed, 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

int lc_bench_cpu_peers_main(int argc, char **argv) {
    static const char *cmd = "bench peers";
    const char *ggml = NULL;
    int threads = 0, reps = 10, rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (strcmp(a, "--ggml-bench") && strcmp(a, "--threads") && strcmp(a, "--reps")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!v) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--ggml-bench")) ggml = v;
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &threads);
        else rc = args_int(cmd, a, v, 1, 1000, &reps);
    }
    if (rc) return rc;
    bench_blas_warn(cmd);
    const int nt = lc_threads_resolve(threads);
    peer_row rows[] = {
        {"flash prefill 512 x 4K", "FLASH_ATTN_EXT", "hsk=128,hsv=128,nh=8,nr23=\\[1,1\\],kv=4096,nb=512,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"flash prefill 512 x 16K", "FLASH_ATTN_EXT", "hsk=128,hsv=128,nh=8,nr23=\\[1,1\\],kv=16384,nb=512,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"mamba2 scan 512", "SSM_SCAN", "d_state=128,head_dim=64,n_head=48,n_group=1,n_seq_tokens=512,n_seqs=1", 0, 0, 0},
        {"mamba2 step", "SSM_SCAN", "d_state=128,head_dim=64,n_head=48,n_group=1,n_seq_tokens=1,n_seqs=1", 0, 0, 0},
    };
    const int nr = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < nr; i++) {
        fprintf(stderr, "[%d/%d] %s\n", i + 1, nr, rows[i].name);
        rows[i].seconds = i < 2 ? time_prefill(i ? 16384 : 4096, nt, reps, &rows[i].mean) : time_ssd(i == 2 ? 512 : 1, nt, reps, &rows[i].mean);
        if (rows[i].seconds < 0) return ARGS_FAILED;
        if (ggml) rows[i].ggml_seconds = ggml_time(ggml, rows[i].ggml_op, rows[i].ggml_params);
    }
    printf("machine: %d threads (longctx), vector path %s%s%s\n", nt, lc_isa_name(lc_isa_best()), ggml ? "; ggml: " : "", ggml ? ggml : "");
    printf("%-26s %14s %14s %14s %14s\n", "shape", "longctx best", "longctx mean", "ggml mean", "ggml/longctx");
    for (int i = 0; i < nr; i++) {
        const double s = rows[i].seconds, m = rows[i].mean, g = rows[i].ggml_seconds;
        const int us = s < 1e-3;
        char a[32], am[32], b[32] = "-", c[32] = "-";
        snprintf(a, sizeof a, us ? "%.1f us" : "%.2f ms", us ? s * 1e6 : s * 1e3);
        snprintf(am, sizeof am, us ? "%.1f us" : "%.2f ms", us ? m * 1e6 : m * 1e3);
        if (g > 0) snprintf(b, sizeof b, us ? "%.1f us" : "%.2f ms", us ? g * 1e6 : g * 1e3), snprintf(c, sizeof c, "%.2f", g / m);
        printf("%-26s %14s %14s %14s %14s\n", rows[i].name, a, am, b, c);
    }
    if (ggml)
        printf("(ggml: its perf mode's mean for the case of that shape, \"-\" where the binary's perf list holds no such case;\n"
               " the ratio is of the means. longctx: %d runs (a step: %d batches of 64 calls); its prefill is causal, ggml's\n"
               " FLASH_ATTN_EXT uses the mask its test draws)\n",
               reps, reps);
    return 0;
}
