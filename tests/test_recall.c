/* The recall harness (include/longctx/recall.h):
 *   - prompts have exactly the requested token count, for single, multi-key and multi-value
 *     needles, with any tokenizer (the recall format's own, and the golden checkpoints' BPEs);
 *   - the asked needle is found by searching the ids for its encoding, at the offset the depth
 *     asks for; the question ends the prompt; BOS starts it and no special id is inside;
 *   - building is deterministic for a seed, the filler is shared across depths and lengths;
 *   - the recall format's tokenizer gives one id per word and per digit, and encoding the
 *     prompt's text gives the prompt's ids back (the training script relies on it);
 *   - scoring by exact substring match; technique flags; lc_niah_run on tiny checkpoints under
 *     every technique (state bytes against the plan); lc_context_prefill_hidden against the
 *     logits through lm_head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "longctx.h"

static char src_dir[1024];

static lc_tokenizer *load_tok(const char *rel) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", src_dir, rel);
    lc_tokenizer *t = NULL;
    lc_status st = lc_tokenizer_load(path, &t);
    CHECK(st == LC_OK, "load %s: %s", path, lc_last_error());
    return t;
}

/* First index where needle[m] occurs in hay[n], or -1. */
static int64_t find(const int32_t *hay, int64_t n, const int32_t *needle, int64_t m) {
    for (int64_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, sizeof(int32_t) * (size_t)m)) return i;
    return -1;
}

static void check_prompt(const lc_tokenizer *t, const lc_niah_config *c, const char *tname) {
    lc_niah_prompt p;
    lc_status st = lc_niah_build(t, c, &p);
    if (st == LC_ERANGE && c->length < 1000) { /* subword tokenizers: several needles may not fit in 97 tokens */
        CHECK(strstr(lc_last_error(), "too short") != NULL, "%s: %s", tname, lc_last_error());
        return;
    }
    CHECK(st == LC_OK, "%s: build length %lld depth %g keys %d values %d: %s", tname, (long long)c->length, c->depth, c->keys, c->values,
          lc_last_error());
    if (st) return;
    CHECK(p.n == c->length, "%s: %lld ids for a length of %lld", tname, (long long)p.n, (long long)c->length);
    int32_t bos = lc_tokenizer_bos(t);
    CHECK(bos < 0 || (p.ids[0] == bos && p.haystack_begin == 1), "%s: BOS %d first (got %d)", tname, bos, p.ids[0]);
    for (int64_t i = p.haystack_begin; i < p.n; i++)
        if (lc_tokenizer_is_special(t, p.ids[i])) {
            CHECK(0, "%s: special id %d at %lld inside the prompt", tname, p.ids[i], (long long)i);
            break;
        }
    int K = c->keys > 1 ? c->keys : 1, V = c->values > 1 ? c->values : 1;
    CHECK(p.n_needles == K - 1 + V && p.n_values == V, "%s: %d needles %d values", tname, p.n_needles, p.n_values);
    /* the question ends the prompt */
    char text[256];
    lc_niah_question_text(p.key, V, text, sizeof text);
    int32_t *q = NULL;
    int64_t nq = 0;
    lc_tokenizer_encode_alloc(t, text, strlen(text), 0, &q, &nq);
    CHECK(q && p.question_pos == p.n - nq && !memcmp(p.ids + p.question_pos, q, sizeof(int32_t) * (size_t)nq), "%s: the question ends the prompt",
          tname);
    free(q);
    /* every needle: its encoding lies at its position and searching the ids finds it there; the
     * needle at the depth is asked and has round(depth F) filler tokens before it */
    int64_t before = 0, filler_before_asked = -1, sum_len = 0;
    int at_depth = 0;
    for (int i = 0; i < p.n_needles; i++) {
        const lc_niah_needle *e = &p.needle[i];
        lc_niah_needle_text(e->key, e->value, text, sizeof text);
        int32_t *ni = NULL;
        int64_t nn = 0;
        lc_tokenizer_encode_alloc(t, text, strlen(text), 0, &ni, &nn);
        CHECK(ni && nn == e->len && e->pos + nn <= p.question_pos && !memcmp(p.ids + e->pos, ni, sizeof(int32_t) * (size_t)nn),
              "%s: needle %d ('%s') lies at %lld", tname, i, text, (long long)e->pos);
        int64_t at = ni ? find(p.ids, p.n, ni, nn) : -1;
        CHECK(at == e->pos, "%s: searching the ids finds needle %d at %lld, not %lld", tname, i, (long long)at, (long long)e->pos);
        if (e->at_depth) {
            at_depth++;
            CHECK(e->asked && !strcmp(e->key, p.key), "%s: the needle at the depth is asked", tname);
            filler_before_asked = e->pos - p.haystack_begin - before;
        }
        CHECK(e->pos - p.haystack_begin - before == e->offset, "%s: needle %d has %lld filler tokens before it, offset says %lld", tname, i,
              (long long)(e->pos - p.haystack_begin - before), (long long)e->offset);
        before += e->len, sum_len += e->len;
        free(ni);
    }
    CHECK(p.filler == p.n - p.haystack_begin - sum_len - nq, "%s: filler count", tname);
    CHECK(at_depth == 1, "%s: one needle at the depth (%d)", tname, at_depth);
    int64_t want = llround(c->depth * (double)p.filler);
    CHECK(filler_before_asked == want, "%s: depth %g of %lld filler tokens: the asked needle has %lld before it, want %lld", tname, c->depth,
          (long long)p.filler, (long long)filler_before_asked, (long long)want);
    lc_niah_prompt_destroy(&p);
}

