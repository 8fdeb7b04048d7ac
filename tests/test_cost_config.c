/* config.json reading (tests/fixtures/config/): the published configs give the presets'
 * shapes; every field a model type needs (and transformers has no default for), removed, is
 * an error naming it; the defaults transformers has (num_key_value_heads, head_dim), GPT-2's
 * names and a multimodal text_config are read as transformers reads them and said in the
 * notes; the parameter count from the config's own fields equals the tensors of the tiny
 * checkpoints and the published counts (MoE and MLA too); malformed, truncated (at every
 * byte), ill-typed and absurd files are LC_EFORMAT, never a crash. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char dir[1024];

static const char *fixture(const char *name) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/fixtures/config/%s", dir, name);
    return path;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    size_t got = fread(t, 1, (size_t)n, f);
    t[got] = 0;
    fclose(f);
    return t;
}

static int same_shape(const lc_model_shape *a, const lc_model_shape *b) {
    return a->layers == b->layers && a->attn_layers == b->attn_layers && a->local_layers == b->local_layers && a->window == b->window &&
           a->hidden == b->hidden && a->heads == b->heads && a->kv_heads == b->kv_heads && a->head_dim_k == b->head_dim_k &&
           a->head_dim_v == b->head_dim_v && a->kv_lora_rank == b->kv_lora_rank && a->qk_rope_dim == b->qk_rope_dim &&
           a->ssm_inner == b->ssm_inner && a->ssm_state == b->ssm_state && a->ssm_conv == b->ssm_conv && a->ssm_conv_dim == b->ssm_conv_dim;
}

typedef struct good_case {
    const char *file, *preset;
    const char *required[12]; /* fields whose absence must be an error naming them */
} good_case;

static const good_case goods[] = {
    {"llama-3.1-8b.json", "llama-3.1-8b", {"num_hidden_layers", "hidden_size", "num_attention_heads"}},
    {"mistral-7b-v0.1.json", "mistral-7b-v0.1", {"num_hidden_layers", "hidden_size", "num_attention_heads"}},
    {"gemma-2-9b.json", "gemma-2-9b", {"num_hidden_layers", "hidden_size", "num_attention_heads"}},
    {"deepseek-v2.json", "deepseek-v2",
     {"num_hidden_layers", "hidden_size", "num_attention_heads", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}},
    {"mamba-2.8b.json", "mamba-2.8b", {"hidden_size", "state_size", "conv_kernel"}}, /* n_layer stands in for num_hidden_layers */
    {"jamba-v0.1.json", "jamba-v0.1",
     {"num_hidden_layers", "hidden_size", "num_attention_heads", "attn_layer_period", "attn_layer_offset", "mamba_d_state", "mamba_d_conv",
      "mamba_expand"}},
};

static void test_good_files(void) {
    for (size_t c = 0; c < sizeof goods / sizeof goods[0]; c++) {
        const good_case *g = &goods[c];
        lc_model_shape want, got;
        lc_model_preset(g->preset, &want);
        lc_status s = lc_model_from_config_file(fixture(g->file), want.params, &got);
        CHECK(s == LC_OK, "%s: %s", g->file, lc_last_error());
        CHECK(s || same_shape(&got, &want), "%s: shape differs from the preset %s", g->file, g->preset);
        char *text = slurp(fixture(g->file));
        CHECK(text != NULL, "read %s", g->file);
        if (!text) continue;
        for (int f = 0; g->required[f]; f++) { /* each required field removed, then set to null */
            for (int as_null = 0; as_null < 2; as_null++) {
                cJSON *root = cJSON_Parse(text);
                if (as_null) cJSON_ReplaceItemInObjectCaseSensitive(root, g->required[f], cJSON_CreateNull());
                else cJSON_DeleteItemFromObjectCaseSensitive(root, g->required[f]);
                char *cut = cJSON_PrintUnformatted(root);
                s = lc_model_from_config_text(cut, g->file, want.params, &got);
                char quoted[96];
                snprintf(quoted, sizeof quoted, "'%s'", g->required[f]);
                CHECK(s == LC_EFORMAT && strstr(lc_last_error(), quoted) && strstr(lc_last_error(), "missing"),
                      "%s without %s: status %s, '%s'", g->file, g->required[f], lc_status_str(s), lc_last_error());
                free(cut);
                cJSON_Delete(root);
            }
        }
        /* truncated at every byte: an error, never a crash (the last cut keeps the whole object) */
        size_t len = strlen(text);
        for (size_t cut = 0; cut + 2 < len; cut++) {
            char saved = text[cut];
            text[cut] = 0;
            s = lc_model_from_config_text(text, g->file, want.params, &got);
            CHECK(s == LC_EFORMAT, "%s cut at %zu: %s", g->file, cut, lc_status_str(s));
            text[cut] = saved;
        }
        free(text);
    }
}

