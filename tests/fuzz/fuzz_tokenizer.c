/* Fuzz harness: the tokenizer.json loader and the encoder and decoder over what it loads.
 * Input: two bytes L (little-endian), then a tokenizer.json, whose last L mod (size + 1)
 * bytes are instead a text to encode. Checked: no crash or sanitizer report; a refusal is a
 * status with a fresh sentence; over a loaded tokenizer every id encoded is below the
 * vocabulary size, encoding into too small an array is LC_ERANGE with the count needed,
 * and the ids decode (with and without special tokens). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "longctx/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > (1 << 20)) return 0;
    size_t body = size - 2, tl = (size_t)(data[0] | data[1] << 8) % (body + 1);
    const uint8_t *json = data + 2, *text = data + 2 + body - tl;
    const char *path = fuzz_write("tokenizer.json", json, body - tl);
    lc_tokenizer *t = (lc_tokenizer *)&t;
    fuzz_stale();
    lc_status st = lc_tokenizer_load(path, &t);
    fuzz_status(st, "lc_tokenizer_load");
    if (st) return 0;
    const int64_t vocab = lc_tokenizer_vocab_size(t);
    fuzz_assert(vocab >= 0, "the vocabulary size is not negative");
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        int64_t n = 0;
        fuzz_stale();
        st = lc_tokenizer_encode_alloc(t, (const char *)text, tl, special, &ids, &n);
        fuzz_status(st, "lc_tokenizer_encode_alloc");
        if (st) continue;
        for (int64_t i = 0; i < n; i++) fuzz_assert(ids[i] >= 0 && ids[i] < vocab, "an encoded id is in the vocabulary");
        if (n > 0) { /* too small an array: the count needed, and the first ids written */
            int64_t need = 0;
            int32_t *few = malloc(sizeof(int32_t) * (size_t)n);
            if (few) {
                fuzz_stale();
                st = lc_tokenizer_encode(t, (const char *)text, tl, special, few, n - 1, &need);
                fuzz_assert(st == LC_ERANGE && need == n, "encoding into too small an array is LC_ERANGE with the count needed");
                fuzz_status(st, "lc_tokenizer_encode (short array)");
                free(few);
            }
        }
        for (int skip = 0; skip < 2; skip++) {
            char *out = NULL;
            size_t len = 0;
            fuzz_stale();
            st = lc_tokenizer_decode_alloc(t, ids, n, skip, &out, &len);
            fuzz_status(st, "lc_tokenizer_decode_alloc");
            fuzz_assert(st || (out && out[len] == 0), "decoded text is NUL-terminated");
            free(out);
        }
        free(ids);
    }
    for (int32_t id = 0; id < vocab && id < 64; id++) {
        const char *s = lc_tokenizer_token_str(t, id);
        int32_t back;
        if (s) {
            fuzz_stale();
            fuzz_status(lc_tokenizer_token_id(t, s, &back), "lc_tokenizer_token_id");
        }
        lc_tokenizer_is_special(t, id);
    }
    lc_tokenizer_bos(t), lc_tokenizer_eos(t);
    lc_tokenizer_destroy(t);
    return 0;
}
