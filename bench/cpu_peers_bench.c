/* longctx beside ggml on the CPU. Each row is one shape of a real model, timed here on
 * longctx's kernel (best and mean of several runs) and, when --ggml-bench names a
 * test-backend-ops binary (ggml's own benchmark, built by the user from ggml or llama.cpp:
 * nothing of ggml is part of longctx), the mean time ggml's perf mode reports for the op of
 * the same shape. Rows (f32 queries, outputs and states throughout):
 *
 *   prefill  512 queries at the end of n_kv keys, f16 K and V (longctx: lc_attention_flash,
 *            causal; ggml: FLASH_ATTN_EXT, nb = 512, with the mask its test draws)
 *   decode   one token over a cache of n_kv keys, f16 or int8 (lc_decode_attention on an
 *            lc_kv cache; ggml: FLASH_ATTN_EXT, nb = 1, f16 or q8_0)
 *   mamba2   Mamba-2's SSD over 512 tokens (lc_ssd_chunked) or one (lc_ssd_step); ggml:
 *            SSM_SCAN with head_dim > 1
 *   mamba    Mamba's selective scan, 5120 channels, state 16 (lc_selective_scan_f32);
 *            ggml: SSM_SCAN with head_dim 1
 *   weights  a layer's product with bf16 weights, Llama-3-8B's down projection (4096 x
 *            14336), for 1 row (decoding: the weights streamed once) and 512 (a prompt)
 *            (lc_matmul_tiled, x rounded to bf16 as by default; ggml: MUL_MAT, bf16 x f32)
 *
 * Rows marked "stock" are in test-backend-ops' own perf list; the others are the shapes of
 * longctx's comparison table (docs/attention.md, docs/ssm.md), which a user adds to
 * make_test_cases_perf() in tests/test-backend-ops.cpp (--help prints the lines); a shape the
 * binary lacks reads "-" in ggml's column. ggml's time is its own mean, on its default threads. */
#include "cpu_peers_bench.h"
#include "args.h"
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "longctx/decode.h"
#include "longctx/matmul.h"

typedef enum row_kind { PREFILL, DECODE, MAMBA2, MAMBA, WEIGHTS } row_kind;