static void test_prompts(void) {
    const char *toks[] = {"fixtures/recall", "fixtures/models/llama", "fixtures/models/mistral", "fixtures/models/qwen2"};
    const int64_t lengths[] = {97, 256, 1000, 4096};
    const double depths[] = {0, 0.1, 0.5, 0.77, 1};
    const int kv[][2] = {{1, 1}, {4, 1}, {1, 3}, {3, 2}};
    for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
        lc_tokenizer *t = load_tok(toks[ti]);
        if (!t) continue;
        for (size_t li = 0; li < 4; li++)
            for (size_t di = 0; di < 5; di++)
                for (size_t k = 0; k < 4; k++) {
                    lc_niah_config c = {lengths[li], depths[di], kv[k][0], kv[k][1], 7 + li, 0};
                    check_prompt(t, &c, toks[ti]);
                }
        lc_tokenizer_destroy(t);
    }
}

static void test_determinism(void) {
    lc_tokenizer *t = load_tok("fixtures/recall");
    if (!t) return;
    lc_niah_config c = {2000, 0.4, 3, 1, 11, 0};
    lc_niah_prompt a, b, d, e;
    CHECK(!lc_niah_build(t, &c, &a) && !lc_niah_build(t, &c, &b), "build");
    CHECK(a.n == b.n && !memcmp(a.ids, b.ids, sizeof(int32_t) * (size_t)a.n) && !strcmp(a.key, b.key) && !strcmp(a.value[0], b.value[0]),
          "the same seed gives the same prompt");
    c.seed = 12;
    CHECK(!lc_niah_build(t, &c, &d), "build seed 12");
    CHECK(memcmp(a.ids + 1, d.ids + 1, sizeof(int32_t) * 200) != 0, "another seed gives other filler");
    /* depths and lengths share the filler's beginning: ids before the first needle agree */
    c.seed = 11, c.depth = 0.9, c.length = 3000;
    CHECK(!lc_niah_build(t, &c, &e), "build depth 0.9");
    int64_t common = a.needle[0].pos < e.needle[0].pos ? a.needle[0].pos : e.needle[0].pos;
    CHECK(common > 10 && !memcmp(a.ids, e.ids, sizeof(int32_t) * (size_t)common), "the filler before the first needle is shared (%lld ids)",
          (long long)common);
    /* deeper needles sit later */
    int64_t last = -1;
    for (int i = 0; i <= 10; i++) {
        lc_niah_config s = {1500, i / 10.0, 1, 1, 3, 0};
        lc_niah_prompt p;
        if (lc_niah_build(t, &s, &p)) continue;
        CHECK(p.needle[0].pos > last, "depth %d0%%: needle at %lld after %lld", i, (long long)p.needle[0].pos, (long long)last);
        last = p.needle[0].pos;
        lc_niah_prompt_destroy(&p);
    }
    lc_niah_prompt_destroy(&a), lc_niah_prompt_destroy(&b), lc_niah_prompt_destroy(&d), lc_niah_prompt_destroy(&e);
    lc_tokenizer_destroy(t);
}

