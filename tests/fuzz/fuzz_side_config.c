/* Fuzz harness: the JSON files a checkpoint keeps beside config.json and tokenizer.json,
 * read by the loaders they qualify. Input: a mode byte, then the file.
 *   mode bit 0 = 0: tokenizer_config.json (bos_token / eos_token as strings or {"content"}
 *     objects, add_bos_token / add_eos_token), beside a fixed tokenizer.json with no
 *     post-processor, loaded by lc_tokenizer_load;
 *   mode bit 0 = 1: generation_config.json (eos_token_id: an id or a list), beside a fixed
 *     config.json, read by lc_model_config_read.
 * Checked: no crash or sanitizer report; a refusal is a status with a fresh sentence; a
 * loaded tokenizer's BOS and EOS are -1 or in its vocabulary, and encoding with special
 * tokens gives the plain encoding with at most the BOS before it and the EOS after it; a
 * read config has 0..LC_MODEL_MAX_STOP stop ids, each a non-negative int32. */
#include <stdio.h>
#include <string.h>

#include "fuzz_util.h"
#include "longctx/model.h"
#include "longctx/tokenizer.h"

/* Byte-level BPE over a few letters, with the special tokens configs name */
static const char tokenizer_json[] =
    "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"\\u0120\":5,\"\\u0120ab\":6},"
    "\"merges\":[\"a b\",\"ab c\",\"\\u0120 ab\"]},"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"added_tokens\":[{\"id\":7,\"content\":\"<s>\",\"special\":true},{\"id\":8,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":9,\"content\":\"<|begin_of_text|>\",\"special\":true},{\"id\":10,\"content\":\"<|end_of_text|>\",\"special\":true},"
    "{\"id\":11,\"content\":\"<|endoftext|>\",\"special\":true},{\"id\":12,\"content\":\"<pad>\",\"special\":true}]}";

/* A tiny Llama (the generation_config.json's ids win over its eos_token_id) */
static const char config_json[] =
    "{\"model_type\":\"llama\",\"vocab_size\":64,\"hidden_size\":32,\"intermediate_size\":64,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"max_position_embeddings\":256,\"rms_norm_eps\":1e-6,"
    "\"eos_token_id\":1}";

static void tokenizer_config(const uint8_t *data, size_t size) {
    static const char text[] = "abc ab<s>cab";
    static char json[512]; /* written once: it lies in this process's directory until exit */
    if (!json[0]) snprintf(json, sizeof json, "%s", fuzz_write("tokenizer.json", tokenizer_json, sizeof tokenizer_json - 1));
    fuzz_write("tokenizer_config.json", data, size);
    lc_tokenizer *t = (lc_tokenizer *)&t;
    fuzz_stale();
    lc_status st = lc_tokenizer_load(json, &t);
    fuzz_status(st, "lc_tokenizer_load");
    if (st) return;
    const int64_t vocab = lc_tokenizer_vocab_size(t);
    const int32_t bos = lc_tokenizer_bos(t), eos = lc_tokenizer_eos(t);
    fuzz_assert(bos >= -1 && bos < vocab && eos >= -1 && eos < vocab, "BOS and EOS are -1 or in the vocabulary");
    int32_t plain[64], special[64];
    int64_t n0 = 0, n1 = 0;
    fuzz_stale();
    st = lc_tokenizer_encode(t, text, sizeof text - 1, 0, plain, 64, &n0);
    fuzz_status(st, "lc_tokenizer_encode");
    fuzz_assert(st == LC_OK, "the fixed text encodes");
    fuzz_stale();
    st = lc_tokenizer_encode(t, text, sizeof text - 1, 1, special, 64, &n1);
    fuzz_status(st, "lc_tokenizer_encode (add_special)");
    fuzz_assert(st == LC_OK, "the fixed text encodes with special tokens");
    int framed = 0; /* special = [BOS]? plain [EOS]? */
    for (int64_t pre = 0; pre < 2 && !framed; pre++) {
        const int64_t post = n1 - n0 - pre;
        framed = post >= 0 && post <= 1 && (!pre || (bos >= 0 && special[0] == bos)) &&
                 !memcmp(special + pre, plain, sizeof(int32_t) * (size_t)n0) && (!post || (eos >= 0 && special[n1 - 1] == eos));
    }
    fuzz_assert(framed, "add_special gives the plain ids with at most the BOS before and the EOS after");
    lc_tokenizer_destroy(t);
}

static void generation_config(const uint8_t *data, size_t size) {
    static int written;
    if (!written++) fuzz_write("config.json", config_json, sizeof config_json - 1);
    fuzz_write("generation_config.json", data, size);
    static lc_model_config c; /* large: a plan per layer */
    fuzz_stale();
    lc_status st = lc_model_config_read(fuzz_dir(), &c);
    fuzz_status(st, "lc_model_config_read");
    if (st) return;
    fuzz_assert(c.n_stop >= 0 && c.n_stop <= LC_MODEL_MAX_STOP, "0..LC_MODEL_MAX_STOP stop ids");
    for (int i = 0; i < c.n_stop; i++) fuzz_assert(c.stop[i] >= 0 && c.stop[i] <= INT32_MAX, "a stop id is a non-negative int32");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    if (data[0] & 1) generation_config(data + 1, size - 1);
    else tokenizer_config(data + 1, size - 1);
    return 0;
}
