/* longctx run: a Hugging Face checkpoint on the CPU (include/longctx/model.h). Tokens are
 * streamed to stdout as they are generated; progress, timings, peak memory and the KV
 * cache's bytes (with the wall's prediction for the same plan) go to stderr. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "args.h"
#include "bench_util.h"
#include "commands.h"
#include "longctx.h"

typedef struct run_opts {
    const char *model, *tokens, *prompt, *prompt_file, *logits;
    int64_t n_gen; /* -1: default */
    lc_context_config cfg;
    const char *rope_text;
    lc_sampler sampler;
    int ignore_eos, quiet, ids;
} run_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: longctx run --model DIR (--tokens IDS | --prompt TEXT | --prompt-file FILE) [OPTIONS]\n"
            "  runs a Hugging Face checkpoint (config.json + safetensors) on the CPU with the library's\n"
            "  kernels: llama, mistral, qwen2, gemma2, mamba, mamba2, jamba, deepseek_v2 (docs/models.md).\n"
            "  Generated tokens stream to stdout; timings, peak memory and the KV cache's bytes (with\n"
            "  Mamba states and MLA latents; and the wall's) go to stderr.\n"
            "\n"
            "  --model DIR           checkpoint directory\n"
            "  --tokens IDS          the prompt as token ids: \"1 5 9\" or 1,5,9\n"
            "  --prompt TEXT         the prompt as text, encoded with DIR/tokenizer.json (special tokens added\n"
            "                        as the tokenizer's post-processor says); the generation streams as text\n"
            "  --prompt-file FILE    the prompt as the text of a file\n"
            "  --ids                 stream token ids, not text, for a text prompt\n"
            "  -n N                  tokens to generate (default 128, or 0 with --logits)\n"
            "  --logits FILE         write raw float32 logits [positions fed, vocab] of every position:\n"
            "                        the prompt's, then each generated token fed back\n"
            "  --window W            every attention layer sees at most the last W keys (ring cache)\n"
            "  --sinks S             with a window: the first S tokens stay visible (StreamingLLM)\n"
            "  --retrieval R         with a window: knn:K (each query also attends to the top K keys the\n"
            "                        window evicted, from a kNN memory) or blocks:K[,B] (the top K blocks of\n"
            "                        B keys by mean key; full caches)\n"
            "  --kv-dtype T          KV cache storage: f32 (default) f16 bf16 int8 fp8\n"
            "  --kv-layout L         contiguous (default) or paged\n"
            "  --block-size B        paged: tokens per block (default 16)\n"
            "  --rope-scaling S      override the RoPE scaling: TYPE:FACTOR with TYPE linear, dynamic,\n"
            "                        ntk, yarn or llama3 (over the model's max_position_embeddings), or none\n"
            "  --temperature T       0 (default): greedy\n"
            "  --top-k K             sample among the K most likely (default 0: all)\n"
            "  --top-p P             sample among the most likely tokens of mass P (default 1: all)\n"
            "  --seed S              the sampler's seed (default 0)\n"
            "  --ignore-eos          do not stop at the model's end-of-sequence ids\n"
            "  --max-tokens N        cache room per sequence (default prompt + generated)\n"
            "  --batch N             prompt tokens per forward (default 512)\n"
            "  --threads N           attention and element-wise threads (default: all; OpenBLAS\n"
            "                        follows OPENBLAS_NUM_THREADS / OMP_NUM_THREADS)\n"
            "  --quiet               no tokens on stdout\n"
            "exit status: 0 done; 1 the checkpoint, tokenizer or prompt file cannot be read, or a step\n"
            "failed (an unfinished --logits file is removed); 2 a bad option or value\n");
}

static int fail(const char *what) {
    fprintf(stderr, "longctx run: %s\n", what);
    return 2;
}