/* The recall format's tokenizer: one id per word, per digit and per mark, and the prompt's
 * text encodes back to its ids (what scripts/train_recall_models.py checks with tokenizers). */
static void test_format_tokenizer(void) {
    lc_tokenizer *t = load_tok("fixtures/recall");
    if (!t) return;
    static const int32_t want_filler[] = {259, 278, 261, 308, 49};                    /* " The grass is green." */
    static const int32_t want_value[] = {35, 52, 53, 54, 55, 56, 57, 58, 49};          /* " 1234567." */
    static const int32_t want_needle[] = {259, 271, 272, 273, 275, 358, 261, 35, 51, 51, 52, 53, 54, 55, 56, 49};
    struct {
        const char *text;
        const int32_t *ids;
        int64_t n;
    } cases[] = {{" The grass is green.", want_filler, 5}, {" 1234567.", want_value, 9},
                 {" The special magic number for apple is 0012345.", want_needle, 16}};
    for (int i = 0; i < 3; i++) {
        int32_t *ids = NULL;
        int64_t n = 0;
        lc_tokenizer_encode_alloc(t, cases[i].text, strlen(cases[i].text), 0, &ids, &n);
        CHECK(ids && n == cases[i].n && !memcmp(ids, cases[i].ids, sizeof(int32_t) * (size_t)n), "'%s' encodes as scripts/recall_data.py says",
              cases[i].text);
        free(ids);
    }
    for (int k = 0; k < 3; k++) {
        lc_niah_config c = {1000, 0.3 * k, k + 1, 1 + (k == 2), 5, 0};
        lc_niah_prompt p;
        if (lc_niah_build(t, &c, &p)) continue;
        char *text = NULL;
        size_t len = 0;
        int32_t *back = NULL;
        int64_t nb = 0;
        CHECK(!lc_tokenizer_decode_alloc(t, p.ids, p.n, 1, &text, &len), "decode");
        CHECK(text && !lc_tokenizer_encode_alloc(t, text, len, 1, &back, &nb), "encode");
        CHECK(back && nb == p.n && !memcmp(back, p.ids, sizeof(int32_t) * (size_t)nb), "prompt %d: encode(decode(ids)) == ids (%lld vs %lld)", k,
              (long long)nb, (long long)p.n);
        char needle[128];
        lc_niah_needle_text(p.key, p.value[0], needle, sizeof needle);
        CHECK(text && strstr(text, needle), "prompt %d: the text holds '%s'", k, needle);
        free(text), free(back);
        lc_niah_prompt_destroy(&p);
    }
    lc_tokenizer_destroy(t);
}

