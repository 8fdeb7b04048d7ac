/* The tokenizer: the pre-tokenizer regexes split by hand, small tokenizer.json files built
 * here whose ids follow by hand from their merges (byte-level, SentencePiece new and
 * legacy), added tokens, post-processors, decoders, refusals and bad input; then, when
 * tests/fixtures/tokenizer/ is present, every case of cases.json against the ids and text
 * the `tokenizers` library gave (scripts/gen_model_fixtures.py, tokenizers 0.23.2). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/model/tokenizer_internal.h"
#include "../src/model/unicode.h"
#include "harness.h"

static char tmpdir[64];

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *write_file(const char *name, const char *text) {
    static char path[2][256];
    static int k;
    char *p = path[k++ & 1];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static const char *write_json(const char *name, cJSON *root) {
    char *s = cJSON_PrintUnformatted(root);
    const char *p = write_file(name, s);
    free(s);
    cJSON_Delete(root);
    return p;
}

/* "1 2 3" -> ids; returns the count. */
static int parse(const char *s, int32_t *ids) {
    int n = 0;
    char *end;
    for (long v; (v = strtol(s, &end, 10)), end != s; s = end) ids[n++] = (int32_t)v;
    return n;
}

static void expect_ids(const lc_tokenizer *t, const char *text, int add_special, const char *want, const char *label) {
    int32_t w[256], got[256];
    int nw = parse(want, w);
    int64_t n = 0;
    lc_status st = lc_tokenizer_encode(t, text, strlen(text), add_special, got, 256, &n);
    int same = st == LC_OK && n == nw;
    for (int i = 0; same && i < nw; i++) same = got[i] == w[i];
    char buf[1024] = "";
    for (int64_t i = 0, o = 0; i < n && i < 256 && o < 1000; i++) o += snprintf(buf + o, sizeof buf - (size_t)o, "%d ", got[i]);
    CHECK(same, "%s: encode(\"%s\", special=%d) = [%s] (%s %s), want [%s]", label, text, add_special, buf, lc_status_str(st), lc_last_error(), want);
}

static void expect_text(const lc_tokenizer *t, const char *ids, int skip, const char *want, const char *label) {
    int32_t v[256];
    int n = parse(ids, v);
    char out[1024];
    size_t len = 0;
    lc_status st = lc_tokenizer_decode(t, v, n, skip, out, sizeof out, &len);
    CHECK(st == LC_OK && len == strlen(want) && !memcmp(out, want, len), "%s: decode(%s, skip=%d) = '%.*s' (%s), want '%s'", label, ids, skip,
          (int)len, out, lc_status_str(st), want);
}

static void roundtrip(const lc_tokenizer *t, const char *text, const char *label) {
    int32_t *ids;
    int64_t n;
    char *out = NULL;
    size_t len = 0;
    lc_status st = lc_tokenizer_encode_alloc(t, text, strlen(text), 0, &ids, &n);
    if (!st) st = lc_tokenizer_decode_alloc(t, ids, n, 1, &out, &len);
    CHECK(st == LC_OK && len == strlen(text) && !memcmp(out, text, len), "%s: decode(encode('%s')) = '%s' (%s %s)", label, text, out ? out : "",
          lc_status_str(st), lc_last_error());
    if (!st) free(ids);
    free(out);
}

static cJSON *obj(const char *json) { return cJSON_Parse(json); }

/* ---- the regexes --------------------------------------------------------------------------- */

static void expect_split(tok_regex re, const char *text, const char *const *want, int nw) {
    size_t *ends = NULL, n = 0, cap = 0, len = strlen(text);
    lc_status st = tok_regex_split(re, text, len, &ends, &n, &cap);
    int same = st == LC_OK && (int)n == nw;
    for (int i = 0, from = 0; same && i < nw; i++) {
        size_t wl = strlen(want[i]);
        same = ends[i] - (size_t)from == wl && !memcmp(text + from, want[i], wl);
        from = (int)ends[i];
    }
    char got[512] = "";
    for (size_t i = 0, from = 0, o = 0; i < n && o < 480; i++) {
        o += (size_t)snprintf(got + o, sizeof got - o, "[%.*s]", (int)(ends[i] - from), text + from);
        from = ends[i];
    }
    CHECK(same, "regex %d split of '%s': %s", (int)re, text, got);
    free(ends);
}

#define SPLIT(re, text, ...)                                                            \
    do {                                                                                \
        const char *const w_[] = {__VA_ARGS__};                                         \
        expect_split(re, text, w_, (int)(sizeof w_ / sizeof *w_));                      \
    } while (0)

