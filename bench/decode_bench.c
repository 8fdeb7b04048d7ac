/* Benchmark of decode attention (one new token, d = 128, 8 KV heads, 32 query heads by
 * default) over long caches. For each case: seconds per decode step, the bytes of cache
 * the step reads (keys, values and scales of every kept token), that as GB/s and as a
 * fraction of the memcpy bandwidth on as many threads as the decode runs (bytes read +
 * written per second, each thread copying its share of a 1 GiB buffer), and
 * GFLOP/s at 4 d FLOPs per query head and key. Dtypes are swept on the contiguous layout,
 * layouts on f16 (--grid: every layout with every dtype); bf16, int8 and fp8
 * twice: the query as lc_decode leaves it by default (rounded where the CPU has the dot
 * product instructions, column "query") and kept in f32 (query_f32 = 1); f32 caches
 * above --max-f32 tokens (default 512K: 4 GiB) are skipped. The last row is llama.cpp's
 * comparison shape (16K f16 cache), next to the 45 GFLOP/s quoted for llama.cpp on it (not
 * measured here).
 * The machine is shared and its bandwidth moves from second to second, so every timed
 * decode step follows a timed copy: the case's fastest step against its fastest copy
 * (%memcpy), and the median over the steps of each one against the copy just before it
 * (paired). The copy also leaves the cache cold for the step, as the rest of a model does
 * between two decode steps of one layer. The cases are tests/cases/decode_cases.c's
 * (DECODE_BENCH_CPU*); --lengths replaces its cache lengths. */
#include "args.h"
#include "bench_util.h"
#include "decode_bench.h"
#include "decode_cases.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/decode.h"

typedef struct dcase {
    decode_case c; /* the table's (tests/cases/decode_cases.c) */
    int rounded;
    double seconds, bytes, gbs, memcpy_gbs, frac, paired, gflops;
} dcase;

static int run_case(dcase *b, int threads, lc_isa isa, const bench_copy *cb) {
    const decode_case *c = &b->c;
    const int hkv = c->heads_kv, hq = c->heads_kv * c->group, d = c->head_dim;
    lc_kv_config cfg = {.layout = c->layout, .dtype = c->dtype, .heads_kv = hkv, .head_dim = d, .max_seqs = 1, .capacity = c->len,
                        .block_size = c->block_size, .num_blocks = (c->len + c->block_size - 1) / c->block_size, .window = c->window,
                        .sinks = c->sinks};
    lc_kv_cache *kc;
    if (lc_kv_create(&cfg, &kc)) {
        fprintf(stderr, "decode bench: %s\n", lc_last_error());
        return 1;
    }
    int seq;
    const int64_t chunk = 2048;
    size_t row = (size_t)hkv * d;
    const size_t qn = (size_t)c->n_q * hq * d;
    float *k = malloc(sizeof(float) * chunk * row), *v = malloc(sizeof(float) * chunk * row);
    float *q = malloc(sizeof(float) * qn), *out = malloc(sizeof(float) * qn);
    lc_status st = !k || !v || !q || !out ? lc_error(LC_ENOMEM, "cannot allocate %zu bytes of keys, values and queries", sizeof(float) * (2 * chunk * row + 2 * qn))
                                          : lc_kv_seq_new(kc, &seq);
    if (!st) {
        lc_rng_fill_normal(k, chunk * row, 1, 0, 0, 1, 0);
        lc_rng_fill_normal(v, chunk * row, 2, 0, 0, 1, 0);
        lc_rng_fill_normal(q, qn, 3, 0, 0, 1, 0);
    }
    for (int64_t p = 0; !st && p < c->len; p += chunk) st = lc_kv_append(kc, seq, p, k, v, c->len - p < chunk ? c->len - p : chunk);
    lc_decode dec = {.cache = kc, .seq = st ? 0 : seq, .q = q, .n_q = c->n_q, .heads_q = hq, .out = out, .split = c->split,
                     .threads = threads, .isa = isa, .query_f32 = c->query_f32};
    size_t wsb = st ? 0 : lc_decode_workspace_size(&dec);
    void *ws = st ? NULL : lc_aligned_alloc(wsb, 64);
    if (!st && !ws) st = LC_ENOMEM; /* lc_aligned_alloc said how many bytes */
    enum { MAX_STEPS = 30 };
    double best = 1e30, total = 0, ratio[MAX_STEPS];
    int reps = 0;
    b->memcpy_gbs = 0;
    if (!st) {
        b->rounded = lc_decode_rounds_query(&dec);
        b->bytes = (double)lc_decode_bytes_read(&dec);
    }
    for (; !st && reps < MAX_STEPS && (reps < 3 || total < 1.0); reps++) {
        const double copy = bench_copy_once(cb, lc_threads_resolve(threads));
        if (copy > b->memcpy_gbs) b->memcpy_gbs = copy;
        double t = bench_now();
        st = lc_decode_attention(&dec, ws, wsb);
        t = bench_now() - t;
        if (st) break;
        total += t;
        if (t < best) best = t;
        ratio[reps] = b->bytes / t / 1e9 / copy;
    }
    if (st) {
        fprintf(stderr, "decode bench: %s %s n=%lld: %s: %s\n", lc_kv_layout_name(c->layout), lc_dtype_name(c->dtype), (long long)c->len,
                lc_status_str(st), lc_last_error());
        lc_aligned_free(ws);
        free(k), free(v), free(q), free(out);
        lc_kv_destroy(kc);
        return 1;
    }
    b->seconds = best;
    b->paired = bench_median(ratio, reps);
    b->gbs = b->bytes / best / 1e9;
    b->frac = b->gbs / b->memcpy_gbs;
    b->gflops = 4.0 * d * (double)hq * c->n_q * (double)lc_kv_seq_kept(kc, seq) / best / 1e9;
    lc_aligned_free(ws);
    free(k), free(v), free(q), free(out);
    lc_kv_destroy(kc);
    return 0;
}