static void test_score_and_errors(void) {
    lc_niah_prompt p;
    memset(&p, 0, sizeof p);
    p.n_values = 1;
    strcpy(p.value[0], "0412345");
    CHECK(lc_niah_score(&p, " 0412345.") == 1, "exact value");
    CHECK(lc_niah_score(&p, "The number is 0412345, I think") == 1, "value inside text");
    CHECK(lc_niah_score(&p, " 412345.") == 0, "a digit missing");
    CHECK(lc_niah_score(&p, " 0412346.") == 0, "a digit wrong");
    CHECK(lc_niah_score(&p, "") == 0, "empty");
    p.n_values = 3;
    strcpy(p.value[1], "1111111"), strcpy(p.value[2], "2222222");
    CHECK(fabs(lc_niah_score(&p, " 2222222, 0412345.") - 2.0 / 3) < 1e-12, "two of three values");
    lc_tokenizer *t = load_tok("fixtures/recall");
    if (!t) return;
    lc_niah_config c = {30, 0.5, 1, 1, 0, 0};
    CHECK(lc_niah_build(t, &c, &p) == LC_ERANGE, "30 tokens cannot hold a needle and a question");
    CHECK(strstr(lc_last_error(), "too short") != NULL, "sentence: %s", lc_last_error());
    c.length = 34; /* BOS 1 + needle 16 + question 16 + 1 filler */
    CHECK(lc_niah_build(t, &c, &p) == LC_OK && p.filler == 1, "34 tokens leave one filler token");
    lc_niah_prompt_destroy(&p);
    c.length = 33;
    CHECK(lc_niah_build(t, &c, &p) == LC_OK && p.filler == 0, "33 tokens leave none");
    lc_niah_prompt_destroy(&p);
    c.depth = 1.5;
    CHECK(lc_niah_build(t, &c, &p) == LC_EINVAL && strstr(lc_last_error(), "depth"), "depth 1.5");
    c.depth = 0.5, c.keys = 65;
    CHECK(lc_niah_build(t, &c, &p) == LC_EINVAL && strstr(lc_last_error(), "keys"), "65 keys");
    c.keys = 20, c.values = 20;
    CHECK(lc_niah_build(t, &c, &p) == LC_EINVAL, "39 needles");
    c.keys = 1, c.values = 1, c.no_bos = 1, c.length = 100;
    CHECK(lc_niah_build(t, &c, &p) == LC_OK && p.haystack_begin == 0 && p.ids[0] != lc_tokenizer_bos(t), "no_bos");
    lc_niah_prompt_destroy(&p);
    lc_tokenizer_destroy(t);
}