static void test_regex(void) {
    /* GPT-2 */
    SPLIT(TOK_RE_GPT2, "Hello world", "Hello", " world");
    SPLIT(TOK_RE_GPT2, "I'm here", "I", "'m", " here");
    SPLIT(TOK_RE_GPT2, "we'LL 'S", "we", "'", "LL", " '", "S"); /* case-sensitive contractions */
    SPLIT(TOK_RE_GPT2, "a  b", "a", " ", " b");
    SPLIT(TOK_RE_GPT2, "x   \n y", "x", "   \n", " y");
    SPLIT(TOK_RE_GPT2, "123abc 45", "123", "abc", " 45");
    SPLIT(TOK_RE_GPT2, " 42!!", " 42", "!!");
    SPLIT(TOK_RE_GPT2, "end  ", "end", "  ");
    SPLIT(TOK_RE_GPT2, "h\xc3\xa9llo w\xc3\xb6rld", "h\xc3\xa9llo", " w\xc3\xb6rld");
    SPLIT(TOK_RE_GPT2, "\n\nword", "\n", "\n", "word");
    SPLIT(TOK_RE_GPT2, "$100 ok", "$", "100", " ok");
    SPLIT(TOK_RE_GPT2, "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xef\xbc\x8c", "\xe4\xb8\x96"); /* 你好，世 */
    SPLIT(TOK_RE_GPT2, "a\xc2\xa0" "b", "a", "\xc2\xa0", "b"); /* NBSP is \s */
    /* Llama 3 */
    SPLIT(TOK_RE_LLAMA3, "Hello world", "Hello", " world");
    SPLIT(TOK_RE_LLAMA3, "I'M here", "I", "'M", " here");
    SPLIT(TOK_RE_LLAMA3, "12345", "123", "45");
    SPLIT(TOK_RE_LLAMA3, "abc 42", "abc", " ", "42");
    SPLIT(TOK_RE_LLAMA3, "(hello", "(hello");
    SPLIT(TOK_RE_LLAMA3, "a\n\nb", "a", "\n\n", "b");
    SPLIT(TOK_RE_LLAMA3, "x  \n  y", "x", "  \n", " ", " y");
    SPLIT(TOK_RE_LLAMA3, "foo!!\n\nbar", "foo", "!!\n\n", "bar");
    SPLIT(TOK_RE_LLAMA3, "end  ", "end", "  ");
    SPLIT(TOK_RE_LLAMA3, "\tword", "\tword");
    SPLIT(TOK_RE_LLAMA3, "x\r\n\r\n", "x", "\r\n\r\n");
    SPLIT(TOK_RE_LLAMA3, " \xf0\x9f\x98\x80!", " \xf0\x9f\x98\x80!"); /* emoji and ! are both "other" */
    /* Qwen2 */
    SPLIT(TOK_RE_QWEN2, "12345", "1", "2", "3", "4", "5");
    SPLIT(TOK_RE_QWEN2, "abc 12", "abc", " ", "1", "2");
    CHECK(tok_regex_lookup("\\s+") < 0, "an unknown pattern is not recognised");
}

/* ---- a byte-level BPE (GPT-2 style) --------------------------------------------------------- */

/* Vocab: id b is byte b (in the byte-level alphabet), then the merges' results. */
static cJSON *byte_level_model(int ignore_merges, const char *extra_vocab) {
    cJSON *model = obj("{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
                       "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false}");
    cJSON_AddBoolToObject(model, "ignore_merges", ignore_merges);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (unsigned b = 0; b < 256; b++) {
        char s[4];
        s[tok_utf8_encode(tok_byte_to_cp(b), s)] = '\0';
        cJSON_AddNumberToObject(vocab, s, b);
    }
    /* Ġ is the space */
    const char *merged[] = {"\xc4\xa0t", "he", "\xc4\xa0the", "ll", "ell"};
    for (int i = 0; i < 5; i++) cJSON_AddNumberToObject(vocab, merged[i], 256 + i);
    cJSON *extra = obj(extra_vocab);
    for (cJSON *e = extra ? extra->child : NULL; e; e = e->next) cJSON_AddNumberToObject(vocab, e->string, e->valuedouble);
    cJSON_Delete(extra);
    cJSON_AddItemToObject(model, "merges", obj("[\"\xc4\xa0 t\", [\"h\", \"e\"], \"\xc4\xa0t he\", \"l l\", \"e ll\"]"));
    return model;
}

static const char *gpt2_added =
    "[{\"id\":262,\"content\":\"<|endoftext|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":263,\"content\":\"<|end|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":266,\"content\":\"<mask>\",\"single_word\":false,\"lstrip\":true,\"rstrip\":false,\"normalized\":false,\"special\":true},"
    "{\"id\":267,\"content\":\"<r>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":true,\"normalized\":false,\"special\":false},"
    "{\"id\":269,\"content\":\"<w>\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false},"
    "{\"id\":270,\"content\":\"hi!\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false}]";