typedef struct peer_row {
    const char *name;
    row_kind kind;
    int64_t tokens;            /* queries (PREFILL), tokens (MAMBA2, MAMBA; 1: a step), rows of x (WEIGHTS) */
    int64_t n_kv;              /* keys (PREFILL, DECODE) */
    int64_t heads, kv_heads;   /* query and KV heads; MAMBA2: heads; MAMBA: channels; WEIGHTS: n, k */
    int64_t dim, state;        /* head dim (attention, MAMBA2); state (MAMBA2, MAMBA) */
    lc_dtype kv_dtype;         /* PREFILL, DECODE */
    int stock;                 /* in test-backend-ops' own perf list */
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

/* Timed runs of one call: `calls` calls per run (a step is too short to time alone), best
 * and mean per call over reps runs; -1 when a call fails (said). */
typedef lc_status (*call_fn)(void *ctx);
static double time_calls(const char *what, call_fn fn, void *ctx, int calls, int reps, double *mean) {
    double best = -1, total = 0;
    for (int r = 0; r < reps; r++) {
        double t = bench_now();
        for (int c = 0; c < calls; c++)
            if (fn(ctx)) {
                fprintf(stderr, "bench peers: %s failed: %s\n", what, lc_last_error());
                return -1;
            }
        t = (bench_now() - t) / calls;
        if (best < 0 || t < best) best = t;
        total += t;
    }
    *mean = total / reps;
    return best;
}

/* A library call on a descriptor and its workspace, allocated once by the caller. */
typedef struct ws_call {
    lc_status (*fn)(const void *desc, void *ws, size_t bytes);
    const void *desc;
    void *ws;
    size_t bytes;
} ws_call;
static lc_status run_ws_call(void *p) {
    const ws_call *c = p;
    return c->fn(c->desc, c->ws, c->bytes);
}
static lc_status flash_fn(const void *d, void *ws, size_t bytes) { return lc_attention_flash(d, ws, bytes); }
static lc_status decode_fn(const void *d, void *ws, size_t bytes) { return lc_decode_attention(d, ws, bytes); }
static lc_status matmul_fn(const void *d, void *ws, size_t bytes) { return lc_matmul_tiled(d, ws, bytes); }

static double time_prefill(const peer_row *r, int threads, int reps, double *mean) {
    const int64_t nq = r->tokens, d = r->dim;
    lc_tensor q = bench_tensor_random(LC_F32, nq, r->heads, d, 1), k = bench_tensor_random(r->kv_dtype, r->n_kv, r->kv_heads, d, 2);
    lc_tensor v = bench_tensor_random(r->kv_dtype, r->n_kv, r->kv_heads, d, 3), o = bench_tensor_output(LC_F32, nq, r->heads, d);
    lc_attention a;
    memset(&a, 0, sizeof a);
    a.q = q, a.k = k, a.v = v, a.out = o, a.threads = threads;
    a.mask = lc_mask_causal(), a.mask.q_offset = r->n_kv - nq;
    ws_call c = {flash_fn, &a, NULL, lc_attention_flash_workspace_size(&a)};
    c.ws = lc_aligned_alloc(c.bytes, 64);
    const double best = c.ws ? time_calls("flash", run_ws_call, &c, 1, reps, mean) : -1;
    lc_aligned_free(c.ws);
    bench_tensor_free(&q), bench_tensor_free(&k), bench_tensor_free(&v), bench_tensor_free(&o);
    return best;
}

static double time_decode(const peer_row *r, int threads, int reps, double *mean) {
    const int64_t row = r->kv_heads * r->dim, chunk = 2048;
    lc_kv_config cfg = {.layout = LC_KV_CONTIGUOUS, .dtype = r->kv_dtype, .heads_kv = r->kv_heads, .head_dim = r->dim, .max_seqs = 1,
                        .capacity = r->n_kv};
    lc_kv_cache *kc = NULL;
    int seq = 0;
    float *k = alloc_normal((size_t)(chunk * row), 2, 0, 1), *v = alloc_normal((size_t)(chunk * row), 3, 0, 1);
    float *q = alloc_normal((size_t)(r->heads * r->dim), 1, 0, 1), *out = alloc_normal((size_t)(r->heads * r->dim), 4, 0, 1);
    lc_status st = lc_kv_create(&cfg, &kc);
    if (!st) st = lc_kv_seq_new(kc, &seq);
    for (int64_t p = 0; !st && p < r->n_kv; p += chunk) st = lc_kv_append(kc, seq, p, k, v, r->n_kv - p < chunk ? r->n_kv - p : chunk);
    const lc_decode dec = {.cache = kc, .seq = seq, .q = q, .n_q = 1, .heads_q = r->heads, .out = out, .threads = threads};
    ws_call c = {decode_fn, &dec, NULL, 0};
    if (!st) c.bytes = lc_decode_workspace_size(&dec), c.ws = lc_aligned_alloc(c.bytes, 64);
    double best = -1;
    if (st) fprintf(stderr, "bench peers: cache: %s\n", lc_last_error());
    else if (c.ws) best = time_calls("decode", run_ws_call, &c, 16, reps, mean);
    lc_aligned_free(c.ws);
    lc_kv_destroy(kc);
    free(k), free(v), free(q), free(out);
    return best;
}

/* Mamba-2's layer (SSD) and Mamba's (selective scan): a scan starts from a zero state, a step
 * goes on from the last one. */
typedef struct ssm_ctx {
    lc_ssd ssd;
    lc_selective_scan scan;
    void *ws;
    size_t bytes;
} ssm_ctx;
static lc_status ssd_call(void *p) {
    ssm_ctx *c = p;
    if (c->ssd.n == 1) return lc_ssd_step(&c->ssd);
    memset(c->ssd.h, 0, sizeof(float) * (size_t)c->ssd.h_floats);
    return lc_ssd_chunked(&c->ssd, c->ws, c->bytes);
}
static lc_status scan_call(void *p) {
    ssm_ctx *c = p;
    if (c->scan.n > 1) memset(c->scan.h, 0, sizeof(float) * (size_t)c->scan.h_floats);
    return lc_selective_scan_f32(&c->scan);
}

static double time_ssm(const peer_row *r, int threads, int reps, double *mean) {
    const int64_t n = r->tokens, N = r->state;
    ssm_ctx c;
    memset(&c, 0, sizeof c);
    double best = -1;
    if (r->kind == MAMBA2) {
        const int64_t H = r->heads, P = r->dim;
        float *A = alloc_normal((size_t)H, 5, 0, 1);
        for (int64_t i = 0; i < H; i++) A[i] = -expf(A[i]);
        c.ssd = (lc_ssd){1, n, H, P, 1, N, alloc_normal((size_t)(n * H * P), 1, 0, 1), alloc_normal((size_t)(n * H), 2, -2, 1), NULL, 0, 0, A,
                         alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)H, 6, 0, 1),
                         alloc_normal((size_t)(n * H * P), 7, 0, 1), calloc((size_t)(H * P * N), sizeof(float)), H * P * N, 0, threads, LC_ISA_AUTO};
        c.bytes = n > 1 ? lc_ssd_workspace_size(&c.ssd) : 0;
        c.ws = c.bytes ? malloc(c.bytes) : NULL;
        if (!c.bytes || c.ws) best = time_calls("ssd", ssd_call, &c, n > 1 ? 1 : 64, reps, mean);
        free((void *)c.ssd.x), free((void *)c.ssd.dt), free(A), free((void *)c.ssd.B), free((void *)c.ssd.C), free((void *)c.ssd.D);
        free(c.ssd.y), free(c.ssd.h), free(c.ws);
    } else {
        const int64_t E = r->heads;
        float *A = alloc_normal((size_t)(E * N), 5, 0, 1);
        for (int64_t i = 0; i < E * N; i++) A[i] = -expf(A[i]);
        c.scan = (lc_selective_scan){1, n, E, N, alloc_normal((size_t)(n * E), 1, 0, 1), alloc_normal((size_t)(n * E), 2, -2, 1), NULL, A,
                                     alloc_normal((size_t)(n * N), 3, 0, 1), alloc_normal((size_t)(n * N), 4, 0, 1), alloc_normal((size_t)E, 6, 0, 1),
                                     NULL, alloc_normal((size_t)(n * E), 7, 0, 1), calloc((size_t)(E * N), sizeof(float)), E * N, threads, LC_ISA_AUTO};
        best = time_calls("selective scan", scan_call, &c, n > 1 ? 1 : 64, reps, mean);
        free((void *)c.scan.x), free((void *)c.scan.dt), free(A), free((void *)c.scan.B), free((void *)c.scan.C), free((void *)c.scan.D);
        free(c.scan.y), free(c.scan.h);
    }
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