static void test_techniques(void) {
    lc_recall_technique x;
    CHECK(!lc_recall_technique_parse("full", &x) && x.ctx.window == 0 && !x.rag_top_k, "full");
    CHECK(!lc_recall_technique_parse("window:128", &x) && x.ctx.window == 128 && x.ctx.sinks == 0, "window");
    CHECK(!lc_recall_technique_parse("sinks:4,252", &x) && x.ctx.window == 252 && x.ctx.sinks == 4, "sinks");
    CHECK(!lc_recall_technique_parse("kv:int8", &x) && x.ctx.kv_dtype == LC_INT8, "kv:int8");
    CHECK(!lc_recall_technique_parse("kv:fp8", &x) && x.ctx.kv_dtype == LC_FP8, "kv:fp8");
    CHECK(!lc_recall_technique_parse("rope:yarn:4", &x) && x.ctx.rope_override && x.ctx.rope.type == LC_ROPE_YARN && x.ctx.rope.factor == 4, "yarn");
    CHECK(!lc_recall_technique_parse("rope:pi:2.5", &x) && x.ctx.rope.type == LC_ROPE_LINEAR && x.ctx.rope.factor == 2.5, "pi");
    CHECK(!lc_recall_technique_parse("rope:ntk:8", &x) && x.ctx.rope.type == LC_ROPE_NTK, "ntk");
    CHECK(!lc_recall_technique_parse("rope:dynamic:4", &x) && x.ctx.rope.type == LC_ROPE_DYNAMIC, "dynamic");
    CHECK(!lc_recall_technique_parse("rag:3", &x) && x.rag_top_k == 3 && x.rag_chunk == 64, "rag:3");
    CHECK(!lc_recall_technique_parse("rag:2,32", &x) && x.rag_top_k == 2 && x.rag_chunk == 32, "rag:2,32");
    CHECK(!lc_recall_technique_parse("sinks:4,60+kv:int8+rope:yarn:2", &x) && x.ctx.sinks == 4 && x.ctx.window == 60 && x.ctx.kv_dtype == LC_INT8 &&
              x.ctx.rope.factor == 2 && !strcmp(x.name, "sinks:4,60+kv:int8+rope:yarn:2"),
          "combined");
    const char *bad[] = {"", "window", "window:0", "window:-3", "window:12x", "sinks:4", "sinks:,8", "kv:int4", "kv:", "rope:yarn",
                         "rope:cubic:2", "rope:yarn:0.5", "rag:0", "rag:2,1", "full+", "+full", "nothing", "window:8++kv:int8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(lc_recall_technique_parse(bad[i], &x) == LC_EINVAL, "'%s' refused", bad[i]);
    CHECK(!lc_recall_technique_parse("window:64+knn:16", &x) && x.ctx.window == 64 && x.ctx.retrieval.kind == LC_RETRIEVAL_KNN &&
              x.ctx.retrieval.top_k == 16,
          "window:64+knn:16");
    CHECK(!lc_recall_technique_parse("sinks:4,60+blocks:2,32", &x) && x.ctx.sinks == 4 && x.ctx.retrieval.kind == LC_RETRIEVAL_BLOCKS &&
              x.ctx.retrieval.top_k == 2 && x.ctx.retrieval.block == 32,
          "sinks:4,60+blocks:2,32");
    CHECK(!lc_recall_technique_parse("window:8+blocks:3", &x) && x.ctx.retrieval.block == 0, "blocks:3 leaves the block size to the context");
    const char *bad_retrieval[] = {"knn", "knn:0", "knn:-1", "knn:2x", "blocks:", "blocks:2,", "blocks:2,0", "blocks:,4", "landmark:2"};
    for (size_t i = 0; i < sizeof bad_retrieval / sizeof bad_retrieval[0]; i++)
        CHECK(lc_recall_technique_parse(bad_retrieval[i], &x) == LC_EINVAL, "'%s' refused", bad_retrieval[i]);
}

/* lc_context_prefill_hidden: the hidden states through lm_head give prefill's logits. */
static void test_hidden_of(const char *name) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/fixtures/models/%s", src_dir, name);
    lc_model *m = NULL;
    lc_safetensors *st = NULL;
    if (lc_model_load(dir, &m) || lc_safetensors_open(dir, &st)) {
        CHECK(0, "load %s: %s", dir, lc_last_error());
        lc_model_destroy(m);
        return;
    }
    const lc_model_config *mc = lc_model_config_of(m);
    const lc_st_tensor *w = lc_safetensors_find(st, "lm_head.weight");
    CHECK(w && w->dtype == LC_F32 && w->shape[0] == mc->vocab && w->shape[1] == mc->hidden, "%s: lm_head.weight", name);
    const int64_t n = 37, H = mc->hidden, V = mc->vocab;
    int32_t toks[37];
    for (int i = 0; i < n; i++) toks[i] = (int32_t)((i * 7919 + 3) % V);
    float *hid = malloc(sizeof(float) * (size_t)(n * H)), *lg = malloc(sizeof(float) * (size_t)(n * V));
    lc_context_config c;
    memset(&c, 0, sizeof c);
    c.max_batch = 16; /* three chunks */
    lc_context *a = NULL, *b = NULL;
    int sa, sb;
    CHECK(!lc_context_create(m, &c, &a) && !lc_context_create(m, &c, &b) && !lc_context_seq_new(a, &sa) && !lc_context_seq_new(b, &sb), "contexts");
    CHECK(!lc_context_prefill_hidden(a, sa, toks, n, hid), "prefill_hidden: %s", lc_last_error());
    CHECK(!lc_context_prefill(b, sb, toks, n, lg, 1), "prefill");
    CHECK(lc_context_seq_len(a, sa) == n, "prefill_hidden feeds the tokens");
    double worst = 0, big = 0;
    const float *W = w ? (const float *)w->data : NULL;
    for (int64_t i = 0; W && i < n; i++)
        for (int64_t v = 0; v < V; v++) {
            double s = 0;
            for (int64_t j = 0; j < H; j++) s += (double)hid[i * H + j] * W[v * H + j];
            double d = fabs(s - lg[i * V + v]);
            worst = d > worst ? d : worst;
            big = fabs(lg[i * V + v]) > big ? fabs(lg[i * V + v]) : big;
        }
    CHECK(worst <= 1e-4 * (big > 1 ? big : 1), "%s: hidden x lm_head = logits within %g (largest %g)", name, worst, big);
    /* a decode after prefill_hidden gives logits again */
    int32_t t = 5;
    CHECK(!lc_context_decode(a, 1, &sa, &t, lg), "decode after prefill_hidden");
    CHECK(lc_context_prefill_hidden(a, sa, toks, n, NULL) == LC_EINVAL, "NULL hidden");
    lc_context_destroy(a), lc_context_destroy(b);
    free(hid), free(lg);
    lc_safetensors_destroy(st);
    lc_model_destroy(m);
}