static void test_gpt2(void) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "added_tokens", obj(gpt2_added));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer", obj("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "post_processor", obj("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "decoder", obj("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "model", byte_level_model(0, NULL));
    lc_tokenizer *t = NULL;
    lc_status st = lc_tokenizer_load(write_json("gpt2.json", root), &t);
    CHECK(st == LC_OK, "gpt2 load: %s %s", lc_status_str(st), lc_last_error());
    if (st) return;
    CHECK(lc_tokenizer_vocab_size(t) == 271, "vocab size %lld", (long long)lc_tokenizer_vocab_size(t));
    /* "hello": he (rank 1) before ll (rank 3); "e ll" never applies since e is gone */
    expect_ids(t, "hello the", 0, "257 259 111 258", "gpt2");
    expect_ids(t, "hello the", 1, "257 259 111 258", "gpt2"); /* ByteLevel post-processor adds nothing */
    expect_ids(t, "", 0, "", "gpt2");
    expect_ids(t, "hi<|endoftext|>there", 0, "104 105 262 116 257 114 101", "gpt2");
    expect_ids(t, "<|end|><|endoftext|>", 0, "263 262", "gpt2"); /* longest match */
    expect_ids(t, "a <mask> b", 0, "97 266 32 98", "gpt2");    /* lstrip takes the space before */
    expect_ids(t, "x<r>  y", 0, "120 267 121", "gpt2");        /* rstrip the spaces after */
    expect_ids(t, "a<w>", 0, "97 60 119 62", "gpt2");          /* single_word: inside a word, not split out */
    expect_ids(t, " <w> x", 0, "32 269 32 120", "gpt2");
    expect_ids(t, "oh hi!", 0, "111 104 32 270", "gpt2"); /* a normalized added token */
    expect_ids(t, "\xc3\xa9", 0, "195 169", "gpt2");
    expect_text(t, "257 259 111 258", 0, "hello the", "gpt2");
    expect_text(t, "104 105 262 116", 0, "hi<|endoftext|>t", "gpt2");
    expect_text(t, "104 105 262 116", 1, "hit", "gpt2");
    expect_text(t, "104 99999 105 -5", 0, "hi", "gpt2"); /* unknown ids are skipped */
    expect_text(t, "195", 0, "\xef\xbf\xbd", "gpt2");   /* a cut UTF-8 sequence: U+FFFD */
    roundtrip(t, "Hello, world! It's 2024 -- caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\n\n\tend  ", "gpt2");
    int32_t id = -1;
    CHECK(lc_tokenizer_token_id(t, "<|endoftext|>", &id) == LC_OK && id == 262, "token_id <|endoftext|> = %d", id);
    CHECK(lc_tokenizer_token_id(t, "he", &id) == LC_OK && id == 257, "token_id he = %d", id);
    CHECK(lc_tokenizer_token_id(t, "nope", &id) == LC_ERANGE, "token_id of an unknown token");
    CHECK(lc_tokenizer_eos(t) == 262 && lc_tokenizer_bos(t) == -1, "gpt2 bos %d eos %d", lc_tokenizer_bos(t), lc_tokenizer_eos(t));
    CHECK(lc_tokenizer_is_special(t, 262) && !lc_tokenizer_is_special(t, 267) && !lc_tokenizer_is_special(t, 5), "is_special");
    CHECK(lc_tokenizer_token_str(t, 258) && !strcmp(lc_tokenizer_token_str(t, 258), "\xc4\xa0the"), "token_str 258");

    /* capacity and bad text */
    int32_t small[2];
    int64_t n = 0;
    st = lc_tokenizer_encode(t, "hello the", 9, 0, small, 2, &n);
    CHECK(st == LC_ERANGE && n == 4 && small[0] == 257 && small[1] == 259, "encode past max_ids: %s n=%lld", lc_status_str(st), (long long)n);
    st = lc_tokenizer_encode(t, "ab\xff", 3, 0, small, 2, &n);
    CHECK(st == LC_EINVAL && strstr(lc_last_error(), "byte 2"), "invalid UTF-8: %s %s", lc_status_str(st), lc_last_error());
    st = lc_tokenizer_encode(t, "a\xed\xa0\x80", 4, 0, small, 2, &n); /* a surrogate */
    CHECK(st == LC_EINVAL, "a UTF-8 surrogate is refused: %s", lc_status_str(st));
    char out[4];
    size_t len = 0;
    int32_t ids[] = {257, 259, 111};
    st = lc_tokenizer_decode(t, ids, 3, 0, out, sizeof out, &len);
    CHECK(st == LC_ERANGE && len == 5, "decode past cap: %s len=%zu", lc_status_str(st), len);
    CHECK(lc_tokenizer_encode(t, "x", 1, 0, NULL, 0, &n) == LC_ERANGE && n == 1, "max_ids 0 tells the count");
    lc_tokenizer_destroy(t);
}