static void test_params_estimate(void) {
    /* Dense configs: the estimate from the shape equals the published count (Gemma-2 has two
     * more norms per layer than the estimate counts: 42 * 2 * 3584 = 301056). */
    struct {
        const char *file;
        double want, tolerance;
    } cases[] = {{"llama-3.1-8b.json", 8030261248.0, 0},
                 {"mistral-7b-v0.1.json", 7241732096.0, 0},
                 {"mamba-2.8b.json", 2768345600.0, 0},
                 {"gemma-2-9b.json", 9241705984.0, 301056}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lc_model_shape m;
        lc_status s = lc_model_from_config_file(fixture(cases[c].file), 0, &m);
        CHECK(s == LC_OK, "%s: %s", cases[c].file, lc_last_error());
        CHECK(s || (m.params <= cases[c].want && m.params >= cases[c].want - cases[c].tolerance), "%s: %.0f params, want %.0f",
              cases[c].file, m.params, cases[c].want);
    }
    /* mixtures of experts and MLA: counted from the config's own fields, total and active, as
     * published (DeepSeek-V2 236B / 21B, Jamba 52B / 12B, Mixtral 46.7B / 12.9B) */
    struct {
        const char *file;
        double total, active;
    } moe[] = {{"deepseek-v2.json", 235741434880.0, 21375800320.0},
               {"jamba-v0.1.json", 51570323328.0, 12110311296.0},
               {"mixtral-8x7b-v0.1.json", 46702792704.0, 12879925248.0}};
    lc_model_shape m;
    lc_status s;
    for (size_t c = 0; c < sizeof moe / sizeof moe[0]; c++) {
        char notes[512];
        s = lc_model_from_config_file_noted(fixture(moe[c].file), 0, &m, notes, sizeof notes);
        CHECK(s == LC_OK && m.params == moe[c].total && m.active_params == moe[c].active && strstr(notes, "active per token"),
              "%s: %s, %.0f params, %.0f active, notes '%s'", moe[c].file, lc_last_error(), m.params, m.active_params, notes);
    }
    /* Mamba-2 (the model runner's fixture): x, B and C go through the conv; the estimate is the
     * checkpoint's count (2 x 512 x 64 embeddings and head, 64 final norm, 2 layers of 30360) */
    s = lc_model_from_config_file(fixture("../models/mamba2/config.json"), 0, &m);
    CHECK(s == LC_OK && m.ssm_inner == 128 && m.ssm_conv_dim == 128 + 2 * 2 * 16 && m.params == 126320.0,
          "mamba2: %s, inner %lld, conv channels %lld, %.0f params", lc_last_error(), (long long)m.ssm_inner, (long long)m.ssm_conv_dim, m.params);
    /* dropping vocab_size matters only when the parameters are estimated */
    char *text = slurp(fixture("llama-3.1-8b.json"));
    cJSON *root = cJSON_Parse(text);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "vocab_size");
    char *cut = cJSON_PrintUnformatted(root);
    CHECK(lc_model_from_config_text(cut, "x", 0, &m) == LC_EFORMAT && strstr(lc_last_error(), "'vocab_size'"), "vocab: %s", lc_last_error());
    CHECK(lc_model_from_config_text(cut, "x", 8e9, &m) == LC_OK, "vocab not needed with params");
    free(cut), free(text), cJSON_Delete(root);
}

/* The tiny checkpoints of tests/fixtures/models/: the count from config.json equals the sum of
 * their tensors (every family the runner knows: dense, sliding, Gemma-2, MLA with experts,
 * Mamba, Mamba-2, Jamba with experts). */