/* y = x W^T with W [n, k] bf16 (random), x [rows, k]. */
static double time_weights(const peer_row *r, int threads, int reps, double *mean) {
    const int64_t rows = r->tokens, n = r->heads, k = r->kv_heads;
    float *x = alloc_normal((size_t)(rows * k), 1, 0, 1), *y = alloc_normal((size_t)(rows * n), 2, 0, 1);
    float *wf = alloc_normal((size_t)(n * k), 3, 0, 0.02f);
    uint16_t *w = malloc(sizeof(uint16_t) * (size_t)(n * k));
    const lc_matmul mm = {.m = rows, .n = n, .k = k, .x = x, .w = w, .w_dtype = LC_BF16, .y = y, .threads = threads};
    ws_call c = {matmul_fn, &mm, NULL, 0};
    double best = -1;
    if (w) {
        for (int64_t i = 0; i < n * k; i++) w[i] = lc_f32_to_bf16(wf[i]);
        c.bytes = lc_matmul_workspace_size(&mm);
        c.ws = c.bytes ? lc_aligned_alloc(c.bytes, 64) : NULL;
        if (!c.bytes || c.ws) best = time_calls("matmul", run_ws_call, &c, rows == 1 ? 8 : 1, reps, mean);
    }
    lc_aligned_free(c.ws);
    free(x), free(y), free(wf), free(w);
    return best;
}