/* Whether a comma-separated list (NULL: everything) names dtype. */
static int wanted(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: decode [--lengths 32K,64K,1M] [--quick] [--threads N] [--isa auto|portable|avx2|avx512]\n"
               "              [--max-f32 512K] [--dtypes f16,int8,...] [--grid] [--json FILE]\n"
               "  one new token, d=128, 8 KV heads, 32 query heads; plus the 16K f16 shape. A table on stdout;\n"
               "  JSON to FILE only when --json is given. Lengths in [16, 64M], --threads 0 (all) .. %d.\n"
               "  Exit status: 0 done, 1 a case failed (nothing is written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

int lc_bench_decode_main(int argc, char **argv) {
    static const char *cmd = "bench decode";
    int64_t lengths[16], max_f32 = 524288;
    int nl = 0, threads = 0, grid = 0, quick = 0, rc = 0;
    lc_isa isa = LC_ISA_AUTO;
    const char *json = NULL, *dtypes = NULL;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--quick")) {
            quick = 1;
            continue;
        }
        if (!strcmp(a, "--grid")) {
            grid = 1;
            continue;
        }
        if (strcmp(a, "--lengths") && strcmp(a, "--threads") && strcmp(a, "--max-f32") && strcmp(a, "--json") && strcmp(a, "--dtypes") &&
            strcmp(a, "--isa")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!v) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--lengths")) rc = args_counts(cmd, a, v, 16, (int64_t)1 << 26, lengths, 16, &nl);
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &threads);
        else if (!strcmp(a, "--max-f32")) rc = args_count(cmd, a, v, 0, (int64_t)1 << 26, &max_f32);
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--dtypes")) {
            dtypes = v;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            int named = 0;
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), named++)
                if (!wanted("f32,f16,bf16,int8,fp8", t)) {
                    fprintf(stderr, "%s: --dtypes must be a comma-separated list of f32, f16, bf16, int8, fp8; got '%s'\n", cmd, t);
                    return ARGS_USAGE;
                }
            if (!named) {
                fprintf(stderr, "%s: --dtypes must name at least one of f32, f16, bf16, int8, fp8\n", cmd);
                return ARGS_USAGE;
            }
        } else if (args_isa(cmd, a, v, &isa)) {
            return ARGS_USAGE;
        }
    }
    if (rc) return rc;
    int64_t n_top = quick ? 16384 : 1048576;
    for (int li = 0; li < nl; li++) n_top = lengths[li] > n_top ? lengths[li] : n_top;
    /* the largest case's cache (f32 up to --max-f32, else 2 bytes; d=128, 8 KV heads) and the 1 GiB copy buffers */
    double per_token = 2.0 * 8 * 128 * (n_top <= max_f32 ? 4 : 2);
    if ((rc = args_fits(cmd, "--lengths (the largest KV cache) with the two 1 GiB copy buffers", per_token * (double)n_top + 2.0 * (1 << 30)))) return rc;
    int th = lc_threads_resolve(threads);
    lc_isa path;
    if (lc_isa_resolve(isa, &path)) {
        fprintf(stderr, "%s: --isa: %s\n", cmd, lc_last_error());
        return ARGS_USAGE;
    }
    /* the table's cases (tests/cases/decode_cases.c), less the dtypes not asked for and the
     * f32 caches above --max-f32 */
    const case_axes axes = {lengths, nl, NULL, 0};
    int n_table;
    decode_case *table = decode_cases_select(DECODE_BENCH_CPU | DECODE_BENCH_CPU_PEER | (grid ? DECODE_BENCH_CPU_GRID : 0),
                                             quick ? CASE_QUICK : CASE_FULL, &axes, &n_table);
    dcase *cases = table ? calloc((size_t)n_table + 1, sizeof(dcase)) : NULL;
    if (!cases) {
        free(table);
        fprintf(stderr, "decode bench: out of memory\n");
        return 1;
    }
    int nc = 0;
    for (int i = 0; i < n_table; i++)
        if (wanted(dtypes, lc_dtype_name(table[i].dtype)) && !(table[i].dtype == LC_F32 && table[i].len > max_f32)) cases[nc++].c = table[i];
    free(table);
    bench_copy cb;
    if (bench_copy_init(&cb, (size_t)1 << 30)) {
        fprintf(stderr, "decode bench: no memory for the copy buffers\n");
        free(cases);
        return 1;
    }
    const decode_case *first = nc ? &cases[0].c : NULL; /* the table's cases share one shape */
    const int d = first ? first->head_dim : 0, hkv = first ? first->heads_kv : 0, hq = first ? first->heads_kv * first->group : 0;
    printf("decode: %d token, d=%d, %d KV heads, %d query heads, %d threads, %s path; %%memcpy: of a %d-thread memcpy, one before each step\n",
           first ? first->n_q : 1, d, hkv, hq, th, lc_isa_name(path), th);
    printf("%-11s %-5s %-7s %9s %10s %12s %8s %8s %7s %7s %8s\n", "layout", "dtype", "query", "tokens", "ms/token", "cache bytes", "GB/s", "memcpy", "%memcpy", "paired", "GFLOP/s");
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "cases");
    cJSON *peak = cJSON_AddNumberToObject(root, "memcpy_gbs", 0); /* the highest of the cases' */
    cJSON_AddNumberToObject(root, "threads", th);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(path));
    cJSON_AddNumberToObject(root, "head_dim", d);
    cJSON_AddNumberToObject(root, "heads_kv", hkv);
    cJSON_AddNumberToObject(root, "heads_q", hq);
    for (int i = 0; i < nc; i++) {
        dcase *b = &cases[i];
        const decode_case *c = &b->c;
        fprintf(stderr, "  %s %s n=%lld ...\n", lc_kv_layout_name(c->layout), lc_dtype_name(c->dtype), (long long)c->len);
        if (run_case(b, threads, isa, &cb)) {
            fprintf(stderr, "%s: case %d of %d failed; no results are written\n", cmd, i + 1, nc);
            cJSON_Delete(root);
            bench_copy_free(&cb);
            free(cases);
            return 1;
        }
        if (b->memcpy_gbs > peak->valuedouble) cJSON_SetNumberValue(peak, b->memcpy_gbs);
        char by[32];
        printf("%-11s %-5s %-7s %9lld %10.3f %12s %8.2f %8.2f %6.0f%% %6.0f%% %8.2f\n", lc_kv_layout_name(c->layout), lc_dtype_name(c->dtype),
               b->rounded ? "rounded" : "f32", (long long)c->len,
               b->seconds * 1e3, bench_bytes_str(b->bytes, by, sizeof by), b->gbs, b->memcpy_gbs, 100 * b->frac, 100 * b->paired, b->gflops);
        fflush(stdout);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "layout", lc_kv_layout_name(c->layout));
        cJSON_AddStringToObject(o, "dtype", lc_dtype_name(c->dtype));
        cJSON_AddStringToObject(o, "query", b->rounded ? "rounded" : "f32");
        cJSON_AddNumberToObject(o, "tokens", (double)c->len);
        cJSON_AddNumberToObject(o, "seconds", b->seconds);
        cJSON_AddNumberToObject(o, "bytes_read", b->bytes);
        cJSON_AddNumberToObject(o, "gbs", b->gbs);
        cJSON_AddNumberToObject(o, "memcpy_gbs", b->memcpy_gbs);
        cJSON_AddNumberToObject(o, "fraction_of_memcpy", b->frac);
        cJSON_AddNumberToObject(o, "paired_fraction", b->paired);
        cJSON_AddNumberToObject(o, "gflops", b->gflops);
        cJSON_AddItemToArray(arr, o);
        if (c->groups & DECODE_BENCH_CPU_PEER) { /* the llama.cpp shape */
            printf("llama.cpp shape (%lldK %s, d=%d, %d KV heads, %d query heads): %.1f GFLOP/s here; llama.cpp ~45 GFLOP/s quoted, not run here\n",
                   (long long)(c->len / 1024), lc_dtype_name(c->dtype), c->head_dim, c->heads_kv, c->heads_kv * c->group, b->gflops);
            cJSON *l = cJSON_AddObjectToObject(root, "llama_cpp_shape");
            cJSON_AddNumberToObject(l, "gflops", b->gflops);
            cJSON_AddNumberToObject(l, "llama_cpp_quoted_gflops", 45);
        }
    }
    bench_copy_free(&cb);
    free(cases);
    if (!json) {
        cJSON_Delete(root);
        return 0;
    }
    return bench_write_json(root, json);
}
