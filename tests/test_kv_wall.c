/* The caches' exact bytes against what `longctx wall` (lc_cost_eval) predicts for the same
 * model: per attention layer a contiguous / ring cache of n (or W) tokens holds
 * n * lc_kv_slot_bytes bytes of K and V, and an MLA cache n * (rank + rope) values. The
 * cost model's kv-quant (groups of 32 with an fp16 scale) differs from the caches' int8 /
 * fp8 (one f32 scale per token and head) and is not compared. */
#include <math.h>
#include <string.h>

#include "harness.h"

static void compare(const char *preset, lc_technique t, lc_kv_layout layout, int64_t n) {
    lc_model_shape m;
    CHECK(lc_model_preset(preset, &m) == LC_OK, "%s", lc_last_error());
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    p.batch = 1;
    p.cache_dtype = LC_COST_BF16;
    lc_cost_row row;
    CHECK(lc_cost_eval(&p, t, n, &row) == LC_OK, "%s", lc_last_error());
    lc_kv_config c = {.layout = layout, .dtype = LC_KV_BF16, .heads_kv = (int)m.kv_heads, .head_dim = (int)m.head_dim_k,
                      .max_seqs = 1, .capacity = n, .window = p.window};
    CHECK(m.head_dim_k == m.head_dim_v, "%s: K and V dims differ", preset);
    double per_layer = (double)lc_kv_slots(&c) * (double)lc_kv_slot_bytes(&c);
    if (layout == LC_KV_RING && n < p.window) per_layer = (double)n * (double)lc_kv_slot_bytes(&c); /* ring not yet full */
    double want = per_layer * (double)m.attn_layers;
    CHECK(fabs(row.cache_bytes - want) <= 1e-9 * want, "%s %s n=%lld: wall %.0f, cache %.0f", preset, lc_technique_name(t),
          (long long)n, row.cache_bytes, want);
}

int main(void) {
    test_seed("test_kv_wall");
    int64_t lens[] = {1, 1000, 4096, 131072};
    for (int i = 0; i < 4; i++) {
        compare("llama-3.1-8b", LC_TECH_FLASH, LC_KV_CONTIGUOUS, lens[i]);
        compare("llama-3.1-8b", LC_TECH_SLIDING, LC_KV_RING, lens[i]);
        compare("llama-3.1-70b", LC_TECH_FLASH, LC_KV_CONTIGUOUS, lens[i]);
    }
    /* MLA: DeepSeek-V2's latent cache in fp32 */
    lc_model_shape m;
    CHECK(lc_model_preset("deepseek-v2", &m) == LC_OK, "%s", lc_last_error());
    lc_cost_problem p;
    lc_cost_defaults(&p, &m);
    p.batch = 1, p.cache_dtype = LC_COST_FP32;
    lc_cost_row row;
    CHECK(lc_cost_eval(&p, LC_TECH_NATIVE, 4096, &row) == LC_OK, "%s", lc_last_error());
    float w = 0;
    lc_mla mla = {.heads = (int)m.heads, .rank = (int)m.kv_lora_rank, .nope = 1, .rope = (int)m.qk_rope_dim, .v_dim = 1, .w_uk = &w, .w_uv = &w};
    double latent = (double)(lc_mla_cache_footprint(&mla, 4096) - lc_mla_cache_footprint(&mla, 0)) * (double)m.attn_layers;
    CHECK(fabs(row.cache_bytes - latent) <= 1e-9 * latent, "deepseek-v2: wall %.0f, mla cache %.0f", row.cache_bytes, latent);
    return test_finish("test_kv_wall");
}
