/* The cost model against hand-computed cases (the numbers a reader can redo on paper,
 * written out as literals), then relations that must hold for any shape and length on
 * fresh random problems, then bad input. */
#include <math.h>
#include <string.h>

#include "harness.h"

static const double GiB = 1073741824.0;

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * fabs(b) + 1e-9; }

static lc_cost_problem preset(const char *name) {
    lc_model_shape m;
    lc_status s = lc_model_preset(name, &m);
    CHECK(s == LC_OK, "preset %s: %s", name, lc_last_error());
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    return p;
}

static lc_cost_row eval(const lc_cost_problem *p, lc_technique t, int64_t n) {
    lc_cost_row r;
    memset(&r, 0, sizeof r);
    lc_status s = lc_cost_eval(p, t, n, &r);
    CHECK(s == LC_OK, "%s %s n=%lld: %s", p->model.name, lc_technique_name(t), (long long)n, lc_last_error());
    return r;
}

/* A plain multi-head model of the given shape. */
static lc_cost_problem mha_model(int64_t layers, int64_t heads, int64_t dim) {
    lc_model_shape m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "test");
    m.layers = m.attn_layers = layers;
    m.heads = m.kv_heads = heads;
    m.head_dim_k = m.head_dim_v = dim;
    m.hidden = heads * dim;
    m.params = m.active_params = 1e9;
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    return p;
}

