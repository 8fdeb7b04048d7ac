/* Benchmark of a prompt chunk over a paged KV cache: `chunk` new tokens appended to a
 * sequence that already holds `prefix` tokens, then their attention over the prefix and
 * themselves (causal), two ways, alternating in one run:
 *   tiled:   lc_decode_attention, which for many queries runs the flash kernel's tile
 *            products over the cache's spans, reading the pages through the block table;
 *   gather:  the pages widened into one f32 [tokens, heads_kv, d] buffer (as the model
 *            runner's lc_model_gather does), then lc_attention_flash over it.
 * Milliseconds (best of --reps), the ratio tiled / (gather + flash), GFLOP/s at 4 d FLOPs
 * per visible (query head, key) pair, that as a fraction of the flash kernel's tile-product
 * ceiling measured in the same run (bench_tile_gflops), and the bytes of the gather buffer
 * the tiled path does without. Both results are compared; a difference past 1e-4 fails the
 * case. Blocks are handed out from a pool shared with another sequence, appended in turns,
 * so a sequence's pages are not adjacent. */
#include "args.h"
#include "bench_util.h"
#include "prefill_bench.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/decode.h"

typedef struct pcase {
    lc_dtype dtype;
    int64_t prefix;
    double tiled, gather, flash, pair; /* seconds: best of the reps; pair: best gather + flash back to back */
    double gflops, frac, gather_bytes, diff;
} pcase;

typedef struct pshape {
    int heads_kv, heads_q, head_dim, block_size, threads, reps;
    int64_t chunk;
    lc_isa isa;
} pshape;

/* Widens the sequence's kept tokens into gk, gv [tokens, heads_kv, d] f32; returns the tokens. */
static int64_t gather(const lc_kv_cache *kc, int seq, lc_kv_span *sp, int64_t max_spans, float *gk, float *gv) {
    const lc_kv_config *g = lc_kv_config_of(kc);
    const int H = g->heads_kv, D = g->head_dim;
    const size_t es = lc_dtype_size(g->dtype), row = (size_t)H * D * es;
    int64_t n = 0, at = 0;
    if (lc_kv_spans(kc, seq, sp, max_spans, &n)) return -1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < sp[i].n; t++, at++)
            for (int h = 0; h < H; h++) {
                const size_t off = (size_t)t * row + (size_t)h * D * es;
                lc_kv_load_row(gk + (at * H + h) * D, (const uint8_t *)sp[i].k + off, sp[i].k_scale ? sp[i].k_scale[t * H + h] : 0, g->dtype, D);
                lc_kv_load_row(gv + (at * H + h) * D, (const uint8_t *)sp[i].v + off, sp[i].v_scale ? sp[i].v_scale[t * H + h] : 0, g->dtype, D);
            }
    return at;
}

