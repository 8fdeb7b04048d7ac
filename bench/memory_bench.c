/* Benchmark of memory-augmented attention on the CPU. For each memory size N (tokens of
 * one head, keys and values N(0, 1), d = 64 by default) and each index kind it measures:
 *   build     appending the N tokens, which builds every segment's FAISS index
 *   footprint lc_knn_memory_bytes() and the resident memory the build added
 *   search    lc_knn_memory_search for n_q queries at once, per query
 *   recall@k  |approximate top-k  intersect  exact top-k| / k, against the exact index
 *   knn attn  lc_knn_attention_retrieve: n_q queries, top_k retrieved + a local window
 * and, on the same tokens in the same run, flash attention of the n_q queries over all N
 * keys (the peer a user would otherwise pick) and block retrieval (landmark attention,
 * block means) with its own window. Random Gaussian keys have no cluster structure, the
 * hardest case for an approximate index: recall on real keys is usually higher. */
#include "memory_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct opts {
    int64_t sizes[16];
    int n_sizes;
    int64_t d, n_q, top_k, window, block, top_blocks, segment;
    int threads;
    const char *json;
} opts;

typedef struct row {
    int64_t n;
    const char *what; /* "exact", "hnsw", "ivf", "block", "flash" */
    double build_s, est_bytes, rss_bytes, search_us, recall, attn_ms;
} row;

static const char *kind_name[] = {"exact", "hnsw", "ivf"};

static double best_of(lc_status (*f)(const void *), const void *arg, const char *what) {
    double best = 1e30, total = 0;
    for (int rep = 0; rep < 20 && (rep < 2 || total < 0.5); rep++) {
        double t = bench_now();
        lc_status st = f(arg);
        t = bench_now() - t;
        if (st) {
            fprintf(stderr, "  %s failed: %s\n", what, lc_last_error());
            return -1;
        }
        if (t < best) best = t;
        total += t;
    }
    return best;
}

static lc_status run_knn(const void *a) { return lc_knn_attention_retrieve(a); }
static lc_status run_flash(const void *a) { return lc_attention_flash_alloc(a); }
static lc_status run_block(const void *a) { return lc_block_attention_retrieve_alloc(a); }

typedef struct search_args {
    const lc_knn_memory *m;
    const lc_tensor *q;
    int64_t k, *pos;
    float *score;
} search_args;
static lc_status run_search(const void *p) {
    const search_args *s = p;
    return lc_knn_memory_search(s->m, s->q, s->k, s->pos, s->score);
}

static void print_row(const row *r) {
    char est[32], rss[32];
    if (!strcmp(r->what, "flash") || !strcmp(r->what, "block")) {
        printf("%9lld %-6s %8s %11s %11s %10s %8s %10.2f\n", (long long)r->n, r->what, "-", "-", "-", "-", "-", r->attn_ms);
    } else {
        printf("%9lld %-6s %8.2f %11s %11s %10.1f %8.4f %10.2f\n", (long long)r->n, r->what, r->build_s, bench_bytes_str(r->est_bytes, est, sizeof est),
               bench_bytes_str(r->rss_bytes, rss, sizeof rss), r->search_us, r->recall, r->attn_ms);
    }
    fflush(stdout);
}

static void usage(FILE *f) {
    fprintf(f, "usage: memory [--quick] [--big] [--sizes 64K,256K,1M] [--d 64] [--queries 64] [--top-k 32]\n"
               "              [--segment N] [--threads N] [--json FILE]\n"
               "  kNN memory (exact / HNSW / IVF via FAISS) and block retrieval vs flash attention over the\n"
               "  same tokens; --big adds 2M and 4M tokens (about 6 GiB and several minutes more). A table on\n"
               "  stdout; JSON to FILE only when --json is given. Sizes in [1, 64M], --top-k at most the\n"
               "  smallest size, --threads 0 (all) .. %d. Exit status: 0 done, 1 a step\n"
               "  failed (nothing is written), 2 a bad option.\n",
            ARGS_MAX_THREADS);
}