static void test_known_cases(void) {
    /* Llama-3.1-8B at 128K, bf16 cache: 2 (k,v) * 32 layers * 8 heads * 128 dims * 2 bytes
     * = 131072 bytes per token; * 131072 tokens = 16 GiB. */
    lc_cost_problem p = preset("llama-3.1-8b");
    lc_cost_row r = eval(&p, LC_TECH_FLASH, 131072);
    CHECK(r.cache_bytes == 16 * GiB, "llama-3.1-8b KV at 128K = %.0f, want 16 GiB", r.cache_bytes);
    CHECK(r.weight_bytes == 16060522496.0, "llama-3.1-8b bf16 weights %.0f", r.weight_bytes);
    CHECK(r.workspace_bytes == 32.0 * 131072 * 4, "flash row statistics %.0f", r.workspace_bytes);
    /* native is flash for Llama; gqa keeps its 8 KV heads; mha has 32; mqa 1 */
    CHECK(eval(&p, LC_TECH_NATIVE, 131072).cache_bytes == 16 * GiB, "native = flash for llama");
    CHECK(eval(&p, LC_TECH_GQA, 131072).cache_bytes == 16 * GiB, "gqa = the model's 8 kv heads");
    CHECK(eval(&p, LC_TECH_MHA, 131072).cache_bytes == 64 * GiB, "mha 32 heads = 64 GiB");
    CHECK(eval(&p, LC_TECH_MQA, 131072).cache_bytes == 2 * GiB, "mqa 1 head = 2 GiB");
    /* int4 in groups of 32 with an fp16 scale: 0.5 + 2/32 = 0.5625 bytes per value */
    CHECK(eval(&p, LC_TECH_KV_QUANT, 131072).cache_bytes == 16 * GiB * 0.5625 / 2, "kv-quant int4 = 4.5 GiB");
    /* int8 and fp8 as lc_kv_cache holds them: per token, layer and KV head 256 one-byte
     * values and two f32 scales = 264 bytes; * 8 heads * 32 layers = 67584 bytes per token;
     * * 131072 tokens = 8858370048 bytes = 8.25 GiB (16 GiB * 264 / 512). */
    p.quant_dtype = LC_INT8;
    CHECK(eval(&p, LC_TECH_KV_QUANT, 131072).cache_bytes == 8858370048.0, "kv-quant int8 = 8.25 GiB");
    p.quant_dtype = LC_FP8;
    CHECK(eval(&p, LC_TECH_KV_QUANT, 131072).cache_bytes == 8.25 * GiB, "kv-quant fp8 = 8.25 GiB");
    p.quant_dtype = LC_INT4;
    /* prefill: 2 * params * n for the weights, plus 32 layers * 32 heads * n(n+1)/2 pairs * 2 * (128 + 128) */
    double n = 131072;
    CHECK(near(r.prefill_flops, 2 * 8.030261248e9 * n + 32.0 * 32 * (n * (n + 1) / 2) * 512), "llama prefill flops %.6g", r.prefill_flops);
    CHECK(near(r.decode_flops, 2 * 8.030261248e9 + 32.0 * 32 * n * 512), "llama decode flops %.6g", r.decode_flops);
    CHECK(near(r.decode_bytes, 16060522496.0 + 16 * GiB), "llama decode bytes %.6g", r.decode_bytes);

    /* One head's score matrix at 128K in fp32: 131072^2 * 4 = 64 GiB; the layer has 32. */
    r = eval(&p, LC_TECH_STANDARD, 131072);
    CHECK(r.score_matrix_bytes == 64 * GiB, "score matrix %.0f, want 64 GiB", r.score_matrix_bytes);
    CHECK(r.score_layer_bytes == 32 * 64 * GiB, "score layer %.0f", r.score_layer_bytes);
    CHECK(r.score_model_bytes == 32 * 32 * 64 * GiB, "score model %.0f", r.score_model_bytes);
    CHECK(r.total_bytes == 16060522496.0 + 16 * GiB + 32 * 64 * GiB, "standard total %.0f", r.total_bytes);
    CHECK(near(r.prefill_flops, 2 * 8.030261248e9 * n + 32.0 * 32 * n * n * 512), "standard computes all n^2 pairs");

    /* 96 layers, 128 heads of 128, fp16 cache, 200K tokens: 2*96*128*128*2 = 6291456 bytes
     * per token, 1.258 TB in all ("about 1.26 TB"). */
    lc_cost_problem big = mha_model(96, 128, 128);
    big.cache_dtype = LC_F16;
    r = eval(&big, LC_TECH_FLASH, 200000);
    CHECK(r.cache_bytes == 6291456.0 * 200000, "96x128x128 fp16 at 200K: %.4g bytes", r.cache_bytes);
    CHECK(fabs(r.cache_bytes / 1e12 - 1.26) < 0.005, "about 1.26 TB: %.4f TB", r.cache_bytes / 1e12);

    /* MLA: a 512-entry latent per token and layer against 128 heads x 128 dims x 2 (k, v). */
    lc_cost_problem mla = mha_model(1, 128, 128);
    mla.mla_rank = 512, mla.mla_rope = 0;
    double ratio = eval(&mla, LC_TECH_FLASH, 1000).cache_bytes / eval(&mla, LC_TECH_MLA, 1000).cache_bytes;
    CHECK(ratio == 64, "MLA latent is %gx smaller, want 64x", ratio);
    /* DeepSeek-V2 as published: (512 + 64) * 2 bytes * 60 layers = 69120 bytes per token;
     * without MLA: 128 heads * (192 + 128) * 2 * 60 = 4915200. */
    p = preset("deepseek-v2");
    CHECK(eval(&p, LC_TECH_NATIVE, 1000).cache_bytes == 69120.0 * 1000, "deepseek-v2 native cache");
    CHECK(eval(&p, LC_TECH_FLASH, 1000).cache_bytes == 4915200.0 * 1000, "deepseek-v2 decompressed cache");
    /* absorbed decode: per head per key 2*(512+64) + 2*512 = 2176 FLOPs; weights 2 * 21e9 active */
    CHECK(near(eval(&p, LC_TECH_NATIVE, 1000).decode_flops, 2 * 21e9 + 60.0 * 128 * 1000 * 2176), "deepseek decode flops");
    /* batch 1 reads the 21e9 active parameters, batch 16 at most all 236e9 */
    CHECK(near(eval(&p, LC_TECH_NATIVE, 1000).decode_bytes, 21e9 * 2 + 69120.0 * 1000), "moe decode bytes, batch 1");
    p.batch = 16;
    CHECK(near(eval(&p, LC_TECH_NATIVE, 1000).decode_bytes, 236e9 * 2 + 16 * 69120.0 * 1000), "moe decode bytes, batch 16");

    /* Mistral: every layer slides over 4096 keys: the cache stops at 4096 tokens. */
    p = preset("mistral-7b-v0.1");
    CHECK(eval(&p, LC_TECH_NATIVE, 1024).cache_bytes == 131072.0 * 1024, "mistral at 1K");
    CHECK(eval(&p, LC_TECH_NATIVE, 1 << 20).cache_bytes == 512 * 1048576.0, "mistral at 1M = 512 MiB");
    /* pairs: 4096*4097/2 for the first 4096 rows, then 4096 each */
    CHECK(eval(&p, LC_TECH_NATIVE, 10000).pairs == 4096.0 * 4097 / 2 + 5904.0 * 4096, "mistral pairs");

    /* Gemma-2-9B: 21 global + 21 sliding layers, 8 kv heads of 256: 2*8*256*2 = 8192 bytes per token and layer. */
    p = preset("gemma-2-9b");
    CHECK(eval(&p, LC_TECH_NATIVE, 8192).cache_bytes == 8192.0 * (21 * 8192 + 21 * 4096), "gemma-2 hybrid cache");
    CHECK(eval(&p, LC_TECH_FLASH, 8192).cache_bytes == 8192.0 * 42 * 8192, "gemma-2 all-global cache");

    /* Mamba-2.8B: 64 layers * 5120 * (16 + 3) * 2 bytes, whatever the length. */
    p = preset("mamba-2.8b");
    CHECK(eval(&p, LC_TECH_NATIVE, 1024).cache_bytes == 64.0 * 5120 * 19 * 2, "mamba state");
    CHECK(eval(&p, LC_TECH_NATIVE, 1 << 21).cache_bytes == 64.0 * 5120 * 19 * 2, "mamba state is constant");
    CHECK(near(eval(&p, LC_TECH_NATIVE, 1).decode_flops, 2 * 2.7683456e9 + 64.0 * (8 * 5120 * 16 + 2 * 4 * 5120)), "mamba decode flops");
    CHECK(!lc_cost_applies(&p, LC_TECH_FLASH) && lc_cost_applies(&p, LC_TECH_MAMBA), "mamba has no attention");
    lc_cost_row dummy;
    CHECK(lc_cost_eval(&p, LC_TECH_FLASH, 1024, &dummy) == LC_EUNSUPPORTED, "flash on mamba is unsupported");
    int64_t fit = 0;
    CHECK(lc_cost_max_context(&p, LC_TECH_NATIVE, 80 * GiB, &fit) == LC_OK && fit == -1, "mamba fits any length: %lld", (long long)fit);

    /* Jamba: 4 attention layers (8 kv heads of 128) + 28 Mamba layers of 8192 x (16 + 3). */
    p = preset("jamba-v0.1");
    CHECK(eval(&p, LC_TECH_NATIVE, 262144).cache_bytes == 4.0 * 4096 * 262144 + 28.0 * 8192 * 19 * 2, "jamba cache");
    CHECK(eval(&p, LC_TECH_MAMBA, 262144).cache_bytes == 32.0 * 8192 * 19 * 2, "jamba all-mamba");

    /* Linear attention on the illustrative model: 32 layers * 32 heads * (128*128 + 128) * 2 bytes. */
    p = preset("illustrative-32x32");
    CHECK(eval(&p, LC_TECH_LINEAR, 5).cache_bytes == 32.0 * 32 * (16384 + 128) * 2, "linear state");
    CHECK(eval(&p, LC_TECH_LINEAR, 5).workspace_bytes == 0, "linear has no attention workspace");
    /* its gqa default: 8 kv heads (the largest divisor of 32 up to 8) */
    CHECK(p.gqa_kv_heads == 8, "gqa default %lld", (long long)p.gqa_kv_heads);

    /* Longest context, Llama-3.1-8B flash on 80 GiB: (80 GiB - weights) / (131072 + 128) bytes per token. */
    p = preset("llama-3.1-8b");
    CHECK(lc_cost_max_context(&p, LC_TECH_FLASH, 80 * GiB, &fit) == LC_OK, "max context");
    CHECK(fit == (int64_t)floor((80 * GiB - 16060522496.0) / 131200.0), "llama flash on 80 GiB: %lld", (long long)fit);
    /* a device smaller than the weights holds nothing */
    CHECK(lc_cost_max_context(&p, LC_TECH_FLASH, 8e9, &fit) == LC_OK && fit == 0, "weights do not fit: %lld", (long long)fit);
}