static int run_case(pcase *b, const pshape *s, double ceiling) {
    const int64_t n = b->prefix + s->chunk, M = s->chunk;
    const int H = s->heads_kv, D = s->head_dim, Hq = s->heads_q;
    const size_t row = (size_t)H * D;
    lc_kv_config cfg = {.layout = LC_KV_PAGED, .dtype = b->dtype, .heads_kv = H, .head_dim = D, .max_seqs = 2, .capacity = n, .block_size = s->block_size};
    cfg.num_blocks = 2 * ((n + s->block_size - 1) / s->block_size);
    lc_kv_cache *kc = NULL;
    float *k = malloc(sizeof(float) * (size_t)n * row), *v = malloc(sizeof(float) * (size_t)n * row);
    float *q = malloc(sizeof(float) * (size_t)M * Hq * D), *out = malloc(sizeof(float) * (size_t)M * Hq * D), *ref = malloc(sizeof(float) * (size_t)M * Hq * D);
    float *gk = malloc(sizeof(float) * (size_t)n * row), *gv = malloc(sizeof(float) * (size_t)n * row);
    lc_kv_span *sp = NULL;
    void *dws = NULL, *fws = NULL;
    int seq = 0, other = 0, rc = 1;
    if (!k || !v || !q || !out || !ref || !gk || !gv || lc_kv_create(&cfg, &kc) || lc_kv_seq_new(kc, &seq) || lc_kv_seq_new(kc, &other)) {
        fprintf(stderr, "bench prefill: %s\n", kc ? lc_last_error() : "out of memory");
        goto done;
    }
    lc_rng_fill_normal(k, (size_t)n * row, 1, 0, 0, 1, 0);
    lc_rng_fill_normal(v, (size_t)n * row, 2, 0, 0, 1, 0);
    lc_rng_fill_normal(q, (size_t)M * Hq * D, 3, 0, 0, 1, 0);
    for (int64_t p = 0; p < n; p += 100) { /* in turns with another sequence: scattered pages */
        const int64_t m = n - p < 100 ? n - p : 100;
        if (lc_kv_append(kc, seq, p, k + p * row, v + p * row, m) || lc_kv_append(kc, other, p, v + p * row, k + p * row, m)) {
            fprintf(stderr, "bench prefill: %s\n", lc_last_error());
            goto done;
        }
    }
    const int64_t max_spans = lc_kv_max_spans(kc, seq);
    sp = malloc(sizeof(lc_kv_span) * (size_t)max_spans);
    lc_decode d = {.cache = kc, .seq = seq, .q = q, .n_q = (int)M, .heads_q = Hq, .out = out, .threads = s->threads, .isa = s->isa};
    lc_attention a = {0};
    a.q = lc_tensor_bshd(q, LC_F32, 1, M, Hq, D);
    a.k = lc_tensor_bshd(gk, LC_F32, 1, n, H, D);
    a.v = lc_tensor_bshd(gv, LC_F32, 1, n, H, D);
    a.out = lc_tensor_bshd(ref, LC_F32, 1, M, Hq, D);
    a.mask = lc_mask_causal(), a.mask.q_offset = b->prefix, a.threads = s->threads, a.isa = s->isa;
    const size_t dn = lc_decode_workspace_size(&d), fn = lc_attention_flash_workspace_size(&a);
    dws = dn ? lc_aligned_alloc(dn, 64) : NULL, fws = fn ? lc_aligned_alloc(fn, 64) : NULL;
    if (!sp || !dws || !fws) {
        fprintf(stderr, "bench prefill: %s\n", !dn || !fn ? lc_last_error() : "out of memory");
        goto done;
    }
    b->tiled = b->gather = b->flash = b->pair = INFINITY;
    for (int r = 0; r < s->reps; r++) {
        double t0 = bench_now();
        if (lc_decode_attention(&d, dws, dn)) goto failed;
        double t1 = bench_now();
        if (gather(kc, seq, sp, max_spans, gk, gv) != n) goto failed;
        double t2 = bench_now();
        if (lc_attention_flash(&a, fws, fn)) goto failed;
        double t3 = bench_now();
        b->tiled = fmin(b->tiled, t1 - t0), b->gather = fmin(b->gather, t2 - t1), b->flash = fmin(b->flash, t3 - t2), b->pair = fmin(b->pair, t3 - t1);
    }
    double diff = 0, most = 0;
    for (size_t i = 0; i < (size_t)M * Hq * D; i++) diff = fmax(diff, fabs((double)out[i] - ref[i])), most = fmax(most, fabs(ref[i]));
    b->diff = diff;
    if (!(diff <= 1e-4 * (1 + most))) {
        fprintf(stderr, "bench prefill: %s prefix %lld: tiled and gather + flash differ by %g\n", lc_dtype_name(b->dtype), (long long)b->prefix, diff);
        goto done;
    }
    const double flops = 4.0 * D * Hq * ((double)M * (double)b->prefix + (double)M * (double)(M + 1) / 2);
    b->gflops = flops / b->tiled / 1e9, b->frac = b->gflops / ceiling;
    b->gather_bytes = 2.0 * sizeof(float) * (double)n * (double)row;
    rc = 0;
    goto done;
failed:
    fprintf(stderr, "bench prefill: %s\n", lc_last_error());
done:
    lc_aligned_free(dws), lc_aligned_free(fws);
    free(k), free(v), free(q), free(out), free(ref), free(gk), free(gv), free(sp);
    lc_kv_destroy(kc);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: prefill [--lengths 4K,8K,16K] [--chunk 512] [--dtypes f32,bf16,...] [--block 16] [--threads N]\n"
               "               [--reps 5] [--isa auto|portable|avx2|avx512] [--quick] [--json FILE]\n"
               "  a chunk of new tokens over a paged cache holding --lengths tokens before it, d=128, 8 KV heads,\n"
               "  32 query heads: lc_decode (the tile products over the pages) against gather + lc_attention_flash.\n"
               "  --quick: 1K cached, a chunk of 128, f32 and bf16. A table on stdout; JSON to FILE only with --json.\n"
               "  Exit status: 0 done, 1 a case failed (nothing is written), 2 a bad option.\n");
}