static void usage(FILE *f) {
    fprintf(f, "usage: cpu_peers [--ggml-bench PATH] [--threads N] [--reps 10]\n"
               "  longctx's flash prefill (512 queries), decode (one token over 16K keys, f16 and int8),\n"
               "  Mamba-2 scan (512 tokens) and step, Mamba scan and step, and a product with bf16 weights\n"
               "  (1 and 512 rows) at real models' shapes, and beside them ggml's time for the same shapes\n"
               "  from PATH, a test-backend-ops binary built from ggml or llama.cpp (its perf mode).\n"
               "  --threads 0 (all) .. %d for longctx. Exit status: 0 done, 1 a case failed, 2 a bad option.\n"
               "  Rows not marked stock need these cases in make_test_cases_perf() of ggml's\n"
               "  tests/test-backend-ops.cpp:\n"
               "    test_cases.emplace_back(new test_flash_attn_ext(128, 128, 8, {1, 1}, 4096, 512, true, false, 0, 0, GGML_PREC_F32, GGML_TYPE_F16, GGML_TYPE_F16));\n"
               "    test_cases.emplace_back(new test_flash_attn_ext(128, 128, 8, {1, 1}, 16384, 512, true, false, 0, 0, GGML_PREC_F32, GGML_TYPE_F16, GGML_TYPE_F16));\n"
               "    test_cases.emplace_back(new test_flash_attn_ext(128, 128, 8, {4, 1}, 16384, 1, true, false, 0, 0, GGML_PREC_F32, GGML_TYPE_F16, GGML_TYPE_F16));\n"
               "    test_cases.emplace_back(new test_flash_attn_ext(128, 128, 8, {4, 1}, 16384, 1, true, false, 0, 0, GGML_PREC_F32, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0));\n"
               "    test_cases.emplace_back(new test_ssm_scan(GGML_TYPE_F32, 16, 1, 5120, 1, 512, 1));\n"
               "    test_cases.emplace_back(new test_ssm_scan(GGML_TYPE_F32, 16, 1, 5120, 1, 1, 1));\n",
            ARGS_MAX_THREADS);
}

static void time_str(char *buf, size_t n, double s, int us) { snprintf(buf, n, us ? "%.1f us" : "%.2f ms", us ? s * 1e6 : s * 1e3); }

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
#define FA "FLASH_ATTN_EXT"
    peer_row rows[] = {
        {"prefill 512 x 4K, 8 heads, d 128", PREFILL, 512, 4096, 8, 8, 128, 0, LC_F16, 0, FA, "hsk=128,hsv=128,nh=8,nr23=\\[1,1\\],kv=4096,nb=512,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"prefill 512 x 16K, 8 heads, d 128", PREFILL, 512, 16384, 8, 8, 128, 0, LC_F16, 0, FA, "hsk=128,hsv=128,nh=8,nr23=\\[1,1\\],kv=16384,nb=512,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"prefill 512 x 10000, 32/2 heads, d 256", PREFILL, 512, 10000, 32, 2, 256, 0, LC_F16, 1, FA, "hsk=256,hsv=256,nh=2,nr23=\\[16,1\\],kv=10000,nb=512,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"decode 16K, 32/8 heads, d 128, f16", DECODE, 1, 16384, 32, 8, 128, 0, LC_F16, 0, FA, "hsk=128,hsv=128,nh=8,nr23=\\[4,1\\],kv=16384,nb=1,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"decode 16K, 32/8 heads, d 128, int8 | q8_0", DECODE, 1, 16384, 32, 8, 128, 0, LC_INT8, 0, FA, "hsk=128,hsv=128,nh=8,nr23=\\[4,1\\],kv=16384,nb=1,.*type_K=q8_0,type_V=q8_0", 0, 0, 0},
        {"decode 7680, 64/8 heads, d 64, f16", DECODE, 1, 7680, 64, 8, 64, 0, LC_F16, 1, FA, "hsk=64,hsv=64,nh=8,nr23=\\[8,1\\],kv=7680,nb=1,.*type_K=f16,type_V=f16", 0, 0, 0},
        {"mamba2 scan 512, 48 x 64, state 128", MAMBA2, 512, 0, 48, 0, 64, 128, 0, 1, "SSM_SCAN", "d_state=128,head_dim=64,n_head=48,n_group=1,n_seq_tokens=512,n_seqs=1", 0, 0, 0},
        {"mamba2 step, 48 x 64, state 128", MAMBA2, 1, 0, 48, 0, 64, 128, 0, 1, "SSM_SCAN", "d_state=128,head_dim=64,n_head=48,n_group=1,n_seq_tokens=1,n_seqs=1", 0, 0, 0},
        {"mamba2 scan 512, 128 x 80, state 128", MAMBA2, 512, 0, 128, 0, 80, 128, 0, 1, "SSM_SCAN", "d_state=128,head_dim=80,n_head=128,n_group=1,n_seq_tokens=512,n_seqs=1", 0, 0, 0},
        {"mamba2 step, 128 x 80, state 128", MAMBA2, 1, 0, 128, 0, 80, 128, 0, 1, "SSM_SCAN", "d_state=128,head_dim=80,n_head=128,n_group=1,n_seq_tokens=1,n_seqs=1", 0, 0, 0},
        {"mamba scan 512, 5120, state 16", MAMBA, 512, 0, 5120, 0, 0, 16, 0, 0, "SSM_SCAN", "d_state=16,head_dim=1,n_head=5120,n_group=1,n_seq_tokens=512,n_seqs=1", 0, 0, 0},
        {"mamba step, 5120, state 16", MAMBA, 1, 0, 5120, 0, 0, 16, 0, 0, "SSM_SCAN", "d_state=16,head_dim=1,n_head=5120,n_group=1,n_seq_tokens=1,n_seqs=1", 0, 0, 0},
        {"weights 4096 x 14336 bf16, 1 row", WEIGHTS, 1, 0, 4096, 14336, 0, 0, LC_BF16, 1, "MUL_MAT", "type_a=bf16,type_b=f32,m=4096,n=1,k=14336,", 0, 0, 0},
        {"weights 4096 x 14336 bf16, 512 rows", WEIGHTS, 512, 0, 4096, 14336, 0, 0, LC_BF16, 1, "MUL_MAT", "type_a=bf16,type_b=f32,m=4096,n=512,k=14336,", 0, 0, 0},
    };