/* For any problem and length: the relations between techniques that the formulas imply. */
static void test_relations(test_rng *g) {
    const char *const *names = lc_model_preset_names();
    int n_presets = 0;
    while (names[n_presets]) n_presets++;
    for (int it = 0; it < 400; it++) {
        lc_cost_problem p = preset(names[test_below(g, (uint64_t)n_presets)]);
        p.batch = 1 + (int64_t)test_below(g, 8);
        p.cache_dtype = (lc_dtype)test_below(g, LC_DTYPE_COUNT);
        p.score_dtype = (lc_dtype)test_below(g, LC_DTYPE_COUNT);
        p.window = 1 + (int64_t)test_below(g, 10000);
        int64_t n = 1 + (int64_t)test_below(g, (uint64_t)1 << (1 + test_below(g, 24)));
        if (!lc_cost_applies(&p, LC_TECH_FLASH)) {
            lc_cost_row a = eval(&p, LC_TECH_NATIVE, n), b = eval(&p, LC_TECH_NATIVE, 2 * n);
            CHECK(a.cache_bytes == b.cache_bytes, "%s: recurrent state independent of n", p.model.name);
            continue;
        }
        lc_cost_row fl = eval(&p, LC_TECH_FLASH, n), st = eval(&p, LC_TECH_STANDARD, n), sw = eval(&p, LC_TECH_SLIDING, n);
        lc_cost_row mq = eval(&p, LC_TECH_MQA, n), mh = eval(&p, LC_TECH_MHA, n);
        CHECK(st.cache_bytes == fl.cache_bytes, "%s n=%lld: standard and flash hold the same cache", p.model.name, (long long)n);
        CHECK((double)n * lc_dtype_bytes(p.score_dtype) < 4 || st.workspace_bytes >= fl.workspace_bytes, "scores outweigh row statistics");
        CHECK(st.pairs >= fl.pairs && fl.pairs >= sw.pairs, "pairs: standard >= flash >= sliding");
        CHECK(n > p.window || sw.cache_bytes == fl.cache_bytes, "%s: within the window, sliding = flash (n=%lld W=%lld)",
              p.model.name, (long long)n, (long long)p.window);
        CHECK(n <= p.window || sw.cache_bytes < fl.cache_bytes, "%s: past the window, sliding holds less", p.model.name);
        /* one KV head's K and V per token: int8/fp8 with two f32 scales, int4 with an fp16 scale per 32 */
        double dkv = (double)(p.model.head_dim_k + p.model.head_dim_v), b = lc_dtype_bytes(p.cache_dtype);
        double head_tok = p.cache_dtype == LC_INT8 || p.cache_dtype == LC_FP8 ? dkv * b + 8
                          : p.cache_dtype == LC_INT4                             ? dkv * (b + 2.0 / 32)
                                                                                      : dkv * b;
        double per_head = p.model.attn_layers * p.batch * head_tok * (double)n;
        double ssm = eval(&p, LC_TECH_MQA, 1).cache_bytes - per_head / (double)n; /* Mamba layers of hybrids */
        CHECK(near(mq.cache_bytes - ssm, per_head), "%s: mqa = one kv head", p.model.name);
        CHECK(near(mh.cache_bytes - ssm, per_head * (double)p.model.heads), "%s: mha = heads kv heads", p.model.name);
        CHECK(fl.total_bytes == fl.weight_bytes + fl.cache_bytes + fl.workspace_bytes, "total is the sum");
        CHECK(fl.decode_flops < fl.prefill_flops || n == 1, "decode is cheaper than prefill");
        /* the max context is the boundary of what fits */
        double mem = fl.weight_bytes * (1.05 + test_uniform(g) * 20);
        int64_t fit = 0;
        lc_technique t = (lc_technique)test_below(g, LC_TECH_COUNT);
        CHECK(lc_cost_max_context(&p, t, mem, &fit) == LC_OK, "max context: %s", lc_last_error());
        if (fit > 0) {
            CHECK(eval(&p, t, fit).total_bytes <= mem, "%s %s: n=%lld fits", p.model.name, lc_technique_name(t), (long long)fit);
            if (fit < LC_COST_MAX_TOKENS) CHECK(eval(&p, t, fit + 1).total_bytes > mem, "%s %s: n=%lld+1 does not", p.model.name, lc_technique_name(t), (long long)fit);
        }
    }
}