int lc_bench_prefill_main(int argc, char **argv) {
    static const char *cmd = "bench prefill";
    static const lc_dtype all[] = {LC_F32, LC_F16, LC_BF16, LC_INT8, LC_FP8};
    int64_t lengths[16] = {4096, 8192, 16384}, chunk = 512, block = 16, reps = 5;
    int nl = 3, threads = 0, quick = 0, rc = 0, want[5] = {1, 1, 1, 1, 1};
    lc_isa isa = LC_ISA_AUTO;
    const char *json = NULL;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--quick")) {
            quick = 1;
            continue;
        }
        if (strcmp(a, "--lengths") && strcmp(a, "--chunk") && strcmp(a, "--dtypes") && strcmp(a, "--block") && strcmp(a, "--threads") &&
            strcmp(a, "--reps") && strcmp(a, "--isa") && strcmp(a, "--json")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!v) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--lengths")) rc = args_counts(cmd, a, v, 0, (int64_t)1 << 24, lengths, 16, &nl);
        else if (!strcmp(a, "--chunk")) rc = args_count(cmd, a, v, 1, 1 << 16, &chunk);
        else if (!strcmp(a, "--block")) rc = args_count(cmd, a, v, 1, 1 << 16, &block);
        else if (!strcmp(a, "--reps")) rc = args_count(cmd, a, v, 1, 1000, &reps);
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &threads);
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--dtypes")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            memset(want, 0, sizeof want);
            int named = 0;
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), named++) {
                int k = 0;
                while (k < 5 && strcmp(t, lc_dtype_name(all[k]))) k++;
                if (k == 5) {
                    fprintf(stderr, "%s: --dtypes must be a comma-separated list of f32, f16, bf16, int8, fp8; got '%s'\n", cmd, t);
                    return ARGS_USAGE;
                }
                want[k] = 1;
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
    if (quick) nl = 1, lengths[0] = 1024, chunk = 128, want[1] = want[3] = want[4] = 0;
    pshape s = {8, 32, 128, (int)block, threads, (int)reps, chunk, isa};
    int64_t top = 0;
    for (int i = 0; i < nl; i++) top = lengths[i] > top ? lengths[i] : top;
    /* the keys and values drawn, the gather buffer, the cache (f32 at most, two sequences) */
    if ((rc = args_fits(cmd, "--lengths and --chunk (the cache, the drawn keys and the gather buffer)", 8.0 * 4 * 8 * 128 * (double)(top + chunk))))
        return rc;
    lc_isa path;
    if (lc_isa_resolve(isa, &path)) {
        fprintf(stderr, "%s: --isa: %s\n", cmd, lc_last_error());
        return ARGS_USAGE;
    }
    const int th = lc_threads_resolve(threads);
    const double ceiling = bench_tile_gflops(th, 5);
    printf("prefill: a chunk of %lld tokens over a paged cache (blocks of %d), d=%d, %d KV heads, %d query heads, %d threads, %s path;\n"
           "ceiling: the flash tile product on %d threads, %.0f GFLOP/s\n",
           (long long)chunk, s.block_size, s.head_dim, s.heads_kv, s.heads_q, th, lc_isa_name(path), th, ceiling);
    printf("%-5s %8s %10s %10s %10s %14s %8s %8s %7s %10s\n", "dtype", "cached", "tiled ms", "gather ms", "flash ms", "gather+flash", "ratio",
           "GFLOP/s", "%ceil", "no gather");
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "cases");
    cJSON_AddNumberToObject(root, "chunk", (double)chunk);
    cJSON_AddNumberToObject(root, "block_size", s.block_size);
    cJSON_AddNumberToObject(root, "threads", th);
    cJSON_AddStringToObject(root, "isa", lc_isa_name(path));
    cJSON_AddNumberToObject(root, "ceiling_gflops", ceiling);
    for (int di = 0; di < 5; di++)
        for (int li = 0; li < nl && want[di]; li++) {
            pcase b = {.dtype = all[di], .prefix = lengths[li]};
            fprintf(stderr, "  %s, %lld cached ...\n", lc_dtype_name(b.dtype), (long long)b.prefix);
            if (run_case(&b, &s, ceiling)) {
                fprintf(stderr, "%s: a case failed; no results are written\n", cmd);
                cJSON_Delete(root);
                return ARGS_FAILED;
            }
            char by[32];
            printf("%-5s %8lld %10.1f %10.1f %10.1f %14.1f %8.2f %8.1f %6.0f%% %10s\n", lc_dtype_name(b.dtype), (long long)b.prefix, b.tiled * 1e3,
                   b.gather * 1e3, b.flash * 1e3, b.pair * 1e3, b.tiled / b.pair, b.gflops, 100 * b.frac,
                   bench_bytes_str(b.gather_bytes, by, sizeof by));
            fflush(stdout);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "dtype", lc_dtype_name(b.dtype));
            cJSON_AddNumberToObject(o, "cached", (double)b.prefix);
            cJSON_AddNumberToObject(o, "tiled_ms", b.tiled * 1e3);
            cJSON_AddNumberToObject(o, "gather_ms", b.gather * 1e3);
            cJSON_AddNumberToObject(o, "flash_ms", b.flash * 1e3);
            cJSON_AddNumberToObject(o, "gather_flash_ms", b.pair * 1e3);
            cJSON_AddNumberToObject(o, "ratio", b.tiled / b.pair);
            cJSON_AddNumberToObject(o, "gflops", b.gflops);
            cJSON_AddNumberToObject(o, "ceiling_fraction", b.frac);
            cJSON_AddNumberToObject(o, "gather_bytes", b.gather_bytes);
            cJSON_AddNumberToObject(o, "max_diff", b.diff);
            cJSON_AddItemToArray(arr, o);
        }
    if (json) return bench_write_json(root, json) ? ARGS_FAILED : 0;
    cJSON_Delete(root);
    return 0;
}