/* "1 5 9" or "1,5,9" into a malloc'd array. */
static int parse_ids(const char *text, int32_t **ids, int64_t *n) {
    int64_t cap = 64, k = 0;
    int32_t *a = malloc(sizeof(int32_t) * (size_t)cap);
    const char *p = text;
    while (a) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *e;
        errno = 0;
        long long v = strtoll(p, &e, 10);
        if (e == p || errno || v < 0 || v > INT32_MAX || (*e && *e != ' ' && *e != ',' && *e != '\t' && *e != '\n')) {
            free(a);
            return -1;
        }
        if (k == cap) {
            int32_t *b = realloc(a, sizeof(int32_t) * (size_t)(cap *= 2));
            if (!b) free(a);
            a = b;
            if (!a) break;
        }
        a[k++] = (int32_t)v;
        p = e;
    }
    if (!a || k == 0) {
        free(a);
        return -1;
    }
    *ids = a, *n = k;
    return 0;
}

/* "yarn:4", "linear:2", "none" */
static int parse_rope(const char *text, lc_context_config *c) {
    if (!strcmp(text, "none") || !strcmp(text, "default")) {
        c->rope_override = 1;
        c->rope.type = LC_ROPE_DEFAULT;
        return 0;
    }
    const char *colon = strchr(text, ':');
    if (!colon) return -1;
    static const struct {
        const char *name;
        lc_rope_type type;
    } t[] = {{"linear", LC_ROPE_LINEAR}, {"dynamic", LC_ROPE_DYNAMIC}, {"ntk", LC_ROPE_NTK}, {"yarn", LC_ROPE_YARN}, {"llama3", LC_ROPE_LLAMA3}};
    int found = -1;
    for (int i = 0; i < 5; i++)
        if ((size_t)(colon - text) == strlen(t[i].name) && !strncmp(text, t[i].name, strlen(t[i].name))) found = i;
    double f;
    if (found < 0 || args_f64("longctx run", "--rope-scaling's factor", colon + 1, 1e-6, 1e6, &f)) return -1;
    memset(&c->rope, 0, sizeof c->rope);
    c->rope_override = 1;
    c->rope.type = t[found].type;
    c->rope.factor = f;
    if (t[found].type == LC_ROPE_LLAMA3) c->rope.low_freq_factor = 1, c->rope.high_freq_factor = 4; /* Llama 3.1's */
    return 0;
}