/* The Llama-3 shape: Split(regex) then ByteLevel(use_regex=false), ignore_merges, a template. */
static void test_llama3_shape(void) {
    for (int ignore = 0; ignore < 2; ignore++) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "added_tokens",
                              obj("[{\"id\":300,\"content\":\"<|begin_of_text|>\",\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
                                  "{\"id\":301,\"content\":\"<|end_of_text|>\",\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}]"));
        cJSON *pre = obj("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},\"behavior\":\"Isolated\",\"invert\":false},"
                         "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]}");
        cJSON *pattern = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pre, "pretokenizers"), 0), "pattern");
        cJSON_ReplaceItemInObject(pattern, "Regex",
                                  cJSON_CreateString("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));
        cJSON_AddItemToObject(root, "pre_tokenizer", pre);
        cJSON_AddItemToObject(root, "post_processor",
                              obj("{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\",\"trim_offsets\":false},{\"type\":\"TemplateProcessing\","
                                  "\"single\":[{\"SpecialToken\":{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                                  "\"pair\":[],\"special_tokens\":{\"<|begin_of_text|>\":{\"id\":\"<|begin_of_text|>\",\"ids\":[300],\"tokens\":[\"<|begin_of_text|>\"]}}}]}"));
        cJSON_AddItemToObject(root, "decoder", obj("{\"type\":\"ByteLevel\"}"));
        cJSON_AddItemToObject(root, "model", byte_level_model(ignore, "{\"\xc4\xa0hello\": 290, \"1234\": 291}"));
        lc_tokenizer *t = NULL;
        lc_status st = lc_tokenizer_load(write_json("llama3.json", root), &t);
        CHECK(st == LC_OK, "llama3-shape load: %s %s", lc_status_str(st), lc_last_error());
        if (st) continue;
        /* " hello" is in the vocab but no merge makes it: only ignore_merges emits it whole */
        expect_ids(t, "a hello", 0, ignore ? "97 290" : "97 32 257 259 111", "llama3");
        expect_ids(t, "a hello", 1, ignore ? "300 97 290" : "300 97 32 257 259 111", "llama3");
        expect_ids(t, "1234", 0, "49 50 51 52", "llama3"); /* digits split in threes before the vocab lookup */
        expect_ids(t, "<|begin_of_text|>x", 1, "300 300 120", "llama3");
        expect_text(t, "300 97 290", 1, "a hello", "llama3");
        expect_text(t, "300 97", 0, "<|begin_of_text|>a", "llama3");
        CHECK(lc_tokenizer_bos(t) == 300 && lc_tokenizer_eos(t) == 301, "llama3 bos %d eos %d", lc_tokenizer_bos(t), lc_tokenizer_eos(t));
        roundtrip(t, "It's 12345 apples.\r\n\r\n  (see: x)  ", "llama3");
        lc_tokenizer_destroy(t);
    }
}

/* ---- SentencePiece-style BPE ------------------------------------------------------------------ */

/* <unk> <s> </s>, <0x00>..<0xFF> at 3.., then ▁ h e l o w r d, then the merges' results. */
static cJSON *spm_model(void) {
    cJSON *model = obj("{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,\"ignore_merges\":false}");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON_AddNumberToObject(vocab, "<unk>", 0);
    cJSON_AddNumberToObject(vocab, "<s>", 1);
    cJSON_AddNumberToObject(vocab, "</s>", 2);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        cJSON_AddNumberToObject(vocab, s, 3 + b);
    }
    const char *sym[] = {"\xe2\x96\x81", "h", "e", "l", "o", "w", "r", "d"}; /* 259 .. 266 */
    for (int i = 0; i < 8; i++) cJSON_AddNumberToObject(vocab, sym[i], 259 + i);
    const char *merges[][2] = {{"\xe2\x96\x81", "h"}, {"l", "l"}, {"\xe2\x96\x81h", "e"}, {"\xe2\x96\x81he", "ll"}, {"\xe2\x96\x81hell", "o"},
                               {"\xe2\x96\x81", "w"}, {"o", "r"}, {"\xe2\x96\x81w", "or"}, {"l", "d"}, {"\xe2\x96\x81wor", "ld"}};
    cJSON *m = cJSON_AddArrayToObject(model, "merges");
    for (int i = 0; i < 10; i++) { /* results 267 .. 276 */
        char s[32];
        snprintf(s, sizeof s, "%s%s", merges[i][0], merges[i][1]);
        cJSON_AddNumberToObject(vocab, s, 267 + i);
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(merges[i][0]));
        cJSON_AddItemToArray(pair, cJSON_CreateString(merges[i][1]));
        cJSON_AddItemToArray(m, pair);
    }
    return model;
}

static const char *spm_added = "[{\"id\":0,\"content\":\"<unk>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
                               "{\"id\":1,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
                               "{\"id\":2,\"content\":\"</s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}]";
static const char *spm_template = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                                  "\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]}}}";
static const char *spm_decoder = "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\xe2\x96\x81\"},\"content\":\" \"},"
                                 "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}";