/* 0, ARGS_USAGE (said), or -1 for --help (printed). */
static int parse(int argc, char **argv, opts *o) {
    static const char *cmd = "bench memory";
    static const int64_t def[] = {65536, 262144, 1048576};
    memcpy(o->sizes, def, sizeof def);
    o->n_sizes = 3;
    o->d = 64, o->n_q = 64, o->top_k = 32, o->window = 512, o->block = 64, o->top_blocks = 16, o->segment = 0, o->threads = 0;
    o->json = NULL;
    int rc = 0, big = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), -1;
        if (!strcmp(a, "--quick")) {
            o->sizes[0] = 16384, o->sizes[1] = 40000, o->n_sizes = 2, o->n_q = 16;
            continue;
        }
        if (!strcmp(a, "--big")) {
            big = 1;
            continue;
        }
        if (strcmp(a, "--sizes") && strcmp(a, "--d") && strcmp(a, "--queries") && strcmp(a, "--top-k") && strcmp(a, "--segment") &&
            strcmp(a, "--threads") && strcmp(a, "--json")) {
            fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
            return usage(stderr), ARGS_USAGE;
        }
        if (!v) return args_missing(cmd, a);
        i++;
        if (!strcmp(a, "--sizes")) rc = args_counts(cmd, a, v, 1, (int64_t)1 << 26, o->sizes, 14, &o->n_sizes);
        else if (!strcmp(a, "--d")) rc = args_i64(cmd, a, v, 1, 4096, &o->d);
        else if (!strcmp(a, "--queries")) rc = args_count(cmd, a, v, 1, 65536, &o->n_q);
        else if (!strcmp(a, "--top-k")) rc = args_count(cmd, a, v, 1, 65536, &o->top_k);
        else if (!strcmp(a, "--segment")) rc = args_count(cmd, a, v, 0, (int64_t)1 << 26, &o->segment);
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &o->threads);
        else o->json = v;
    }
    if (rc) return rc;
    if (big) o->sizes[o->n_sizes++] = 2097152, o->sizes[o->n_sizes++] = 4194304;
    int64_t smallest = o->sizes[0], largest = o->sizes[0];
    for (int i = 1; i < o->n_sizes; i++) {
        smallest = o->sizes[i] < smallest ? o->sizes[i] : smallest;
        largest = o->sizes[i] > largest ? o->sizes[i] : largest;
    }
    if (o->n_q > o->window || o->n_q > smallest) {
        fprintf(stderr, "%s: --queries %lld must be at most %lld, the local window and the smallest size\n", cmd, (long long)o->n_q,
                (long long)(o->window < smallest ? o->window : smallest));
        return ARGS_USAGE;
    }
    if (o->top_k > smallest) {
        fprintf(stderr, "%s: --top-k %lld must be at most %lld, the tokens the smallest memory holds\n", cmd, (long long)o->top_k, (long long)smallest);
        return ARGS_USAGE;
    }
    /* keys and values, the three indexes' copies of the keys, queries, outputs */
    double need = (double)largest * (double)o->d * sizeof(float) * 6 + (double)o->n_q * (double)o->top_k * 24;
    return args_fits(cmd, "--sizes and --d (keys, values and the indexes of the largest memory)", need);
}

/* One memory size: every index kind, then block retrieval and flash over the same keys;
 * the rows' count, or -1 when a step failed (said on stderr). */