static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_gen = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 1;
        if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (!strcmp(a, "--ids")) { o->ids = 1; continue; }
        if (!v) {
            fprintf(stderr, "longctx run: unknown option or missing value: '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        static const char *cmd = "longctx run";
        int64_t x;
        lc_dtype dt;
        int rc = 0;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokens")) o->tokens = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--prompt-file")) o->prompt_file = v;
        else if (!strcmp(a, "--logits")) o->logits = v;
        else if (!strcmp(a, "-n")) rc = args_i64(cmd, a, v, 0, (int64_t)1 << 30, &o->n_gen);
        else if (!strcmp(a, "--window")) rc = args_count(cmd, a, v, 1, (int64_t)1 << 40, &o->cfg.window);
        else if (!strcmp(a, "--sinks")) rc = args_count(cmd, a, v, 0, (int64_t)1 << 40, &o->cfg.sinks);
        else if (!strcmp(a, "--retrieval")) { if (lc_retrieval_parse(v, &o->cfg.retrieval)) return fail(lc_last_error()); }
        else if (!strcmp(a, "--kv-dtype")) {
            if (lc_dtype_parse(v, &dt) || !(dt == LC_F32 || dt == LC_F16 || dt == LC_BF16 || dt == LC_INT8 || dt == LC_FP8))
                return fail("--kv-dtype must be f32, f16, bf16, int8 or fp8");
            o->cfg.kv_dtype = dt;
        } else if (!strcmp(a, "--kv-layout")) {
            if (!strcmp(v, "contiguous")) o->cfg.kv_layout = LC_KV_CONTIGUOUS;
            else if (!strcmp(v, "paged")) o->cfg.kv_layout = LC_KV_PAGED;
            else return fail("--kv-layout must be contiguous or paged (ring and sinks caches come with --window and --sinks)");
        } else if (!strcmp(a, "--block-size")) { if (!(rc = args_i64(cmd, a, v, 1, 65536, &x))) o->cfg.block_size = (int)x; }
        else if (!strcmp(a, "--rope-scaling")) { if (parse_rope(v, &o->cfg)) return fail("--rope-scaling must be TYPE:FACTOR (linear, dynamic, ntk, yarn, llama3) or none"); o->rope_text = v; }
        else if (!strcmp(a, "--temperature")) rc = args_f64(cmd, a, v, 0, 1e6, &o->sampler.temperature);
        else if (!strcmp(a, "--top-k")) { if (!(rc = args_i64(cmd, a, v, 0, INT32_MAX, &x))) o->sampler.top_k = (int)x; }
        else if (!strcmp(a, "--top-p")) rc = args_f64(cmd, a, v, 0, 1, &o->sampler.top_p);
        else if (!strcmp(a, "--seed")) {
            uint64_t seed;
            if (!(rc = args_u64(cmd, a, v, &seed))) o->sampler.seed = seed;
        } else if (!strcmp(a, "--max-tokens")) rc = args_count(cmd, a, v, 1, (int64_t)1 << 40, &o->cfg.max_tokens);
        else if (!strcmp(a, "--batch")) rc = args_count(cmd, a, v, 1, 1 << 20, &o->cfg.max_batch);
        else if (!strcmp(a, "--threads")) rc = args_threads(cmd, a, v, &o->cfg.threads);
        else {
            fprintf(stderr, "longctx run: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (rc) return rc;
    }
    if (!o->model) return fail("--model DIR is required");
    int sources = !!o->tokens + !!o->prompt + !!o->prompt_file;
    if (sources != 1) return fail("give the prompt once: --tokens, --prompt or --prompt-file");
    if (o->n_gen < 0) o->n_gen = o->logits ? 0 : 128;
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *fmt_bytes(double b, char *buf, size_t n) {
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, u++;
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.2f %s", b, unit[u]);
    return buf;
}

static int runtime_fail(const char *what) {
    fprintf(stderr, "longctx run: %s: %s\n", what, lc_last_error());
    return 1;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *t = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            if (cap >= ((size_t)1 << 30)) { /* a prompt of more than 1 GiB (or /dev/zero): refused, not read into all of memory */
                free(t), fclose(f), errno = EFBIG;
                return NULL;
            }
            char *b = realloc(t, cap = cap ? 2 * cap : 1 << 20);
            if (!b) return free(t), fclose(f), NULL;
            t = b;
        }
        size_t got = fread(t + n, 1, 65536, f);
        n += got;
        if (got < 65536) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) return free(t), NULL;
    t[n] = 0;
    *len = n;
    return t;
}

/* Streams generated text: the ids so far decoded whole, printed past what was printed, held
 * back while the text ends in U+FFFD (a character whose bytes are still coming). */
typedef struct text_stream {
    const lc_tokenizer *tok;
    int32_t *ids;
    int64_t n, cap;
    size_t printed;
} text_stream;