#undef FA
    const int nr = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < nr; i++) {
        peer_row *r = &rows[i];
        fprintf(stderr, "[%d/%d] %s\n", i + 1, nr, r->name);
        r->seconds = r->kind == PREFILL   ? time_prefill(r, nt, reps, &r->mean)
                     : r->kind == DECODE  ? time_decode(r, nt, reps, &r->mean)
                     : r->kind == WEIGHTS ? time_weights(r, nt, reps, &r->mean)
                                          : time_ssm(r, nt, reps, &r->mean);
        if (r->seconds < 0) return ARGS_FAILED;
        if (ggml) r->ggml_seconds = ggml_time(ggml, r->ggml_op, r->ggml_params);
    }
    printf("machine: %d threads (longctx), vector path %s%s%s\n", nt, lc_isa_name(lc_isa_best()), ggml ? "; ggml: " : "", ggml ? ggml : "");
    printf("%-44s %5s %12s %12s %12s %12s\n", "shape", "stock", "longctx best", "longctx mean", "ggml mean", "ggml/longctx");
    for (int i = 0; i < nr; i++) {
        const peer_row *r = &rows[i];
        const int us = r->seconds < 1e-3;
        char a[32], am[32], b[32] = "-", c[32] = "-";
        time_str(a, sizeof a, r->seconds, us), time_str(am, sizeof am, r->mean, us);
        if (r->ggml_seconds > 0) time_str(b, sizeof b, r->ggml_seconds, us), snprintf(c, sizeof c, "%.2f", r->ggml_seconds / r->mean);
        printf("%-44s %5s %12s %12s %12s %12s\n", r->name, r->stock ? "yes" : "", a, am, b, c);
    }
    printf("(longctx: %d runs (decode: of 16 calls, a step: of 64 calls, a 1-row product: of 8); its prefill is causal, ggml's FLASH_ATTN_EXT uses the\n"
           " mask its test draws. ggml: its perf mode's mean, \"-\" where the binary's perf list holds no such case; stock: a\n"
           " case of test-backend-ops' own list. The ratio is of the means.)\n",
           reps);
    return 0;
}