static lc_tokenizer *load_spm(int legacy, const char *decoder, const char *prepend, int split) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "added_tokens", obj(spm_added));
    if (legacy) {
        cJSON_AddItemToObject(root, "normalizer", obj("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"},"
                                                      "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"}]}"));
        cJSON_AddNullToObject(root, "pre_tokenizer");
    } else {
        char pre[256];
        snprintf(pre, sizeof pre, "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"%s\",\"split\":%s}", prepend, split ? "true" : "false");
        cJSON_AddNullToObject(root, "normalizer");
        cJSON_AddItemToObject(root, "pre_tokenizer", obj(pre));
    }
    cJSON_AddItemToObject(root, "post_processor", obj(spm_template));
    cJSON_AddItemToObject(root, "decoder", obj(decoder));
    cJSON_AddItemToObject(root, "model", spm_model());
    lc_tokenizer *t = NULL;
    lc_status st = lc_tokenizer_load(write_json("spm.json", root), &t);
    CHECK(st == LC_OK, "spm load (legacy=%d): %s %s", legacy, lc_status_str(st), lc_last_error());
    return t;
}

static void test_spm(void) {
    lc_tokenizer *t = load_spm(0, spm_decoder, "first", 1);
    if (t) {
        expect_ids(t, "hello world", 0, "271 276", "spm");
        expect_ids(t, "hello world", 1, "1 271 276", "spm");
        expect_ids(t, "hello  world", 0, "271 259 276", "spm");  /* "▁▁world" splits as ▁ | ▁world */
        expect_ids(t, " hello", 0, "271", "spm");                 /* already starts with ▁: nothing prepended */
        expect_ids(t, "\xc3\xa9", 0, "259 198 172", "spm");      /* é by byte fallback */
        expect_ids(t, "<s>hello", 0, "1 260 261 268 263", "spm"); /* "first": not the first piece, no ▁ */
        expect_ids(t, "hello</s>", 0, "271 2", "spm");
        expect_text(t, "1 271 276", 1, "hello world", "spm");
        expect_text(t, "1 271 276", 0, "<s> hello world", "spm");
        expect_text(t, "259 198 172", 0, "\xc3\xa9", "spm");
        expect_text(t, "271 198 266", 0, "hello\xef\xbf\xbd" "d", "spm"); /* a lone byte: U+FFFD */
        roundtrip(t, "hello world, caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\n\tdone", "spm");
        CHECK(lc_tokenizer_bos(t) == 1 && lc_tokenizer_eos(t) == 2, "spm bos %d eos %d", lc_tokenizer_bos(t), lc_tokenizer_eos(t));
        lc_tokenizer_destroy(t);
    }
    if ((t = load_spm(0, spm_decoder, "always", 1))) {
        expect_ids(t, "<s>hello", 0, "1 271", "spm always");
        lc_tokenizer_destroy(t);
    }
    if ((t = load_spm(0, spm_decoder, "first", 0))) { /* split false: one pre-token for all */
        expect_ids(t, "hello world", 0, "271 276", "spm nosplit");
        lc_tokenizer_destroy(t);
    }
    const char *meta = "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true}";
    if ((t = load_spm(0, meta, "always", 1))) {
        expect_text(t, "271 276", 0, "hello world", "spm metaspace decoder");
        expect_text(t, "1 271 276", 0, "<s> hello world", "spm metaspace decoder");
        lc_tokenizer_destroy(t);
    }
    if ((t = load_spm(1, spm_decoder, NULL, 0))) {
        expect_ids(t, "hello world", 0, "271 276", "spm legacy");
        expect_ids(t, "hello world", 1, "1 271 276", "spm legacy");
        expect_ids(t, "<s>hello", 0, "1 271", "spm legacy"); /* Prepend runs on every piece */
        expect_ids(t, "hello  world", 0, "271 259 276", "spm legacy");
        expect_ids(t, "hi\xe2\x82\xac", 0, "267 108 229 133 175", "spm legacy"); /* i and the euro sign by bytes */
        expect_text(t, "1 271 276", 1, "hello world", "spm legacy");
        roundtrip(t, "hello world, caf\xc3\xa9 \xf0\x9f\x98\x80\n\tdone  ", "spm legacy");
        lc_tokenizer_destroy(t);
    }
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void expect_load_fails(const char *json, lc_status want, const char *needle, const char *label) {
    lc_tokenizer *t = NULL;
    lc_status st = lc_tokenizer_load(write_file("bad.json", json), &t);
    CHECK(st == want && t == NULL && (!needle || strstr(lc_last_error(), needle)), "%s: %s '%s', want %s with '%s'", label, lc_status_str(st),
          lc_last_error(), lc_status_str(want), needle ? needle : "");
    lc_tokenizer_destroy(t);
}

#define BPE_OK "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void test_bad(void) {
    lc_tokenizer *t = NULL;
    CHECK(lc_tokenizer_load("/nonexistent/dir/tokenizer.json", &t) == LC_EIO && !t, "a missing file is LC_EIO");
    CHECK(lc_tokenizer_load(NULL, &t) == LC_EINVAL, "NULL path");
    expect_load_fails("{", LC_EFORMAT, "JSON", "truncated JSON");
    expect_load_fails("[]", LC_EFORMAT, "object", "not an object");
    expect_load_fails("{}", LC_EFORMAT, "model", "no model");
    expect_load_fails("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", LC_EUNSUPPORTED, "model.type 'WordPiece'", "WordPiece");
    expect_load_fails("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", LC_EUNSUPPORTED, "bad.json", "Unigram");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"merges\":[]}}", LC_EFORMAT, "model.vocab", "no vocab");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", LC_EFORMAT, "model.merges", "no merges");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", LC_EFORMAT, "model.vocab", "negative id");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}", LC_EFORMAT, "model.vocab", "string id");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a c\"]}}", LC_EFORMAT, "'c'", "merge out of vocab");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}", LC_EFORMAT, "'aa'", "merge result out of vocab");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"aa\"]}}", LC_EFORMAT, "merges[0]", "merge without a space");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}", LC_EFORMAT, "merges[0]", "merge pair of one");
    expect_load_fails("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"continuing_subword_prefix\":\"##\"}}", LC_EUNSUPPORTED,
                      "continuing_subword_prefix", "subword prefix");
    expect_load_fails("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", LC_EUNSUPPORTED, "pre_tokenizer.type 'Whitespace'", "Whitespace");
    expect_load_fails("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+|\\\\d\"},\"behavior\":\"Isolated\",\"invert\":false}}",
                      LC_EUNSUPPORTED, "'\\w+|\\d'", "unknown regex");
    expect_load_fails("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\",\"invert\":false}}",
                      LC_EFORMAT, "Sideways", "bad behavior");
    expect_load_fails("{" BPE_OK ",\"normalizer\":{\"type\":\"NFKC\"}}", LC_EUNSUPPORTED, "normalizer.type 'NFKC'", "NFKC");
    expect_load_fails("{" BPE_OK ",\"normalizer\":{\"type\":\"Prepend\"}}", LC_EFORMAT, "normalizer.prepend", "Prepend without text");
    expect_load_fails("{" BPE_OK ",\"decoder\":{\"type\":\"WordPiece\"}}", LC_EUNSUPPORTED, "decoder.type 'WordPiece'", "WordPiece decoder");
    expect_load_fails("{" BPE_OK ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}]}}",
                      LC_EFORMAT, "'<s>'", "template without ids");
    expect_load_fails("{" BPE_OK ",\"added_tokens\":[{\"content\":\"x\"}]}", LC_EFORMAT, "added_tokens[0].id", "added token without id");
    expect_load_fails("{" BPE_OK ",\"added_tokens\":[{\"id\":99999999999,\"content\":\"x\"}]}", LC_EFORMAT, "added_tokens[0].id", "huge id");
    expect_load_fails("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"}}", LC_EFORMAT, "single character", "replacement");

    /* a minimal file loads; NFC then Lowercase */
    lc_status st = lc_tokenizer_load(write_file("nfc.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\xc3\xa9\":3,"
                                                           "\"\xea\xb0\x81\":4},\"merges\":[\"a b\"]},"
                                                           "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Lowercase\"}]}}"),
                                    &t);
    CHECK(st == LC_OK, "minimal load: %s %s", lc_status_str(st), lc_last_error());
    if (t) {
        expect_ids(t, "AB", 0, "2", "nfc+lowercase");            /* lowercased, merged */
        expect_ids(t, "a\xc3\xb6" "b", 0, "2", "nfc+lowercase"); /* no unk: an unknown character vanishes, then a b merge */
        expect_ids(t, "e\xcc\x81", 0, "3", "nfc+lowercase");      /* e + U+0301 composes to U+00E9 */
        expect_ids(t, "E\xcc\x81", 0, "3", "nfc+lowercase");      /* É, then lowercase */
        expect_ids(t, "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 0, "4", "nfc+lowercase"); /* Hangul jamo to U+AC01 */
        expect_text(t, "0 1 2", 0, "a b ab", "no decoder"); /* joined by spaces, as tokenizers does */
        lc_tokenizer_destroy(t);
    }
    struct {
        const char *in, *out;
    } nfc[] = {
        {"abc", "abc"},
        {"e\xcc\x81", "\xc3\xa9"},
        {"\xe2\x84\xab", "\xc3\x85"},                        /* U+212B ANGSTROM SIGN, a singleton */
        {"\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc"},      /* U+0958, excluded from composition */
        {"a\xcc\x87\xcc\xa3", "\xe1\xba\xa1\xcc\x87"},     /* marks reordered (220 before 230), then composed */
        {"\xcc\x81" "a", "\xcc\x81" "a"},                      /* a leading mark stays */
        {"\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81"},      /* LV + T */
    };
    for (size_t i = 0; i < sizeof nfc / sizeof *nfc; i++) {
        tok_buf out = {0};
        st = tok_nfc(nfc[i].in, strlen(nfc[i].in), &out);
        CHECK(st == LC_OK && out.n == strlen(nfc[i].out) && !memcmp(out.p, nfc[i].out, out.n), "NFC case %zu", i);
        free(out.p);
    }
}

