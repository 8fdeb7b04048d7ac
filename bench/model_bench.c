/* Benchmark of the model runner on the CPU: a Llama-shaped checkpoint (by default written
 * here with random bf16 weights, TinyLlama-1.1B's shape: hidden 2048, 22 layers, 32 heads and
 * 4 KV heads of 64, MLP 5632, vocabulary 32000, untied head: 1.10 B parameters), timed in one
 * run against the ceilings the project's performance method names:
 *
 *   prefill: a P-token prompt (512) in one forward; useful FLOPs = 2 x tokens x the layers'
 *     weight elements + the head for the last token + 4 x head_dim per (query head, causal
 *     pair); GFLOP/s against OpenBLAS sgemm (2048^3, all threads), timed just before every
 *     prompt: the best prompt against the best sgemm of the run (fraction) and the median over
 *     prompts of each against the sgemm before it (paired);
 *   decode: G tokens (64) one at a time after the prompt; bytes per token = the weights one
 *     token reads (every matrix, the head, one embedding row; norms) + the KV cache it reads;
 *     tokens/s against the memory ceiling memcpy GB/s / bytes per token, with a copy timed
 *     just before every step (the machine's bandwidth moves from second to second): the best
 *     step against the best copy (fraction) and the median over steps of each step against
 *     the copy before it (paired).
 *
 * Each plan is run for the activations as the context rounds them by default (bf16 for bf16
 * weights on CPUs with AVX512-BF16) and kept f32 (activations_f32). Prefill is the best of
 * --reps prompts. Table on stdout, progress on stderr, JSON with --json FILE. */
#include "model_bench.h"
#include "args.h"
#include "bench_util.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct shape {
    int64_t hidden, layers, heads, kv_heads, head_dim, inter, vocab;
} shape;

static const shape tinyllama = {2048, 22, 32, 4, 64, 5632, 32000};
static const shape quick_shape = {256, 2, 4, 2, 64, 688, 1000};

/* ---- the checkpoint ------------------------------------------------------------------------ */

typedef struct tensor_spec {
    char name[96];
    int64_t d0, d1; /* d1 = 0: a vector */
    int ones;       /* norms: 1 */
} tensor_spec;

static int specs_of(const shape *s, tensor_spec *t) {
    int n = 0;
    const int64_t H = s->hidden, qd = s->heads * s->head_dim, kd = s->kv_heads * s->head_dim, I = s->inter;
    t[n++] = (tensor_spec){"model.embed_tokens.weight", s->vocab, H, 0};
    for (int64_t l = 0; l < s->layers; l++) {
        struct { const char *name; int64_t d0, d1; int ones; } per[] = {
            {"input_layernorm", H, 0, 1}, {"self_attn.q_proj", qd, H, 0}, {"self_attn.k_proj", kd, H, 0}, {"self_attn.v_proj", kd, H, 0},
            {"self_attn.o_proj", H, qd, 0}, {"post_attention_layernorm", H, 0, 1}, {"mlp.gate_proj", I, H, 0}, {"mlp.up_proj", I, H, 0},
            {"mlp.down_proj", H, I, 0}};
        for (size_t i = 0; i < sizeof per / sizeof *per; i++) {
            snprintf(t[n].name, sizeof t[n].name, "model.layers.%lld.%s.weight", (long long)l, per[i].name);
            t[n].d0 = per[i].d0, t[n].d1 = per[i].d1, t[n].ones = per[i].ones;
            n++;
        }
    }
    t[n++] = (tensor_spec){"model.norm.weight", H, 0, 1};
    t[n++] = (tensor_spec){"lm_head.weight", s->vocab, H, 0};
    return n;
}

static int64_t numel(const tensor_spec *t) { return t->d0 * (t->d1 ? t->d1 : 1); }

/* config.json and model.safetensors in dir: matrices of normal(0, 0.02) values tiled from one
 * random block of 4 Mi values (each tensor from its own offset), norms 1. */
