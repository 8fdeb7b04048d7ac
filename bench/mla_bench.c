/* Benchmark of MLA (DeepSeek-V2 shapes: kv_lora_rank 512, nope 128, rope 64, v 128; 16 of
 * its 128 heads by default) over a cache of n tokens: a prefill of all n tokens in
 * float64 tiles (the default, 1e-6) and with fast_prefill (f32 K, V and lc_attention_flash),
 * and one absorbed decode step in float64 (default) and with fast_decode (f32 sgemm tiles,
 * every head against each tile of latents, split-key across threads). FLOPs: the up-projection 2 n H r (nope + v) plus
 * 2 (d_k + d_v) per causal (query, key) pair and head; decode 2 (r + rope) + 2 r per key
 * and head plus the absorptions. The peers measured in the same run are OpenBLAS dgemm
 * and sgemm on 1024^2 matrices, best of 10 before and after the paths. The f32 path's difference from the float64 one, relative
 * to max |out|, is printed: the fast path's error at these shapes. */
#include "mla_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/mla.h"

static double dgemm_gflops(int n) {
    double *a = malloc(sizeof(double) * (size_t)n * n * 3), best = 1e30;
    if (!a) return 0;
    for (size_t i = 0; i < (size_t)n * n * 3; i++) a[i] = 1.0 / (double)(1 + i % 7);
    for (int r = 0; r < 10; r++) {
        double t = bench_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, a + (size_t)n * n, n, 0.0, a + 2 * (size_t)n * n, n);
        t = bench_now() - t;
        if (t < best) best = t;
    }
    free(a);
    return 2.0 * n * (double)n * n / best / 1e9;
}

/* Seconds of one call of f, or -1 (said on stderr) when it fails. */
static double timed(lc_status (*f)(const lc_mla_attention *), const lc_mla *m, const lc_mla_cache *c, const float *qn, const float *qr, int n_q,
                    float *out) {
    const lc_mla_attention a = {.mla = m, .cache = c, .q_nope = qn, .q_rope = qr, .n_q = n_q, .out = out};
    double t = bench_now();
    if (f(&a)) return fprintf(stderr, "mla bench: %s\n", lc_last_error()), -1;
    return bench_now() - t;
}

static void keep_best(double *best, double t) {
    if (t >= 0 && (*best <= 0 || t < *best)) *best = t;
}