/* Random damage to a valid file never crashes the reader. */
static void test_fuzz(test_rng *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "added_tokens", obj(spm_added));
    cJSON_AddItemToObject(root, "post_processor", obj(spm_template));
    cJSON_AddItemToObject(root, "decoder", obj(spm_decoder));
    cJSON_AddItemToObject(root, "pre_tokenizer", obj("{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\",\"split\":true}"));
    cJSON_AddItemToObject(root, "model", spm_model());
    char *good = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t n = strlen(good);
    char *bad = malloc(n + 1);
    int loaded = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(bad, good, n + 1);
        int edits = 1 + (int)test_below(r, 4);
        size_t len = n;
        for (int e = 0; e < edits; e++) {
            size_t at = test_below(r, len);
            switch (test_below(r, 3)) {
            case 0: bad[at] = "{}[]\":,0-9a \\"[test_below(r, 13)]; break;
            case 1: len = at, bad[len] = '\0'; break; /* truncate */
            default: bad[at] = (char)(1 + test_below(r, 255)); break;
            }
            if (!len) break;
        }
        lc_tokenizer *t = NULL;
        if (lc_tokenizer_load(write_file("fuzz.json", bad), &t) == LC_OK) {
            loaded++;
            int32_t ids[64];
            int64_t k;
            lc_tokenizer_encode(t, "hello world <s> \xc3\xa9", 17, 1, ids, 64, &k);
            char out[256];
            size_t olen;
            lc_tokenizer_decode(t, ids, k < 64 ? k : 64, 0, out, sizeof out, &olen);
            lc_tokenizer_destroy(t);
        }
    }
    printf("fuzz: %d of 300 damaged files still loaded\n", loaded);
    free(bad);
    free(good);
}