static void test_bad_input(void) {
    lc_cost_problem p = preset("llama-3.1-8b");
    lc_cost_row r;
    CHECK(lc_cost_eval(&p, LC_TECH_FLASH, 0, &r) == LC_EINVAL && strstr(lc_last_error(), "n=0"), "n = 0: %s", lc_last_error());
    CHECK(lc_cost_eval(&p, LC_TECH_FLASH, -5, &r) == LC_EINVAL, "negative n");
    CHECK(lc_cost_eval(&p, LC_TECH_FLASH, LC_COST_MAX_TOKENS + 1, &r) == LC_EINVAL, "absurd n");
    CHECK(lc_cost_eval(&p, (lc_technique)99, 10, &r) == LC_EINVAL, "unknown technique");
    lc_cost_problem q = p;
    q.batch = 0;
    CHECK(lc_cost_eval(&q, LC_TECH_FLASH, 10, &r) == LC_EINVAL && strstr(lc_last_error(), "batch"), "batch 0: %s", lc_last_error());
    q = p, q.cache_dtype = (lc_dtype)42;
    CHECK(lc_cost_eval(&q, LC_TECH_FLASH, 10, &r) == LC_EINVAL && strstr(lc_last_error(), "cache_dtype"), "dtype: %s", lc_last_error());
    q = p, q.gqa_kv_heads = 5;
    CHECK(lc_cost_eval(&q, LC_TECH_GQA, 10, &r) == LC_EINVAL && strstr(lc_last_error(), "gqa_kv_heads"), "gqa: %s", lc_last_error());
    q = p, q.model.kv_heads = 3;
    CHECK(lc_cost_eval(&q, LC_TECH_FLASH, 10, &r) == LC_EINVAL && strstr(lc_last_error(), "kv_heads=3"), "kv heads: %s", lc_last_error());
    lc_model_shape m;
    CHECK(lc_model_preset("llama-9000", &m) == LC_EINVAL && strstr(lc_last_error(), "llama-9000") && strstr(lc_last_error(), "mamba-2.8b"),
          "unknown preset: %s", lc_last_error());
    CHECK(lc_model_preset("LLAMA-3.1-8B", &m) == LC_OK, "preset names are case-insensitive");
    lc_dtype d;
    CHECK(lc_dtype_parse("fp4", &d) == LC_EINVAL && strstr(lc_last_error(), "fp4"), "unknown dtype");
    CHECK(lc_dtype_parse("BF16", &d) == LC_OK && d == LC_BF16, "bf16");
    CHECK(lc_dtype_parse("int4", &d) == LC_OK && lc_dtype_bytes(d) == 0.5, "int4 is half a byte");
    lc_technique t;
    CHECK(lc_technique_parse("kv-quant", &t) == LC_OK && t == LC_TECH_KV_QUANT, "technique parse");
    CHECK(lc_technique_parse("ring", &t) == LC_EINVAL, "unknown technique name");
    double b = 0;
    CHECK(lc_cost_parse_bytes("80GB", &b) == LC_OK && b == 80e9, "80GB");
    CHECK(lc_cost_parse_bytes("80GiB", &b) == LC_OK && b == 80 * GiB, "80GiB");
    CHECK(lc_cost_parse_bytes("1.5TB", &b) == LC_OK && b == 1.5e12, "1.5TB");
    CHECK(lc_cost_parse_bytes("12345", &b) == LC_OK && b == 12345, "bytes");
    CHECK(lc_cost_parse_bytes("80XB", &b) == LC_EINVAL && strstr(lc_last_error(), "XB"), "unit: %s", lc_last_error());
    CHECK(lc_cost_parse_bytes("-8GB", &b) == LC_EINVAL, "negative memory");
    CHECK(lc_cost_parse_bytes("", &b) == LC_EINVAL, "empty memory");
    CHECK(lc_cost_parse_bytes("1e30", &b) == LC_EINVAL, "absurd memory");
    CHECK(lc_cost_gpu_memory("h100-80gb", &b) == LC_OK && b == 80 * GiB, "h100");
    CHECK(lc_cost_gpu_memory("tpu", &b) == LC_EINVAL && strstr(lc_last_error(), "tpu"), "unknown gpu");
    int64_t fit;
    CHECK(lc_cost_max_context(&p, LC_TECH_FLASH, -1, &fit) == LC_EINVAL, "negative device memory");
}

int main(void) {
    test_rng g = {test_seed("test_cost"), 0};
    test_known_cases();
    test_relations(&g);
    test_bad_input();
    return test_finish("test_cost");
}