static int run_size(const opts *o, int threads, int64_t n, row *rows, int nr) {
    lc_tensor keys = bench_tensor_random(LC_F32, n, 1, o->d, 21), vals = bench_tensor_random(LC_F32, n, 1, o->d, 22);
    lc_tensor q = bench_tensor_random(LC_F32, o->n_q, 1, o->d, 23), out = bench_tensor_output(LC_F32, o->n_q, 1, o->d);
    lc_tensor lk = bench_tensor_random(LC_F32, o->window, 1, o->d, 24), lv = bench_tensor_random(LC_F32, o->window, 1, o->d, 25);
    const size_t nk = (size_t)o->n_q * (size_t)o->top_k;
    int64_t *exact = malloc(nk * sizeof(int64_t)), *pos = malloc(nk * sizeof(int64_t));
    float *score = malloc(nk * sizeof(float)), gate = 0.5f;
    int failed = !exact || !pos || !score;
    if (failed) fprintf(stderr, "  out of memory for %zu search results (%zu bytes)\n", nk, nk * (2 * sizeof(int64_t) + sizeof(float)));

    for (int kind = LC_MEMORY_EXACT; kind <= LC_MEMORY_IVF && !failed; kind++) {
        row *r = &rows[nr++];
        *r = (row){n, kind_name[kind], 0, 0, 0, 0, 0, 0};
        fprintf(stderr, "  N=%lld %s: build...\n", (long long)n, r->what);
        lc_knn_memory_config c = {1, o->d, o->d, n, o->segment, (lc_memory_index)kind, 0, 0, 0, 0, threads};
        lc_knn_memory *m = NULL;
        size_t rss0 = bench_rss_bytes();
        double t = bench_now();
        lc_status st = lc_knn_memory_create(&c, &m);
        for (int64_t p = 0; !st && p < n; p += 65536) { /* append in chunks, as a model would */
            lc_tensor kc = keys, vc = vals;
            kc.shape[1] = vc.shape[1] = p + 65536 < n ? 65536 : n - p;
            kc.data = (float *)keys.data + p * o->d, vc.data = (float *)vals.data + p * o->d;
            kc.capacity = vc.capacity = kc.shape[1] * o->d;
            st = lc_knn_memory_append(m, &kc, &vc);
        }
        r->build_s = bench_now() - t;
        size_t rss1 = bench_rss_bytes();
        if (st) {
            fprintf(stderr, "  %s build failed: %s\n", r->what, lc_last_error());
            lc_knn_memory_destroy(m);
            failed = 1;
            break;
        }
        r->est_bytes = (double)lc_knn_memory_bytes(m);
        r->rss_bytes = rss1 > rss0 ? (double)(rss1 - rss0) : 0;

        search_args sa = {m, &q, o->top_k, kind == LC_MEMORY_EXACT ? exact : pos, score};
        double search = best_of(run_search, &sa, "search");
        lc_knn_attention ka = {0};
        ka.local.q = q, ka.local.k = lk, ka.local.v = lv, ka.local.out = out, ka.local.threads = threads;
        ka.local.mask = lc_mask_causal();
        ka.local.mask.q_offset = o->window - o->n_q;
        ka.memory = m, ka.top_k = o->top_k, ka.gate = &gate;
        double attn = search < 0 ? -1 : best_of(run_knn, &ka, "knn attention");
        lc_knn_memory_destroy(m);
        if (search < 0 || attn < 0) {
            failed = 1;
            break;
        }
        r->search_us = search / (double)o->n_q * 1e6;
        int64_t hit = 0;
        for (int64_t i = 0; i < o->n_q; i++)
            for (int64_t a = 0; a < o->top_k; a++)
                for (int64_t b = 0; b < o->top_k; b++) hit += sa.pos[i * o->top_k + a] >= 0 && sa.pos[i * o->top_k + a] == exact[i * o->top_k + b];
        r->recall = (double)hit / (double)(o->n_q * o->top_k);
        r->attn_ms = attn * 1e3;
        print_row(r);
    }

    if (!failed) {
        row *rb = &rows[nr++], *rf = &rows[nr++];
        *rb = (row){n, "block", 0, 0, 0, 0, 0, 0}, *rf = (row){n, "flash", 0, 0, 0, 0, 0, 0};
        lc_block_attention ba = {0};
        ba.q = q, ba.k = keys, ba.v = vals, ba.out = out, ba.q_offset = n - o->n_q, ba.block = o->block, ba.top_blocks = o->top_blocks;
        ba.window = o->window, ba.sinks = 4, ba.threads = threads;
        fprintf(stderr, "  N=%lld block retrieval and flash...\n", (long long)n);
        double block = best_of(run_block, &ba, "block attention");
        lc_attention fa = {0};
        fa.q = q, fa.k = keys, fa.v = vals, fa.out = out, fa.threads = threads;
        fa.mask = lc_mask_causal(), fa.mask.q_offset = n - o->n_q;
        double flash = block < 0 ? -1 : best_of(run_flash, &fa, "flash");
        if (block < 0 || flash < 0) {
            failed = 1;
        } else {
            rb->attn_ms = block * 1e3, rf->attn_ms = flash * 1e3;
            print_row(rb), print_row(rf);
        }
    }

    bench_tensor_free(&keys), bench_tensor_free(&vals), bench_tensor_free(&q), bench_tensor_free(&out), bench_tensor_free(&lk), bench_tensor_free(&lv);
    free(exact), free(pos), free(score);
    return failed ? -1 : nr;
}