static void test_hidden(void) {
    test_hidden_of("llama");   /* llama.c's forward */
    test_hidden_of("mamba2");  /* arch_forward.c's */
    test_hidden_of("jamba");
}

/* Every technique runs on the golden checkpoints; state bytes follow the plan. */
static void test_run(void) {
    const char *models[] = {"llama", "mistral", "qwen2", "mamba2"};
    const char *techs[] = {"full", "window:16", "sinks:4,16", "kv:int8", "kv:fp8", "rope:yarn:2", "rope:dynamic:2", "rag:2,16", "rag:1,16+kv:int8"};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/fixtures/models/%s", src_dir, models[mi]);
        lc_model *m = NULL;
        lc_tokenizer *t = NULL;
        lc_status st = lc_model_load(dir, &m);
        if (st == LC_EUNSUPPORTED) { /* an architecture the runner does not have yet */
            fprintf(stderr, "test_recall: %s skipped: %s\n", models[mi], lc_last_error());
            continue;
        }
        CHECK(st == LC_OK && !lc_tokenizer_load(dir, &t), "load %s: %s", models[mi], lc_last_error());
        if (!m || !t) {
            lc_model_destroy(m), lc_tokenizer_destroy(t);
            continue;
        }
        const lc_model_config *mc = lc_model_config_of(m);
        lc_niah_config c = {200, 0.5, 2, 1, 1, 0};
        lc_niah_prompt p;
        CHECK(!lc_niah_build(t, &c, &p), "%s: build", models[mi]);
        size_t full_bytes = 0;
        for (size_t ti = 0; ti < sizeof techs / sizeof techs[0]; ti++) {
            lc_recall_technique x;
            CHECK(!lc_recall_technique_parse(techs[ti], &x), "%s", techs[ti]);
            lc_niah_run_config rc = {4, 2, 32};
            lc_niah_result r;
            if (lc_context_config_check(m, &x.ctx)) { /* a plan the model refuses: only where it has nothing to window or quantize */
                CHECK(mc->arch == LC_ARCH_MAMBA2 && ti > 0, "%s refuses %s: %s", models[mi], techs[ti], lc_last_error());
                continue;
            }
            st = lc_niah_run(m, t, &x, &p, &rc, &r);
            CHECK(st == LC_OK, "%s %s: %s", models[mi], techs[ti], lc_last_error());
            if (st) continue;
            CHECK(r.generated >= 0 && r.generated <= 4 && r.score >= 0 && r.score <= 1, "%s %s: result", models[mi], techs[ti]);
            CHECK(r.state_bytes > 0 && r.prefill_s >= 0 && r.decode_s >= 0, "%s %s: bytes and times", models[mi], techs[ti]);
            if (ti == 0) {
                full_bytes = r.state_bytes;
                CHECK(r.prompt_tokens == p.n, "full reads the whole prompt");
                if (mc->arch != LC_ARCH_MAMBA2 && mc->layer[0].window == 0)
                    CHECK(r.state_bytes == (size_t)(mc->layers * p.n * 2 * mc->kv_heads * mc->head_dim * 4), "%s: f32 KV bytes of %lld tokens",
                          models[mi], (long long)p.n);
            }
            if (!strcmp(techs[ti], "window:16") && mc->layer[0].window == 0) CHECK(r.state_bytes < full_bytes, "%s: a window keeps less", models[mi]);
            if (!strncmp(techs[ti], "rag", 3)) {
                CHECK(r.prompt_tokens < p.n && r.rag_hit >= 0, "%s %s: the model reads %lld of %lld tokens", models[mi], techs[ti],
                      (long long)r.prompt_tokens, (long long)p.n);
            } else {
                CHECK(r.rag_hit == -1, "no rag");
            }
        }
        lc_niah_prompt_destroy(&p);
        lc_tokenizer_destroy(t);
        lc_model_destroy(m);
    }
}

int main(void) {
    snprintf(src_dir, sizeof src_dir, "%s", __FILE__);
    char *slash = strrchr(src_dir, '/');
    if (slash) *slash = 0;
    test_seed("test_recall");
    test_prompts();
    test_determinism();
    test_format_tokenizer();
    test_score_and_errors();
    test_techniques();
    test_hidden();
    test_run();
    return test_finish("test_recall");
}
