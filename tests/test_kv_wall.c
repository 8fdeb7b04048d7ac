/* The caches' exact bytes against what `longctx wall` (lc_cost_eval) predicts for the same
 * model: per attention layer a contiguous / ring cache of n (or W) tokens holds
 * lc_kv_slots * lc_kv_slot_bytes bytes of K, V and (int8, fp8) their per-token-per-head f32
 * scales, for every storage type, through flash and sliding (cache_dtype) and kv-quant
 * (quant_dtype); an MLA cache holds n * (rank + rope) values of its dtype. The wall models
 * neither sinks nor paged blocks, so those layouts have nothing to compare against; int4
 * (groups of 32 with an fp16 scale) has no longctx cache. */
#include <math.h>
#include <string.h>

#include "harness.h"

static const lc_dtype kv_types[] = {LC_F32, LC_F16, LC_BF16, LC_INT8, LC_FP8};
static const lc_dtype cost_types[] = {LC_F32, LC_F16, LC_BF16, LC_INT8, LC_FP8};
static const lc_dtype mla_types[] = {LC_F32, LC_F16, LC_BF16, LC_INT8, LC_FP8};

static void compare(const char *preset, lc_technique t, lc_kv_layout layout, int di, int64_t n) {
    lc_model_shape m;
    CHECK(lc_model_preset(preset, &m) == LC_OK, "%s", lc_last_error());
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    p.batch = 1;
    if (t == LC_TECH_KV_QUANT) p.quant_dtype = cost_types[di];
    else p.cache_dtype = cost_types[di];
    lc_cost_row row;
    CHECK(lc_cost_eval(&p, t, n, &row) == LC_OK, "%s", lc_last_error());
    /* a ring that is not yet full holds n tokens: a ring of n slots has the same bytes */
    lc_kv_config c = {.layout = layout, .dtype = kv_types[di], .heads_kv = (int)m.kv_heads, .head_dim = (int)m.head_dim_k,
                      .max_seqs = 1, .capacity = n, .window = n < p.window ? n : p.window};
    CHECK(lc_kv_config_check(&c) == LC_OK, "%s", lc_last_error());
    CHECK(m.head_dim_k == m.head_dim_v, "%s: K and V dims differ", preset);
    double want = (double)lc_kv_slots(&c) * (double)lc_kv_slot_bytes(&c) * (double)m.attn_layers;
    CHECK(row.cache_bytes == want, "%s %s %s %s n=%lld: wall %.0f, cache %.0f", preset, lc_technique_name(t), lc_kv_layout_name(layout),
          lc_dtype_name(kv_types[di]), (long long)n, row.cache_bytes, want);
}

int main(void) {
    test_seed("test_kv_wall");
    int64_t lens[] = {1, 1000, 4096, 5000, 131072};
    for (int i = 0; i < 5; i++)
        for (int d = 0; d < 5; d++) {
            compare("llama-3.1-8b", LC_TECH_FLASH, LC_KV_CONTIGUOUS, d, lens[i]);
            compare("llama-3.1-8b", LC_TECH_SLIDING, LC_KV_RING, d, lens[i]);
            compare("llama-3.1-70b", LC_TECH_FLASH, LC_KV_CONTIGUOUS, d, lens[i]);
            if (kv_types[d] == LC_INT8 || kv_types[d] == LC_FP8) {
                compare("llama-3.1-8b", LC_TECH_KV_QUANT, LC_KV_CONTIGUOUS, d, lens[i]);
                compare("llama-3.1-70b", LC_TECH_KV_QUANT, LC_KV_CONTIGUOUS, d, lens[i]);
            }
        }
    /* MLA: DeepSeek-V2's latent cache in f32, f16, bf16, int8 and fp8 */
    lc_model_shape m;
    CHECK(lc_model_preset("deepseek-v2", &m) == LC_OK, "%s", lc_last_error());
    for (int d = 0; d < 5; d++) {
        lc_cost_problem p;
        lc_cost_defaults(&p, &m);
        p.batch = 1, p.cache_dtype = cost_types[d];
        float w = 0;
        lc_mla mla = {.heads = (int)m.heads, .rank = (int)m.kv_lora_rank, .nope = 1, .rope = (int)m.qk_rope_dim, .v_dim = 1, .w_uk = &w, .w_uv = &w,
                      .dtype = mla_types[d]};
        for (int i = 0; i < 5; i++) {
            lc_cost_row row;
            CHECK(lc_cost_eval(&p, LC_TECH_NATIVE, lens[i], &row) == LC_OK, "%s", lc_last_error());
            double latent = (double)(lc_mla_cache_footprint(&mla, lens[i]) - lc_mla_cache_footprint(&mla, 0)) * (double)m.attn_layers;
            CHECK(row.cache_bytes == latent, "deepseek-v2 %s n=%lld: wall %.0f, mla cache %.0f", lc_dtype_name(mla.dtype), (long long)lens[i],
                  row.cache_bytes, latent);
        }
    }
    return test_finish("test_kv_wall");
}