static void test_params_match_checkpoints(void) {
    static const char *models[] = {"llama", "mistral", "qwen2", "gemma2", "deepseek_v2", "mamba", "mamba2", "jamba"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[1300];
        snprintf(path, sizeof path, "%s/fixtures/models/%s", dir, models[i]);
        lc_safetensors *st = NULL;
        lc_status s = lc_safetensors_open(path, &st);
        CHECK(s == LC_OK, "%s: %s", models[i], lc_last_error());
        if (s) continue;
        double numel = 0;
        for (int64_t t = 0; t < lc_safetensors_count(st); t++) numel += (double)lc_safetensors_at(st, t)->numel;
        lc_safetensors_destroy(st);
        snprintf(path, sizeof path, "%s/fixtures/models/%s/config.json", dir, models[i]);
        lc_model_shape m;
        s = lc_model_from_config_file(path, 0, &m);
        CHECK(s == LC_OK && m.params == numel, "%s: %s; %.0f params counted, the checkpoint holds %.0f", models[i], lc_last_error(), m.params, numel);
    }
}

/* What transformers accepts: its defaults, GPT-2's names, a multimodal text_config; each
 * default said in the notes. */
static void test_transformers_defaults(void) {
    lc_model_shape m;
    char notes[512];
    /* Llama-1: no num_key_value_heads (multi-head), no head_dim */
    lc_status s = lc_model_from_config_file_noted(fixture("llama-7b-v1.json"), 0, &m, notes, sizeof notes);
    CHECK(s == LC_OK && m.kv_heads == 32 && m.heads == 32 && m.head_dim_k == 128 && m.params == 6738415616.0, "llama-1: %s kv %lld %.0f",
          lc_last_error(), (long long)m.kv_heads, m.params);
    CHECK(s || (strstr(notes, "num_key_value_heads = num_attention_heads = 32") && strstr(notes, "head_dim = hidden_size / num_attention_heads = 128")),
          "llama-1 notes: '%s'", notes);
    /* GPT-2: n_layer, n_head, n_embd, n_positions; n_inner = 4 n_embd; biases and learned positions: 124,439,808 */
    s = lc_model_from_config_file_noted(fixture("gpt2.json"), 0, &m, notes, sizeof notes);
    CHECK(s == LC_OK && m.layers == 12 && m.heads == 12 && m.hidden == 768 && m.head_dim_k == 64 && m.params == 124439808.0,
          "gpt2: %s, %lld layers, %.0f params", lc_last_error(), (long long)m.layers, m.params);
    CHECK(s || strstr(notes, "n_inner = 4 * n_embd"), "gpt2 notes: '%s'", notes);
    /* LLaVA: the text model under text_config */
    s = lc_model_from_config_file_noted(fixture("multimodal-text-config.json"), 0, &m, notes, sizeof notes);
    CHECK(s == LC_OK && m.layers == 32 && m.hidden == 4096 && m.kv_heads == 32 && m.params == 6738939904.0, "text_config: %s %.0f", lc_last_error(),
          m.params);
    CHECK(s || strstr(notes, "text_config"), "text_config notes: '%s'", notes);
    const char *nested_missing = "{\"model_type\": \"llava\", \"text_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4}}";
    CHECK(lc_model_from_config_text(nested_missing, "n", 1e6, &m) == LC_EFORMAT && strstr(lc_last_error(), "'text_config.num_hidden_layers'"),
          "nested missing: %s", lc_last_error());
    /* nothing defaulted: no notes */
    s = lc_model_from_config_file_noted(fixture("llama-3.1-8b.json"), 8e9, &m, notes, sizeof notes);
    CHECK(s == LC_OK && !strstr(notes, "num_key_value_heads"), "llama-3.1 notes: '%s'", notes);
    /* absurd values are refused, naming the field and the bound */
    const char *absurd[][2] = {
        {"{\"num_hidden_layers\": 1099511627776, \"hidden_size\": 4096, \"num_attention_heads\": 32}", "'num_hidden_layers'=1099511627776"},
        {"{\"num_hidden_layers\": 32, \"hidden_size\": 4194304, \"num_attention_heads\": 32}", "'hidden_size'=4194304"},
        {"{\"num_hidden_layers\": 32, \"hidden_size\": 4096, \"num_attention_heads\": 32, \"num_key_value_heads\": 64}", "exceeds"},
        {"{\"num_hidden_layers\": 32, \"hidden_size\": 4096, \"num_attention_heads\": 32, \"vocab_size\": 1e13}", "'vocab_size'"},
        {"{\"num_hidden_layers\": 2, \"hidden_size\": 64, \"num_attention_heads\": 4, \"vocab_size\": 10, \"intermediate_size\": 8,"
         " \"num_local_experts\": 4, \"num_experts_per_tok\": 9}", "num_experts_per_tok=9"},
    };
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        s = lc_model_from_config_text(absurd[i][0], "a", 0, &m);
        CHECK(s == LC_EFORMAT && strstr(lc_last_error(), absurd[i][1]), "absurd %zu: %s '%s'", i, lc_status_str(s), lc_last_error());
    }
    CHECK(lc_model_from_config_text("{}", "p", 2e15, &m) == LC_EINVAL && strstr(lc_last_error(), "1e15"), "params too large: %s", lc_last_error());
}