/* A long text: the BPE merge loop must stay O(n log n) per word (no timing asserted). */
static void test_long(test_rng *r) {
    lc_tokenizer *t = load_spm(1, spm_decoder, NULL, 0); /* legacy: the whole text is one word */
    if (!t) return;
    size_t n = 400000;
    char *text = malloc(n + 1);
    const char *alpha = "helowrd hello world ";
    for (size_t i = 0; i < n; i++) text[i] = alpha[test_below(r, 20)];
    text[n] = '\0';
    int32_t *ids;
    int64_t k;
    lc_status st = lc_tokenizer_encode_alloc(t, text, n, 0, &ids, &k);
    CHECK(st == LC_OK && k > 0 && k <= (int64_t)n + 1, "long encode: %s %lld ids", lc_status_str(st), (long long)k);
    if (!st) {
        char *back;
        size_t len;
        st = lc_tokenizer_decode_alloc(t, ids, k, 1, &back, &len);
        CHECK(st == LC_OK && len == n && !memcmp(back, text, n), "long round trip (%zu bytes back)", len);
        if (!st) free(back);
        free(ids);
    }
    /* one tokenizer shared by threads: the same ids from each */
    const char *para = "hello world, hello  there\n\twide \xe4\xbd\xa0\xe5\xa5\xbd <s> \xc3\xa9t\xc3\xa9 ";
    int32_t *ref;
    int64_t nref;
    if (lc_tokenizer_encode_alloc(t, para, strlen(para), 1, &ref, &nref) == LC_OK) {
        int bad = 0;
#pragma omp parallel for num_threads(4) reduction(+ : bad)
        for (int k = 0; k < 64; k++) {
            int32_t got[256];
            int64_t n;
            if (lc_tokenizer_encode(t, para, strlen(para), 1, got, 256, &n) != LC_OK || n != nref || memcmp(got, ref, (size_t)n * sizeof *got)) bad++;
        }
        CHECK(bad == 0, "%d of 64 encodes on 4 threads differ", bad);
        free(ref);
    }
    free(text);
    lc_tokenizer_destroy(t);
}


/* ---- the golden cases of the tokenizers library ------------------------------------------- */

static int fixture_dir(char *out, size_t cap) {
    const char *src = __FILE__, *slash = strrchr(src, '/');
    const char *tries[] = {"", "tests/fixtures/tokenizer", "../tests/fixtures/tokenizer", "../../tests/fixtures/tokenizer"};
    for (int i = 0; i < 4; i++) {
        if (i == 0 && !slash) continue;
        if (i == 0) snprintf(out, cap, "%.*s/fixtures/tokenizer", (int)(slash - src), src);
        else snprintf(out, cap, "%s", tries[i]);
        char p[600];
        snprintf(p, sizeof p, "%s/cases.json", out);
        if (access(p, R_OK) == 0) return 1;
    }
    return 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) free(p), p = NULL;
    if (p) p[n] = '\0';
    fclose(f);
    return p;
}

static int same_ids(const cJSON *want, const int32_t *got, int64_t n) {
    if (!cJSON_IsArray(want) || cJSON_GetArraySize(want) != n) return 0;
    int64_t i = 0;
    for (const cJSON *e = want->child; e; e = e->next, i++)
        if (!cJSON_IsNumber(e) || (int32_t)e->valuedouble != got[i]) return 0;
    return 1;
}