static int make_checkpoint(const char *dir, const shape *s, lc_dtype dt) {
    if (mkdir(dir, 0755) && errno != EEXIST) return fprintf(stderr, "model bench: cannot create %s: %s\n", dir, strerror(errno)), 1;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "model bench: cannot write %s\n", path), 1;
    fprintf(f,
            "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": %lld, \"num_hidden_layers\": %lld,\n"
            " \"num_attention_heads\": %lld, \"num_key_value_heads\": %lld, \"head_dim\": %lld, \"intermediate_size\": %lld,\n"
            " \"vocab_size\": %lld, \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
            " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\", \"torch_dtype\": \"%s\"}\n",
            (long long)s->hidden, (long long)s->layers, (long long)s->heads, (long long)s->kv_heads, (long long)s->head_dim,
            (long long)s->inter, (long long)s->vocab, dt == LC_BF16 ? "bfloat16" : dt == LC_F16 ? "float16" : "float32");
    fclose(f);
    tensor_spec *ts = malloc(sizeof *ts * (size_t)(s->layers * 9 + 3));
    const int nt = specs_of(s, ts);
    const size_t es = lc_dtype_size(dt);
    cJSON *hdr = cJSON_CreateObject();
    size_t off = 0;
    for (int i = 0; i < nt; i++) {
        cJSON *e = cJSON_AddObjectToObject(hdr, ts[i].name);
        cJSON_AddStringToObject(e, "dtype", dt == LC_BF16 ? "BF16" : dt == LC_F16 ? "F16" : "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ts[i].d0));
        if (ts[i].d1) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ts[i].d1));
        const size_t b = (size_t)numel(&ts[i]) * es;
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + b)));
        off += b;
    }
    char *text = cJSON_PrintUnformatted(hdr);
    cJSON_Delete(hdr);
    size_t hl = strlen(text), padded = (hl + 8 + 63) / 64 * 64 - 8; /* the data starts 64-byte aligned */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    if (!f) {
        free(text), free(ts);
        return fprintf(stderr, "model bench: cannot write %s\n", path), 1;
    }
    uint64_t le = padded;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(le >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(text, 1, hl, f) == hl;
    for (size_t i = hl; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    free(text);
    enum { BLOCK = 1 << 22 };
    float *fb = malloc(sizeof(float) * BLOCK);
    uint8_t *block = malloc(es * 2 * BLOCK), *ones = malloc(es * (size_t)s->hidden);
    lc_rng_fill_normal(fb, BLOCK, 20250101, 0, 0.0f, 0.02f, 0);
    lc_convert(block, dt, fb, LC_F32, BLOCK);
    memcpy(block + es * BLOCK, block, es * BLOCK); /* doubled: any offset reads BLOCK values in one piece */
    for (int64_t i = 0; i < s->hidden; i++) fb[i] = 1.0f;
    lc_convert(ones, dt, fb, LC_F32, (size_t)s->hidden);
    double written = 0;
    for (int i = 0; i < nt && ok; i++) {
        if (ts[i].ones) {
            ok = fwrite(ones, es, (size_t)ts[i].d0, f) == (size_t)ts[i].d0;
            continue;
        }
        int64_t left = numel(&ts[i]), at = (int64_t)(((uint64_t)i * 2654435761u) % BLOCK);
        while (left > 0 && ok) {
            size_t chunk = (size_t)(left < BLOCK ? left : BLOCK);
            ok = fwrite(block + es * (size_t)at, es, chunk, f) == chunk;
            left -= (int64_t)chunk;
        }
        written += (double)numel(&ts[i]) * (double)es;
        if (i % 36 == 0) fprintf(stderr, "\r  writing %s: %.2f GB", path, written / 1e9);
    }
    ok = (fclose(f) == 0) && ok;
    fprintf(stderr, "\r  wrote %s: %.2f GB%20s\n", path, (double)off / 1e9, "");
    free(fb), free(block), free(ones), free(ts);
    if (!ok) return fprintf(stderr, "model bench: writing %s failed\n", path), 1;
    return 0;
}

/* ---- timing -------------------------------------------------------------------------------- */

typedef struct plan_result {
    int activations_f32, rounds;
    double prefill_s, prefill_tok_s, prefill_gflops, prefill_frac, prefill_paired, sgemm_gflops;
    int decoded;
    double step_s, decode_tok_s, bytes_per_token, kv_bytes_per_token, gbs, memcpy_gbs, ceiling_tok_s, decode_frac, paired;
} plan_result;

static int argmax_token(const float *l, int64_t v) { return (int)lc_argmax(l, v); }

static int run_plan(const lc_model *m, plan_result *r, int64_t prompt, int decode, int reps, int threads, double flops, double weight_bytes,
                    const bench_copy *cb) {
    const lc_model_config *c = lc_model_config_of(m);
    lc_context_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_tokens = prompt + decode + 1, cfg.max_batch = prompt, cfg.threads = threads, cfg.activations_f32 = r->activations_f32;
    lc_context *ctx;
    if (lc_context_create(m, &cfg, &ctx)) return fprintf(stderr, "model bench: %s\n", lc_last_error()), 1;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)prompt);
    float *logits = malloc(sizeof(float) * (size_t)c->vocab);
    for (int64_t i = 0; i < prompt; i++) tok[i] = (int32_t)((i * 7919 + 11) % c->vocab);
    int seq = -1, rc = 0;
    r->prefill_s = 1e30;
    double pratio[64];
    for (int rep = 0; rep < reps && !rc; rep++) {
        if (seq >= 0) lc_context_seq_remove(ctx, seq);
        lc_context_seq_new(ctx, &seq);
        const double g = bench_sgemm_gflops(2048, 2);
        if (g > r->sgemm_gflops) r->sgemm_gflops = g;
        double t = bench_now();
        if (lc_context_prefill(ctx, seq, tok, prompt, logits, 0)) rc = fprintf(stderr, "model bench: prefill: %s\n", lc_last_error());
        t = bench_now() - t;
        fprintf(stderr, "  activations %s: prefill %lld tokens in %.3f s (%.1f GFLOP/s; sgemm just before: %.1f)\n",
                r->activations_f32 ? "f32" : "default", (long long)prompt, t, flops / t / 1e9, g);
        if (t < r->prefill_s) r->prefill_s = t;
        if (rep < 64) pratio[rep] = flops / t / 1e9 / g;
    }
    r->prefill_tok_s = (double)prompt / r->prefill_s;
    r->prefill_gflops = flops / r->prefill_s / 1e9;
    r->prefill_paired = bench_median(pratio, reps < 64 ? reps : 64);
    /* decode after the last prompt: each step after a timed copy */
    enum { MAX_STEPS = 1024 };
    static double ratio[MAX_STEPS];
    double best = 1e30, kv_total = 0;
    r->memcpy_gbs = 0;
    int32_t t = (int32_t)argmax_token(logits, c->vocab);
    const int nt = lc_threads_resolve(threads);
    for (int i = 0; i < decode && i < MAX_STEPS && !rc; i++) {
        const double copy = bench_copy_once(cb, nt);
        if (copy > r->memcpy_gbs) r->memcpy_gbs = copy;
        const double kv = (double)lc_context_cache_bytes(ctx, seq); /* what this step's attention reads (before its own token) */
        double s = bench_now();
        if (lc_context_decode(ctx, 1, &seq, &t, logits)) rc = fprintf(stderr, "model bench: decode: %s\n", lc_last_error());
        s = bench_now() - s;
        t = (int32_t)argmax_token(logits, c->vocab);
        kv_total += kv;
        if (s < best) best = s;
        ratio[i] = (weight_bytes + kv) / s / 1e9 / copy;
        r->decoded = i + 1;
    }
    r->step_s = best;
    r->kv_bytes_per_token = r->decoded ? kv_total / r->decoded : 0;
    r->bytes_per_token = weight_bytes + r->kv_bytes_per_token;
    r->decode_tok_s = 1.0 / best;
    r->gbs = r->bytes_per_token / best / 1e9;
    r->ceiling_tok_s = r->memcpy_gbs * 1e9 / r->bytes_per_token;
    r->decode_frac = r->decode_tok_s / r->ceiling_tok_s;
    r->paired = bench_median(ratio, r->decoded < 64 ? r->decoded : 64);
    fprintf(stderr, "  activations %s: decode %d tokens, best step %.1f ms (%.1f tok/s), memcpy best %.1f GB/s\n", r->activations_f32 ? "f32" : "default",
            r->decoded, best * 1e3, r->decode_tok_s, r->memcpy_gbs);
    free(tok), free(logits);
    lc_context_destroy(ctx);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: model (--make-checkpoint DIR | --model DIR) [--dtype bf16|f16|f32] [--quick] [--prompt 512] [--decode 64]\n"
                    "             [--reps 3] [--threads N] [--plans default,f32] [--json FILE]\n"
                    "  --make-checkpoint DIR  writes a random Llama-shaped checkpoint (TinyLlama-1.1B's shape; --quick: a 5 M one)\n"
                    "                         into DIR (config.json, model.safetensors; weights in --dtype, default bf16), then runs it\n"
                    "  --model DIR            runs an existing llama-family checkpoint\n"
                    "  --plans                default: activations as the context rounds them; f32: activations_f32 = 1\n");
    return 2;
}