int lc_bench_memory_main(int argc, char **argv) {
    opts o;
    int prc = parse(argc, argv, &o);
    if (prc) return prc < 0 ? 0 : prc;
    int threads = lc_threads_resolve(o.threads);
    bench_blas_warn("bench memory");
    printf("memory benchmark: %d threads, d=%lld, %lld queries, top_k=%lld, local window %lld; block b=%lld, top %lld blocks, 4 sinks\n", threads,
           (long long)o.d, (long long)o.n_q, (long long)o.top_k, (long long)o.window, (long long)o.block, (long long)o.top_blocks);
    printf("%9s %-6s %8s %11s %11s %10s %8s %10s\n", "N", "method", "build s", "footprint", "rss added", "us/query", "recall", "attn ms");
    row rows[16 * 5];
    int nr = 0;
    double t0 = bench_now();
    for (int i = 0; i < o.n_sizes; i++) {
        fprintf(stderr, "[%d/%d %.0fs] N=%lld\n", i + 1, o.n_sizes, bench_now() - t0, (long long)o.sizes[i]);
        if ((nr = run_size(&o, threads, o.sizes[i], rows, nr)) < 0) {
            fprintf(stderr, "bench memory: a step failed at N=%lld; no results are written\n", (long long)o.sizes[i]);
            return 1;
        }
    }

    if (!o.json) return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "benchmark", "memory");
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddNumberToObject(root, "d", (double)o.d);
    cJSON_AddNumberToObject(root, "queries", (double)o.n_q);
    cJSON_AddNumberToObject(root, "top_k", (double)o.top_k);
    cJSON_AddNumberToObject(root, "window", (double)o.window);
    cJSON_AddNumberToObject(root, "block", (double)o.block);
    cJSON_AddNumberToObject(root, "top_blocks", (double)o.top_blocks);
    cJSON *arr = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < nr; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "n", (double)rows[i].n);
        cJSON_AddStringToObject(j, "method", rows[i].what);
        if (strcmp(rows[i].what, "flash") && strcmp(rows[i].what, "block")) {
            cJSON_AddNumberToObject(j, "build_seconds", rows[i].build_s);
            cJSON_AddNumberToObject(j, "footprint_bytes", rows[i].est_bytes);
            cJSON_AddNumberToObject(j, "rss_added_bytes", rows[i].rss_bytes);
            cJSON_AddNumberToObject(j, "search_us_per_query", rows[i].search_us);
            cJSON_AddNumberToObject(j, "recall_at_k", rows[i].recall);
        }
        cJSON_AddNumberToObject(j, "attention_ms", rows[i].attn_ms);
        cJSON_AddItemToArray(arr, j);
    }
    int rc = bench_write_json(root, o.json);
    return rc;
}