/* 0, or 1 when the text could not be decoded (said on stderr). */
static int stream_token(text_stream *ts, int32_t id, int last) {
    if (ts->n == ts->cap) {
        int64_t cap = ts->cap ? 2 * ts->cap : 256;
        int32_t *b = realloc(ts->ids, sizeof(int32_t) * (size_t)cap);
        if (!b) return fprintf(stderr, "longctx run: out of memory for %lld generated ids\n", (long long)cap), 1;
        ts->ids = b, ts->cap = cap;
    }
    ts->ids[ts->n++] = id;
    char *text = NULL;
    size_t len = 0;
    if (lc_tokenizer_decode_alloc(ts->tok, ts->ids, ts->n, 1, &text, &len)) return runtime_fail("decoding the generated text");
    int partial = len >= 3 && !memcmp(text + len - 3, "\xEF\xBF\xBD", 3);
    if ((!partial || last) && len > ts->printed) {
        fwrite(text + ts->printed, 1, len - ts->printed, stdout);
        fflush(stdout);
        ts->printed = len;
    }
    free(text);
    return 0;
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    int32_t *prompt = NULL;
    int64_t np = 0;
    if (o.tokens && parse_ids(o.tokens, &prompt, &np)) return fail("--tokens must be token ids (non-negative integers) separated by spaces or commas");
    if (lc_sampler_check(&o.sampler)) return free(prompt), fail(lc_last_error());
    bench_blas_warn("longctx run");
    lc_tokenizer *tok = NULL;
    if (!o.tokens) { /* a text prompt: the checkpoint's tokenizer.json */
        size_t len = 0;
        char *text = o.prompt_file ? read_file(o.prompt_file, &len) : NULL;
        if (o.prompt_file && !text) {
            fprintf(stderr, "longctx run: cannot read the prompt file '%s': %s\n", o.prompt_file, strerror(errno));
            return 1;
        }
        if (o.prompt) len = strlen(o.prompt);
        lc_status st = lc_tokenizer_load(o.model, &tok);
        if (!st) st = lc_tokenizer_encode_alloc(tok, o.prompt ? o.prompt : text, len, 1, &prompt, &np);
        free(text);
        if (st) {
            lc_tokenizer_destroy(tok);
            return runtime_fail("cannot encode the prompt");
        }
        if (np == 0) {
            lc_tokenizer_destroy(tok), free(prompt);
            fprintf(stderr, "longctx run: the prompt encodes to no tokens\n");
            return 1;
        }
        fprintf(stderr, "longctx run: prompt of %zu bytes encoded to %lld tokens\n", len, (long long)np);
    }
    text_stream ts = {tok, NULL, 0, 0, 0};

    double t0 = now();
    lc_model *m = NULL;
    if (lc_model_load(o.model, &m)) return free(prompt), lc_tokenizer_destroy(tok), runtime_fail("cannot load the model");
    const lc_model_config *mc = lc_model_config_of(m);
    lc_model_info info;
    lc_model_get_info(m, &info);
    double t_load = now() - t0;
    char b1[32], b2[32], b3[32];
    fprintf(stderr, "longctx run: %s, %lld layers, hidden %lld, %.3g M parameters in %d file%s (%s mapped, %s converted), loaded in %.3f s\n",
            lc_arch_name(mc->arch), (long long)mc->layers, (long long)mc->hidden, info.params / 1e6, info.files, info.files == 1 ? "" : "s",
            fmt_bytes((double)info.mapped_bytes, b1, sizeof b1), fmt_bytes((double)info.copied_bytes, b2, sizeof b2), t_load);

    if (o.cfg.max_tokens == 0) o.cfg.max_tokens = np + (o.n_gen > 0 ? o.n_gen : 0);
    lc_context *ctx = NULL;
    int seq = -1;
    if (lc_context_create(m, &o.cfg, &ctx) || lc_context_seq_new(ctx, &seq)) {
        free(prompt), lc_model_destroy(m), lc_tokenizer_destroy(tok);
        return runtime_fail("cannot create the context");
    }
    char plan[512];
    lc_context_describe(ctx, plan, sizeof plan);
    fprintf(stderr, "longctx run: plan: %s\n", plan);

    const int64_t V = mc->vocab;
    /* with --logits the prompt runs in chunks of --batch tokens, each chunk's logits written
     * before the next: never the whole [prompt, vocab] block in memory */
    const int64_t chunk = o.cfg.max_batch > 0 ? o.cfg.max_batch : 512;
    float *logits = malloc(sizeof(float) * (size_t)V * (size_t)(o.logits ? (np < chunk ? np : chunk) : 1));
    size_t wsb = lc_sample_workspace_size(V);
    void *ws = malloc(wsb);
    FILE *lf = NULL;
    if (o.logits && !(lf = fopen(o.logits, "wb"))) {
        fprintf(stderr, "longctx run: cannot open '%s' for the logits: %s\n", o.logits, strerror(errno));
        rc = 1;
    }
    if (!logits || !ws)
        rc = 1, fprintf(stderr, "longctx run: out of memory for %lld x %lld logits (%.0f bytes) and the sampler's %zu bytes\n",
                        (long long)(o.logits ? (np < chunk ? np : chunk) : 1), (long long)V,
                        4.0 * (double)V * (double)(o.logits ? (np < chunk ? np : chunk) : 1), wsb);
    double t_prompt = 0, t_gen = 0;
    int64_t generated = 0, rows = 0;
    int stopped = 0;
    if (!rc) {
        double a = now();
        int64_t m = 0;
        if (!lf) {
            if (lc_context_prefill(ctx, seq, prompt, np, logits, 0)) rc = runtime_fail("prefill");
        } else {
            for (int64_t done = 0; done < np && !rc; done += m) {
                m = np - done < chunk ? np - done : chunk;
                if (lc_context_prefill(ctx, seq, prompt + done, m, logits, 1)) rc = runtime_fail("prefill");
                else if (fwrite(logits, sizeof(float) * (size_t)V, (size_t)m, lf) != (size_t)m) rc = 1, fprintf(stderr, "longctx run: writing the logits failed\n");
                else rows += m;
            }
        }
        t_prompt = now() - a;
        const float *last = logits + (lf ? (m - 1) * V : 0);
        a = now();
        for (int64_t i = 0; i < o.n_gen && !rc; i++) {
            int32_t t;
            if (lc_sample(&o.sampler, last, V, (uint64_t)i, ws, wsb, &t)) { rc = runtime_fail("sampling"); break; }
            generated++;
            int stop = 0;
            for (int e = 0; e < mc->n_stop && !o.ignore_eos; e++) stop |= t == mc->stop[e];
            if (!o.quiet && tok && !o.ids) {
                if ((rc = stream_token(&ts, t, stop || i + 1 == o.n_gen))) break;
            } else if (!o.quiet) {
                printf(i ? " %d" : "%d", (int)t);
                fflush(stdout);
            }
            if (stop) { stopped = 1; break; }
            if (i + 1 == o.n_gen) break; /* the last token is not fed */
            if (lc_context_decode(ctx, 1, &seq, &t, logits)) { rc = runtime_fail("decode"); break; }
            last = logits;
            if (lf && fwrite(logits, sizeof(float), (size_t)V, lf) != (size_t)V) rc = 1, fprintf(stderr, "longctx run: writing the logits failed\n");
            rows++;
        }
        t_gen = now() - a;
        if (!o.quiet && generated) printf("\n");
    }
    if (lf && fclose(lf) && !rc) rc = 1, fprintf(stderr, "longctx run: closing '%s' failed\n", o.logits);
    if (lf && rc && !remove(o.logits)) fprintf(stderr, "longctx run: removed the unfinished '%s'\n", o.logits);
    if (!rc) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        int64_t n = lc_context_seq_len(ctx, seq);
        size_t kv = lc_context_cache_bytes(ctx, seq);
        lc_cost_problem p;
        lc_technique t;
        lc_cost_row row;
        char wall[160];
        if (!lc_context_cost_problem(ctx, &p, &t) && !lc_cost_eval(&p, t, n, &row))
            snprintf(wall, sizeof wall, "%s the wall's %s", row.cache_bytes == (double)kv ? "=" : "DIFFERS FROM", fmt_bytes(row.cache_bytes, b3, sizeof b3));
        else snprintf(wall, sizeof wall, "the wall: %s", lc_last_error());
        fprintf(stderr, "longctx run: prompt %lld tokens in %.3f s (%.1f tok/s); generated %lld in %.3f s (%.1f tok/s)%s\n", (long long)np,
                t_prompt, t_prompt > 0 ? (double)np / t_prompt : 0.0, (long long)generated, t_gen, t_gen > 0 ? (double)generated / t_gen : 0.0,
                stopped ? ", stopped at an eos id" : "");
        fprintf(stderr, "longctx run: peak RSS %s; KV cache %s for %lld tokens (%s); context allocated %s\n",
                fmt_bytes((double)ru.ru_maxrss * 1024.0, b1, sizeof b1), fmt_bytes((double)kv, b2, sizeof b2), (long long)n, wall,
                fmt_bytes((double)lc_context_alloc_bytes(ctx), b3, sizeof b3));
        if (o.logits) fprintf(stderr, "longctx run: wrote %lld x %lld float32 logits to %s\n", (long long)rows, (long long)V, o.logits);
    }
    free(ws), free(logits), free(prompt), free(ts.ids);
    lc_tokenizer_destroy(tok);
    lc_context_destroy(ctx);
    lc_model_destroy(m);
    return rc;
}