int lc_bench_model_main(int argc, char **argv) {
    const char *make = NULL, *dir = NULL, *json = NULL, *plans = "default,f32";
    lc_dtype dt = LC_BF16;
    int64_t prompt = 512;
    int decode = 64, reps = 3, threads = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--make-checkpoint") && v) make = dir = v, i++;
        else if (!strcmp(a, "--model") && v) dir = v, i++;
        else if (!strcmp(a, "--dtype") && v) {
            if (lc_dtype_parse(v, &dt) || !lc_dtype_is_float(dt)) return fprintf(stderr, "model bench: --dtype %s: bf16, f16 or f32\n", v), 2;
            i++;
        } else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--prompt") && v) {
            if (args_i64("model bench", a, v, 1, 8192, &prompt)) return 2;
            i++;
        } else if (!strcmp(a, "--decode") && v) {
            if (args_int("model bench", a, v, 0, 1024, &decode)) return 2;
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            if (args_int("model bench", a, v, 1, 1000, &reps)) return 2;
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            if (args_threads("model bench", a, v, &threads)) return 2;
            i++;
        }
        else if (!strcmp(a, "--plans") && v) plans = v, i++;
        else if (!strcmp(a, "--json") && v) json = v, i++;
        else return usage();
    }
    if (!dir || prompt < 1 || prompt > 8192 || decode < 0 || decode > 1024 || reps < 1 || threads < 0) return usage();
    if (quick) prompt = prompt > 64 ? 64 : prompt, decode = decode > 8 ? 8 : decode, reps = 1;
    if (make) {
        const shape *s = quick ? &quick_shape : &tinyllama;
        fprintf(stderr, "model bench: writing a random %s checkpoint into %s\n", lc_dtype_name(dt), make);
        if (make_checkpoint(make, s, dt)) return 1;
    }
    lc_model *m;
    double t = bench_now();
    if (lc_model_load(dir, &m)) return fprintf(stderr, "model bench: %s\n", lc_last_error()), 1;
    fprintf(stderr, "model bench: loaded %s in %.2f s\n", dir, bench_now() - t);
    const lc_model_config *c = lc_model_config_of(m);
    lc_model_info info;
    lc_model_get_info(m, &info);
    if (c->arch != LC_ARCH_LLAMA && c->arch != LC_ARCH_MISTRAL && c->arch != LC_ARCH_QWEN2 && c->arch != LC_ARCH_GEMMA2) {
        lc_model_destroy(m);
        return fprintf(stderr, "model bench: %s is not of the llama family\n", dir), 2;
    }
    /* the weights one decoded token reads: all but the embedding table (one row of it) */
    lc_safetensors *st;
    lc_dtype edt = LC_F32;
    if (!lc_safetensors_open(dir, &st)) {
        const lc_st_tensor *e = lc_safetensors_find(st, "model.embed_tokens.weight");
        if (e) edt = e->dtype;
        lc_safetensors_destroy(st);
    }
    const int64_t H = c->hidden, V = c->vocab, L = c->layers, D = c->head_dim, Hq = c->heads, Hkv = c->kv_heads, I = c->intermediate;
    const double embed_bytes = (double)V * H * (double)lc_dtype_size(edt);
    const double weight_bytes = (double)info.weight_bytes - (c->tie_embeddings ? 0 : embed_bytes - (double)H * (double)lc_dtype_size(edt));
    const double layer_params = (double)L * ((double)H * (Hq + 2 * Hkv) * D + (double)Hq * D * H + 3.0 * H * I);
    const double flops = 2.0 * (double)prompt * layer_params + 2.0 * H * V + 4.0 * L * Hq * D * ((double)prompt * (prompt + 1) / 2);
    const int nt = lc_threads_resolve(threads);
    lc_matmul probe = {.m = 1, .n = 1, .k = 1, .w_dtype = LC_BF16};
    const int bf16_dot = lc_matmul_rounds_x(&probe);
    char b1[32], b2[32];
    fprintf(stderr, "model bench: %.3f B parameters, weights %s (%s per decoded token), %s mapped, %s copied at load\n", info.params / 1e9,
            bench_bytes_str((double)info.weight_bytes, b1, sizeof b1), bench_bytes_str(weight_bytes, b2, sizeof b2),
            bench_bytes_str((double)info.mapped_bytes, (char[32]){0}, 32), bench_bytes_str((double)info.copied_bytes, (char[32]){0}, 32));

    /* ceilings */
    fprintf(stderr, "model bench: sgemm ceiling (2048^3, OpenBLAS's threads) ...\n");
    double sgemm = bench_sgemm_gflops(2048, 3);
    const char *core = bench_blas_core();
    fprintf(stderr, "model bench: sgemm %.1f GFLOP/s with OpenBLAS's %s kernels (measured again before every prompt)\n", sgemm, core);
    bench_blas_warn("model bench");
    bench_copy cb;
    if (bench_copy_init(&cb, (size_t)512 << 20)) {
        lc_model_destroy(m);
        return fprintf(stderr, "model bench: no memory for the copy buffers\n"), 1;
    }

    plan_result res[2];
    int nr = 0, rc = 0;
    for (int p = 0; p < 2 && !rc; p++) {
        if (!strstr(plans, p ? "f32" : "default")) continue;
        memset(&res[nr], 0, sizeof res[nr]);
        res[nr].activations_f32 = p;
        res[nr].rounds = !p && bf16_dot;
        fprintf(stderr, "model bench: plan %d: activations %s\n", nr + 1, p ? "f32" : "default");
        rc = run_plan(m, &res[nr], prompt, decode, reps, threads, flops, weight_bytes, &cb);
        if (res[nr].sgemm_gflops > sgemm) sgemm = res[nr].sgemm_gflops;
        nr++;
    }
    for (int i = 0; i < nr; i++) res[i].prefill_frac = res[i].prefill_gflops / sgemm; /* against the run's best sgemm */
    const size_t peak = bench_peak_rss_bytes();

    printf("model: %s, %.3f B parameters (hidden %lld, %lld layers, %lld heads / %lld KV heads of %lld, MLP %lld, vocab %lld), weights %s as stored;"
           " %d threads, %s path%s; peak RSS %s\n",
           c->model_type, info.params / 1e9, (long long)H, (long long)L, (long long)Hq, (long long)Hkv, (long long)D, (long long)I, (long long)V,
           bench_bytes_str((double)info.weight_bytes, b1, sizeof b1), nt, lc_isa_name(lc_isa_best()), bf16_dot ? " with AVX512-BF16" : "",
           bench_bytes_str((double)peak, b2, sizeof b2));
    printf("ceilings: OpenBLAS sgemm %.1f GFLOP/s (%s kernels, the best of the run: one before every prompt); memcpy the best of the copies before"
           " each decode step\n", sgemm, core);
    printf("%-12s %-8s %7s %9s %9s %9s %10s %9s %8s %8s\n", "activations", "phase", "tokens", "tok/s", "GFLOP/s", "GB/s", "ceiling", "ceil tok/s",
           "fraction", "paired");
    for (int i = 0; i < nr; i++) {
        const plan_result *r = &res[i];
        const char *act = r->activations_f32 ? "f32" : r->rounds ? "bf16" : "f32 (dflt)";
        char sg[32];
        snprintf(sg, sizeof sg, "%.0f GF/s", sgemm);
        printf("%-12s %-8s %7lld %9.1f %9.1f %9s %10s %9s %7.0f%% %7.0f%%\n", act, "prefill", (long long)prompt, r->prefill_tok_s, r->prefill_gflops, "-",
               sg, "-", 100 * r->prefill_frac, 100 * r->prefill_paired);
        char ceil[32];
        snprintf(ceil, sizeof ceil, "%.1f GB/s", r->memcpy_gbs);
        printf("%-12s %-8s %7d %9.2f %9s %9.1f %10s %9.2f %7.0f%% %7.0f%%\n", act, "decode", r->decoded, r->decode_tok_s, "-", r->gbs, ceil,
               r->ceiling_tok_s, 100 * r->decode_frac, 100 * r->paired);
    }
    printf("decode bytes per token: %.1f MB of weights + %.1f MB of KV cache (mean)\n", weight_bytes / 1e6, nr ? res[0].kv_bytes_per_token / 1e6 : 0);
    fflush(stdout);
    bench_copy_free(&cb);

    if (json && !rc) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model_type", c->model_type);
        cJSON_AddNumberToObject(root, "params", info.params);
        cJSON_AddNumberToObject(root, "weight_bytes", (double)info.weight_bytes);
        cJSON_AddNumberToObject(root, "weight_bytes_per_token", weight_bytes);
        cJSON_AddNumberToObject(root, "copied_bytes", (double)info.copied_bytes);
        cJSON_AddNumberToObject(root, "peak_rss_bytes", (double)peak);
        cJSON_AddNumberToObject(root, "hidden", (double)H);
        cJSON_AddNumberToObject(root, "layers", (double)L);
        cJSON_AddNumberToObject(root, "heads", (double)Hq);
        cJSON_AddNumberToObject(root, "kv_heads", (double)Hkv);
        cJSON_AddNumberToObject(root, "head_dim", (double)D);
        cJSON_AddNumberToObject(root, "intermediate", (double)I);
        cJSON_AddNumberToObject(root, "vocab", (double)V);
        cJSON_AddNumberToObject(root, "threads", nt);
        cJSON_AddStringToObject(root, "isa", lc_isa_name(lc_isa_best()));
        cJSON_AddBoolToObject(root, "avx512_bf16", bf16_dot);
        cJSON_AddNumberToObject(root, "sgemm_gflops", sgemm);
        cJSON_AddStringToObject(root, "openblas_core", core);
        cJSON_AddNumberToObject(root, "prompt_tokens", (double)prompt);
        cJSON_AddNumberToObject(root, "prefill_flops", flops);
        cJSON *arr = cJSON_AddArrayToObject(root, "plans");
        for (int i = 0; i < nr; i++) {
            const plan_result *r = &res[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "activations", r->activations_f32 ? "f32" : "default");
            cJSON_AddBoolToObject(o, "rounded_to_bf16", r->rounds);
            cJSON_AddNumberToObject(o, "prefill_seconds", r->prefill_s);
            cJSON_AddNumberToObject(o, "prefill_tokens_per_s", r->prefill_tok_s);
            cJSON_AddNumberToObject(o, "prefill_gflops", r->prefill_gflops);
            cJSON_AddNumberToObject(o, "prefill_fraction_of_sgemm", r->prefill_frac);
            cJSON_AddNumberToObject(o, "prefill_paired_fraction", r->prefill_paired);
            cJSON_AddNumberToObject(o, "sgemm_gflops_before_prompts", r->sgemm_gflops);
            cJSON_AddNumberToObject(o, "decode_tokens", r->decoded);
            cJSON_AddNumberToObject(o, "decode_step_seconds", r->step_s);
            cJSON_AddNumberToObject(o, "decode_tokens_per_s", r->decode_tok_s);
            cJSON_AddNumberToObject(o, "decode_bytes_per_token", r->bytes_per_token);
            cJSON_AddNumberToObject(o, "decode_kv_bytes_per_token", r->kv_bytes_per_token);
            cJSON_AddNumberToObject(o, "decode_gbs", r->gbs);
            cJSON_AddNumberToObject(o, "memcpy_gbs", r->memcpy_gbs);
            cJSON_AddNumberToObject(o, "decode_ceiling_tokens_per_s", r->ceiling_tok_s);
            cJSON_AddNumberToObject(o, "decode_fraction_of_memcpy", r->decode_frac);
            cJSON_AddNumberToObject(o, "decode_paired_fraction", r->paired);
            cJSON_AddItemToArray(arr, o);
        }
        rc = bench_write_json(root, json);
    }
    lc_model_destroy(m);
    return rc;
}
