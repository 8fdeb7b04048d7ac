/* Fuzz harness: config.json reading, the one reader the wall and the runner share
 * (lc_model_from_config_text, lc_model_layer_kinds_from_config_text, lc_model_config_parse),
 * and the cost model over every shape it accepts. Input: the JSON text. Checked: no crash or
 * sanitizer report; a refusal is a status with a fresh sentence; an accepted shape passes
 * lc_model_check, its parameter count is finite, its layer kinds agree with its counts, and
 * every cost the wall would print is finite and non-negative. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static int finite_row(const lc_cost_row *r) {
    const double v[] = {r->pairs, r->score_matrix_bytes, r->score_layer_bytes, r->score_model_bytes, r->workspace_bytes, r->cache_bytes,
                        r->weight_bytes, r->total_bytes, r->prefill_flops, r->decode_flops, r->decode_bytes};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!isfinite(v[i]) || v[i] < 0) return 0;
    return 1;
}

static void price(const lc_model_shape *m) {
    lc_cost_problem p;
    lc_cost_defaults(&p, m);
    fuzz_stale();
    lc_status st = lc_cost_check(&p);
    fuzz_status(st, "lc_cost_check");
    if (st) return;
    static const int64_t lengths[] = {1, 4096, 1 << 20, LC_COST_MAX_TOKENS};
    for (int t = 0; t < LC_TECH_COUNT; t++) {
        if (!lc_cost_applies(&p, (lc_technique)t)) continue;
        for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
            lc_cost_row r;
            fuzz_stale();
            st = lc_cost_eval(&p, (lc_technique)t, lengths[i], &r);
            fuzz_status(st, "lc_cost_eval");
            fuzz_assert(st || finite_row(&r), "a cost of an accepted shape is finite and non-negative");
        }
        int64_t fit;
        fuzz_stale();
        st = lc_cost_max_context(&p, (lc_technique)t, 80e9, &fit);
        fuzz_status(st, "lc_cost_max_context");
        fuzz_assert(st || fit >= -1, "max_context is a length, 0 or -1");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1 << 20)) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;

    lc_model_shape m;
    char notes[512];
    for (int given = 0; given < 2; given++) { /* parameters counted from the fields, then given */
        fuzz_stale();
        lc_status st = lc_model_from_config_text_noted(text, "fuzz.json", given ? 7e9 : 0, &m, notes, sizeof notes);
        fuzz_status(st, "lc_model_from_config_text");
        if (st) continue;
        fuzz_assert(lc_model_check(&m) == LC_OK, "an accepted shape passes lc_model_check");
        fuzz_assert(isfinite(m.params) && m.params > 0 && m.params <= 1e15 && m.active_params <= m.params, "the parameter count is finite");
        fuzz_assert(memchr(notes, 0, sizeof notes) != NULL, "notes are NUL-terminated");
        if (!given) price(&m);
        if (given && m.layers <= 4096) {
            lc_layer_kind kinds[4096];
            fuzz_stale();
            st = lc_model_layer_kinds_from_config_text(text, "fuzz.json", kinds, m.layers);
            fuzz_status(st, "lc_model_layer_kinds_from_config_text");
            int64_t attn = 0, local = 0;
            for (int64_t l = 0; !st && l < m.layers; l++) attn += kinds[l] != LC_LAYER_MAMBA, local += kinds[l] == LC_LAYER_SLIDING;
            fuzz_assert(st || (attn == m.attn_layers && local == m.local_layers), "the layer kinds agree with attn_layers and local_layers");
        }
    }
    static lc_model_config c; /* the runner's reading (large: a plan per layer) */
    fuzz_stale();
    fuzz_status(lc_model_config_parse(text, "fuzz.json", &c), "lc_model_config_parse");
    free(text);
    return 0;
}