static void show(const char *label, const char *text, const cJSON *want, const int32_t *got, int64_t n) {
    char *w = cJSON_PrintUnformatted(want);
    fprintf(stderr, "  %s text %s\n    want %s\n    got  [", label, text, w ? w : "?");
    for (int64_t i = 0; i < n; i++) fprintf(stderr, i ? ",%d" : "%d", got[i]);
    fprintf(stderr, "]\n");
    free(w);
}

static void test_fixtures(void) {
    char dir[512];
    if (!fixture_dir(dir, sizeof dir)) {
        printf("fixtures: tests/fixtures/tokenizer/cases.json not found, golden cases skipped\n");
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    char *data = slurp(path);
    cJSON *root = data ? cJSON_Parse(data) : NULL;
    free(data);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    CHECK(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 0, "fixtures: %s has no cases", path);
    const cJSON *names = cases ? cJSON_GetObjectItem(cases->child, "ids") : NULL;
    int n_tok = 0;
    for (const cJSON *nm = names ? names->child : NULL; nm; nm = nm->next, n_tok++) {
        char tdir[700];
        snprintf(tdir, sizeof tdir, "%s/%s", dir, nm->string);
        lc_tokenizer *t = NULL;
        lc_status st = lc_tokenizer_load(tdir, &t);
        CHECK(st == LC_OK, "fixture %s: load %s %s", nm->string, lc_status_str(st), lc_last_error());
        if (st) continue;
        int k = 0, fails = 0;
        for (const cJSON *c = cases->child; c; c = c->next, k++) {
            const cJSON *text = cJSON_GetObjectItem(c, "text");
            if (!cJSON_IsString(text)) continue;
            const char *s = text->valuestring;
            for (int special = 0; special < 2; special++) {
                const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(c, special ? "ids_special" : "ids"), nm->string);
                if (!want) continue;
                int32_t *ids = NULL;
                int64_t n = 0;
                st = lc_tokenizer_encode_alloc(t, s, strlen(s), special, &ids, &n);
                int ok = st == LC_OK && same_ids(want, ids, n);
                CHECK(ok, "fixture %s case %d (add_special=%d): ids differ (%s %s)", nm->string, k, special, lc_status_str(st), st ? lc_last_error() : "");
                if (!ok && fails++ < 6) show(nm->string, s, want, ids, n);
                if (!special && st == LC_OK) {
                    const cJSON *dec = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "decoded"), nm->string);
                    char *out = NULL;
                    size_t len = 0;
                    st = lc_tokenizer_decode_alloc(t, ids, n, 0, &out, &len); /* recorded with skip_special_tokens=False */
                    if (cJSON_IsString(dec))
                        CHECK(st == LC_OK && len == strlen(dec->valuestring) && !memcmp(out, dec->valuestring, len),
                              "fixture %s case %d: decoded '%s', want '%s'", nm->string, k, out ? out : "", dec->valuestring);
                    free(out);
                }
                if (special && st == LC_OK) { /* skipping specials, the post-processor's tokens leave no trace */
                    const cJSON *plain = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "ids"), nm->string);
                    int32_t pv[1024];
                    int64_t pn = 0;
                    for (const cJSON *e = plain ? plain->child : NULL; e && pn < 1024; e = e->next) pv[pn++] = (int32_t)e->valuedouble;
                    char *a = NULL, *b = NULL;
                    size_t la = 0, lb = 0;
                    lc_status s1 = lc_tokenizer_decode_alloc(t, ids, n, 1, &a, &la), s2 = lc_tokenizer_decode_alloc(t, pv, pn, 1, &b, &lb);
                    CHECK(s1 == LC_OK && s2 == LC_OK && la == lb && !memcmp(a, b, la), "fixture %s case %d: skip_special decode differs: '%s' vs '%s'",
                          nm->string, k, a ? a : "", b ? b : "");
                    free(a);
                    free(b);
                }
                free(ids);
            }
        }
        lc_tokenizer_destroy(t);
    }
    printf("fixtures: %d tokenizers x %d cases\n", n_tok, cJSON_GetArraySize(cases));
    CHECK(n_tok > 0, "fixtures: no tokenizer named in %s", path);
    cJSON_Delete(root);
}

int main(void) {
    uint64_t seed = test_seed("test_tokenizer");
    test_rng r = {seed, 0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lc_tokenizer_XXXXXX");
    if (!mkdtemp(tmpdir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
    test_regex();
    test_gpt2();
    test_llama3_shape();
    test_spm();
    test_bad();
    test_fuzz(&r);
    test_long(&r);
    test_fixtures();
    const char *files[] = {"gpt2.json", "llama3.json", "spm.json", "bad.json", "nfc.json", "fuzz.json"};
    for (int i = 0; i < 6; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return test_finish("test_tokenizer");
}