static void test_bad_files(void) {
    lc_model_shape m;
    struct {
        const char *file;
        lc_status status;
        const char *says;
    } cases[] = {
        {"bad-truncated.json", LC_EFORMAT, "truncated"},
        {"bad-not-object.json", LC_EFORMAT, "not a JSON object"},
        {"bad-string-layers.json", LC_EFORMAT, "'num_hidden_layers' must be a non-negative integer"},
        {"bad-kv-heads.json", LC_EFORMAT, "kv_heads=5 must divide heads=32"},
        {"bad-negative.json", LC_EFORMAT, "'num_attention_heads' must be a non-negative integer"},
        {"no-such-file.json", LC_EIO, "cannot open"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lc_status s = lc_model_from_config_file(fixture(cases[c].file), 7e9, &m);
        CHECK(s == cases[c].status && strstr(lc_last_error(), cases[c].says), "%s: %s '%s'", cases[c].file, lc_status_str(s), lc_last_error());
    }
    /* layer_types: 3 of 6 layers slide over 128 keys */
    lc_status s = lc_model_from_config_file(fixture("layer-types.json"), 1e9, &m);
    CHECK(s == LC_OK && m.local_layers == 3 && m.window == 128 && m.head_dim_k == 64, "layer_types: %s", lc_last_error());
    const char *mismatch = "{\"hidden_size\": 64, \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"num_key_value_heads\": 4,"
                           " \"sliding_window\": 8, \"layer_types\": [\"sliding_attention\"]}";
    CHECK(lc_model_from_config_text(mismatch, "m", 1e6, &m) == LC_EFORMAT && strstr(lc_last_error(), "layer_types"), "layer_types length: %s",
          lc_last_error());
    const char *qwen = "{\"hidden_size\": 64, \"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"num_key_value_heads\": 4,"
                       " \"sliding_window\": 8, \"use_sliding_window\": false}";
    CHECK(lc_model_from_config_text(qwen, "q", 1e6, &m) == LC_OK && m.local_layers == 0 && m.window == 0, "use_sliding_window false");
    const char *odd = "{\"hidden_size\": 100, \"num_hidden_layers\": 3, \"num_attention_heads\": 3, \"num_key_value_heads\": 3}";
    CHECK(lc_model_from_config_text(odd, "o", 1e6, &m) == LC_EFORMAT && strstr(lc_last_error(), "head_dim"), "odd head dim: %s", lc_last_error());
    CHECK(lc_model_from_config_text("", "e", 1e6, &m) == LC_EFORMAT, "empty text");
    CHECK(lc_model_from_config_text("{}", "e", 1e6, &m) == LC_EFORMAT && strstr(lc_last_error(), "'num_hidden_layers'"), "empty object");
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", __FILE__); /* tests/ of the source tree */
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    test_seed("test_cost_config");
    test_good_files();
    test_params_estimate();
    test_params_match_checkpoints();
    test_transformers_defaults();
    test_bad_files();
    return test_finish("test_cost_config");
}