static void usage(FILE *f) {
    fprintf(f, "usage: mla [--tokens N (4096)] [--heads H (16)] [--dtype f32|f16|bf16|int8|fp8] [--threads T] [--reps R (1)]\n"
               "           [--decode-only] [--json FILE]\n"
               "  DeepSeek-V2 MLA shapes: float64 and f32 prefill, float64 and f32 absorbed decode over N tokens\n"
               "  of a latent cache stored in --dtype (default f32);\n"
               "  a table on stdout, JSON to FILE only when --json is given. --tokens in [1, 1M], --heads in\n"
               "  [1, 128], --reps in [1, 100], --threads 0 (all) .. %d. Exit status: 0 done, 1 a step failed\n"
               "  (nothing is written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

int lc_bench_mla_main(int argc, char **argv) {
    static const char *cmd = "bench mla";
    int64_t n = 4096;
    int heads = 16, threads = 0, reps = 1, decode_only = 0, rc = 0;
    lc_dtype dtype = LC_F32;
    const char *json = NULL;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--decode-only")) {
            decode_only = 1;
            continue;
        }
        if (strcmp(a, "--tokens") && strcmp(a, "--heads") && strcmp(a, "--threads") && strcmp(a, "--reps") && strcmp(a, "--json") &&
            strcmp(a, "--dtype")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!v) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--tokens")) rc = args_count(cmd, a, v, 1, (int64_t)1 << 20, &n);
        else if (!strcmp(a, "--heads")) rc = args_int(cmd, a, v, 1, 128, &heads);
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &threads);
        else if (!strcmp(a, "--reps")) rc = args_int(cmd, a, v, 1, 100, &reps);
        else if (!strcmp(a, "--dtype")) {
            if (lc_dtype_parse(v, &dtype) || dtype == LC_INT4) {
                fprintf(stderr, "%s: --dtype '%s' is not f32, f16, bf16, int8 or fp8\n", cmd, v);
                rc = ARGS_USAGE;
            }
        } else json = v;
    }
    if (rc) return rc;
    {
        const double nq = decode_only ? 1 : (double)n; /* latents + rope keys, queries, two outputs, and the float64 prefill's K and V */
        double need = (double)n * (512 + 64) * 4 + nq * heads * (128 + 64 + 2 * 128) * 4 + (decode_only ? 0 : (double)n * heads * (192 + 128) * 8);
        if ((rc = args_fits(cmd, "--tokens and --heads (the latent cache, queries, outputs and the prefill's keys and values)", need))) return rc;
    }
    lc_mla m = {.heads = heads, .rank = 512, .nope = 128, .rope = 64, .v_dim = 128, .threads = threads, .dtype = dtype};
    const int R = m.rank, P = m.rope, N = m.nope, DV = m.v_dim, DK = N + P;
    float *wuk = malloc(sizeof(float) * (size_t)heads * N * R), *wuv = malloc(sizeof(float) * (size_t)heads * DV * R);
    float *lat = malloc(sizeof(float) * (size_t)n * R), *kr = malloc(sizeof(float) * (size_t)n * P);
    const int64_t nq = decode_only ? 1 : n; /* queries: every token for the prefill, else the decode step's */
    float *qn = malloc(sizeof(float) * (size_t)nq * heads * N), *qr = malloc(sizeof(float) * (size_t)nq * heads * P);
    float *o64 = malloc(sizeof(float) * (size_t)nq * heads * DV), *o32 = malloc(sizeof(float) * (size_t)nq * heads * DV);
    float *dec64 = malloc(sizeof(float) * (size_t)heads * DV), *dec32 = malloc(sizeof(float) * (size_t)heads * DV); /* one decode step */
    lc_mla_cache *c = NULL;
    if (!wuk || !wuv || !lat || !kr || !qn || !qr || !o64 || !o32 || !dec64 || !dec32) {
        fprintf(stderr, "mla bench: out of memory for the weights, latents, queries and outputs of %lld tokens\n", (long long)n);
        rc = 1;
        goto done;
    }
    lc_rng_fill_normal(wuk, (size_t)heads * N * R, 1, 0, 0, 1.0f / sqrtf((float)R), 0);
    lc_rng_fill_normal(wuv, (size_t)heads * DV * R, 2, 0, 0, 1.0f / sqrtf((float)R), 0);
    lc_rng_fill_normal(lat, (size_t)n * R, 3, 0, 0, 1, 0);
    lc_rng_fill_normal(kr, (size_t)n * P, 4, 0, 0, 1, 0);
    lc_rng_fill_normal(qn, (size_t)nq * heads * N, 5, 0, 0, 1, 0);
    lc_rng_fill_normal(qr, (size_t)nq * heads * P, 6, 0, 0, 1, 0);
    m.w_uk = wuk, m.w_uv = wuv;
    if (lc_mla_cache_create(&m, n, &c) || lc_mla_cache_append(c, 0, lat, kr, n)) {
        fprintf(stderr, "mla bench: %s\n", lc_last_error());
        rc = 1;
        goto done;
    }

    bench_blas_warn("bench mla");
    fprintf(stderr, "mla bench: peers (dgemm, sgemm 1024)...\n");
    double dpeak = dgemm_gflops(1024), speak = bench_sgemm_gflops(1024, 10);
    const double pairs = (double)n * (double)(n + 1) / 2;
    const double pf_flops = 2.0 * (double)n * heads * R * (N + DV) + pairs * heads * 2.0 * (DK + DV);
    const double dec_flops = (double)n * heads * (2.0 * (R + P) + 2.0 * R) + heads * 2.0 * R * (N + DV);
    /* the paths alternate, so that a shared machine's load falls on both alike */
    double t64 = 0, t32 = 0, tdec = 0, tfdec = 0;
    lc_mla fast = m;
    fast.fast_prefill = 1, fast.fast_decode = 1;
    for (int r = 0; r < reps; r++) {
        fprintf(stderr, "mla bench: rep %d: %sdecode (float64, f32) over %lld tokens\n", r + 1, decode_only ? "" : "float64 prefill, f32 fast prefill, ",
                (long long)n);
        if (!decode_only) {
            keep_best(&t64, timed(lc_mla_prefill, &m, c, qn, qr, (int)n, o64));
            keep_best(&t32, timed(lc_mla_prefill, &fast, c, qn, qr, (int)n, o32));
        }
        const float *qn1 = qn + (size_t)(nq - 1) * heads * N, *qr1 = qr + (size_t)(nq - 1) * heads * P;
        for (int d = 0; d < 3; d++) {
            keep_best(&tdec, timed(lc_mla_decode_alloc, &m, c, qn1, qr1, 1, dec64));
            keep_best(&tfdec, timed(lc_mla_decode_alloc, &fast, c, qn1, qr1, 1, dec32));
        }
    }
    rc = (!decode_only && (t64 <= 0 || t32 <= 0)) || tdec <= 0 || tfdec <= 0;
    if (rc) {
        fprintf(stderr, "mla bench: a step failed; no results are written\n");
        goto done;
    }
    /* the machine may be shared: the peers' best before or after the paths */
    dpeak = fmax(dpeak, dgemm_gflops(1024)), speak = fmax(speak, bench_sgemm_gflops(1024, 10));
    double sc = 0, diff = 0;
    for (size_t i = 0; !decode_only && i < (size_t)n * heads * DV; i++) sc = fmax(sc, fabs(o64[i]));
    for (size_t i = 0; !decode_only && i < (size_t)(n - 1) * heads * DV; i++) diff = fmax(diff, fabs((double)o32[i] - o64[i]));
    diff /= sc > 0 ? sc : 1;
    double dsc = 0, ddiff = 0;
    for (size_t i = 0; i < (size_t)heads * DV; i++) dsc = fmax(dsc, fabs(dec64[i])), ddiff = fmax(ddiff, fabs((double)dec32[i] - dec64[i]));
    ddiff /= dsc > 0 ? dsc : 1;

    printf("MLA, %d heads, rank %d, nope %d, rope %d, v %d, %lld tokens, %s latents, %d threads; peers: dgemm %.1f GFLOP/s, sgemm %.1f GFLOP/s\n", heads, R, N, P, DV,
           (long long)n, lc_dtype_name(dtype), lc_threads_resolve(threads), dpeak, speak);
    printf("%-22s %10s %10s %10s\n", "path", "seconds", "GFLOP/s", "of peer");
    if (!decode_only) {
        printf("%-22s %10.3f %10.1f %9.0f%%\n", "prefill float64", t64, pf_flops / t64 / 1e9, 100 * pf_flops / t64 / 1e9 / dpeak);
        printf("%-22s %10.3f %10.1f %9.0f%%\n", "prefill f32 (fast)", t32, pf_flops / t32 / 1e9, 100 * pf_flops / t32 / 1e9 / speak);
    }
    printf("%-22s %10.6f %10.1f %9.0f%%\n", "decode float64", tdec, dec_flops / tdec / 1e9, 100 * dec_flops / tdec / 1e9 / dpeak);
    printf("%-22s %10.6f %10.1f %9.0f%%\n", "decode f32 (fast)", tfdec, dec_flops / tfdec / 1e9, 100 * dec_flops / tfdec / 1e9 / speak);
    if (!decode_only) printf("f32 fast prefill against float64: max |diff| / max |out| = %.2e; float64 / f32 time = %.2f\n", diff, t64 / t32);
    printf("f32 fast decode against float64:  max |diff| / max |out| = %.2e; float64 / f32 time = %.1f\n", ddiff, tdec / tfdec);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "heads", heads), cJSON_AddNumberToObject(root, "rank", R), cJSON_AddNumberToObject(root, "nope", N);
    cJSON_AddNumberToObject(root, "rope", P), cJSON_AddNumberToObject(root, "v_dim", DV), cJSON_AddNumberToObject(root, "tokens", (double)n);
    cJSON_AddNumberToObject(root, "threads", lc_threads_resolve(threads));
    cJSON_AddStringToObject(root, "dtype", lc_dtype_name(dtype));
    cJSON_AddNumberToObject(root, "dgemm_gflops", dpeak), cJSON_AddNumberToObject(root, "sgemm_gflops", speak);
    if (!decode_only) cJSON_AddNumberToObject(root, "prefill_f64_s", t64), cJSON_AddNumberToObject(root, "prefill_f32_s", t32);
    cJSON_AddNumberToObject(root, "decode_s", tdec);
    cJSON_AddNumberToObject(root, "decode_f32_s", tfdec), cJSON_AddNumberToObject(root, "decode_f32_vs_f64_rel_diff", ddiff);
    cJSON_AddNumberToObject(root, "prefill_flops", pf_flops), cJSON_AddNumberToObject(root, "decode_flops", dec_flops);
    if (!decode_only) cJSON_AddNumberToObject(root, "f32_vs_f64_rel_diff", diff);
    rc = json ? bench_write_json(root, json) : (cJSON_Delete(root), 0);
done:
    free(wuk), free(wuv), free(lat), free(kr), free(qn), free(qr), free(o64), free(o32), free(dec64), free(dec32);
    lc_mla_cache_destroy(c);
    return rc;
}
